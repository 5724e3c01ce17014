-- The STIX feed's reads (docs/design.md, "STIX content"; hub/stix/feed.py).

-- An event's time is taken under the events chain's lock, with its id, rather than when its row was formed (the
-- column's default, evaluated before the trigger waits for the lock). Ids follow commit order (sql/001_init.sql);
-- with this, times do too: a writer that waited for the lock no longer commits an event older than one already
-- committed. The TAXII feed's `date_added` is the time of a record's latest event, and a poller that asks for what
-- was added after the last time it saw must never miss a record whose event committed later with an earlier time.
alter table events alter column at drop default;

create or replace function events_chain() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
    -- one writer at a time appends to the chain; the lock is held until commit
    perform pg_advisory_xact_lock(7410431001);
    new.id := nextval('events_id_seq');
    new.at := coalesce(new.at, clock_timestamp());
    new.prev_hash := (select hash from events order by id desc limit 1);
    new.hash := event_hash(new);
    return new;
end $$;

-- The time of the latest event about each record that leaves the hub as a STIX object: the TAXII feed's
-- `date_added` and the objects' `modified` (docs/design.md, "STIX content"). Kept by a trigger on the events, so that
-- a page of the feed is read by an index on the records rather than by the latest event of every record the
-- principal sees (and through the events' row-level security policy, whose planning alone costs more than the
-- page). A record written without an event (none of the store's writes) keeps the time of its insertion.
alter table findings add column last_event_at timestamptz;
alter table cyber_measures add column last_event_at timestamptz;
alter table infrastructure_engagements add column last_event_at timestamptz;
alter table infrastructure_counterparts add column last_event_at timestamptz;
alter table agencies add column last_event_at timestamptz;
alter table labs add column last_event_at timestamptz;

do $$
declare
    pair text[];
begin
    foreach pair slice 1 in array array[['FINDING', 'findings'], ['MEASURE', 'cyber_measures'],
                                        ['ENGAGEMENT', 'infrastructure_engagements'],
                                        ['COUNTERPART', 'infrastructure_counterparts'], ['AGENCY', 'agencies'],
                                        ['LAB', 'labs']]
    loop
        execute format(
            'update %I t set last_event_at = greatest(t.created_at, coalesce('
            '(select max(e.at) from events e where e.entity_kind = %L and e.entity_id = t.id), t.updated_at))',
            pair[2], pair[1]);
        execute format('alter table %I alter column last_event_at set default now()', pair[2]);
        execute format('alter table %I alter column last_event_at set not null', pair[2]);
        execute format('create index %I on %I (last_event_at, id)', pair[2] || '_last_event_at_idx', pair[2]);
    end loop;
end $$;

create function events_touch_record() returns trigger
language plpgsql security definer set search_path = public, pg_temp as $$
begin
    -- after events_chain: `at` is the event's time, taken under the chain's lock
    case new.entity_kind
        when 'FINDING' then update findings set last_event_at = new.at where id = new.entity_id;
        when 'MEASURE' then update cyber_measures set last_event_at = new.at where id = new.entity_id;
        when 'ENGAGEMENT' then update infrastructure_engagements set last_event_at = new.at where id = new.entity_id;
        when 'COUNTERPART' then update infrastructure_counterparts set last_event_at = new.at where id = new.entity_id;
        when 'AGENCY' then update agencies set last_event_at = new.at where id = new.entity_id;
        when 'LAB' then update labs set last_event_at = new.at where id = new.entity_id;
        else null;
    end case;
    return null;
end $$;
create trigger events_touch_record after insert on events for each row execute function events_touch_record();

-- The sharing changes (their events keep the sharing as it was), found without reading every event.
create index events_sharing_idx on events (entity_kind, id) where details ? 'before';

-- The records of one kind (FINDING, MEASURE, ENGAGEMENT) that a sharing change took from the bound principal: the
-- revocations of the event fan-out (hub_revoked_events, generated from hub.access.was_visible_before by
-- hub/policies.py), one row per record, at its latest such change after `since` (null: since the start), with what
-- the principal already had of the record: its STIX id, its creation time and its TLP before the change. The feed
-- serves them as revoked objects; nothing else of the record, which row-level security now hides, is read.
create function hub_stix_withdrawn(of_kind text, since timestamptz)
returns table (entity_id bigint, at timestamptz, stix_id uuid, created_at timestamptz, tlp text)
language plpgsql stable security definer set search_path = public, pg_temp as $$
declare
    after_id bigint := 0;
begin
    if since is not null then
        select coalesce(max(e.id), 0) into after_id from events e where e.at <= since;
    end if;
    -- hub_revoked_events judges each sharing change for the principal (and is planned at each call): only when
    -- there is one of this kind to judge
    if not exists (select 1 from events e where e.entity_kind = of_kind and e.details ? 'before' and e.id > after_id)
    then
        return;
    end if;
    return query
    select distinct on (r.entity_id) r.entity_id, r.at, rec.stix_id, rec.created_at, e.details->'before'->>'tlp'
      from hub_revoked_events(after_id, (select max(e2.id) from events e2)) r
      join events e on e.id = r.id
      join lateral (
          select f.stix_id, f.created_at from findings f where of_kind = 'FINDING' and f.id = r.entity_id
          union all
          select m.stix_id, m.created_at from cyber_measures m where of_kind = 'MEASURE' and m.id = r.entity_id
          union all
          select g.stix_id, g.created_at from infrastructure_engagements g
           where of_kind = 'ENGAGEMENT' and g.id = r.entity_id
      ) rec on true
     where r.entity_kind = of_kind
     order by r.entity_id, r.id desc;
end $$;
revoke all on function hub_stix_withdrawn(text, timestamptz) from public;
grant execute on function hub_stix_withdrawn(text, timestamptz) to frontier_hub_app;
