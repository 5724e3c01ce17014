-- An idempotency key remembers the input it was first used with: the SHA-256 of the create's input as canonical
-- JSON, without the key (hub/workflow.py, input_fingerprint). The same key with another input is refused with
-- IDEMPOTENCY_KEY_REUSED instead of returning the first record. Keys stored before this migration have none: a
-- retry with one returns the first record, as it did when it was stored.
alter table idempotency_keys add column input_sha256 bytea check (length(input_sha256) = 32);
