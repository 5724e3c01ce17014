-- Issue 16 brought together (docs/design.md, "Early access", "Policy versions"):
--
-- * an early-access request names the policy version it was made under, stamped as agreements, standards and
--   decisions are (stamp_policy_version, sql/014);
-- * an agreement made from a request is measured against the lead time the agency asked for, which may be any
--   figure a request may ask (0 to 3650 days), not only the policy's;
-- * the CHECK constraints of every state column and of the events' kinds, from the kinds registry as it now is
--   (`python -m hub.kinds --check-constraints`): the branches' migrations each wrote them for their own kinds.

alter table early_access_requests add column policy_version integer references policy_versions (number);
update early_access_requests set policy_version = (select number from policy_versions where state = 'IN_EFFECT');
alter table early_access_requests alter column policy_version set not null;
create index early_access_requests_policy_version_idx on early_access_requests (policy_version);
create trigger early_access_requests_policy_version before insert on early_access_requests
    for each row execute function stamp_policy_version();

alter table early_access_agreements drop constraint early_access_agreements_lead_time_asked_days_check,
    add constraint early_access_agreements_lead_time_asked_days_check
        check (lead_time_asked_days between 0 and 3650);

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
alter table events drop constraint if exists events_entity_kind_check,
    add constraint events_entity_kind_check check (entity_kind in ('AGENCY', 'LAB', 'MODEL', 'AGREEMENT', 'REQUEST', 'STANDARD', 'DECISION', 'COMPUTE_ESTIMATE', 'EVAL_SUITE', 'EVAL_RESULT', 'DESIGNATION', 'FINDING', 'MEASURE', 'COUNTERPART', 'ENGAGEMENT', 'POLICY', 'POLICY_VERSION', 'PRINCIPAL'));
