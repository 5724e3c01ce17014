"""Live events: one LISTEN connection per worker, each event loaded once, fanned out to local subscribers under
the visibility rule; replay from the outbox for resumption and after any reconnect.

Why the cursor cannot skip: an event's id is the event's cursor, and ids are taken inside the writing transaction
under a transaction-level advisory lock (sql/001_init.sql, `events_chain`) that is held until commit. A second
writer waits for the first to commit before it takes the next id, so ids are assigned in commit order: once a reader
has seen event N committed, every event below N is committed and visible too. "Every event with id > cursor" is
therefore exactly what a subscriber has not seen, whether it comes from the replay or from the live stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hub.access import Params, visible, was_visible_before
from hub.auth import Principal

log = logging.getLogger("hub.events")

CHANNEL = "hub_events"
EVENT_COLUMNS = (
    "t.id, t.at, t.actor_principal_id, t.actor_agency_id, t.actor_lab_id, t.entity_kind, t.entity_id, t.action,"
    " t.from_state, t.to_state, t.reason, t.details"
)
BATCH = 500
# principals per visibility statement: one statement judges a batch of events for this many principals at once
PRINCIPALS_PER_STATEMENT = 100


# the event hubs of this process, for the server's graceful shutdown (hub.serve)
RUNNING_HUBS: set[EventHub] = set()


class SubscriptionClosed(Exception):
    """The subscriber was dropped: it does not read fast enough, or the hub is shutting down."""


def revoked_event(row: dict[str, Any]) -> dict[str, Any]:
    """What a subscriber gets instead of an event on a record it no longer may see: nothing but that fact."""
    return {
        "id": row["id"],
        "at": row["at"],
        "actor_principal_id": None,
        "actor_agency_id": None,
        "actor_lab_id": None,
        "entity_kind": row["entity_kind"],
        "entity_id": row["entity_id"],
        "action": "ACCESS_REVOKED",
        "from_state": None,
        "to_state": None,
        "reason": "you no longer may see this record",
        "details": {},
    }


async def judge(
    con: asyncpg.Connection, event_ids: Sequence[int], principals: Sequence[Principal]
) -> dict[int, dict[int, bool]]:
    """For each principal id: event id -> True (visible now) or False (visible before a sharing change, revoked now);
    events the principal never could see are absent. One statement per PRINCIPALS_PER_STATEMENT principals."""
    verdicts: dict[int, dict[int, bool]] = defaultdict(dict)
    for start in range(0, len(principals), PRINCIPALS_PER_STATEMENT):
        chunk = principals[start : start + PRINCIPALS_PER_STATEMENT]
        p = Params()
        ids = p(list(event_ids))
        parts = []
        for index, principal in enumerate(chunk):
            now = visible("EVENT", "t", principal, p)
            before = was_visible_before("t", principal, p)
            parts.append(
                f"select {index} as who, t.id, ({now}) as visible from events t"
                f" where t.id = any({ids}::bigint[]) and (({now}) or {before})"
            )
        for row in await con.fetch(" union all ".join(parts), *p.values):
            verdicts[chunk[row["who"]].id][row["id"]] = row["visible"]
    return verdicts


@dataclass(eq=False)
class Subscriber:
    """One live subscription: a principal, the kinds it wants, and a bounded queue of what to send."""

    principal: Principal
    kinds: frozenset[str] | None
    position: int
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=lambda: asyncio.Queue())
    limit: int = 1000
    dropped: str | None = None
    # the task that iterates the subscription (strawberry's operation task, which sends `complete` once the
    # subscription's generator has ended)
    serving: asyncio.Task[Any] | None = None

    def wants(self, row: dict[str, Any]) -> bool:
        return self.kinds is None or row["entity_kind"] in self.kinds

    def offer(self, row: dict[str, Any]) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= self.limit:
            # a client that does not read is dropped, not buffered without end
            self.dropped = f"slow consumer: more than {self.limit} events unread"
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(row)

    def close(self, reason: str) -> None:
        if not self.dropped:
            self.dropped = reason
            self.queue.put_nowait(None)


class TooManySubscriptions(Exception):
    pass


class EventHub:
    """The worker's event fan-out: LISTEN on `hub_events`, load new events once, deliver to local subscribers."""

    def __init__(
        self,
        url: str,
        pool: asyncpg.Pool,
        *,
        poll_seconds: float = 2.0,
        queue_limit: int = 1000,
        max_per_principal: int = 50,
    ) -> None:
        self.url = url
        self.pool = pool
        self.poll_seconds = poll_seconds
        self.queue_limit = queue_limit
        self.max_per_principal = max_per_principal
        self.position = 0
        self.subscribers: set[Subscriber] = set()
        self.delivered = 0
        self.listener_connected = False
        self._listener: asyncpg.Connection | None = None  # kept referenced: a dropped connection stops LISTEN
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        async with self.pool.acquire() as con:
            self.position = int(await con.fetchval("select coalesce(max(id), 0) from events"))
        self._tasks = [
            asyncio.create_task(self._listen(), name="hub-events-listen"),
            asyncio.create_task(self._pump(), name="hub-events-pump"),
        ]

    def closing_subscriptions(self) -> set[asyncio.Task[Any]]:
        """Refuse new subscriptions and end the open ones once they have sent what they had queued; the tasks that
        serve them."""
        self._closing = True
        serving = set()
        for subscriber in list(self.subscribers):
            subscriber.close("the hub is shutting down")
            if subscriber.serving is not None:
                serving.add(subscriber.serving)
        return serving

    async def stop(self) -> None:
        """Complete every subscription, then stop listening."""
        self.closing_subscriptions()
        self._lost.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    # --------------------------------------------------------------------------------------- listening

    def _notified(self, *args: Any) -> None:
        self._wake.set()

    def _terminated(self, *args: Any) -> None:
        self.listener_connected = False
        self._lost.set()

    async def _listen(self) -> None:
        """Hold one LISTEN connection; reconnect after any loss and then catch up from the outbox."""
        delay = 0.2
        while not self._closing:
            self._lost.clear()
            try:
                con = await asyncpg.connect(self.url, timeout=5)
                self._listener = con
                con.add_termination_listener(self._terminated)
                await con.add_listener(CHANNEL, self._notified)
                self.listener_connected = True
                delay = 0.2
                self._wake.set()  # catch up whatever was written while we were not listening
                while not self._lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._lost.wait(), timeout=self.poll_seconds)
                    if not self._lost.is_set():
                        # a half-open connection raises no error by itself: ask
                        await con.fetchval("select 1", timeout=self.poll_seconds)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                if not self._closing:
                    log.warning("event listener lost its connection (%s); reconnecting", type(error).__name__)
            finally:
                self.listener_connected = False
                listener, self._listener = self._listener, None
                if listener is not None and not listener.is_closed():
                    with contextlib.suppress(Exception):
                        await listener.close()
            if not self._closing:
                await asyncio.sleep(delay)
                # at most 2 s: readiness waits for the listener, so a long backoff would hold a recovered worker
                # out of its load balancer
                delay = min(delay * 2, 2.0)

    async def _pump(self) -> None:
        """Deliver new events when notified, and at least every poll interval (a lost notification costs latency,
        never an event)."""
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            self._wake.clear()
            try:
                while await self._deliver_batch():
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
                log.warning("event fan-out could not read the outbox (%s); retrying", type(error).__name__)
                await asyncio.sleep(0.5)

    async def _deliver_batch(self) -> bool:
        """Load the next events after `position` once, judge them for every local subscriber's principal, deliver.
        True when there may be more."""
        previous = self.position
        try:
            async with self.pool.acquire() as con:
                records = await con.fetch(
                    f"select {EVENT_COLUMNS} from events t where t.id > $1 order by t.id limit {BATCH}", self.position
                )
                if not records:
                    return False
                rows = [dict(r) for r in records]
                # subscribers present now receive this batch; later ones start after it and replay it themselves
                targets = [s for s in self.subscribers if not s.dropped]
                self.position = rows[-1]["id"]
                principals = list({s.principal.id: s.principal for s in targets}.values())
                verdicts = await judge(con, [r["id"] for r in rows], principals) if principals else {}
        except BaseException:
            # nobody got this batch (the database went away while judging it, say): the next try reads it again,
            # and subscribers that arrived meanwhile skip it by their own position
            self.position = previous
            raise
        for subscriber in targets:
            seen = verdicts.get(subscriber.principal.id, {})
            for row in rows:
                if row["id"] <= subscriber.position or not subscriber.wants(row):
                    continue
                verdict = seen.get(row["id"])
                if verdict is True:
                    subscriber.offer(row)
                elif verdict is False:
                    subscriber.offer(revoked_event(row))
            subscriber.position = max(subscriber.position, self.position)
        self.delivered += len(rows) * len(targets)
        return len(rows) == BATCH

    # --------------------------------------------------------------------------------------- subscribing

    async def replay(
        self, principal: Principal, kinds: frozenset[str] | None, after: int, until: int
    ) -> AsyncIterator[dict[str, Any]]:
        """Events with after < id <= until that `principal` may see (or an ACCESS_REVOKED in place of one about a
        record it lost sight of), in order."""
        while after < until:
            p = Params()
            now = visible("EVENT", "t", principal, p)
            before = was_visible_before("t", principal, p)
            kind_filter = f" and t.entity_kind = any({p(sorted(kinds))}::text[])" if kinds is not None else ""
            sql = (
                f"select {EVENT_COLUMNS}, ({now}) as visible from events t"
                f" where t.id > {p(after)} and t.id <= {p(until)}{kind_filter} and (({now}) or {before})"
                f" order by t.id limit {BATCH}"
            )
            async with self.pool.acquire() as con:
                records = await con.fetch(sql, *p.values)
            if not records:
                return
            for record in records:
                row = dict(record)
                yield row if row.pop("visible") else revoked_event(row)
            after = records[-1]["id"]

    @contextlib.asynccontextmanager
    async def subscribe(
        self, principal: Principal, *, kinds: Sequence[str] | None = None, since: int | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """A subscription: first the replay of what `principal` may see after `since` (when given), then live events,
        with no gap and no duplicate at the seam."""
        if self._closing:
            raise SubscriptionClosed("the hub is shutting down")
        mine = sum(1 for s in self.subscribers if s.principal.id == principal.id)
        if mine >= self.max_per_principal:
            raise TooManySubscriptions(
                f"at most {self.max_per_principal} open subscriptions per principal; close one first"
            )
        wanted = frozenset(kinds) if kinds is not None else None
        # registered synchronously: live delivery starts strictly after `position`, the replay ends at it
        subscriber = Subscriber(
            principal=principal,
            kinds=wanted,
            position=self.position,
            limit=self.queue_limit,
            serving=asyncio.current_task(),
        )
        self.subscribers.add(subscriber)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            if since is not None and since < subscriber.position:
                async for row in self.replay(principal, wanted, since, subscriber.position):
                    if subscriber.dropped:
                        # dropped mid-replay (the hub is stopping, say): end here, and never with a live event
                        # after the rest of the replay was skipped, which would move the client's cursor past it
                        raise SubscriptionClosed(subscriber.dropped)
                    yield row
            while True:
                queued = await subscriber.queue.get()
                if queued is None:
                    raise SubscriptionClosed(subscriber.dropped or "closed")
                yield queued

        try:
            yield stream()
        finally:
            self.subscribers.discard(subscriber)


async def drain_running_hubs(grace_seconds: float) -> None:
    """Complete every open subscription of this process and wait (at most `grace_seconds`) until each has sent what
    it had queued and its `complete`: called before the server closes its connections."""
    serving: set[asyncio.Task[Any]] = set()
    for event_hub in list(RUNNING_HUBS):
        serving |= event_hub.closing_subscriptions()
    # a subscription's generator ends with its queue; strawberry's task then sends `complete` and ends too
    if serving:
        await asyncio.wait(serving, timeout=grace_seconds)
