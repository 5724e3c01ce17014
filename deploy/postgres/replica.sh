#!/bin/sh
# The streaming replica (compose.yaml): on first start, a base backup of the primary with its standby settings
# (pg_basebackup -R), then PostgreSQL in hot standby. Runs as the postgres user.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_basebackup --host=primary --username=replicator --pgdata="$PGDATA" \
        --write-recovery-conf --wal-method=stream --checkpoint=fast; do
        echo "replica: waiting for the primary"
        rm -rf "${PGDATA:?}"/*
        sleep 2
    done
    chmod 700 "$PGDATA"
fi
# a standby's queries cancelled by a recovery conflict are retried on the primary by the hub; feedback makes them rare
exec postgres -c hot_standby=on -c hot_standby_feedback=on
