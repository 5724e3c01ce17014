-- Per-principal rate limits counted in query cost: one token bucket per principal, shared by every worker.
-- Each request refills the bucket for the time since `updated_at` and spends its cost in one atomic upsert
-- (hub/ratelimit.py). Unlogged: the buckets are no record worth the write-ahead log; after a crash they start full.
-- No foreign key: the anonymous development principal (id 0) has a bucket too.
create unlogged table rate_limits (
    principal_id bigint primary key,
    points double precision not null,
    updated_at timestamptz not null,
    last_allowed boolean not null default true
);

-- The runtime role of row-level security, where it exists, spends from its buckets (no RLS on this table).
do $$
begin
    if exists (select 1 from pg_roles where rolname = 'frontier_hub_app') then
        grant select, insert, update, delete on rate_limits to frontier_hub_app;
    end if;
end
$$;
