-- CISA's infrastructure engagements opt in (docs/workflows.md, "Infrastructure engagements"): CISA proposes, the lab
-- accepts, and the critical-infrastructure counterpart is a record of its own, whose consent each engagement
-- records. An engagement becomes ACTIVE only once its lab has accepted and its counterpart's consent is recorded as
-- given (hub/kinds.py, the ENGAGEMENT gates).

-- The counterparts: a small utility, a rural hospital, a county government... registered by CISA, which owns the
-- record. Who sees one: docs/design.md, "Who sees what" (hub/access.py, counterpart_visible).
create table infrastructure_counterparts (
    id bigint generated always as identity primary key,
    name text not null check (length(name) between 1 and 300),
    kind text not null check (kind in ('ELECTRIC_UTILITY', 'NATURAL_GAS_UTILITY', 'WATER_UTILITY', 'RURAL_HOSPITAL',
                                       'HOSPITAL', 'HEALTH_CENTER', 'STATE_OR_LOCAL_GOVERNMENT', 'TRIBAL_GOVERNMENT',
                                       'SCHOOL_DISTRICT', 'EMERGENCY_SERVICES', 'COMMUNICATIONS_PROVIDER',
                                       'FINANCIAL_INSTITUTION', 'TRANSPORTATION_OPERATOR', 'MANUFACTURER', 'OTHER')),
    sector text not null check (sector = any (all_sectors())),
    region text check (length(region) between 1 and 100),
    contact_ref text check (length(contact_ref) between 1 and 300),
    owner_agency_id bigint not null references agencies (id),
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    version integer not null default 1,
    search tsvector generated always as (to_tsvector('simple', name || ' ' || coalesce(region, ''))) stored
);
create index infrastructure_counterparts_sector_idx on infrastructure_counterparts (sector);
create index infrastructure_counterparts_kind_idx on infrastructure_counterparts (kind);
create index infrastructure_counterparts_owner_agency_idx on infrastructure_counterparts (owner_agency_id);
create index infrastructure_counterparts_created_by_idx on infrastructure_counterparts (created_by);
create index infrastructure_counterparts_created_at_idx on infrastructure_counterparts (created_at, id);
create index infrastructure_counterparts_name_idx on infrastructure_counterparts (name, id);
create index infrastructure_counterparts_search_idx on infrastructure_counterparts using gin (search);

-- Each engagement names its counterpart, records the lab's acceptance and the counterpart's consent (null: not
-- recorded; false: recorded as not given), with who recorded them and when.
alter table infrastructure_engagements
    add column counterpart_id bigint references infrastructure_counterparts (id),
    add column lab_accepted_at timestamptz,
    add column lab_accepted_by bigint references principals (id),
    add column counterpart_consent boolean,
    add column counterpart_consent_ref text check (length(counterpart_consent_ref) between 1 and 300),
    add column counterpart_consent_recorded_at timestamptz,
    add column counterpart_consent_recorded_by bigint references principals (id),
    add constraint infrastructure_engagements_lab_accepted_check
        check (lab_accepted_by is null or lab_accepted_at is not null),
    add constraint infrastructure_engagements_consent_recorded_check
        check (counterpart_consent is null or counterpart_consent_recorded_at is not null);

-- The free-text counterparties become counterparts: one per distinct text, of kind OTHER (CISA corrects the kind
-- with updateInfrastructureCounterpart), in the sector, owning agency and author of the first engagement naming it.
insert into infrastructure_counterparts (name, kind, sector, owner_agency_id, created_by, created_at, updated_at)
select distinct on (counterparty) counterparty, 'OTHER', sector, owner_agency_id, created_by, created_at, created_at
  from infrastructure_engagements
 order by counterparty, id;

update infrastructure_engagements e
   set counterpart_id = c.id
  from infrastructure_counterparts c
 where c.name = e.counterparty;

-- Engagements made before this migration keep their state: neither the lab's acceptance nor the counterpart's
-- consent was recorded then, and none is invented here. A PAUSED or SCOPING one becomes ACTIVE only once both are.
alter table infrastructure_engagements alter column counterpart_id set not null;
create index infrastructure_engagements_counterpart_idx on infrastructure_engagements (counterpart_id, id);
create index infrastructure_engagements_lab_accepted_by_idx on infrastructure_engagements (lab_accepted_by);
create index infrastructure_engagements_consent_recorded_by_idx
    on infrastructure_engagements (counterpart_consent_recorded_by);

-- The search read the free text: it reads the title now, and the engagements' filter matches the counterpart's
-- name through its own search column (hub/store/engagements.py, where_engagements).
alter table infrastructure_engagements drop column search;
alter table infrastructure_engagements drop column counterparty;
alter table infrastructure_engagements
    add column search tsvector generated always as (to_tsvector('simple', title)) stored;
create index infrastructure_engagements_search_idx on infrastructure_engagements using gin (search);

-- Row-level security on the new table and its read policy: the newest sql/NNN_visibility_*.sql (generated).

-- The CHECK constraints of the state columns and the events' kinds, from the kinds registry: sql/018.
