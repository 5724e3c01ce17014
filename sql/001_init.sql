-- frontier-hub: the whole domain of DESIGN.md section 3.
-- Forward-only: never edit once applied; add sql/NNN_name.sql instead.

-- Policy is data: one row, changed by admins, read by every check that depends on it.
create table policy (
    id smallint primary key default 1 check (id = 1),
    order_date date not null,
    standard_due_days integer not null check (standard_due_days between 1 and 365),
    required_signoffs text[] not null check (cardinality(required_signoffs) >= 1),
    preview_window_max_days integer not null check (preview_window_max_days between 1 and 365),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1
);

create table agencies (
    id bigint generated always as identity primary key,
    code text not null unique check (code ~ '^[A-Z][A-Z0-9_]{1,15}$'),
    name text not null check (length(name) between 1 and 200),
    aliases text[] not null default '{}',
    description text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (
        to_tsvector('simple', code || ' ' || name)
    ) stored
);
create index agencies_search_idx on agencies using gin (search);

create table labs (
    id bigint generated always as identity primary key,
    name text not null check (length(name) between 1 and 200),
    legal_name text check (length(legal_name) <= 300),
    country text not null check (country ~ '^[A-Z]{2}$'),
    website text check (length(website) <= 300),
    participation text not null default 'INVITED'
        check (participation in ('INVITED', 'ENGAGED', 'PARTICIPATING', 'DECLINED', 'WITHDRAWN')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (
        to_tsvector('simple', name || ' ' || coalesce(legal_name, ''))
    ) stored
);
create unique index labs_name_key on labs (lower(name));
create index labs_participation_idx on labs (participation);
create index labs_country_idx on labs (country);
create index labs_created_at_idx on labs (created_at, id);
create index labs_search_idx on labs using gin (search);

-- A principal is a person or a script: an agency's (VIEWER .. ADMIN) or a lab's liaison.
create table principals (
    id bigint generated always as identity primary key,
    agency_id bigint references agencies (id),
    lab_id bigint references labs (id),
    role text not null check (role in ('VIEWER', 'ANALYST', 'OFFICER', 'ADMIN', 'LAB_LIAISON')),
    name text not null check (length(name) between 1 and 200),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    check ((role = 'LAB_LIAISON') = (lab_id is not null)),
    check ((role = 'LAB_LIAISON') = (agency_id is null))
);
create index principals_agency_idx on principals (agency_id);
create index principals_lab_idx on principals (lab_id);

-- Only a hash of each token is stored; the token itself is shown once, when it is created.
create table api_tokens (
    id bigint generated always as identity primary key,
    principal_id bigint not null references principals (id),
    token_hash bytea not null unique,
    prefix text not null,
    is_demo boolean not null default false,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);
create index api_tokens_principal_idx on api_tokens (principal_id);

create table frontier_models (
    id bigint generated always as identity primary key,
    lab_id bigint not null references labs (id),
    name text not null check (length(name) between 1 and 200),
    model_version text not null default '' check (length(model_version) <= 100),
    modality text not null
        check (modality in ('TEXT', 'CODE', 'IMAGE', 'AUDIO', 'VIDEO', 'MULTIMODAL')),
    description text check (length(description) <= 5000),
    capabilities text[] not null default '{}',
    -- confidential to the lab and to agencies party to an ACTIVE or COMPLETED agreement on the model
    training_compute_flop double precision check (training_compute_flop >= 0),
    capability_details text check (length(capability_details) <= 10000),
    planned_release_on date,
    release_status text not null default 'IN_DEVELOPMENT'
        check (release_status in ('IN_DEVELOPMENT', 'RESTRICTED_PREVIEW', 'GENERALLY_AVAILABLE', 'DEPRECATED')),
    announced_on date,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (
        to_tsvector('simple', name || ' ' || model_version)
    ) stored,
    unique (lab_id, name, model_version),
    unique (id, lab_id)
);
create index frontier_models_lab_idx on frontier_models (lab_id);
create index frontier_models_release_status_idx on frontier_models (release_status);
create index frontier_models_modality_idx on frontier_models (modality);
create index frontier_models_created_at_idx on frontier_models (created_at, id);
create index frontier_models_name_idx on frontier_models (name, id);
create index frontier_models_search_idx on frontier_models using gin (search);

create table early_access_agreements (
    id bigint generated always as identity primary key,
    model_id bigint not null,
    lab_id bigint not null references labs (id),
    state text not null default 'PROPOSED'
        check (state in ('PROPOSED', 'ACTIVE', 'COMPLETED', 'WITHDRAWN_BY_LAB', 'TERMINATED')),
    access_kinds text[] not null
        check (cardinality(access_kinds) >= 1 and access_kinds <@ array['API', 'WEIGHTS', 'SANDBOX']),
    access_start timestamptz not null,
    access_end timestamptz not null,
    -- the policy's cap in force when the window was written; filled by a trigger
    window_cap_days integer not null check (window_cap_days between 1 and 365),
    protections text[] not null default '{}'
        check (protections <@ array['CONFIDENTIALITY', 'CYBERSECURITY', 'INSIDER_RISK',
                                    'INTELLECTUAL_PROPERTY', 'USE', 'NONDISCLOSURE']),
    lab_consent_ref text check (length(lab_consent_ref) <= 200),
    notes text check (length(notes) <= 5000),
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    foreign key (model_id, lab_id) references frontier_models (id, lab_id),
    check (access_end > access_start),
    -- the window is a cap, never a hold
    check (access_end <= access_start + make_interval(days => window_cap_days))
);
create index early_access_agreements_model_idx on early_access_agreements (model_id);
create index early_access_agreements_lab_idx on early_access_agreements (lab_id);
create index early_access_agreements_state_idx on early_access_agreements (state);
create index early_access_agreements_access_end_idx on early_access_agreements (access_end, id);
create index early_access_agreements_access_start_idx on early_access_agreements (access_start, id);
create index early_access_agreements_access_kinds_idx on early_access_agreements using gin (access_kinds);
create index early_access_agreements_created_by_idx on early_access_agreements (created_by);
create index early_access_agreements_created_at_idx on early_access_agreements (created_at, id);
create index early_access_agreements_model_lab_idx on early_access_agreements (model_id, lab_id);

create function set_agreement_window_cap() returns trigger language plpgsql as $$
begin
    new.window_cap_days := (select preview_window_max_days from policy where id = 1);
    if new.window_cap_days is null then
        raise exception 'no policy row: the preview window cap is unknown';
    end if;
    return new;
end $$;
create trigger early_access_agreements_window_cap
    before insert or update of access_start, access_end on early_access_agreements
    for each row execute function set_agreement_window_cap();

create table agreement_agencies (
    agreement_id bigint not null references early_access_agreements (id),
    agency_id bigint not null references agencies (id),
    accepted_at timestamptz,
    accepted_by bigint references principals (id),
    primary key (agreement_id, agency_id)
);
create index agreement_agencies_agency_idx on agreement_agencies (agency_id, agreement_id);
create index agreement_agencies_accepted_by_idx on agreement_agencies (accepted_by);

create table coverage_standards (
    id bigint generated always as identity primary key,
    standard_version text not null unique check (length(standard_version) between 1 and 50),
    title text not null check (length(title) between 1 and 300),
    summary text check (length(summary) <= 10000),
    state text not null default 'DRAFT'
        check (state in ('DRAFT', 'IN_REVIEW', 'ADOPTED', 'SUPERSEDED', 'WITHDRAWN')),
    -- [{kind, description, threshold}], kind in COMPUTE_THRESHOLD, CAPABILITY_EVAL, DESIGNATION
    criteria jsonb not null default '[]' check (jsonb_typeof(criteria) = 'array'),
    required_signoffs text[] not null check (cardinality(required_signoffs) >= 1),
    due_on date not null,
    owner_agency_id bigint not null references agencies (id),
    created_by bigint references principals (id),
    adopted_at timestamptz,
    superseded_by_id bigint references coverage_standards (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (to_tsvector('simple', standard_version || ' ' || title)) stored,
    check ((state in ('ADOPTED', 'SUPERSEDED')) = (adopted_at is not null))
);
create index coverage_standards_state_idx on coverage_standards (state);
create index coverage_standards_due_on_idx on coverage_standards (due_on, id);
create index coverage_standards_owner_idx on coverage_standards (owner_agency_id);
create index coverage_standards_created_by_idx on coverage_standards (created_by);
create index coverage_standards_superseded_by_idx on coverage_standards (superseded_by_id);
create index coverage_standards_created_at_idx on coverage_standards (created_at, id);
create index coverage_standards_search_idx on coverage_standards using gin (search);
-- at most one standard is in force at a time
create unique index coverage_standards_one_adopted on coverage_standards ((true)) where state = 'ADOPTED';

create table coverage_signoffs (
    standard_id bigint not null references coverage_standards (id),
    agency_id bigint not null references agencies (id),
    principal_id bigint references principals (id),
    signed_at timestamptz not null default now(),
    primary key (standard_id, agency_id)
);
create index coverage_signoffs_agency_idx on coverage_signoffs (agency_id);
create index coverage_signoffs_principal_idx on coverage_signoffs (principal_id);

create table coverage_decisions (
    id bigint generated always as identity primary key,
    model_id bigint not null references frontier_models (id),
    standard_id bigint not null references coverage_standards (id),
    state text not null default 'REQUESTED'
        check (state in ('REQUESTED', 'UNDER_ASSESSMENT', 'DECIDED', 'RECONSIDERATION_REQUESTED',
                         'SUPERSEDED', 'WITHDRAWN')),
    outcome text check (outcome in ('COVERED', 'NOT_COVERED', 'INSUFFICIENT_INFORMATION')),
    rationale text check (length(rationale) <= 10000),
    request_note text check (length(request_note) <= 5000),
    requested_by bigint references principals (id),
    decided_by bigint references principals (id),
    decided_by_agency_id bigint references agencies (id),
    decided_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    check (state <> 'DECIDED' or (outcome is not null and decided_at is not null))
);
create index coverage_decisions_model_idx on coverage_decisions (model_id);
create index coverage_decisions_standard_idx on coverage_decisions (standard_id);
create index coverage_decisions_state_idx on coverage_decisions (state);
create index coverage_decisions_outcome_idx on coverage_decisions (outcome);
create index coverage_decisions_requested_by_idx on coverage_decisions (requested_by);
create index coverage_decisions_decided_by_idx on coverage_decisions (decided_by);
create index coverage_decisions_decided_by_agency_idx on coverage_decisions (decided_by_agency_id);
create index coverage_decisions_created_at_idx on coverage_decisions (created_at, id);
create index coverage_decisions_decided_at_idx on coverage_decisions (decided_at);

create function all_sectors() returns text[] language sql immutable as $$
    select array['CHEMICAL', 'COMMERCIAL_FACILITIES', 'COMMUNICATIONS', 'CRITICAL_MANUFACTURING', 'DAMS',
                 'DEFENSE_INDUSTRIAL_BASE', 'EMERGENCY_SERVICES', 'ENERGY', 'FINANCIAL_SERVICES',
                 'FOOD_AND_AGRICULTURE', 'GOVERNMENT_FACILITIES', 'HEALTHCARE_AND_PUBLIC_HEALTH',
                 'INFORMATION_TECHNOLOGY', 'NUCLEAR_REACTORS_MATERIALS_AND_WASTE', 'TRANSPORTATION_SYSTEMS',
                 'WATER_AND_WASTEWATER_SYSTEMS']
$$;

create table findings (
    id bigint generated always as identity primary key,
    title text not null check (length(title) between 1 and 300),
    description text check (length(description) <= 20000),
    state text not null default 'REPORTED'
        check (state in ('REPORTED', 'TRIAGED', 'VALIDATED', 'COORDINATING', 'MITIGATION_AVAILABLE',
                         'DISCLOSED', 'REMEDIATED', 'DUPLICATE', 'REJECTED')),
    -- the model the finding is about (found by it, or in it); its lab is the lab concerned
    model_id bigint references frontier_models (id),
    lab_id bigint references labs (id),
    discovered_by_kind text not null check (discovered_by_kind in ('MODEL', 'AGENCY', 'LAB')),
    discovered_by_agency_id bigint references agencies (id),
    discovered_by_lab_id bigint references labs (id),
    cve_id text check (cve_id ~ '^CVE-[0-9]{4}-[0-9]{4,}$'),
    cvss_version text check (cvss_version in ('3.1', '4.0')),
    cvss_vector text check (length(cvss_vector) <= 200),
    cvss_base_score numeric(3, 1) check (cvss_base_score between 0 and 10),
    cvss_severity text check (cvss_severity in ('NONE', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    kev_date_added date,
    kev_due_date date,
    kev_known_ransomware_campaign_use text check (kev_known_ransomware_campaign_use in ('KNOWN', 'UNKNOWN')),
    kev_required_action text check (length(kev_required_action) <= 2000),
    cwes text[] not null default '{}',
    affected_vendor text check (length(affected_vendor) <= 200),
    affected_product text check (length(affected_product) <= 200),
    affected_versions text check (length(affected_versions) <= 500),
    sectors text[] not null default '{}' check (sectors <@ all_sectors()),
    duplicate_of_id bigint references findings (id),
    tlp text not null default 'AMBER' check (tlp in ('CLEAR', 'GREEN', 'AMBER', 'AMBER_STRICT', 'RED')),
    owner_agency_id bigint references agencies (id),
    share_agency_ids bigint[] not null default '{}',
    share_lab_ids bigint[] not null default '{}',
    recipient_principal_ids bigint[] not null default '{}',
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (
        to_tsvector('simple', title || ' ' || coalesce(cve_id, '') || ' ' || coalesce(affected_vendor, '')
                    || ' ' || coalesce(affected_product, ''))
    ) stored,
    -- the severity band matches the score (CVSS v3.1 and v4.0 share the bands)
    check (cvss_base_score is null or cvss_severity = case
        when cvss_base_score = 0 then 'NONE'
        when cvss_base_score < 4 then 'LOW'
        when cvss_base_score < 7 then 'MEDIUM'
        when cvss_base_score < 9 then 'HIGH'
        else 'CRITICAL' end),
    check ((discovered_by_kind = 'AGENCY') = (discovered_by_agency_id is not null)),
    check ((discovered_by_kind = 'LAB') = (discovered_by_lab_id is not null)),
    check (discovered_by_kind <> 'MODEL' or model_id is not null),
    check (owner_agency_id is not null or tlp in ('CLEAR', 'GREEN', 'RED'))
);
create index findings_state_idx on findings (state);
create index findings_model_idx on findings (model_id);
create index findings_lab_idx on findings (lab_id);
create index findings_discovered_by_agency_idx on findings (discovered_by_agency_id);
create index findings_discovered_by_lab_idx on findings (discovered_by_lab_id);
create index findings_owner_agency_idx on findings (owner_agency_id);
create index findings_created_by_idx on findings (created_by);
create index findings_duplicate_of_idx on findings (duplicate_of_id);
create index findings_severity_idx on findings (cvss_severity);
create index findings_score_idx on findings (cvss_base_score, id);
create index findings_tlp_idx on findings (tlp);
create index findings_cve_idx on findings (cve_id);
create index findings_kev_due_idx on findings (kev_due_date);
create index findings_known_exploited_idx on findings ((kev_date_added is not null));
create index findings_created_at_idx on findings (created_at, id);
create index findings_title_idx on findings (title, id);
create index findings_sectors_idx on findings using gin (sectors);
create index findings_share_agency_idx on findings using gin (share_agency_ids);
create index findings_search_idx on findings using gin (search);

create table cyber_measures (
    id bigint generated always as identity primary key,
    title text not null check (length(title) between 1 and 300),
    description text check (length(description) <= 20000),
    -- D3FEND's tactics
    kind text not null check (kind in ('MODEL', 'HARDEN', 'DETECT', 'ISOLATE', 'DECEIVE', 'EVICT', 'RESTORE')),
    state text not null default 'PLANNED'
        check (state in ('PLANNED', 'DEPLOYING', 'DEPLOYED', 'VERIFIED', 'RETIRED', 'SUSPENDED')),
    system_scope text not null check (length(system_scope) between 1 and 500),
    owner_component text not null check (length(owner_component) between 1 and 100),
    d3fend_ids text[] not null default '{}',
    attack_ids text[] not null default '{}',
    nist80053_controls text[] not null default '{}',
    evidence text check (length(evidence) <= 20000),
    tlp text not null default 'AMBER' check (tlp in ('CLEAR', 'GREEN', 'AMBER', 'AMBER_STRICT', 'RED')),
    owner_agency_id bigint not null references agencies (id),
    share_agency_ids bigint[] not null default '{}',
    share_lab_ids bigint[] not null default '{}',
    recipient_principal_ids bigint[] not null default '{}',
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (to_tsvector('simple', title || ' ' || system_scope)) stored,
    check (state <> 'VERIFIED' or length(coalesce(evidence, '')) > 0)
);
create index cyber_measures_state_idx on cyber_measures (state);
create index cyber_measures_kind_idx on cyber_measures (kind);
create index cyber_measures_owner_agency_idx on cyber_measures (owner_agency_id);
create index cyber_measures_created_by_idx on cyber_measures (created_by);
create index cyber_measures_tlp_idx on cyber_measures (tlp);
create index cyber_measures_created_at_idx on cyber_measures (created_at, id);
create index cyber_measures_title_idx on cyber_measures (title, id);
create index cyber_measures_share_agency_idx on cyber_measures using gin (share_agency_ids);
create index cyber_measures_search_idx on cyber_measures using gin (search);

create table measure_findings (
    measure_id bigint not null references cyber_measures (id),
    finding_id bigint not null references findings (id),
    primary key (measure_id, finding_id)
);
create index measure_findings_finding_idx on measure_findings (finding_id, measure_id);

create table measure_models (
    measure_id bigint not null references cyber_measures (id),
    model_id bigint not null references frontier_models (id),
    primary key (measure_id, model_id)
);
create index measure_models_model_idx on measure_models (model_id, measure_id);

create table infrastructure_engagements (
    id bigint generated always as identity primary key,
    title text not null check (length(title) between 1 and 300),
    summary text check (length(summary) <= 20000),
    lab_id bigint not null references labs (id),
    sector text not null check (sector = any (all_sectors())),
    counterparty text not null check (length(counterparty) between 1 and 300),
    kind text not null
        check (kind in ('TOOL_ACCESS', 'CVD_COORDINATION', 'CLEARINGHOUSE_SCAN', 'SECURE_BY_DESIGN', 'ADVISORY')),
    state text not null default 'PROPOSED'
        check (state in ('PROPOSED', 'SCOPING', 'ACTIVE', 'COMPLETED', 'PAUSED', 'DECLINED', 'WITHDRAWN')),
    tlp text not null default 'AMBER' check (tlp in ('CLEAR', 'GREEN', 'AMBER', 'AMBER_STRICT', 'RED')),
    owner_agency_id bigint not null references agencies (id),
    share_agency_ids bigint[] not null default '{}',
    share_lab_ids bigint[] not null default '{}',
    recipient_principal_ids bigint[] not null default '{}',
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (to_tsvector('simple', title || ' ' || counterparty)) stored
);
create index infrastructure_engagements_lab_idx on infrastructure_engagements (lab_id);
create index infrastructure_engagements_sector_idx on infrastructure_engagements (sector);
create index infrastructure_engagements_state_idx on infrastructure_engagements (state);
create index infrastructure_engagements_kind_idx on infrastructure_engagements (kind);
create index infrastructure_engagements_owner_agency_idx on infrastructure_engagements (owner_agency_id);
create index infrastructure_engagements_created_by_idx on infrastructure_engagements (created_by);
create index infrastructure_engagements_tlp_idx on infrastructure_engagements (tlp);
create index infrastructure_engagements_created_at_idx on infrastructure_engagements (created_at, id);
create index infrastructure_engagements_title_idx on infrastructure_engagements (title, id);
create index infrastructure_engagements_share_agency_idx on infrastructure_engagements using gin (share_agency_ids);
create index infrastructure_engagements_search_idx on infrastructure_engagements using gin (search);

create table engagement_findings (
    engagement_id bigint not null references infrastructure_engagements (id),
    finding_id bigint not null references findings (id),
    primary key (engagement_id, finding_id)
);
create index engagement_findings_finding_idx on engagement_findings (finding_id, engagement_id);

create table engagement_milestones (
    id bigint generated always as identity primary key,
    engagement_id bigint not null references infrastructure_engagements (id),
    title text not null check (length(title) between 1 and 300),
    due_on date,
    completed_on date,
    created_at timestamptz not null default now()
);
create index engagement_milestones_engagement_idx on engagement_milestones (engagement_id, id);
create index engagement_milestones_due_on_idx on engagement_milestones (due_on);

-- Events: the outbox and the audit trail. Append-only and hash-chained: each row stores the hash of its
-- predecessor. Rows get their id under a transaction-level advisory lock, so ids follow commit order.
create sequence events_id_seq as bigint;
create table events (
    id bigint primary key,
    at timestamptz not null default clock_timestamp(),
    actor_principal_id bigint references principals (id),
    actor_agency_id bigint references agencies (id),
    actor_lab_id bigint references labs (id),
    entity_kind text not null check (entity_kind in ('AGENCY', 'LAB', 'MODEL', 'AGREEMENT', 'STANDARD',
                                                     'DECISION', 'FINDING', 'MEASURE', 'ENGAGEMENT', 'POLICY',
                                                     'PRINCIPAL')),
    entity_id bigint not null,
    action text not null check (length(action) between 1 and 60),
    from_state text,
    to_state text,
    reason text check (length(reason) <= 2000),
    details jsonb not null default '{}',
    prev_hash bytea,
    hash bytea not null
);
create index events_entity_idx on events (entity_kind, entity_id, id);
create index events_at_idx on events (at);
create index events_action_idx on events (action);
create index events_actor_principal_idx on events (actor_principal_id);
create index events_actor_agency_idx on events (actor_agency_id);
create index events_actor_lab_idx on events (actor_lab_id);

create function event_hash(e events) returns bytea language sql immutable as $$
    select sha256(
        coalesce(e.prev_hash, '\x'::bytea) || convert_to(concat_ws('|',
            e.id, (extract(epoch from e.at) * 1000000)::bigint, e.actor_principal_id, e.actor_agency_id,
            e.actor_lab_id, e.entity_kind, e.entity_id, e.action, e.from_state, e.to_state, e.reason,
            e.details::text), 'UTF8'))
$$;

create function events_chain() returns trigger language plpgsql as $$
begin
    -- one writer at a time appends to the chain; the lock is held until commit
    perform pg_advisory_xact_lock(7410431001);
    new.id := nextval('events_id_seq');
    new.prev_hash := (select hash from events order by id desc limit 1);
    new.hash := event_hash(new);
    return new;
end $$;
create trigger events_chain before insert on events for each row execute function events_chain();

create function events_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('hub_events', new.id::text);
    return null;
end $$;
create trigger events_notify after insert on events for each row execute function events_notify();

create function events_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'events are append-only: % refused', tg_op;
end $$;
create trigger events_no_update before update or delete on events
    for each row execute function events_append_only();
create trigger events_no_truncate before truncate on events
    for each statement execute function events_append_only();

-- Idempotency keys for create mutations: a retried request returns the first result.
create table idempotency_keys (
    principal_id bigint not null references principals (id),
    key text not null check (length(key) between 1 and 200),
    mutation text not null,
    entity_kind text not null,
    entity_id bigint not null,
    created_at timestamptz not null default now(),
    primary key (principal_id, key)
);

-- The seed article's version of the policy (DESIGN.md section 1): admins change it through updatePolicy.
insert into policy (order_date, standard_due_days, required_signoffs, preview_window_max_days)
values ('2026-06-02', 30, array['CISA', 'NIST'], 30);

-- The agencies of the program: reference data every deployment needs (tokens name them).
insert into agencies (code, name, aliases, description) values
    ('CISA', 'Cybersecurity and Infrastructure Security Agency', '{}',
     'Sets the coverage standard with NIST; works with labs to fix vulnerabilities in critical infrastructure.'),
    ('NIST', 'National Institute of Standards and Technology', '{CAISI}',
     'Sets the coverage standard with CISA.'),
    ('DOD', 'Department of Defense', '{DOW}',
     'Also styled Department of War; deploys cybersecurity measures against model-found vulnerabilities.'),
    ('NSA', 'National Security Agency', '{}', null),
    ('TREASURY', 'Department of the Treasury', '{}', null),
    ('ODNI', 'Office of the Director of National Intelligence', '{}', null),
    ('DOE', 'Department of Energy', '{}', null),
    ('HHS', 'Department of Health and Human Services', '{}', null),
    ('EPA', 'Environmental Protection Agency', '{}', null);
