-- A model an agency recorded from its lab's public announcement (recordPublicModel; docs/design.md,
-- "Participation"): which agency recorded it and the announcement's address, public facts only. A model the lab
-- registered itself has neither. When the lab's liaisons correct such a record (updateModel), the time of their
-- latest correction.
alter table frontier_models
    add column recorded_by_agency_id bigint references agencies (id),
    add column source_url text check (length(source_url) between 1 and 300),
    add column corrected_by_lab_at timestamptz,
    add constraint frontier_models_recorded_source_check
        check ((recorded_by_agency_id is null) = (source_url is null)),
    add constraint frontier_models_corrected_recorded_check
        check (corrected_by_lab_at is null or recorded_by_agency_id is not null);
create index frontier_models_recorded_by_idx on frontier_models (recorded_by_agency_id)
    where recorded_by_agency_id is not null;
