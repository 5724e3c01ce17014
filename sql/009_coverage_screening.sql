-- Coverage that decides (docs/design.md, "Coverage"): a standard's criteria are typed and checkable, the inputs
-- they read are records of their own (compute estimates, an evaluation register, designations), the hub screens a
-- model against a standard the same way every time, a decision keeps the screening it used, and it takes effect
-- when an officer of every agency the standard names has signed it.

-- ------------------------------------------------------------------------------------------- the inputs

create table evaluation_suites (
    id bigint generated always as identity primary key,
    name text not null check (length(name) between 1 and 200),
    suite_version text not null check (length(suite_version) between 1 and 50),
    capability_area text not null
        check (capability_area in ('CYBER_OFFENSE', 'CYBER_DEFENSE', 'CBRN', 'AUTONOMY', 'PERSUASION', 'GENERAL')),
    -- the unit every result on the suite is recorded in
    score_unit text not null check (score_unit in ('PERCENT', 'FRACTION', 'POINTS')),
    description text check (length(description) <= 5000),
    owner_agency_id bigint not null references agencies (id),
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    unique (name, suite_version)
);
create index evaluation_suites_owner_idx on evaluation_suites (owner_agency_id);
create index evaluation_suites_created_by_idx on evaluation_suites (created_by);
create index evaluation_suites_created_at_idx on evaluation_suites (created_at, id);

-- training compute in FLOP (operations, not per second), each figure a value (low = high) or a low-high range
create table compute_estimates (
    id bigint generated always as identity primary key,
    model_id bigint not null,
    lab_id bigint not null references labs (id),
    method text not null check (method in ('LAB_REPORTED', 'AGENCY_ESTIMATED')),
    -- the estimating agency; null for what the lab reported
    author_agency_id bigint references agencies (id),
    pre_training_low numeric not null,
    pre_training_high numeric not null,
    -- post-training (fine-tuning, reinforcement learning); null: not reported
    post_training_low numeric,
    post_training_high numeric,
    method_note text check (length(method_note) <= 5000),
    as_of date not null,
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    foreign key (model_id, lab_id) references frontier_models (id, lab_id),
    check ((method = 'AGENCY_ESTIMATED') = (author_agency_id is not null)),
    check (pre_training_low >= 0 and pre_training_low <= pre_training_high and pre_training_high < 'Infinity'),
    check ((post_training_low is null) = (post_training_high is null)),
    check (post_training_low is null
           or (post_training_low >= 0 and post_training_low <= post_training_high
               and post_training_high < 'Infinity'))
);
create index compute_estimates_model_idx on compute_estimates (model_id, method, as_of desc, id desc);
create index compute_estimates_lab_idx on compute_estimates (lab_id);
create index compute_estimates_model_lab_idx on compute_estimates (model_id, lab_id);
create index compute_estimates_author_idx on compute_estimates (author_agency_id);
create index compute_estimates_created_by_idx on compute_estimates (created_by);
create index compute_estimates_created_at_idx on compute_estimates (created_at, id);

create table evaluation_results (
    id bigint generated always as identity primary key,
    model_id bigint not null,
    lab_id bigint not null references labs (id),
    suite_id bigint not null references evaluation_suites (id),
    method text not null check (method in ('LAB_REPORTED', 'AGENCY_ESTIMATED')),
    -- the agency that ran it; null for what the lab reported
    run_by_agency_id bigint references agencies (id),
    -- in the suite's score unit
    score numeric not null check (score >= 0 and score < 'Infinity'),
    ran_on date not null,
    -- the model version the suite ran against, as the runner wrote it
    model_version text not null check (length(model_version) between 1 and 100),
    evidence_ref text not null check (length(evidence_ref) between 1 and 500),
    evidence_sha256 text check (evidence_sha256 ~ '^[0-9a-f]{64}$'),
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    foreign key (model_id, lab_id) references frontier_models (id, lab_id),
    check ((method = 'AGENCY_ESTIMATED') = (run_by_agency_id is not null))
);
create index evaluation_results_model_idx on evaluation_results (model_id, suite_id, method, ran_on desc, id desc);
create index evaluation_results_suite_idx on evaluation_results (suite_id);
create index evaluation_results_lab_idx on evaluation_results (lab_id);
create index evaluation_results_model_lab_idx on evaluation_results (model_id, lab_id);
create index evaluation_results_run_by_idx on evaluation_results (run_by_agency_id);
create index evaluation_results_created_by_idx on evaluation_results (created_by);
create index evaluation_results_created_at_idx on evaluation_results (created_at, id);

-- an agency's designation of a model as one the program should cover
create table model_designations (
    id bigint generated always as identity primary key,
    model_id bigint not null,
    lab_id bigint not null references labs (id),
    agency_id bigint not null references agencies (id),
    state text not null default 'IN_FORCE',
    reason text not null check (length(reason) between 1 and 5000),
    withdrawn_at timestamptz,
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    foreign key (model_id, lab_id) references frontier_models (id, lab_id),
    check ((state = 'WITHDRAWN') = (withdrawn_at is not null))
);
-- one designation in force per model and agency
create unique index model_designations_one_in_force on model_designations (model_id, agency_id) where state = 'IN_FORCE';
create index model_designations_model_idx on model_designations (model_id, state);
create index model_designations_lab_idx on model_designations (lab_id);
create index model_designations_model_lab_idx on model_designations (model_id, lab_id);
create index model_designations_agency_idx on model_designations (agency_id);
create index model_designations_created_by_idx on model_designations (created_by);
create index model_designations_created_at_idx on model_designations (created_at, id);

-- ------------------------------------------------------------------------------------------- typed criteria

alter table coverage_standards
    add column combine text not null default 'ANY_OF' check (combine in ('ANY_OF', 'ALL_OF'));
comment on column coverage_standards.criteria is
    'the free criteria of before migration 009, kept as written; the typed ones are coverage_criteria';

create table coverage_criteria (
    standard_id bigint not null references coverage_standards (id),
    position integer not null check (position between 0 and 49),
    metric text not null check (metric in ('TRAINING_COMPUTE', 'EVALUATION_SCORE', 'DESIGNATION')),
    -- TRAINING_COMPUTE: what is counted
    compute_scope text check (compute_scope in ('PRE_TRAINING', 'POST_TRAINING', 'TOTAL')),
    -- EVALUATION_SCORE: the suite at its version
    suite_id bigint references evaluation_suites (id),
    -- DESIGNATION: the agencies whose designations count (empty: any agency)
    designating_agency_ids bigint[] not null default '{}',
    -- the unit the threshold is stored in: FLOP, the suite's score unit, or a count of designations
    unit text not null check (unit in ('FLOP', 'PERCENT', 'FRACTION', 'POINTS', 'DESIGNATIONS')),
    operator text not null check (operator in ('GTE', 'GT', 'LTE', 'LT')),
    threshold numeric not null check (threshold >= 0 and threshold < 'Infinity'),
    -- the threshold and unit as the drafter wrote them
    written_as text not null check (length(written_as) between 1 and 200),
    source text not null default 'HIGHER_OF_TWO' check (source in ('LAB_REPORTED', 'AGENCY_ESTIMATED', 'HIGHER_OF_TWO')),
    description text check (length(description) <= 2000),
    primary key (standard_id, position),
    check ((metric = 'TRAINING_COMPUTE') = (compute_scope is not null)),
    check ((metric = 'EVALUATION_SCORE') = (suite_id is not null)),
    check ((metric = 'TRAINING_COMPUTE') = (unit = 'FLOP')),
    check ((metric = 'DESIGNATION') = (unit = 'DESIGNATIONS'))
);
create index coverage_criteria_suite_idx on coverage_criteria (suite_id);

-- The free criteria of before: a COMPUTE_THRESHOLD with a threshold is training compute in total, at or above it;
-- a DESIGNATION is a designation by any agency. What cannot be typed (a CAPABILITY_EVAL names no suite) stays in
-- coverage_standards.criteria, shown as untypedCriteria and never screened.
insert into coverage_criteria (standard_id, position, metric, compute_scope, unit, operator, threshold, written_as,
                               description)
select s.id, (c.ordinality - 1)::integer, 'TRAINING_COMPUTE', 'TOTAL', 'FLOP', 'GTE',
       (c.value->>'threshold')::numeric, '>= ' || (c.value->>'threshold') || ' FLOP', c.value->>'description'
  from coverage_standards s cross join lateral jsonb_array_elements(s.criteria) with ordinality c
 where c.value->>'kind' = 'COMPUTE_THRESHOLD' and c.value->>'threshold' is not null and c.ordinality <= 50
union all
select s.id, (c.ordinality - 1)::integer, 'DESIGNATION', null, 'DESIGNATIONS', 'GTE', 1, '>= 1 DESIGNATIONS',
       c.value->>'description'
  from coverage_standards s cross join lateral jsonb_array_elements(s.criteria) with ordinality c
 where c.value->>'kind' = 'DESIGNATION' and c.ordinality <= 50;
update coverage_standards s set criteria = coalesce((
    select jsonb_agg(c.value order by c.ordinality)
      from jsonb_array_elements(s.criteria) with ordinality c
     where not (c.value->>'kind' = 'COMPUTE_THRESHOLD' and c.value->>'threshold' is not null)
       and c.value->>'kind' <> 'DESIGNATION'), '[]');

-- One criterion's result on an interval [lo, hi] of what the model measures (hi = 'Infinity': no upper bound
-- known): MET when every value in it meets the threshold, NOT_MET when none does, UNKNOWN when it straddles, or when
-- nothing is known (lo null). The one definition of the comparison; hub/screening.py's SQL calls it.
create function coverage_compare(lo numeric, hi numeric, op text, threshold numeric) returns text
language sql immutable parallel safe as $$
    select case
        when lo is null then 'UNKNOWN'
        when op = 'GTE' then case when lo >= threshold then 'MET' when hi < threshold then 'NOT_MET' else 'UNKNOWN' end
        when op = 'GT' then case when lo > threshold then 'MET' when hi <= threshold then 'NOT_MET' else 'UNKNOWN' end
        when op = 'LTE' then case when hi <= threshold then 'MET' when lo > threshold then 'NOT_MET' else 'UNKNOWN' end
        when op = 'LT' then case when hi < threshold then 'MET' when lo >= threshold then 'NOT_MET' else 'UNKNOWN' end
    end
$$;

-- ------------------------------------------------------------------------------------------- screenings and decisions

create table coverage_screenings (
    id bigint generated always as identity primary key,
    decision_id bigint references coverage_decisions (id),
    model_id bigint not null,
    lab_id bigint not null references labs (id),
    standard_id bigint not null references coverage_standards (id),
    proposed_outcome text not null check (proposed_outcome in ('COVERED', 'NOT_COVERED', 'INSUFFICIENT_INFORMATION')),
    -- each criterion's result with the inputs exactly as used: [{position, result, low, high, missing, inputs}]
    results jsonb not null check (jsonb_typeof(results) = 'array'),
    trigger text not null check (trigger in ('REQUESTED', 'RESCREENED', 'RECONSIDERATION', 'ADOPTION', 'DECIDED')),
    screened_by bigint references principals (id),
    screened_by_agency_id bigint references agencies (id),
    created_at timestamptz not null default now(),
    -- a screening is never changed: these are the columns every record has
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    foreign key (model_id, lab_id) references frontier_models (id, lab_id)
);
create index coverage_screenings_created_at_idx on coverage_screenings (created_at, id);
create index coverage_screenings_decision_idx on coverage_screenings (decision_id, id);
create index coverage_screenings_model_idx on coverage_screenings (model_id);
create index coverage_screenings_lab_idx on coverage_screenings (lab_id);
create index coverage_screenings_model_lab_idx on coverage_screenings (model_id, lab_id);
create index coverage_screenings_standard_idx on coverage_screenings (standard_id);
create index coverage_screenings_screened_by_idx on coverage_screenings (screened_by);
create index coverage_screenings_screened_by_agency_idx on coverage_screenings (screened_by_agency_id);

alter table coverage_decisions
    -- the decision in effect: the screening it used, its proposal, and whether the outcome overrides it
    add column screening_id bigint references coverage_screenings (id),
    add column proposed_outcome text
        check (proposed_outcome in ('COVERED', 'NOT_COVERED', 'INSUFFICIENT_INFORMATION')),
    add column is_override boolean not null default false,
    add column override_reason text check (length(override_reason) <= 10000),
    -- the decision awaiting concurrence (the outcome in effect, if any, stands until it is)
    add column pending_outcome text
        check (pending_outcome in ('COVERED', 'NOT_COVERED', 'INSUFFICIENT_INFORMATION')),
    add column pending_rationale text check (length(pending_rationale) <= 10000),
    add column pending_override_reason text check (length(pending_override_reason) <= 10000),
    add column pending_screening_id bigint references coverage_screenings (id),
    -- the newest screening of the decision
    add column latest_screening_id bigint references coverage_screenings (id),
    -- each decide starts a round of signatures
    add column signature_round integer not null default 0,
    add constraint coverage_decisions_override_check check (not is_override or override_reason is not null),
    add constraint coverage_decisions_pending_check
        check ((state = 'AWAITING_CONCURRENCE') = (pending_outcome is not null));
create index coverage_decisions_screening_idx on coverage_decisions (screening_id);
create index coverage_decisions_pending_screening_idx on coverage_decisions (pending_screening_id);
create index coverage_decisions_latest_screening_idx on coverage_decisions (latest_screening_id);
create index coverage_decisions_model_standard_idx on coverage_decisions (model_id, standard_id, state);

-- every signature on a decision: who decided, concurred or objected, for which agency, in which round
create table coverage_decision_signatures (
    id bigint generated always as identity primary key,
    decision_id bigint not null references coverage_decisions (id),
    round integer not null check (round >= 1),
    agency_id bigint not null references agencies (id),
    principal_id bigint references principals (id),
    action text not null check (action in ('DECIDED', 'CONCURRED', 'OBJECTED')),
    outcome text not null check (outcome in ('COVERED', 'NOT_COVERED', 'INSUFFICIENT_INFORMATION')),
    reason text check (length(reason) <= 10000),
    signed_at timestamptz not null default now(),
    check (action <> 'OBJECTED' or reason is not null)
);
-- one signature per agency and round
create unique index coverage_decision_signatures_one on coverage_decision_signatures (decision_id, round, agency_id);
create index coverage_decision_signatures_agency_idx on coverage_decision_signatures (agency_id);
create index coverage_decision_signatures_principal_idx on coverage_decision_signatures (principal_id);

-- ------------------------------------------------------------------------------------------- states, from the registry
-- (python -m hub.kinds --check-constraints: the new decision state, the designations' states, the new event kinds)
alter table coverage_decisions drop constraint if exists coverage_decisions_state_check,
    add constraint coverage_decisions_state_check check (state in ('REQUESTED', 'UNDER_ASSESSMENT', 'AWAITING_CONCURRENCE', 'DECIDED', 'RECONSIDERATION_REQUESTED', 'SUPERSEDED', 'WITHDRAWN'));
alter table model_designations drop constraint if exists model_designations_state_check,
    add constraint model_designations_state_check check (state in ('IN_FORCE', 'WITHDRAWN'));
alter table events drop constraint if exists events_entity_kind_check,
    add constraint events_entity_kind_check check (entity_kind in ('AGENCY', 'LAB', 'MODEL', 'AGREEMENT', 'STANDARD', 'DECISION', 'COMPUTE_ESTIMATE', 'EVAL_SUITE', 'EVAL_RESULT', 'DESIGNATION', 'FINDING', 'MEASURE', 'ENGAGEMENT', 'POLICY', 'PRINCIPAL'));
