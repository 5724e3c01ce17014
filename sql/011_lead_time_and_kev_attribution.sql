-- The lead time the program asks for (docs/design.md, "Early access"): how many days before general availability
-- each agency should have a model to preview. 30 in the order as signed (90 in the earlier draft). A figure the
-- hub measures agreements against and reports on, never a limit on what a lab gives.
alter table policy
    add column preview_lead_time_days integer not null default 30
        check (preview_lead_time_days between 1 and 365);

-- A finding grounded in CISA's Known Exploited Vulnerabilities catalogue is attributed to the catalogue, not to a
-- model, an agency or a lab (docs/design.md, "Demo data").
alter table findings drop constraint findings_discovered_by_kind_check,
    add constraint findings_discovered_by_kind_check
        check (discovered_by_kind in ('MODEL', 'AGENCY', 'LAB', 'KEV_CATALOGUE'));
