#!/bin/sh
# Run once by the postgres image when it creates the primary's data folder (/docker-entrypoint-initdb.d), as its
# superuser: the roles and the database of docs/operators.md, "Beyond one machine" (compose.yaml).
#   frontier_hub      the tables' owner: `hub migrate`, the hub's own work (HUB_DATABASE_URL, HUB_DIRECT_DATABASE_URL)
#   frontier_hub_app  the group row-level security holds (the migrations would create it; made here first so that
#                     the request login can join it before they run); the owner may grant it (admin option)
#   hub_request       what requests log in as (HUB_REQUEST_DATABASE_URL, HUB_REPLICA_DATABASE_URL)
#   replicator        the replica's streaming connection
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$HUB_OWNER_PASSWORD" \
    -v request_password="$HUB_REQUEST_PASSWORD" \
    -v replication_password="$REPLICATION_PASSWORD" <<'SQL'
create role frontier_hub login password :'owner_password';
create role frontier_hub_app nologin nosuperuser nocreatedb nocreaterole nobypassrls noinherit;
grant frontier_hub_app to frontier_hub with admin option;
create role hub_request login nosuperuser nobypassrls password :'request_password' in role frontier_hub_app;
create role replicator login replication password :'replication_password';
create database frontier_hub owner frontier_hub;
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
