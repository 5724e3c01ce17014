-- Signed webhooks (docs/live.md, "Webhooks"; docs/design.md, "Webhooks"): an endpoint an agency's admins or a lab's
-- liaisons register, delivered the events its owner may see, in cursor order, at least once. The outbox is the
-- events table; what an endpoint has been sent is its cursor here, so that deliveries survive restarts.
create table webhook_endpoints (
    id bigint generated always as identity primary key,
    -- the owner, whose sight deliveries are judged under: an agency (its admins manage it) or a lab (its liaisons)
    owner_agency_id bigint references agencies (id),
    owner_lab_id bigint references labs (id),
    url text not null check (length(url) between 1 and 2000),
    description text check (length(description) <= 2000),
    -- what it wants: entity kinds and actions (empty: all), and an optional filter on the state moved to
    entity_kinds text[] not null default '{}',
    actions text[] not null default '{}',
    to_states text[] not null default '{}',
    state text not null default 'ENABLED',
    -- why it is disabled (by its owner, an operator, or the hub after consecutive failures)
    disabled_reason text check (length(disabled_reason) <= 2000),
    disabled_at timestamptz,
    -- the signing secret, encrypted (AES-GCM, hub/webhooks/secrets.py), and during a rotation's overlap the one
    -- before it, until previous_secret_expires_at
    secret_ciphertext bytea not null,
    previous_secret_ciphertext bytea,
    previous_secret_expires_at timestamptz,
    -- the delivery cursor: every event with id <= cursor has been delivered or passed over (filtered out, not
    -- visible); the next attempt of the event after it not before next_attempt_at
    cursor bigint not null default 0,
    next_attempt_at timestamptz,
    consecutive_failures integer not null default 0,
    -- a redelivery starts a new round: the log keeps one row per event and round
    round integer not null default 0,
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    check (num_nonnulls(owner_agency_id, owner_lab_id) = 1)
);
create index webhook_endpoints_owner_agency_idx on webhook_endpoints (owner_agency_id);
create index webhook_endpoints_owner_lab_idx on webhook_endpoints (owner_lab_id);
create index webhook_endpoints_created_by_idx on webhook_endpoints (created_by);
create index webhook_endpoints_enabled_idx on webhook_endpoints (cursor) where state = 'ENABLED';

-- The delivery log: one row per event an endpoint was sent (per round), updated at each attempt.
create table webhook_deliveries (
    id bigint generated always as identity primary key,
    endpoint_id bigint not null references webhook_endpoints (id) on delete cascade,
    event_id bigint not null,
    round integer not null,
    -- the `type` of the body (finding.transitioned, finding.access_revoked, ...)
    type text not null,
    status text not null check (status in ('PENDING', 'DELIVERED', 'FAILED')),
    attempts integer not null default 0,
    response_status integer,
    latency_ms integer,
    error text check (length(error) <= 500),
    first_attempt_at timestamptz,
    last_attempt_at timestamptz,
    delivered_at timestamptz,
    unique (endpoint_id, round, event_id)
);
create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, id);

-- The log is read through its endpoint: row-level security lets a request read the rows of the endpoints it may
-- see (webhook_endpoints has the generated policy of its kind, sql/026); the hub's worker writes them as the owner.
alter table webhook_deliveries enable row level security;
alter table webhook_deliveries force row level security;
create policy hub_owner on webhook_deliveries to current_user using (true) with check (true);
create policy hub_read on webhook_deliveries for select to frontier_hub_app
    using (exists (select 1 from webhook_endpoints e where e.id = endpoint_id));


-- the state columns and the events' kinds, from the registry (python -m hub.kinds --check-constraints)
alter table labs drop constraint if exists labs_participation_check,
    add constraint labs_participation_check check (participation in ('INVITED', 'ENGAGED', 'PARTICIPATING', 'DECLINED', 'WITHDRAWN'));
alter table frontier_models drop constraint if exists frontier_models_release_status_check,
    add constraint frontier_models_release_status_check check (release_status in ('IN_DEVELOPMENT', 'RESTRICTED_PREVIEW', 'GENERALLY_AVAILABLE', 'DEPRECATED'));
alter table early_access_agreements drop constraint if exists early_access_agreements_state_check,
    add constraint early_access_agreements_state_check check (state in ('PROPOSED', 'ACTIVE', 'COMPLETED', 'WITHDRAWN_BY_LAB', 'TERMINATED'));
alter table early_access_requests drop constraint if exists early_access_requests_state_check,
    add constraint early_access_requests_state_check check (state in ('OPEN', 'ACCEPTED', 'COUNTER_PROPOSED', 'DECLINED', 'WITHDRAWN'));
alter table coverage_standards drop constraint if exists coverage_standards_state_check,
    add constraint coverage_standards_state_check check (state in ('DRAFT', 'IN_REVIEW', 'ADOPTED', 'SUPERSEDED', 'WITHDRAWN'));
alter table coverage_decisions drop constraint if exists coverage_decisions_state_check,
    add constraint coverage_decisions_state_check check (state in ('REQUESTED', 'UNDER_ASSESSMENT', 'AWAITING_CONCURRENCE', 'DECIDED', 'RECONSIDERATION_REQUESTED', 'SUPERSEDED', 'WITHDRAWN'));
alter table model_designations drop constraint if exists model_designations_state_check,
    add constraint model_designations_state_check check (state in ('IN_FORCE', 'WITHDRAWN'));
alter table findings drop constraint if exists findings_state_check,
    add constraint findings_state_check check (state in ('REPORTED', 'TRIAGED', 'VALIDATED', 'COORDINATING', 'MITIGATION_AVAILABLE', 'DISCLOSED', 'REMEDIATED', 'DUPLICATE', 'REJECTED'));
alter table cyber_measures drop constraint if exists cyber_measures_state_check,
    add constraint cyber_measures_state_check check (state in ('PLANNED', 'DEPLOYING', 'DEPLOYED', 'VERIFIED', 'RETIRED', 'SUSPENDED'));
alter table infrastructure_engagements drop constraint if exists infrastructure_engagements_state_check,
    add constraint infrastructure_engagements_state_check check (state in ('PROPOSED', 'SCOPING', 'ACTIVE', 'COMPLETED', 'PAUSED', 'DECLINED', 'WITHDRAWN'));
alter table policy_versions drop constraint if exists policy_versions_state_check,
    add constraint policy_versions_state_check check (state in ('PROPOSED', 'IN_EFFECT', 'SUPERSEDED', 'WITHDRAWN'));
alter table webhook_endpoints drop constraint if exists webhook_endpoints_state_check,
    add constraint webhook_endpoints_state_check check (state in ('ENABLED', 'DISABLED', 'DELETED'));
alter table events drop constraint if exists events_entity_kind_check,
    add constraint events_entity_kind_check check (entity_kind in ('AGENCY', 'LAB', 'MODEL', 'AGREEMENT', 'REQUEST', 'STANDARD', 'DECISION', 'COMPUTE_ESTIMATE', 'EVAL_SUITE', 'EVAL_RESULT', 'DESIGNATION', 'FINDING', 'MEASURE', 'COUNTERPART', 'ENGAGEMENT', 'POLICY', 'POLICY_VERSION', 'PRINCIPAL', 'WEBHOOK'));
