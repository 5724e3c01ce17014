-- Preview lead time, measured (docs/design.md, "Early access"; docs/workflows.md, "Preview lead time, measured").
--
-- A model's general availability: the date the lab plans (confidential, like planned_release_on: the masked view
-- of the visibility migration that follows carries it) and the date it happened (public). Both are the lab's word;
-- neither gates anything.
alter table frontier_models
    add column planned_general_availability_on date,
    add column general_availability_on date;

-- Each agreement keeps the lead time the program asked for when it was made (policy.preview_lead_time_days then),
-- so that a later change of the policy does not rewrite what an earlier agreement was measured against. The
-- agreements made before this figure was kept were made under the order's 30 days.
alter table early_access_agreements add column lead_time_asked_days integer;
update early_access_agreements set lead_time_asked_days = 30 where lead_time_asked_days is null;
alter table early_access_agreements
    alter column lead_time_asked_days set not null,
    add constraint early_access_agreements_lead_time_asked_days_check
        check (lead_time_asked_days between 1 and 365);

-- Filled at insert from the policy row, unless the insert names the figure itself (an agreement born of an
-- agency's request may carry the lead time that request asked for). Never changed after: it is a record.
create function set_agreement_lead_time_asked() returns trigger language plpgsql as $$
begin
    if new.lead_time_asked_days is null then
        new.lead_time_asked_days := (select preview_lead_time_days from policy where id = 1);
    end if;
    if new.lead_time_asked_days is null then
        raise exception 'no policy row: the lead time asked for is unknown';
    end if;
    return new;
end $$;
create trigger early_access_agreements_lead_time_asked
    before insert on early_access_agreements
    for each row execute function set_agreement_lead_time_asked();

