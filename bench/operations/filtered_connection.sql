-- The raw-SQL floor of filtered_connection.graphql: the same `data` (but for the cursor's bytes), built by
-- PostgreSQL in one statement. $1 severities, $2 sectors, $3 states, $4 first. Visibility: row-level security.
with matching as (
    select f.id, f.title, f.state, f.cve_id, f.cvss_base_score, f.cvss_severity, f.sectors, f.tlp, f.lab_id,
           f.created_at
      from findings f
     where f.cvss_severity = any($1::text[]) and f.sectors && $2::text[] and f.state = any($3::text[])
), page as (
    select * from matching order by created_at, id limit $4 + 1
), shown as (
    select * from page order by created_at, id limit $4
)
select json_build_object('findings', json_build_object(
    'totalCount', (select count(*) from matching),
    'pageInfo', json_build_object(
        'hasNextPage', (select count(*) from page) > $4,
        'endCursor', (select replace(translate(rtrim(encode(convert_to(
                                 json_build_array('CREATED_AT', s.created_at::text, s.id)::text, 'UTF8'), 'base64'),
                                 '='), '+/', '-_'), E'\n', '')
                        from shown s order by s.created_at desc, s.id desc limit 1)),
    'edges', coalesce((
        select json_agg(json_build_object('node', json_build_object(
                   'id', translate(rtrim(encode(convert_to('Finding:' || s.id, 'UTF8'), 'base64'), '='), '+/', '-_'),
                   'title', s.title,
                   'state', s.state,
                   'cveId', s.cve_id,
                   'cvss', case when s.cvss_base_score is not null then
                               json_build_object('baseScore', s.cvss_base_score, 'severity', s.cvss_severity) end,
                   'sectors', s.sectors,
                   'tlp', s.tlp,
                   'lab', (select json_build_object('name', l.name) from labs l where l.id = s.lab_id)))
               order by s.created_at, s.id)
          from shown s), '[]'::json)))
