-- Early access as the order has it (docs/design.md, "Early access"): an agency asks a lab for early access to a
-- model, the lab answers; an agreement lasts as long as the lab chooses; each agency on an agreement may leave it.

-- No cap on what a lab gives: an agreement of any length the lab chooses is accepted. The window cap, its column
-- and the trigger that filled it from the policy go (dropping the column drops the CHECK that read it).
drop trigger early_access_agreements_window_cap on early_access_agreements;
drop function set_agreement_window_cap();
alter table early_access_agreements drop column window_cap_days;

-- An agency's request for early access to a model: the requesting agency (always on it) and the other agencies it
-- names, the access kinds and the lead time asked for, a message; then the lab's answer.
create table early_access_requests (
    id bigint generated always as identity primary key,
    model_id bigint not null,
    lab_id bigint not null references labs (id),
    requesting_agency_id bigint not null references agencies (id),
    -- the agencies on the request, the requesting agency among them
    agency_ids bigint[] not null check (cardinality(agency_ids) between 1 and 20),
    state text not null default 'OPEN',
    access_kinds text[] not null
        check (cardinality(access_kinds) >= 1 and access_kinds <@ array['API', 'WEIGHTS', 'SANDBOX']),
    -- how many days before general availability the agencies ask to have the model (the policy's
    -- preview_lead_time_days unless the request says otherwise)
    lead_time_days integer not null check (lead_time_days between 0 and 3650),
    message text check (length(message) <= 5000),
    -- the lab's answer: ACCEPT, COUNTER_PROPOSE or DECLINE, with its optional reason
    answer text check (answer in ('ACCEPT', 'COUNTER_PROPOSE', 'DECLINE')),
    answer_reason text check (length(answer_reason) <= 2000),
    answered_at timestamptz,
    answered_by bigint references principals (id),
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    foreign key (model_id, lab_id) references frontier_models (id, lab_id),
    check (requesting_agency_id = any(agency_ids)),
    check ((answer is null) = (answered_at is null))
);
-- one request awaiting an answer (OPEN) or the agency's word on the lab's terms (COUNTER_PROPOSED) per model and
-- requesting agency
create unique index early_access_requests_one_open_idx on early_access_requests (model_id, requesting_agency_id)
    where state in ('OPEN', 'COUNTER_PROPOSED');
create index early_access_requests_model_lab_idx on early_access_requests (model_id, lab_id);
create index early_access_requests_lab_idx on early_access_requests (lab_id);
create index early_access_requests_state_idx on early_access_requests (state);
create index early_access_requests_requesting_agency_idx on early_access_requests (requesting_agency_id);
create index early_access_requests_agencies_idx on early_access_requests using gin (agency_ids);
create index early_access_requests_created_at_idx on early_access_requests (created_at, id);
create index early_access_requests_updated_at_idx on early_access_requests (updated_at, id);
create index early_access_requests_created_by_idx on early_access_requests (created_by);
create index early_access_requests_answered_by_idx on early_access_requests (answered_by);

-- The agreement a request led to: the one the lab's acceptance created, or its counter-proposal.
alter table early_access_agreements add column request_id bigint references early_access_requests (id);
create index early_access_agreements_request_idx on early_access_agreements (request_id);

-- Each agency on an agreement may leave it, and the lab may remove one; the agreement goes on for the others.
alter table agreement_agencies
    add column left_at timestamptz,
    add column left_by bigint references principals (id),
    add column left_reason text check (length(left_reason) <= 2000),
    add constraint agreement_agencies_left_check check ((left_at is null) = (left_reason is null));
create index agreement_agencies_left_by_idx on agreement_agencies (left_by);

-- The CHECK constraints of the state columns and the events' kinds, from the kinds registry: sql/018.
