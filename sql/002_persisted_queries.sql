-- Automatic Persisted Queries: a client sends the sha256 of a query; the hub keeps the text, shared by every
-- worker, so that the next request can send the hash alone.
create table persisted_queries (
    sha256 text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
    query text not null check (length(query) <= 1000000),
    created_by bigint references principals (id),
    created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now()
);
create index persisted_queries_created_by_idx on persisted_queries (created_by);
