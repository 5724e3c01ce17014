-- Sharing in the field's standards (docs/sharing.md): STIX 2.1 over TAXII 2.1, and the KEV catalogue's imports.

-- Each record that leaves the hub as a STIX object keeps one STIX id for its life, so that a client that fetches it
-- again updates its copy rather than adding a second one (docs/sharing.md, "Identifiers"). A UUIDv4, as STIX 2.1
-- recommends for the objects a producer makes; stored, so that a TAXII `match[id]` finds its record by an index.
alter table findings add column stix_id uuid not null default gen_random_uuid();
alter table findings add constraint findings_stix_id_key unique (stix_id);
alter table cyber_measures add column stix_id uuid not null default gen_random_uuid();
alter table cyber_measures add constraint cyber_measures_stix_id_key unique (stix_id);
alter table infrastructure_engagements add column stix_id uuid not null default gen_random_uuid();
alter table infrastructure_engagements add constraint infrastructure_engagements_stix_id_key unique (stix_id);
alter table infrastructure_counterparts add column stix_id uuid not null default gen_random_uuid();
alter table infrastructure_counterparts add constraint infrastructure_counterparts_stix_id_key unique (stix_id);
alter table agencies add column stix_id uuid not null default gen_random_uuid();
alter table agencies add constraint agencies_stix_id_key unique (stix_id);
alter table labs add column stix_id uuid not null default gen_random_uuid();
alter table labs add constraint labs_stix_id_key unique (stix_id);

-- The hub itself, as the STIX identity that produces what it serves (the extension definition's creator): one row,
-- its id made once per installation.
create table hub_instance (
    singleton boolean primary key default true check (singleton),
    stix_id uuid not null default gen_random_uuid(),
    created_at timestamptz not null default now()
);
insert into hub_instance default values;
grant select on hub_instance to frontier_hub_app;

-- A finding loaded from CISA's KEV catalogue by `hub import kev` (docs/operators.md, "Importing the KEV catalogue
-- and CVE records") is keyed by its CVE id among the findings so loaded: a second run updates, never duplicates.
-- Findings an agency reports about a KEV entry (discoveredBy KEV_CATALOGUE, as the demo's) are its own records
-- and are not keyed.
alter table findings add column kev_catalogue_entry boolean not null default false;
alter table findings add constraint findings_kev_catalogue_entry_check
    check (not kev_catalogue_entry or (cve_id is not null and discovered_by_kind = 'KEV_CATALOGUE'));
create unique index findings_kev_catalogue_cve_key on findings (cve_id) where kev_catalogue_entry;
