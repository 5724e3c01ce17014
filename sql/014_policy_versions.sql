-- Policy versions and joint changes (docs/design.md, "Policy versions").
--
-- The policy has versions: each a whole set of the policy's figures, PROPOSED by an admin of an agency in the
-- required sign-offs of the version in effect, IN_EFFECT once an admin of every one of those agencies has concurred
-- (on its effectiveOn when that is later), then SUPERSEDED by the next; or WITHDRAWN by its proposing agency. The
-- agencies that must concur are those of the version in effect when the change was proposed, so that no agency can
-- be cut out of the required sign-offs without its own concurrence. The `policy` row stays the copy of the version in
-- effect, so that every reader of `policy` reads the policy in force.

create table policy_versions (
    number integer primary key check (number >= 1),
    -- the version's number, under the name every write and remit check reads a record by
    id integer generated always as (number) stored unique,
    order_date date not null,
    standard_due_days integer not null check (standard_due_days between 1 and 365),
    required_signoffs text[] not null check (cardinality(required_signoffs) >= 1),
    preview_lead_time_days integer not null check (preview_lead_time_days between 1 and 365),
    -- the day it takes (or took) effect: asked for by the proposal (null: on the last concurrence)
    effective_on date,
    state text not null default 'PROPOSED',
    -- the agencies that must concur: the required sign-offs of the version in effect when it was proposed
    concurrence_needed text[] not null default '{}',
    -- when the last concurrence was given (a change with a later effectiveOn waits for that day), when it took
    -- effect, when it was superseded or withdrawn
    agreed_at timestamptz,
    took_effect_at timestamptz,
    ended_at timestamptz,
    proposed_by bigint references principals (id),
    proposed_by_agency_id bigint references agencies (id),
    reason text check (length(reason) <= 2000),
    -- what the version is, for the versions the hub did not see proposed (the order's texts)
    note text check (length(note) <= 2000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    check (state <> 'IN_EFFECT' or took_effect_at is not null)
);
-- one version in effect, and at most one change proposed, at a time
create unique index policy_versions_one_in_effect on policy_versions ((true)) where state = 'IN_EFFECT';
create unique index policy_versions_one_proposed on policy_versions ((true)) where state = 'PROPOSED';
create index policy_versions_proposed_by_idx on policy_versions (proposed_by);
create index policy_versions_proposed_by_agency_idx on policy_versions (proposed_by_agency_id);

-- The concurrences: one per agency per version (the proposer's agency signs when it proposes).
create table policy_version_signatures (
    policy_version integer not null references policy_versions (number),
    agency_id bigint not null references agencies (id),
    principal_id bigint references principals (id),
    signed_at timestamptz not null default now(),
    primary key (policy_version, agency_id)
);
create index policy_version_signatures_agency_idx on policy_version_signatures (agency_id);
create index policy_version_signatures_principal_idx on policy_version_signatures (principal_id);

-- The history as the order has it. Version 1: the earlier draft of the order, which asked for 90 days of preview;
-- never in effect (SUPERSEDED with no took_effect_at, and its note says so). Version 2: the policy in effect, the
-- order as signed (its figures are the policy row's, as seeded by 001 and 011 or as changed since), in effect from
-- the order's date.
insert into policy_versions (number, order_date, standard_due_days, required_signoffs, preview_lead_time_days,
                             effective_on, state, ended_at, note, created_at)
select 1, p.order_date, p.standard_due_days, p.required_signoffs, 90, null, 'SUPERSEDED', p.created_at,
       'the earlier draft of the order (90 days of preview); never in effect', p.created_at
  from policy p where p.id = 1;
insert into policy_versions (number, order_date, standard_due_days, required_signoffs, preview_lead_time_days,
                             effective_on, state, took_effect_at, note, created_at)
select 2, p.order_date, p.standard_due_days, p.required_signoffs, p.preview_lead_time_days, p.order_date,
       'IN_EFFECT', p.order_date::timestamp at time zone 'UTC', 'the order as signed', p.created_at
  from policy p where p.id = 1;

-- The policy row names the version it copies.
alter table policy add column policy_version integer references policy_versions (number);
update policy set policy_version = 2 where id = 1;
alter table policy alter column policy_version set not null;
create index policy_policy_version_idx on policy (policy_version);

-- The preview window cap is gone: the order restricts nothing a lab gives, and an agreement of any length the lab
-- chooses is accepted (docs/design.md, "Early access"). The trigger that copied the cap onto each agreement goes with
-- the column; where the agreements still have their window_cap_days, the caps already written stay as history and a
-- new agreement has none.
drop trigger if exists early_access_agreements_window_cap on early_access_agreements;
drop function if exists set_agreement_window_cap();
do $$
declare
    cap_check text;
begin
    if exists (select 1 from information_schema.columns
                where table_name = 'early_access_agreements' and column_name = 'window_cap_days') then
        for cap_check in
            select conname from pg_constraint
             where conrelid = 'early_access_agreements'::regclass and contype = 'c'
               and pg_get_constraintdef(oid) like '%make_interval%window_cap_days%'
        loop
            execute format('alter table early_access_agreements drop constraint %I', cap_check);
        end loop;
        alter table early_access_agreements alter column window_cap_days drop not null;
    end if;
end $$;
alter table policy drop column preview_window_max_days;

-- Records name the policy version they were made under: stamped by one trigger function, from the version in
-- effect when the row is inserted; the rows written before versions existed were made under version 2.
create function stamp_policy_version() returns trigger language plpgsql as $$
begin
    new.policy_version := (select number from policy_versions where state = 'IN_EFFECT');
    if new.policy_version is null then
        raise exception 'no policy version in effect: the policy version of % is unknown', tg_table_name;
    end if;
    return new;
end $$;

alter table early_access_agreements add column policy_version integer references policy_versions (number);
update early_access_agreements set policy_version = 2;
alter table early_access_agreements alter column policy_version set not null;
create index early_access_agreements_policy_version_idx on early_access_agreements (policy_version);
create trigger early_access_agreements_policy_version
    before insert on early_access_agreements for each row execute function stamp_policy_version();

alter table coverage_standards add column policy_version integer references policy_versions (number);
update coverage_standards set policy_version = 2;
alter table coverage_standards alter column policy_version set not null;
create index coverage_standards_policy_version_idx on coverage_standards (policy_version);
create trigger coverage_standards_policy_version
    before insert on coverage_standards for each row execute function stamp_policy_version();

alter table coverage_decisions add column policy_version integer references policy_versions (number);
update coverage_decisions set policy_version = 2;
alter table coverage_decisions alter column policy_version set not null;
create index coverage_decisions_policy_version_idx on coverage_decisions (policy_version);
create trigger coverage_decisions_policy_version
    before insert on coverage_decisions for each row execute function stamp_policy_version();

-- The CHECK constraints of the state columns and the events' kinds, from the kinds registry: sql/018.
