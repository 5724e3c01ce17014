"""Prometheus metrics (prometheus-client). With several workers (`hub serve --workers N`) every worker writes to the
multiprocess folder in PROMETHEUS_MULTIPROC_DIR and `/metrics` on any worker reports them all."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "hub_requests_total", "GraphQL requests over HTTP, by operation name and outcome", ["operation", "outcome"]
)
REQUEST_SECONDS = Histogram(
    "hub_request_seconds", "Time to answer a GraphQL request over HTTP", ["operation"], buckets=LATENCY_BUCKETS
)
SQL_STATEMENTS = Histogram(
    "hub_request_sql_statements", "SQL statements one request ran", buckets=(1, 2, 5, 10, 20, 50, 100, 200)
)
SQL_SECONDS = Histogram("hub_request_sql_seconds", "Time one request spent in SQL", buckets=LATENCY_BUCKETS)
POOL_IN_USE = Gauge("hub_pool_connections_in_use", "Pooled connections lent out", multiprocess_mode="livesum")
POOL_IDLE = Gauge("hub_pool_connections_idle", "Pooled connections idle", multiprocess_mode="livesum")
POOL_WAITING = Gauge("hub_pool_waiting", "Requests waiting for a pooled connection", multiprocess_mode="livesum")
SUBSCRIPTIONS = Gauge("hub_subscriptions_open", "Open statusChanged subscriptions", multiprocess_mode="livesum")
EVENTS_FANNED_OUT = Counter("hub_events_fanned_out_total", "Events put on subscribers' queues (event x subscriber)")
EVENT_EXECUTIONS = Counter(
    "hub_event_executions_total", "Executions of a subscription's selection (one per event, selection and sight)"
)
EVENT_BATCHES = Counter("hub_event_batches_total", "Batches of events the fan-out read and delivered")
EVENT_STATEMENTS = Counter("hub_event_fanout_statements_total", "SQL statements the event fan-out ran")
EVENT_JUDGED_ALONE = Counter(
    "hub_event_judged_alone_total", "Principals the fan-out judged apart from their sight (RED, authorship)"
)
LISTENER_LAG = Gauge(
    "hub_listener_lag_events", "Events committed but not yet fanned out by this worker", multiprocess_mode="livemax"
)
LISTENER_CONNECTED = Gauge(
    "hub_listener_connected", "1 when this worker's LISTEN connection is up", multiprocess_mode="livemin"
)
RATE_LIMITED = Counter("hub_rate_limit_rejections_total", "Requests and subscriptions refused by a limit", ["limit"])
# reads on a streaming replica (hub/replicas.py)
READS = Counter("hub_reads_total", "Read operations over HTTP, by the database that answered them", ["target"])
REPLICA_FALLBACKS = Counter(
    "hub_replica_fallbacks_total",
    "Reads the primary answered although a replica is set, by reason: down, lagging, token (not replayed in time), "
    "conflict (cancelled by recovery), lost (connection died)",
    ["reason"],
)
REPLICA_LAG_SECONDS = Gauge(
    "hub_replica_lag_seconds",
    "How long ago the primary was at the oldest position the replica has not replayed yet (0: caught up)",
    multiprocess_mode="livemax",
)
REPLICA_LAG_BYTES = Gauge(
    "hub_replica_lag_bytes", "WAL bytes the replica has still to replay", multiprocess_mode="livemax"
)
REPLICA_UP = Gauge(
    "hub_replica_up", "1 when the replica answers reads, 0 when it is skipped", multiprocess_mode="livemin"
)
# signed webhooks (hub/webhooks/worker.py)
WEBHOOK_ATTEMPTS = Counter("hub_webhook_attempts_total", "Webhook delivery attempts, by outcome", ["outcome"])
WEBHOOK_SECONDS = Histogram(
    "hub_webhook_attempt_seconds", "Time of one webhook delivery attempt", buckets=LATENCY_BUCKETS
)
WEBHOOK_DISABLED = Counter(
    "hub_webhook_endpoints_disabled_total", "Webhook endpoints the hub disabled after consecutive failed attempts"
)


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (all workers' when running several)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


async def refresh_gauges(app_state: Any, *, every: float = 2.0) -> None:
    """Keep this worker's gauges current: pool, subscriptions, listener (a background task of the lifespan)."""
    last_fanned_out = 0
    last: dict[str, int] = {}
    counted = {
        "executions": EVENT_EXECUTIONS,
        "batches": EVENT_BATCHES,
        "statements": EVENT_STATEMENTS,
        "judged_alone": EVENT_JUDGED_ALONE,
    }
    while True:
        events = app_state.events
        pool = app_state.pool
        with contextlib.suppress(Exception):
            size, idle = pool.get_size(), pool.get_idle_size()
            POOL_IN_USE.set(size - idle)
            POOL_IDLE.set(idle)
            POOL_WAITING.set(app_state.pool_waiting)
            SUBSCRIPTIONS.set(len(events.subscribers))
            LISTENER_CONNECTED.set(1 if events.listener_connected else 0)
            EVENTS_FANNED_OUT.inc(events.delivered - last_fanned_out)
            last_fanned_out = events.delivered
            for name, counter in counted.items():
                now = int(getattr(events, name))
                counter.inc(now - last.get(name, 0))
                last[name] = now
            async with app_state.system_pool.acquire(timeout=2) as con:
                latest = await con.fetchval("select coalesce(max(id), 0) from events", timeout=2)
            LISTENER_LAG.set(max(0, int(latest) - events.position))
        await asyncio.sleep(every)
