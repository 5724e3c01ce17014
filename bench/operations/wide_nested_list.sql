-- The raw-SQL floor of wide_nested_list.graphql: the same `data`, built by PostgreSQL in one statement.
-- $1: first. Visibility comes from row-level security (the statement runs as frontier_hub_app, principal bound).
select json_build_object('models', json_build_object('edges', coalesce(json_agg(
    json_build_object('node', json_build_object(
        'id', translate(rtrim(encode(convert_to('FrontierModel:' || m.id, 'UTF8'), 'base64'), '='), '+/', '-_'),
        'name', m.name,
        'releaseStatus', m.release_status,
        'lab', json_build_object('name', l.name),
        'coverageDecisions', coalesce((
            select json_agg(json_build_object('outcome', d.outcome) order by d.created_at, d.id)
              from coverage_decisions d
             where d.model_id = m.id), '[]'::json)))
    order by m.name, m.id), '[]'::json)))
  from (select id, lab_id, name, release_status from frontier_models order by name, id limit $1) m
  join labs l on l.id = m.lab_id
