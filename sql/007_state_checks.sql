-- The state columns hold exactly the states of the kinds registry, hub/kinds.py (docs/design.md, "Kinds and
-- states"), and events.entity_kind exactly its event kinds. Migration 001 wrote these lists by hand under names
-- PostgreSQL chose; this one re-creates each under a predictable name, <table>_<column>_check (the same names, now
-- said out loud), from the registry. The statements are the output of `python -m hub.kinds --check-constraints`:
-- a migration that adds a state or a kind includes them again, and tests/test_kinds.py compares pg_constraint with
-- the registry both ways.
alter table labs drop constraint if exists labs_participation_check,
    add constraint labs_participation_check check (participation in ('INVITED', 'ENGAGED', 'PARTICIPATING', 'DECLINED', 'WITHDRAWN'));
alter table frontier_models drop constraint if exists frontier_models_release_status_check,
    add constraint frontier_models_release_status_check check (release_status in ('IN_DEVELOPMENT', 'RESTRICTED_PREVIEW', 'GENERALLY_AVAILABLE', 'DEPRECATED'));
alter table early_access_agreements drop constraint if exists early_access_agreements_state_check,
    add constraint early_access_agreements_state_check check (state in ('PROPOSED', 'ACTIVE', 'COMPLETED', 'WITHDRAWN_BY_LAB', 'TERMINATED'));
alter table coverage_standards drop constraint if exists coverage_standards_state_check,
    add constraint coverage_standards_state_check check (state in ('DRAFT', 'IN_REVIEW', 'ADOPTED', 'SUPERSEDED', 'WITHDRAWN'));
alter table coverage_decisions drop constraint if exists coverage_decisions_state_check,
    add constraint coverage_decisions_state_check check (state in ('REQUESTED', 'UNDER_ASSESSMENT', 'DECIDED', 'RECONSIDERATION_REQUESTED', 'SUPERSEDED', 'WITHDRAWN'));
alter table findings drop constraint if exists findings_state_check,
    add constraint findings_state_check check (state in ('REPORTED', 'TRIAGED', 'VALIDATED', 'COORDINATING', 'MITIGATION_AVAILABLE', 'DISCLOSED', 'REMEDIATED', 'DUPLICATE', 'REJECTED'));
alter table cyber_measures drop constraint if exists cyber_measures_state_check,
    add constraint cyber_measures_state_check check (state in ('PLANNED', 'DEPLOYING', 'DEPLOYED', 'VERIFIED', 'RETIRED', 'SUSPENDED'));
alter table infrastructure_engagements drop constraint if exists infrastructure_engagements_state_check,
    add constraint infrastructure_engagements_state_check check (state in ('PROPOSED', 'SCOPING', 'ACTIVE', 'COMPLETED', 'PAUSED', 'DECLINED', 'WITHDRAWN'));
alter table events drop constraint if exists events_entity_kind_check,
    add constraint events_entity_kind_check check (entity_kind in ('AGENCY', 'LAB', 'MODEL', 'AGREEMENT', 'STANDARD', 'DECISION', 'FINDING', 'MEASURE', 'ENGAGEMENT', 'POLICY', 'PRINCIPAL'));
