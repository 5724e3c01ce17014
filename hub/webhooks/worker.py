"""The webhook delivery worker (docs/live.md, "Webhooks"; docs/design.md, "Webhooks").

The outbox is the events table; what each endpoint has been sent is its `cursor` (sql/025_webhooks.sql). Every
process of the hub runs one worker (HUB_WEBHOOKS, on by default). Each poll it looks for enabled endpoints behind the
outbox whose backoff has passed, and serves each in a task of its own, at most HUB_WEBHOOK_CONCURRENCY at once:

- One worker at a time per endpoint, across processes and machines: the task holds the session advisory lock
  (LOCK_CLASS, endpoint id) on a connection of its own while it delivers, and gives up at once when another holds
  it. A process killed mid-delivery loses its connection and with it the lock; the cursor has not moved past the
  event it was sending, so the next worker sends it again (at least once; the same webhook-id).
- In cursor order, one request at a time: the events after the cursor are read in batches of BATCH under the
  endpoint owner's sight (a principal of the owning agency with an admin's role, or of the owning lab; see `sight`),
  through hub.events.readable_events: the store's rule and row-level security judge each event when its batch is
  read for delivery, not when it was written, and a record the owner lost sight of through a sharing change is one
  ACCESS_REVOKED (hub.access.was_visible_before), as a subscription has it.
- An attempt that gets no 2xx (a 3xx included: redirects are not followed), or times out, is logged; the endpoint's
  next attempt waits an exponential backoff with full jitter (HUB_WEBHOOK_BACKOFF_SECONDS doubling per attempt, at
  most HUB_WEBHOOK_BACKOFF_MAX_SECONDS), written in the endpoint's row so that a restart keeps it. After
  HUB_WEBHOOK_MAX_FAILURES consecutive failed attempts the hub disables the endpoint (the `disable` remit of the
  hub itself), with the reason its owner reads in `disabledReason` and in the endpoint's history.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from hub import metrics
from hub.auth import Principal
from hub.db import create_pool
from hub.events import as_request, delivered_row, readable_events, sight_of
from hub.settings import Settings
from hub.webhooks import http, payload
from hub.webhooks.secrets import SecretBox
from hub.workflow import transition

log = logging.getLogger("hub.webhooks")

# pg_advisory_lock(LOCK_CLASS, endpoint id): the delivery lock of one endpoint (the scheduler's lock is another)
LOCK_CLASS = 72_017
BATCH = 100


def sight(endpoint: dict[str, Any]) -> Principal:
    """The principal whose sight judges an endpoint's deliveries: its owning agency as the agency's admins see it,
    or its owning lab as its liaisons do, as a sight names no person (hub.events.sight_of): a RED record, visible to
    its named recipients and author only, is never delivered to an endpoint, and an ACCESS_REVOKED is never sent
    for one."""
    lab = endpoint["owner_lab_id"]
    owner = Principal(
        id=0,
        name=f"webhook {endpoint['id']}",
        role="LAB_LIAISON" if lab is not None else "ADMIN",
        agency_id=None if lab is not None else endpoint["owner_agency_id"],
        agency_code=None if lab is not None else endpoint.get("agency_code"),
        lab_id=lab,
    )
    return sight_of(owner)


def wanted(endpoint: dict[str, Any], row: dict[str, Any]) -> bool:
    """Whether the endpoint asked for the event (its kinds are applied when the events are read). A revocation is
    always sent for a kind it asked for: its owner must learn that it lost the record."""
    if row["action"] == payload.REVOKED:
        return True
    if endpoint["actions"] and row["action"] not in endpoint["actions"]:
        return False
    return not endpoint["to_states"] or row["to_state"] in endpoint["to_states"]


def backoff(settings: Settings, attempts: int) -> float:
    """Exponential backoff with full jitter: a random delay up to base * 2^(attempts-1), capped."""
    ceiling = min(settings.webhook_backoff_max_seconds, settings.webhook_backoff_seconds * 2 ** max(0, attempts - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


ENDPOINT = """select e.*, a.code as agency_code from webhook_endpoints e
                left join agencies a on a.id = e.owner_agency_id where e.id = $1"""
DUE = """select id from webhook_endpoints
          where state = 'ENABLED' and cursor < $1 and (next_attempt_at is null or next_attempt_at <= now())
          order by coalesce(next_attempt_at, created_at) limit $2"""


class WebhookWorker:
    def __init__(self, url: str, settings: Settings, *, lock_url: str | None = None, pooled: bool = False) -> None:
        """`url`: the tables' owner, for the deliveries' reads and writes (maybe through a pooler in transaction mode,
        `pooled`); `lock_url`: a direct connection to the primary for the endpoints' session advisory locks, which a
        transaction pooler would not keep (HUB_DIRECT_DATABASE_URL; default `url`, one pool for both)."""
        self.url = url
        self.lock_url = lock_url if lock_url is not None and lock_url != url else None
        self.pooled = pooled
        self.settings = settings
        # made when a delivery first needs it: production settings come with the key (hub/settings.py refuses to
        # start without it); an app built from settings made otherwise fails its deliveries, logged, not its start
        self._box: SecretBox | None = None
        self.allowed = http.parse_networks(settings.webhook_allowed_networks)
        self.pool: asyncpg.Pool | None = None
        self.lock_pool: asyncpg.Pool | None = None  # the pool itself without a lock_url
        self.running: dict[int, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    async def start(self) -> None:
        # each running endpoint holds a lock connection and takes one more at a time for its work, the poll one
        concurrency = self.settings.webhook_concurrency
        self.pool = await create_pool(
            self.url,
            min_size=1,
            max_size=concurrency + 1 if self.lock_url else concurrency * 2 + 1,
            connect_timeout=self.settings.database_connect_timeout_seconds,
            app_role=False,
            pooled=self.pooled,
        )
        if self.lock_url:
            try:
                self.lock_pool = await create_pool(
                    self.lock_url,
                    min_size=0,  # no direct connection held while no endpoint is being served
                    max_size=concurrency,
                    connect_timeout=self.settings.database_connect_timeout_seconds,
                    app_role=False,
                )
            except BaseException:
                await self.pool.close()
                raise
        else:
            self.lock_pool = self.pool
        self._task = asyncio.create_task(self._poll(), name="hub-webhooks")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._task, *self.running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.lock_pool is not None and self.lock_pool is not self.pool:
            await self.lock_pool.close()
        if self.pool is not None:
            await self.pool.close()

    async def _poll(self) -> None:
        assert self.pool is not None
        while not self._stopping:
            try:
                async with self.pool.acquire() as con:
                    head = await con.fetchval("select coalesce(max(id), 0) from events")
                    due = [r["id"] for r in await con.fetch(DUE, head, self.settings.webhook_concurrency * 4)]
                for endpoint_id in due:
                    if endpoint_id in self.running or len(self.running) >= self.settings.webhook_concurrency:
                        continue
                    task = asyncio.create_task(self._serve(endpoint_id), name=f"hub-webhook-{endpoint_id}")
                    self.running[endpoint_id] = task
                    task.add_done_callback(functools.partial(self._done, endpoint_id))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                log.warning("webhook worker could not read the endpoints (%s); retrying", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.webhook_poll_seconds)
            self._wake.clear()

    def _done(self, endpoint_id: int, task: asyncio.Task[None]) -> None:
        self.running.pop(endpoint_id, None)

    async def _serve(self, endpoint_id: int) -> None:
        """Deliver to one endpoint while this process holds its lock: until it is caught up, waits for a backoff, is
        disabled, or is redelivered (a new round: the next poll starts it again)."""
        assert self.lock_pool is not None
        try:
            async with self.lock_pool.acquire() as lock:
                if not await lock.fetchval("select pg_try_advisory_lock($1, $2::int)", LOCK_CLASS, endpoint_id):
                    return
                try:
                    while not self._stopping and await self._deliver_batch(endpoint_id):
                        pass
                finally:
                    with contextlib.suppress(Exception):
                        await lock.execute("select pg_advisory_unlock($1, $2::int)", LOCK_CLASS, endpoint_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook delivery to endpoint %s failed; it is retried at the next poll", endpoint_id)

    async def _deliver_batch(self, endpoint_id: int) -> bool:
        """The next batch of events after the endpoint's cursor, judged under its owner's sight now, delivered in
        order. True when there may be more to send at once."""
        assert self.pool is not None
        async with self.pool.acquire() as con:
            endpoint = await con.fetchrow(ENDPOINT, endpoint_id)
        if endpoint is None or endpoint["state"] != "ENABLED":
            return False
        e = dict(endpoint)
        if e["next_attempt_at"] is not None and e["next_attempt_at"] > datetime.now(UTC):
            return False
        after, round_ = int(e["cursor"]), int(e["round"])
        async with as_request(self.pool) as con:
            upto = await con.fetchval("select hub_events_upto($1, $2)", after, BATCH)
            if upto is None:
                return False
            kinds = frozenset(e["entity_kinds"]) if e["entity_kinds"] else None
            rows = [delivered_row(r) for r in await readable_events(con, sight(e), after, int(upto), kinds)]
        secrets = self._secrets(e) if any(wanted(e, row) for row in rows) else []
        for row in rows:
            if not wanted(e, row):
                continue
            if not await self._attempt(e, row, secrets):
                return False
            if self._stopping:
                return False
        # every event up to `upto` was delivered or is not the endpoint's (not visible, not asked for)
        return await self._advance(endpoint_id, round_, int(upto))

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox(self.settings.webhook_key())
        return self._box

    def _secrets(self, e: dict[str, Any]) -> list[str]:
        secrets = [self.box.open(e["secret_ciphertext"])]
        expires = e["previous_secret_expires_at"]
        if e["previous_secret_ciphertext"] is not None and expires is not None and expires > datetime.now(UTC):
            secrets.append(self.box.open(e["previous_secret_ciphertext"]))
        return secrets

    async def _advance(self, endpoint_id: int, round_: int, cursor: int) -> bool:
        """Move the cursor to `cursor`, unless a redelivery started a new round meanwhile. True when it moved."""
        assert self.pool is not None
        async with self.pool.acquire() as con:
            moved = await con.fetchval(
                """update webhook_endpoints set cursor = greatest(cursor, $3), consecutive_failures = 0,
                          next_attempt_at = null
                    where id = $1 and round = $2 returning id""",
                endpoint_id,
                round_,
                cursor,
            )
        return moved is not None

    async def _attempt(self, e: dict[str, Any], row: dict[str, Any], secrets: list[str]) -> bool:
        """One attempt at delivering `row` to the endpoint, logged. True when delivered (and the cursor moved)."""
        assert self.pool is not None
        body = payload.body(row)
        msg_id = payload.message_id(row)
        at = datetime.now(UTC)
        response = await http.post(
            e["url"],
            body,
            payload.headers(msg_id, at, body, secrets),
            timeout=self.settings.webhook_timeout_seconds,
            allow_http=self.settings.webhook_allow_http,
            allowed=self.allowed,
        )
        error = response.error or (None if response.ok else f"HTTP {response.status}")
        metrics.WEBHOOK_ATTEMPTS.labels("delivered" if response.ok else "failed").inc()
        metrics.WEBHOOK_SECONDS.observe(response.latency_ms / 1000)
        async with self.pool.acquire() as con, con.transaction():
            attempts = await con.fetchval(
                """insert into webhook_deliveries (endpoint_id, event_id, round, type, status, attempts,
                                                   response_status, latency_ms, error, first_attempt_at,
                                                   last_attempt_at, delivered_at)
                   values ($1, $2, $3, $4, $5::text, 1, $6, $7, $8, $9::timestamptz, $9::timestamptz,
                           case when $5::text = 'DELIVERED' then $9::timestamptz end)
                   on conflict (endpoint_id, round, event_id) do update
                      set attempts = webhook_deliveries.attempts + 1, status = excluded.status,
                          response_status = excluded.response_status, latency_ms = excluded.latency_ms,
                          error = excluded.error, last_attempt_at = excluded.last_attempt_at,
                          delivered_at = excluded.delivered_at
                   returning attempts""",
                e["id"],
                row["id"],
                e["round"],
                payload.message_type(row),
                "DELIVERED" if response.ok else "PENDING",
                response.status,
                response.latency_ms,
                error[:500] if error else None,
                at,
            )
            if response.ok:
                moved = await con.fetchval(
                    """update webhook_endpoints set cursor = greatest(cursor, $3), consecutive_failures = 0,
                              next_attempt_at = null
                        where id = $1 and round = $2 and state = 'ENABLED' returning id""",
                    e["id"],
                    e["round"],
                    row["id"],
                )
                return moved is not None
            failures = await con.fetchval(
                """update webhook_endpoints set consecutive_failures = consecutive_failures + 1, next_attempt_at = $3
                    where id = $1 and round = $2 returning consecutive_failures""",
                e["id"],
                e["round"],
                at + timedelta(seconds=backoff(self.settings, int(attempts))),
            )
            if failures is not None and failures >= self.settings.webhook_max_failures:
                await self._disable(con, e["id"], failures, error or "failed")
        return False

    async def _disable(self, con: asyncpg.Connection, endpoint_id: int, failures: int, last_error: str) -> None:
        """The hub disables an endpoint after HUB_WEBHOOK_MAX_FAILURES consecutive failed attempts, saying why."""
        row = await con.fetchrow("select * from webhook_endpoints where id = $1 for update", endpoint_id)
        if row is None or row["state"] != "ENABLED":
            return
        reason = f"disabled by the hub after {failures} consecutive failed attempts; the last: {last_error}"[:1000]
        await con.execute(
            "update webhook_deliveries set status = 'FAILED' where endpoint_id = $1 and status = 'PENDING'",
            endpoint_id,
        )
        await transition(
            con,
            None,
            "WEBHOOK",
            dict(row),
            "DISABLED",
            reason=reason,
            changes={"disabled_reason": reason, "disabled_at": datetime.now(UTC), "next_attempt_at": None},
        )
        metrics.WEBHOOK_DISABLED.inc()
        log.warning("webhook endpoint %s disabled after %s consecutive failed attempts", endpoint_id, failures)
