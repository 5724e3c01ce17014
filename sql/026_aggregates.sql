-- Aggregates (docs/analysts.md, "Aggregates"; hub/store/aggregates.py).
--
-- A finding keeps the moment it first moved to MITIGATION_AVAILABLE, so that the days from its report to a
-- mitigation (daysToMitigationAvailable) aggregate from its own row: set by a trigger in the transaction of the move,
-- whichever path makes it, and kept when the finding moves on. Existing findings take it from their events.
alter table findings add column mitigation_available_at timestamptz;

create function set_finding_mitigation_available_at() returns trigger language plpgsql as $$
begin
    if new.state = 'MITIGATION_AVAILABLE' and new.mitigation_available_at is null then
        new.mitigation_available_at := clock_timestamp();
    end if;
    return new;
end $$;

create trigger findings_mitigation_available_at
    before insert or update of state on findings
    for each row execute function set_finding_mitigation_available_at();

update findings f set mitigation_available_at = e.at
  from (select entity_id, min(at) as at from events
         where entity_kind = 'FINDING' and to_state = 'MITIGATION_AVAILABLE' group by entity_id) e
 where e.entity_id = f.id;

-- A compiled statement (schema/compiler/) that would answer more groups than an aggregate allows stops here, and the
-- resolvers answer instead, refusing with TOO_MANY_GROUPS.
create function hub_too_many_groups(groups bigint) returns json language plpgsql as $$
begin
    raise exception 'more than % groups', groups - 1 using errcode = 'HG001';
end $$;
