-- Row-level security: the visibility rule of DESIGN.md section 4 (hub/access.py) enforced a second time, by
-- PostgreSQL itself, so that a bug in the store's own filters cannot show a record to someone who may not see it.
--
-- The hub's request pool acts as frontier_hub_app: a role that owns nothing, is no superuser and has no BYPASSRLS.
-- Each request's transaction tells the policies who is asking with set_config(..., true) (hub/store/base.py), so
-- the principal ends with the transaction and a pooled connection never carries it into another request; outside
-- such a transaction the settings are empty and the policies show nothing. The hub's own work (the scheduler, the
-- event fan-out, the CLI) runs as the role that owns the tables, which keeps its full view.

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'frontier_hub_app') then
        begin
            create role frontier_hub_app nologin nosuperuser nocreatedb nocreaterole nobypassrls noinherit;
        exception
            when duplicate_object then null;  -- another database of this server created it meanwhile
            when insufficient_privilege then
                raise exception 'the hub needs a role frontier_hub_app: create it once as a superuser with '
                    '"create role frontier_hub_app nologin nobypassrls", or give the migrating role CREATEROLE';
        end;
    end if;
end $$;

-- the migrating role (the tables' owner) switches its request connections to frontier_hub_app
do $$
begin
    if not (select rolsuper from pg_roles where rolname = current_user) then
        execute format('grant frontier_hub_app to %I', current_user);
    end if;
end $$;

grant usage on schema public to frontier_hub_app;
grant select, insert, update, delete on all tables in schema public to frontier_hub_app;
grant usage, select on all sequences in schema public to frontier_hub_app;
-- tables of later migrations get the same
alter default privileges in schema public grant select, insert, update, delete on tables to frontier_hub_app;
alter default privileges in schema public grant usage, select on sequences to frontier_hub_app;
-- the audit trail is append-only for the hub, and the migrations are not its business
revoke update, delete on events from frontier_hub_app;
revoke insert, update, delete on schema_migrations from frontier_hub_app;

-- The principal of the current transaction (empty outside one: then every policy below is false).
create function hub_principal_id() returns bigint language sql stable as $$
    select nullif(current_setting('hub.principal_id', true), '')::bigint
$$;
create function hub_agency_id() returns bigint language sql stable as $$
    select nullif(current_setting('hub.agency_id', true), '')::bigint
$$;
create function hub_lab_id() returns bigint language sql stable as $$
    select nullif(current_setting('hub.lab_id', true), '')::bigint
$$;
create function hub_role() returns text language sql stable as $$
    select nullif(current_setting('hub.role', true), '')
$$;

-- TLP 2.0 with the owning agency, shareWith and RED recipients (hub.access.tlp_visible). `lab_id` is the lab the
-- record concerns, null for records that concern none (measures).
create function hub_tlp_visible(
    tlp text, owner_agency_id bigint, share_agency_ids bigint[], share_lab_ids bigint[],
    recipient_principal_ids bigint[], created_by bigint, lab_id bigint
) returns boolean language sql stable as $$
    select case
        when hub_agency_id() is not null then
            case tlp
                when 'CLEAR' then true
                when 'GREEN' then true
                when 'AMBER' then owner_agency_id = hub_agency_id() or hub_agency_id() = any(share_agency_ids)
                when 'AMBER_STRICT' then owner_agency_id = hub_agency_id()
                when 'RED' then hub_principal_id() = any(recipient_principal_ids) or created_by = hub_principal_id()
                else false
            end
        when hub_lab_id() is not null then
            case tlp
                when 'CLEAR' then true
                when 'GREEN' then lab_id = hub_lab_id()
                when 'AMBER' then lab_id = hub_lab_id() and hub_lab_id() = any(share_lab_ids)
                when 'RED' then hub_principal_id() = any(recipient_principal_ids) or created_by = hub_principal_id()
                else false
            end
        else false
    end
$$;

-- The events chain reads the last event of everyone: it runs as the owner of the function, not as the caller.
alter function events_chain() security definer set search_path = public, pg_temp;

do $$
declare
    t text;
begin
    foreach t in array array['frontier_models', 'early_access_agreements', 'coverage_standards',
                             'coverage_decisions', 'findings', 'cyber_measures', 'infrastructure_engagements',
                             'events']
    loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        -- the owner (the hub's own work, the CLI) sees and writes everything
        execute format('create policy hub_owner on %I to %I using (true) with check (true)', t, current_user);
        -- requests write only through the store, which checks each write against the rule before making it
        if t <> 'events' then
            execute format('create policy hub_write on %I for update to frontier_hub_app using (true) with check (true)', t);
            execute format('create policy hub_delete on %I for delete to frontier_hub_app using (true)', t);
        end if;
        execute format('create policy hub_insert on %I for insert to frontier_hub_app with check (true)', t);
    end loop;
end $$;

-- What a request may read: DESIGN.md section 4, as in hub/access.py.
create policy hub_read on frontier_models for select to frontier_hub_app using (
    hub_agency_id() is not null
    or (hub_lab_id() is not null and (lab_id = hub_lab_id() or release_status in ('GENERALLY_AVAILABLE', 'DEPRECATED')))
);
create policy hub_read on early_access_agreements for select to frontier_hub_app using (
    (hub_agency_id() is not null and exists (select 1 from agreement_agencies aa
                                              where aa.agreement_id = early_access_agreements.id
                                                and aa.agency_id = hub_agency_id()))
    or (hub_lab_id() is not null and lab_id = hub_lab_id())
);
create policy hub_read on coverage_standards for select to frontier_hub_app using (
    hub_agency_id() is not null or (hub_lab_id() is not null and state in ('ADOPTED', 'SUPERSEDED'))
);
create policy hub_read on coverage_decisions for select to frontier_hub_app using (
    hub_agency_id() is not null
    or (hub_lab_id() is not null and exists (select 1 from frontier_models m
                                              where m.id = coverage_decisions.model_id and m.lab_id = hub_lab_id()))
);
create policy hub_read on findings for select to frontier_hub_app using (
    hub_tlp_visible(tlp, owner_agency_id, share_agency_ids, share_lab_ids, recipient_principal_ids, created_by, lab_id)
);
create policy hub_read on cyber_measures for select to frontier_hub_app using (
    hub_tlp_visible(tlp, owner_agency_id, share_agency_ids, share_lab_ids, recipient_principal_ids, created_by, null)
);
create policy hub_read on infrastructure_engagements for select to frontier_hub_app using (
    hub_tlp_visible(tlp, owner_agency_id, share_agency_ids, share_lab_ids, recipient_principal_ids, created_by, lab_id)
);
-- An event is visible when the record it is about is: the subqueries below read those tables under their own
-- policies. Events about principals: the principal itself and the admins of its agency. Nobody bound: nothing.
create policy hub_read on events for select to frontier_hub_app using (hub_principal_id() is not null and (
    entity_kind in ('AGENCY', 'LAB', 'POLICY')
    or (entity_kind = 'PRINCIPAL' and (
        entity_id = hub_principal_id()
        or (hub_role() = 'ADMIN' and exists (select 1 from principals p
                                              where p.id = events.entity_id and p.agency_id = hub_agency_id()))))
    or (entity_kind = 'MODEL' and exists (select 1 from frontier_models r where r.id = events.entity_id))
    or (entity_kind = 'AGREEMENT' and exists (select 1 from early_access_agreements r where r.id = events.entity_id))
    or (entity_kind = 'STANDARD' and exists (select 1 from coverage_standards r where r.id = events.entity_id))
    or (entity_kind = 'DECISION' and exists (select 1 from coverage_decisions r where r.id = events.entity_id))
    or (entity_kind = 'FINDING' and exists (select 1 from findings r where r.id = events.entity_id))
    or (entity_kind = 'MEASURE' and exists (select 1 from cyber_measures r where r.id = events.entity_id))
    or (entity_kind = 'ENGAGEMENT' and exists (select 1 from infrastructure_engagements r
                                                where r.id = events.entity_id))
));
