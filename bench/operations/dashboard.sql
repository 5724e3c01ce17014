-- The raw-SQL floor of dashboard.graphql: the same `data`, built by PostgreSQL in one statement.
-- $1 asOf, $2 horizonDays, $3 first. Visibility: row-level security (frontier_hub_app, principal bound), on the
-- summary tables too (sql/024, sql/025): the counts of the large kinds are sums over them, as the hub's are (those
-- kept for agencies: the principal is an analyst).
with counts as (
    select 'LAB' as kind, participation as state, count(*) as n from labs group by participation
    union all select 'MODEL', release_status, sum(n) from model_counts_agency group by release_status
    union all select 'AGREEMENT', state, sum(n) from agreement_counts_agency group by state
    union all select 'REQUEST', state, count(*) from early_access_requests group by state
    union all select 'STANDARD', state, count(*) from coverage_standards group by state
    union all select 'DECISION', state, sum(n) from decision_counts_agency group by state
    union all select 'FINDING', state, sum(n) from finding_state_counts_agency group by state
    union all select 'MEASURE', state, sum(n) from measure_counts_agency group by state
    union all select 'ENGAGEMENT', state, sum(n) from engagement_counts_agency group by state
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
), kev_due as (
    -- the open findings' KEV due dates, counted from their summary
    select kev_due_date as due_on, n from finding_kev_due_counts_agency
     where state in ('REPORTED', 'TRIAGED', 'VALIDATED', 'COORDINATING', 'MITIGATION_AVAILABLE', 'DISCLOSED')
)
select json_build_object('dashboard', json_build_object(
    'asOf', $1::text::date,
    'horizonDays', $2::int,
    'counts', (select json_agg(json_build_object('kind', kind, 'state', state, 'count', n) order by kind, state)
                 from counts),
    'dueSoonCount', (select count(*) from due_soon where kind <> 'FINDING')
                    + (select coalesce(sum(n), 0) from kev_due
                        where due_on >= $1::text::date and due_on <= $1::text::date + $2::int),
    'dueSoon', coalesce((
        select json_agg(json_build_object(
                   'kind', d.kind, 'what', d.what, 'dueOn', d.due_on, 'daysLeft', d.due_on - $1::text::date,
                   'entityId', translate(rtrim(encode(convert_to(d.type || ':' || d.id, 'UTF8'), 'base64'), '='),
                                         '+/', '-_'))
               order by d.due_on, d.kind, d.id)
          from (select * from due_soon order by due_on, kind, id limit $3) d), '[]'::json),
    'overdueCount', (select count(*) from overdue where kind <> 'FINDING')
                    + (select coalesce(sum(n), 0) from kev_due where due_on < $1::text::date),
    'overdue', coalesce((
        select json_agg(json_build_object(
                   'kind', d.kind, 'what', d.what, 'dueOn', d.due_on, 'daysLeft', d.due_on - $1::text::date,
                   'entityId', translate(rtrim(encode(convert_to(d.type || ':' || d.id, 'UTF8'), 'base64'), '='),
                                         '+/', '-_'))
               order by d.due_on desc, d.kind, d.id)
          from (select * from overdue order by due_on desc, kind, id limit $3) d), '[]'::json)))
