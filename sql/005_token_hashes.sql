-- Tokens become fh_<public id>_<secret>. The public id (16 hex characters) is the lookup key and is stored in clear;
-- the secret is stored only as HMAC-SHA256 keyed with a random salt of the token's own (hub/auth.py), compared in
-- constant time. Tokens of the former format (fh_ and 43 characters, stored as a plain SHA-256 and looked up by it)
-- cannot be checked that way: they are revoked here, their unsalted hashes dropped, and the hub refuses them with a
-- log line saying so. `hub serve --demo` issues fresh demo tokens at every start; others come from
-- `hub token create` or the createToken mutation.
alter table api_tokens
    add column public_id text check (public_id ~ '^[0-9a-f]{16}$'),
    add column salt bytea check (length(salt) = 16),
    add column secret_hash bytea check (length(secret_hash) = 32);

update api_tokens set revoked_at = now() where revoked_at is null;

alter table api_tokens drop column token_hash;

-- a token without a public id (one of the former format) can only be a revoked one
alter table api_tokens
    add constraint api_tokens_salted check (
        (public_id is null and salt is null and secret_hash is null and revoked_at is not null)
        or (public_id is not null and salt is not null and secret_hash is not null)
    );

create unique index api_tokens_public_id_idx on api_tokens (public_id);
