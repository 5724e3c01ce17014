-- A finding a lab's liaison reports about the lab's own model is owned by the lab (docs/design.md, "Who sees
-- what"): the lab takes the owning agency's place in the visibility rule and in the remits of the finding's writes,
-- until an agency takes the finding over (takeOverFinding), when the agency owns it and the lab stays on its
-- shareWith list.
alter table findings add column owner_lab_id bigint references labs (id);
create index findings_owner_lab_idx on findings (owner_lab_id);

-- Every finding has exactly one owner: an agency or a lab. Before this migration every write set the owning agency
-- (reportFinding, the demo, the benchmark's data); the rule of 001 that let a CLEAR, GREEN or RED finding go without
-- one is replaced by this one.
do $$
declare
    name text;
begin
    for name in
        select conname from pg_constraint
         where conrelid = 'findings'::regclass and contype = 'c'
           and pg_get_constraintdef(oid) like '%owner_agency_id IS NOT NULL%'
    loop
        execute format('alter table findings drop constraint %I', name);
    end loop;
end
$$;
alter table findings add constraint findings_one_owner_check check (num_nonnulls(owner_agency_id, owner_lab_id) = 1);

-- A lab owns findings about its own models only: the lab concerned (lab_id, the model's lab) is the owning lab.
alter table findings add constraint findings_owner_lab_is_lab_check
    check (owner_lab_id is null or owner_lab_id = lab_id);

-- who reported a finding a lab owns: the lab itself or its model, never an agency (nor the KEV catalogue, which no
-- report names)
alter table findings add constraint findings_lab_discoverer_check
    check (owner_lab_id is null or discovered_by_kind in ('LAB', 'MODEL'));
