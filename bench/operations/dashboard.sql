-- The raw-SQL floor of dashboard.graphql: the same `data`, built by PostgreSQL in one statement.
-- $1 asOf, $2 horizonDays, $3 first. Visibility: row-level security (frontier_hub_app, principal bound).
with counts as (
    select 'LAB' as kind, participation as state, count(*) as n from labs group by participation
    union all select 'MODEL', release_status, count(*) from frontier_models group by release_status
    union all select 'AGREEMENT', state, count(*) from early_access_agreements group by state
    union all select 'REQUEST', state, count(*) from early_access_requests group by state
    union all select 'STANDARD', state, count(*) from coverage_standards group by state
    union all select 'DECISION', state, count(*) from coverage_decisions group by state
    union all select 'FINDING', state, count(*) from findings group by state
    union all select 'MEASURE', state, count(*) from cyber_measures group by state
    union all select 'ENGAGEMENT', state, count(*) from infrastructure_engagements group by state
    union all select 'DESIGNATION', state, count(*) from model_designations group by state
    union all select 'POLICY_VERSION', state, count(*) from policy_versions group by state
), deadlines as (
    select 'AGREEMENT' as kind, 'EarlyAccessAgreement' as type, t.id, 'preview access ends' as what,
           t.access_end::date as due_on
      from early_access_agreements t where t.state = 'ACTIVE'
    union all
    select 'STANDARD', 'CoverageStandard', t.id, 'coverage standard due', t.due_on
      from coverage_standards t where t.state in ('DRAFT', 'IN_REVIEW')
    union all
    select 'FINDING', 'Finding', t.id, 'KEV due date (BOD 22-01)', t.kev_due_date
      from findings t
     where t.kev_due_date is not null
       and t.state in ('REPORTED', 'TRIAGED', 'VALIDATED', 'COORDINATING', 'MITIGATION_AVAILABLE', 'DISCLOSED')
    union all
    select 'ENGAGEMENT', 'InfrastructureEngagement', t.id, 'milestone: ' || m.title, m.due_on
      from engagement_milestones m join infrastructure_engagements t on t.id = m.engagement_id
     where m.due_on is not null and m.completed_on is null and t.state not in ('COMPLETED', 'DECLINED', 'WITHDRAWN')
), due_soon as (
    select * from deadlines d where d.due_on >= $1::text::date and d.due_on <= $1::text::date + $2::int
), overdue as (
    select * from deadlines d where d.due_on < $1::text::date
)
select json_build_object('dashboard', json_build_object(
    'asOf', $1::text::date,
    'horizonDays', $2::int,
    'counts', (select json_agg(json_build_object('kind', kind, 'state', state, 'count', n) order by kind, state)
                 from counts),
    'dueSoonCount', (select count(*) from due_soon),
    'dueSoon', coalesce((
        select json_agg(json_build_object(
                   'kind', d.kind, 'what', d.what, 'dueOn', d.due_on, 'daysLeft', d.due_on - $1::text::date,
                   'entityId', translate(rtrim(encode(convert_to(d.type || ':' || d.id, 'UTF8'), 'base64'), '='),
                                         '+/', '-_'))
               order by d.due_on, d.kind, d.id)
          from (select * from due_soon order by due_on, kind, id limit $3) d), '[]'::json),
    'overdueCount', (select count(*) from overdue),
    'overdue', coalesce((
        select json_agg(json_build_object(
                   'kind', d.kind, 'what', d.what, 'dueOn', d.due_on, 'daysLeft', d.due_on - $1::text::date,
                   'entityId', translate(rtrim(encode(convert_to(d.type || ':' || d.id, 'UTF8'), 'base64'), '='),
                                         '+/', '-_'))
               order by d.due_on desc, d.kind, d.id)
          from (select * from overdue order by due_on desc, kind, id limit $3) d), '[]'::json)))
