-- The raw-SQL floor of deep_single_record.graphql: the same `data`, built by PostgreSQL in one statement.
-- $1: the model's id. Visibility comes from row-level security (frontier_hub_app, principal bound).
select json_build_object('node', (
    select json_build_object(
        'id', translate(rtrim(encode(convert_to('FrontierModel:' || m.id, 'UTF8'), 'base64'), '='), '+/', '-_'),
        'name', m.name,
        'modelVersion', m.model_version,
        'modality', m.modality,
        'releaseStatus', m.release_status,
        'capabilities', m.capabilities,
        'lab', (select json_build_object('name', l.name, 'country', l.country, 'participation', l.participation)
                  from labs l where l.id = m.lab_id),
        'agreements', coalesce((
            select json_agg(json_build_object(
                       'id', translate(rtrim(encode(convert_to('EarlyAccessAgreement:' || a.id, 'UTF8'), 'base64'),
                                             '='), '+/', '-_'),
                       'state', a.state,
                       'accessKinds', a.access_kinds,
                       'accessStart', a.access_start,
                       'accessEnd', a.access_end,
                       'parties', coalesce((
                           select json_agg(json_build_object('acceptedAt', aa.accepted_at,
                                                             'agency', json_build_object('code', ag.code))
                                           order by aa.agency_id)
                             from agreement_agencies aa join agencies ag on ag.id = aa.agency_id
                            where aa.agreement_id = a.id), '[]'::json))
                   order by a.access_start, a.id)
              from early_access_agreements a where a.model_id = m.id), '[]'::json),
        'coverageDecisions', coalesce((
            select json_agg(json_build_object(
                       'id', translate(rtrim(encode(convert_to('CoverageDecision:' || d.id, 'UTF8'), 'base64'), '='),
                                       '+/', '-_'),
                       'state', d.state,
                       'outcome', d.outcome,
                       'decidedAt', d.decided_at,
                       'standard', (select json_build_object('standardVersion', s.standard_version, 'title', s.title,
                                                             'state', s.state)
                                      from coverage_standards s where s.id = d.standard_id))
                   order by d.created_at, d.id)
              from coverage_decisions d where d.model_id = m.id), '[]'::json),
        'findings', coalesce((
            select json_agg(json_build_object(
                       'id', translate(rtrim(encode(convert_to('Finding:' || f.id, 'UTF8'), 'base64'), '='),
                                       '+/', '-_'),
                       'title', f.title,
                       'state', f.state,
                       'cveId', f.cve_id,
                       'cvss', case when f.cvss_base_score is not null then
                                   json_build_object('baseScore', f.cvss_base_score, 'severity', f.cvss_severity) end,
                       'tlp', f.tlp,
                       'measures', coalesce((
                           select json_agg(json_build_object(
                                      'id', translate(rtrim(encode(convert_to('CyberMeasure:' || c.id, 'UTF8'),
                                                                   'base64'), '='), '+/', '-_'),
                                      'title', c.title, 'kind', c.kind, 'state', c.state)
                                  order by c.created_at, c.id)
                             from measure_findings mf join cyber_measures c on c.id = mf.measure_id
                            where mf.finding_id = f.id), '[]'::json),
                       'engagements', coalesce((
                           select json_agg(json_build_object(
                                      'id', translate(rtrim(encode(convert_to('InfrastructureEngagement:' || e.id,
                                                                              'UTF8'), 'base64'), '='), '+/', '-_'),
                                      'title', e.title, 'sector', e.sector,
                                      'counterpart', (select json_build_object('name', cp.name)
                                                        from infrastructure_counterparts cp
                                                       where cp.id = e.counterpart_id),
                                      'state', e.state)
                                  order by e.created_at, e.id)
                             from engagement_findings ef join infrastructure_engagements e on e.id = ef.engagement_id
                            where ef.finding_id = f.id), '[]'::json))
                   order by f.created_at, f.id)
              from findings f where f.model_id = m.id), '[]'::json))
      from frontier_models m where m.id = $1))
