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
import contextvars
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from hub.access import ENTITY_TABLES, EVERYONE_SEES, Params, visible
from hub.auth import Principal
from hub.db import APP_ROLE
from hub.store.base import Session, bind_principal

log = logging.getLogger("hub.events")

CHANNEL = "hub_events"
EVENT_COLUMNS = (
    "t.id, t.at, t.actor_principal_id, t.actor_agency_id, t.actor_lab_id, t.entity_kind, t.entity_id, t.action,"
    " t.from_state, t.to_state, t.reason, t.details"
)
BATCH = 500


# the event hubs of this process, for the server's graceful shutdown (hub.serve)
RUNNING_HUBS: set[EventHub] = set()


class SubscriptionClosed(Exception):
    """The subscriber was dropped: it does not read fast enough, or the hub is shutting down."""


def shown_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """What clients are shown of an event's details (GraphQL's Event, webhook bodies): all but the snapshot of who
    could see the record before a sharing change (`before`, hub/store/sharing.py), which only the rule reads."""
    return {key: value for key, value in (details or {}).items() if key != "before"}


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


def readable_events_sql(
    principal: Principal,
    p: Params,
    after: int,
    upto: int,
    kinds: frozenset[str] | None = None,
    only: Sequence[int] | None = None,
) -> str:
    """The events with after < id <= upto that `principal` may see now (`visible` true), and in id order with them
    those about a record that a sharing change took from it (`visible` false: their id, time and record only); with
    `only`, among those ids alone.

    Run as the request role with the principal bound (as_request): row-level security judges the events a second
    time, as on every other path. Its policy hides an event whose record the principal no longer sees, so that the
    revocations come from hub_revoked_events, which shows nothing else of them (sql/008_visibility.sql, generated
    from hub.access.was_visible_before by hub/policies.py)."""
    rule = visible("EVENT", "t", principal, p)
    a, u = p(after), p(upto)
    wanted = p(sorted(kinds)) if kinds is not None else None
    of_kinds = f" and t.entity_kind = any({wanted}::text[])" if wanted else ""
    revoked_where = [f"r.entity_kind = any({wanted}::text[])"] if wanted else []
    if only is not None:
        ids = p(sorted(only))
        of_kinds += f" and t.id = any({ids}::bigint[])"
        revoked_where.append(f"r.id = any({ids}::bigint[])")
    revoked_of_kinds = (" where " + " and ".join(revoked_where)) if revoked_where else ""
    return (
        f"select {EVENT_COLUMNS}, true as visible from events t"
        f" where t.id > {a} and t.id <= {u}{of_kinds} and {rule}"
        " union all select r.id, r.at, null, null, null, r.entity_kind, r.entity_id, null, null, null, null, null,"
        " false"
        f" from hub_revoked_events({a}, {u}) r{revoked_of_kinds} order by id"
    )


# The ids of the events with after < id <= upto, and nothing else of them: cursors, which are no secret
# (hub_events_upto is the request role's way to them). The fan-out tells the events a sight does not see from ids
# that no event has (a rolled-back writer's).
EVENT_IDS_SQL = """with recursive ids(id) as (
    select hub_events_upto($1::bigint, 1)
    union all select hub_events_upto(ids.id, 1) from ids where ids.id < $2::bigint
) select id from ids where id is not null and id <= $2::bigint"""


@contextlib.asynccontextmanager
async def as_request(pool: asyncpg.Pool, *, generic_plans: bool = False) -> AsyncIterator[asyncpg.Connection]:
    """A transaction of the hub's own pool acting as the request role, which row-level security holds: the fan-out
    and the replay read events as a request would, each principal bound in turn (hub.store.base.bind_principal).

    `generic_plans`: the fan-out runs the same few statements (the visibility rule and its policies are large to
    plan) for every batch with other values: each connection plans each once and keeps the plan."""
    async with pool.acquire() as con, con.transaction(readonly=True):
        await con.execute(
            f"set local role {APP_ROLE}" + ("; set local plan_cache_mode = force_generic_plan" if generic_plans else "")
        )
        yield con


async def readable_events(
    con: asyncpg.Connection,
    principal: Principal,
    after: int,
    upto: int,
    kinds: frozenset[str] | None = None,
    only: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """readable_events_sql for `principal`, bound for the rest of the transaction of `con` (as_request)."""
    await bind_principal(con, principal)
    p = Params()
    sql = readable_events_sql(principal, p, after, upto, kinds, only)
    return [dict(r) for r in await con.fetch(sql, *p.values)]


def delivered_row(row: dict[str, Any]) -> dict[str, Any]:
    """What a subscriber gets of a row of readable_events: the event, or the notice that it lost the record."""
    return row if row.pop("visible") else revoked_event(row)


def sight_of(principal: Principal) -> Principal:
    """The principal's sight: what the visibility rule (hub/access.py) depends on apart from RED recipients and
    authorship, which name principals: its agency or its lab, and its role. As a principal that is nobody in
    particular (id 0, bound as no principal at all), which no RED record names and no event about a principal is
    about: every principal of the sight sees all it sees, and those named on a RED record (or an event about
    themselves) see more, which the fan-out judges for them alone."""
    return dataclasses.replace(principal, id=0, name=f"the sight of {principal.name}")


_UNCONDITIONAL: dict[tuple[Any, ...], frozenset[str]] = {}


def unconditional_kinds(principal: Principal) -> frozenset[str]:
    """The kinds of record whose events `principal` sees whatever the record: those whose rule is `true` for it
    (hub/access.py, visible and event_visible). It depends on the sight alone."""
    key = sight_key(principal)
    kinds = _UNCONDITIONAL.get(key)
    if kinds is None:
        free = set(EVERYONE_SEES)
        free |= {kind for kind in ENTITY_TABLES if visible(kind, "t", principal, Params()) == "true"}
        kinds = _UNCONDITIONAL[key] = frozenset(free)
    return kinds


def sight_key(principal: Principal) -> tuple[Any, ...]:
    return ("sight", principal.agency_id, principal.lab_id, principal.role)


@dataclass(frozen=True, eq=False)
class Selection:
    """What a live subscription asks of each event, for shared execution (docs/live.md, "How it scales").

    Subscribers whose selections have the same `key` (document and variables, `since` aside) and the same sight get
    one execution per event. `personal`: the selection reaches records beyond the event's own (a finding's
    engagement, say), whose visibility may differ within a sight (a RED one): it is shared only among the
    subscribers of one principal. `prepare(session, scratch)` gives the execution of one batch of events on a
    session bound to the sight (`scratch` is shared by every selection of that sight and batch, so that they share
    their loaders): it turns an event row into what the subscription yields."""

    key: Hashable
    personal: bool
    prepare: Callable[[Session, dict[str, Any]], Callable[[dict[str, Any]], Awaitable[Any]]]
    # the kinds of event whose record every principal sees alike (a lab's, an agency's, a policy version's:
    # schema/events.py, UNIVERSAL_KINDS) and whose execution is the same for every principal, because the selection
    # reads nothing of them but their own stored fields and those of the agencies and labs around the event:
    # executed once per event for every sight
    universal: frozenset[str] = frozenset()


class Executed:
    """An event as a subscription's selection made it: one execution, shared by the subscribers of one sight.

    `payload_json()`: the `next` message's payload as JSON text, encoded once for the whole group (docs/live.md, "How
    it scales"), which each subscriber's socket then sends with only its subscription's id around it."""

    __slots__ = ("_payload", "result")

    def __init__(self, result: Any) -> None:
        self.result = result
        self._payload: str | None | bool = False  # not encoded yet

    def payload_json(self) -> str | None:
        """{"data": ...} as JSON, as the protocol's `next` carries it; None when the result has errors or
        extensions: those go through the error policy per subscriber, each with its operation's request id."""
        if self._payload is False:
            result = self.result
            if getattr(result, "errors", None) or getattr(result, "extensions", None):
                self._payload = None
            else:
                self._payload = orjson.dumps({"data": result.data}, default=str).decode()
                LIVE_COUNTS["encoded"] += 1
        return self._payload if isinstance(self._payload, str) else None


# this process's payloads encoded once per event and group, and deliveries sent as such (for /metrics and tests)
LIVE_COUNTS = {"encoded": 0, "sent_encoded": 0}


# What sends an encoded `next` payload to the socket of the subscription being served, with the subscription's id
# around it (hub/app.py, TransportWSHandler.run_operation sets it in the operation's task); None outside WebSocket.
LiveSender = Callable[[str], Awaitable[None]]
LIVE_SENDER: contextvars.ContextVar[LiveSender | None] = contextvars.ContextVar("hub_live_sender", default=None)


class BoundSession(Session):
    """A session on the fan-out's transaction (as_request), whose principal readable_events has bound already."""

    def __init__(self, con: asyncpg.Connection, principal: Principal) -> None:
        super().__init__(con, principal)
        self._bound = True


@dataclass(eq=False)
class Subscriber:
    """One live subscription: a principal, the kinds it wants, what it selects, and a bounded queue of what to send."""

    principal: Principal
    kinds: frozenset[str] | None
    position: int
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue())
    limit: int = 1000
    dropped: str | None = None
    # the task that iterates the subscription (strawberry's operation task, which sends `complete` once the
    # subscription's generator has ended)
    serving: asyncio.Task[Any] | None = None
    selection: Selection | None = None

    @property
    def viewer(self) -> Principal:
        """Whom its events are judged and executed for: its sight, or its principal itself when its selection is
        personal (or when it has none: the rows, which the subscription executes itself)."""
        if self.selection is None or self.selection.personal:
            return self.principal
        return sight_of(self.principal)

    @property
    def group(self) -> Hashable:
        if self.selection is None or self.selection.personal:
            return ("principal", self.principal.id)
        return sight_key(self.principal)

    def wants(self, row: dict[str, Any]) -> bool:
        return self.kinds is None or row["entity_kind"] in self.kinds

    def offer(self, item: Any) -> None:
        if self.dropped:
            return
        if self.queue.qsize() >= self.limit:
            # a client that does not read is dropped, not buffered without end
            self.dropped = f"slow consumer: more than {self.limit} events unread"
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(item)

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
        fan_out_connections: int = 4,
    ) -> None:
        self.url = url
        self.pool = pool
        self.poll_seconds = poll_seconds
        self.queue_limit = queue_limit
        self.max_per_principal = max_per_principal
        # the pooled connections the fan-out executes sights on at once
        self.fan_out_connections = fan_out_connections
        self.position = 0
        self.subscribers: set[Subscriber] = set()
        self.delivered = 0
        # the fan-out's work, for /metrics and tests: executions of a selection (one per event, selection and
        # sight), the SQL statements it ran, and the principals it judged apart from their sight
        self.executions = 0
        self.batches = 0
        self.statements = 0
        self.judged_alone = 0
        self.listener_connected = False
        self._listener: asyncpg.Connection | None = None  # kept referenced: a dropped connection stops LISTEN
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        async with as_request(self.pool) as con:
            self.position = int(await con.fetchval("select coalesce(hub_events_upto(0, null), 0)"))
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
        """Take the next events after `position`, judge and execute them once per sight among the local subscribers
        (as the request role, with the sight bound: the store's rule and row-level security), deliver. True when
        there may be more."""
        previous = self.position
        try:
            async with as_request(self.pool, generic_plans=True) as con:
                upto = await con.fetchval("select hub_events_upto($1, $2)", previous, BATCH)
                if upto is None:
                    return False
                # subscribers present now receive this batch; later ones start after it and replay it themselves
                targets = [s for s in self.subscribers if not s.dropped]
                self.position = upto
                plans = await self._judge(con, targets, previous, upto)
                # what every sight shares, on the judging transaction
                shared = await self._execute_universal(con, plans)
            planned = await self._execute_plans(plans, shared)
            self.batches += 1
            self.statements += 1  # hub_events_upto
        except BaseException:
            # nobody got this batch (the database went away while judging it, say): the next try reads it again,
            # and subscribers that arrived meanwhile skip it by their own position
            self.position = previous
            raise
        for subscriber in targets:
            for _, item in sorted(planned.get(subscriber, []), key=lambda picked: picked[0]):
                subscriber.offer(item)
                self.delivered += 1
            subscriber.position = max(subscriber.position, self.position)
        return True

    async def _judge(
        self, con: asyncpg.Connection, targets: list[Subscriber], after: int, upto: int
    ) -> list[tuple[Principal, list[Subscriber], list[dict[str, Any]]]]:
        """Who gets which of the events after < id <= upto, as plans: (whom to bind, the subscribers, the rows);
        _execute_plans makes them each subscriber's (event id, item) pairs.

        Per sight (docs/live.md, "How it scales"): the events it may see, read with the sight bound; then each
        selection executed once per event on one session and one set of loaders bound to the sight. The events the
        sight does not see, or sees revoked (a RED record's, one about a principal), which a principal of the sight
        may see where its sight does not, are judged and executed again for each principal of the sight.

        Reading: the batch's ids first (cursors only); then each sight reads, under row-level security, the events
        it may see among those not known yet to be visible to it, where an event is known to be visible when
        another sight read it and its kind is one whose rule is `true` for this sight (hub/access.py: a lab's
        event for everyone, a model's for an agency). A batch of such events is read once, not once per sight."""
        groups: dict[Hashable, list[Subscriber]] = {}
        for subscriber in targets:
            groups.setdefault(subscriber.group, []).append(subscriber)
        if not groups:
            return []
        every_id = {r[0] for r in await con.fetch(EVENT_IDS_SQL, after, upto)}
        self.statements += 1
        known: dict[int, dict[str, Any]] = {}
        plans: list[tuple[Principal, list[Subscriber], list[dict[str, Any]]]] = []
        # agencies first: they see the most, so that the sights after them have the least to read
        for members in sorted(groups.values(), key=lambda m: m[0].principal.agency_id is None):
            viewer = members[0].viewer
            free = unconditional_kinds(viewer)
            rows = [row for row in known.values() if row["entity_kind"] in free]
            needed = every_id - {row["id"] for row in rows}
            if needed:
                read = await readable_events(con, viewer, after, upto, only=sorted(needed))
                self.statements += 2
                for row in read:
                    if row["visible"]:
                        known.setdefault(row["id"], row)
                rows += read
            rows.sort(key=lambda row: int(row["id"]))
            personal: set[int] = set()
            if viewer.id == 0:
                personal = every_id - {row["id"] for row in rows if row["visible"]}
                personal |= {row["id"] for row in rows if not row["visible"]}
            plans.append((viewer, members, [row for row in rows if row["id"] not in personal]))
            if not personal:
                continue
            by_principal: dict[int, list[Subscriber]] = {}
            for subscriber in members:
                by_principal.setdefault(subscriber.principal.id, []).append(subscriber)
            for own in by_principal.values():
                principal = own[0].principal
                mine = await readable_events(con, principal, after, upto, only=sorted(personal))
                self.statements += 2
                self.judged_alone += 1
                if mine:
                    plans.append((principal, own, mine))
        return plans

    async def _execute_plans(
        self,
        plans: list[tuple[Principal, list[Subscriber], list[dict[str, Any]]]],
        shared: dict[tuple[Hashable, int], Executed],
    ) -> dict[Subscriber, list[tuple[int, Any]]]:
        """The plans on a few pooled connections at once, each in one transaction that binds each plan's sight (or
        principal) in turn; what every sight shares (`shared`, _execute_universal) is executed already."""
        planned: dict[Subscriber, list[tuple[int, Any]]] = {}
        plans = [plan for plan in plans if plan[2]]
        lanes = max(1, min(self.fan_out_connections, self.pool.get_max_size(), len(plans)))
        if shared:
            # the plans whose every event comes from `shared` need no connection
            rest = []
            for plan in plans:
                viewer, members, rows = plan
                if all(self._is_shared(shared, s, row) for s in members for row in rows):
                    self._plan_shared(shared, rows, members, planned)
                else:
                    rest.append(plan)
            plans = rest
            lanes = max(1, min(lanes, len(plans)))

        async def lane(mine: list[tuple[Principal, list[Subscriber], list[dict[str, Any]]]]) -> None:
            async with as_request(self.pool, generic_plans=True) as con:
                for viewer, members, rows in mine:
                    await bind_principal(con, viewer)
                    self.statements += 1
                    await self._execute(con, viewer, rows, members, planned, shared)

        if plans:
            await asyncio.gather(*(lane(plans[n::lanes]) for n in range(lanes)))
        return planned

    @staticmethod
    def _is_shared(shared: dict[tuple[Hashable, int], Executed], subscriber: Subscriber, row: dict[str, Any]) -> bool:
        """Does `subscriber` get the event of `row` as the one execution every sight shares (or not at all)?"""
        if row["id"] <= subscriber.position or not subscriber.wants(row):
            return True
        return subscriber.selection is not None and (subscriber.selection.key, row["id"]) in shared

    @staticmethod
    def _plan_shared(
        shared: dict[tuple[Hashable, int], Executed],
        rows: list[dict[str, Any]],
        subscribers: list[Subscriber],
        planned: dict[Subscriber, list[tuple[int, Any]]],
    ) -> None:
        for subscriber in subscribers:
            selection = subscriber.selection
            for row in rows:
                if row["id"] > subscriber.position and subscriber.wants(row) and selection is not None:
                    planned.setdefault(subscriber, []).append((row["id"], shared[(selection.key, row["id"])]))

    @staticmethod
    def _universal(
        plans: list[tuple[Principal, list[Subscriber], list[dict[str, Any]]]],
    ) -> list[tuple[Selection, dict[str, Any]]]:
        """The (selection, event) pairs of the plans whose execution is the same for every principal
        (Selection.universal: an event every sight sees, a lab's, read by a selection that reads nothing that
        differs between sights), each once."""
        todo: dict[tuple[Hashable, int], tuple[Selection, dict[str, Any]]] = {}
        for _, members, rows in plans:
            for subscriber in members:
                selection = subscriber.selection
                if selection is None or not selection.universal:
                    continue
                for row in rows:
                    if row["id"] <= subscriber.position or not subscriber.wants(row):
                        continue  # an event this subscriber does not get: nothing to execute for it
                    if row["visible"] and row["entity_kind"] in selection.universal:
                        if (selection.key, row["id"]) not in todo:
                            event = dict(row)
                            event.pop("visible", None)
                            todo[(selection.key, row["id"])] = (selection, event)
        return list(todo.values())

    async def _execute_universal(
        self, con: asyncpg.Connection, plans: list[tuple[Principal, list[Subscriber], list[dict[str, Any]]]]
    ) -> dict[tuple[Hashable, int], Executed]:
        """The executions of the plans that are the same for every sight (_universal), each once, on `con` (a
        transaction as the request role) bound to the first plan's sight: any principal reads them alike."""
        todo = self._universal(plans)
        if not todo:
            return {}
        viewer = plans[0][0]
        await bind_principal(con, viewer)
        self.statements += 1
        session = BoundSession(con, viewer)
        scratch: dict[str, Any] = {}
        runs = {selection.key: selection.prepare(session, scratch) for selection, _ in todo}
        try:
            results = await asyncio.gather(*(runs[selection.key](event) for selection, event in todo))
        finally:
            await session.close()
            self.statements += session.statements
        self.executions += len(todo)
        return {
            (selection.key, event["id"]): Executed(result)
            for (selection, event), result in zip(todo, results, strict=True)
        }

    async def _execute(
        self,
        con: asyncpg.Connection,
        viewer: Principal,
        rows: list[dict[str, Any]],
        subscribers: list[Subscriber],
        planned: dict[Subscriber, list[tuple[int, Any]]],
        shared: dict[tuple[Hashable, int], Executed] | None = None,
    ) -> None:
        """Execute each selection of `subscribers` once per row of `rows` that one of them wants, all on one session
        bound to `viewer` (bound already; its loaders batch the rows' records: one statement per kind and relation),
        and plan each subscriber's items (an execution every sight shares, from `shared`, as it is)."""
        events = [(row["id"], dict(row) if row["visible"] else revoked_event(row)) for row in rows]
        for _, event in events:
            event.pop("visible", None)
        session = BoundSession(con, viewer)
        scratch: dict[str, Any] = {}
        runs: dict[Hashable, Callable[[dict[str, Any]], Awaitable[Any]]] = {}
        todo: dict[tuple[Hashable, int], dict[str, Any]] = {}
        picks: list[tuple[Subscriber, int, Any]] = []
        for subscriber in subscribers:
            selection = subscriber.selection
            for event_id, event in events:
                if event_id <= subscriber.position or not subscriber.wants(event):
                    continue
                if selection is None:
                    picks.append((subscriber, event_id, event))
                    continue
                if shared and (selection.key, event_id) in shared:
                    planned.setdefault(subscriber, []).append((event_id, shared[(selection.key, event_id)]))
                    continue
                if selection.key not in runs:
                    runs[selection.key] = selection.prepare(session, scratch)
                todo.setdefault((selection.key, event_id), event)
                picks.append((subscriber, event_id, (selection.key, event_id)))
        done: dict[tuple[Hashable, int], Executed] = {}
        if todo:
            try:
                results = await asyncio.gather(*(runs[key](event) for (key, _), event in todo.items()))
            finally:
                # a field's statement that graphql-core left behind (an error nulled its parent) ends here, before
                # the connection is bound to anyone else
                await session.close()
                self.statements += session.statements
            self.executions += len(todo)
            done = {key: Executed(result) for key, result in zip(todo, results, strict=True)}
        for subscriber, event_id, item in picks:
            if subscriber.selection is not None:
                item = done[item]
            planned.setdefault(subscriber, []).append((event_id, item))

    # --------------------------------------------------------------------------------------- subscribing

    async def replay(
        self, principal: Principal, kinds: frozenset[str] | None, after: int, until: int
    ) -> AsyncIterator[dict[str, Any]]:
        """Events with after < id <= until that `principal` may see (or an ACCESS_REVOKED in place of one about a
        record it lost sight of), in order."""
        while after < until:
            async with as_request(self.pool) as con:
                upto = min(until, await con.fetchval("select hub_events_upto($1, $2)", after, BATCH) or until)
                rows = await readable_events(con, principal, after, upto, kinds)
            for row in rows:
                yield delivered_row(row)
            after = upto

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        principal: Principal,
        *,
        kinds: Sequence[str] | None = None,
        since: int | None = None,
        selection: Selection | None = None,
    ) -> AsyncIterator[AsyncIterator[Any]]:
        """A subscription: first the replay of what `principal` may see after `since` (when given), then live events,
        with no gap and no duplicate at the seam. The replay yields event rows; live events come as rows too, or,
        with a `selection`, as its execution shared within the subscriber's sight (Executed)."""
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
            selection=selection,
        )
        self.subscribers.add(subscriber)

        async def stream() -> AsyncIterator[Any]:
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
