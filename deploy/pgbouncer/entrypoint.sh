#!/bin/sh
# PgBouncer in transaction mode in front of $PGBOUNCER_SERVER_HOST (compose.yaml), for the owner's and the request
# role's logins. The hub keeps no prepared statement and nothing session-scoped on these connections
# (HUB_DATABASE_POOLER=transaction); LISTEN and the advisory locks go straight to the primary (HUB_DIRECT_DATABASE_URL).
set -eu
conf=/tmp/pgbouncer
mkdir -p "$conf"
umask 077
printf '"frontier_hub" "%s"\n"hub_request" "%s"\n' "$HUB_OWNER_PASSWORD" "$HUB_REQUEST_PASSWORD" > "$conf/userlist.txt"
cat > "$conf/pgbouncer.ini" <<INI
[databases]
frontier_hub = host=${PGBOUNCER_SERVER_HOST} port=5432 dbname=frontier_hub

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
pool_mode = transaction
; server connections per database and user: the budget of docs/operators.md, "Managed PostgreSQL"
default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
max_client_conn = 1000
server_reset_query =
log_connections = 0
log_disconnections = 0
INI
exec pgbouncer "$conf/pgbouncer.ini"
