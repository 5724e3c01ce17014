"""Time-driven transitions, run by exactly one worker at a time.

The worker that holds a session-level PostgreSQL advisory lock is the scheduler; the others wait their turn. When
the holder dies (or loses its connection) PostgreSQL releases the lock and another worker takes over at its next
try. Every pass is idempotent, so a takeover in the middle of a pass repeats nothing: an agreement completes once, a
policy version takes effect once, and each standard's deadline event is written once (the pass looks for it in the
events first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from hub.db import connect
from hub.kinds import KINDS, sql_list
from hub.store.agreements import complete_due_agreements
from hub.store.policy import take_effect_due
from hub.workflow import record_event

log = logging.getLogger("hub.scheduler")

SCHEDULER_LOCK_KEY = 7410431003
STANDARD = KINDS["STANDARD"]
DUE_SOON_DAYS = 7

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class PassResult:
    completed_agreements: list[int]
    standards_due_soon: list[int]
    standards_overdue: list[int]
    policy_versions_in_effect: list[int]


async def _deadline_events(con: asyncpg.Connection, *, action: str, condition: str, today: object) -> list[int]:
    """Write `action` once for every standard not yet adopted that meets `condition` (and has no such event)."""
    due = await con.fetch(
        f"""select s.id, s.state, s.due_on from {STANDARD.table} s
             where s.state in {sql_list(STANDARD.subset("pending"))} and {condition}
               and not exists (select 1 from events e where e.entity_kind = '{STANDARD.name}' and e.entity_id = s.id
                                 and e.action = $2)
             order by s.id for update of s skip locked""",
        today,
        action,
    )
    for row in due:
        await record_event(
            con,
            None,
            kind=STANDARD.name,
            entity_id=row["id"],
            action=action,
            from_state=row["state"],
            to_state=row["state"],
            reason=f"the standard is due on {row['due_on'].isoformat()}",
            details={"dueOn": row["due_on"]},
        )
    return [int(r["id"]) for r in due]


async def run_pass(con: asyncpg.Connection, *, now: datetime) -> PassResult:
    """One scheduler pass at time `now`: complete agreements at accessEnd; put agreed policy changes in effect on
    their effectiveOn; announce standards due within 7 days and standards past due, each once."""
    completed = await complete_due_agreements(con, now=now)
    policy_versions = await take_effect_due(con, now=now)
    today = now.date()
    async with con.transaction():
        soon = await _deadline_events(
            con,
            action="DUE_SOON",
            condition=f"s.due_on >= $1::date and s.due_on <= $1::date + {DUE_SOON_DAYS}",
            today=today,
        )
        overdue = await _deadline_events(con, action="OVERDUE", condition="s.due_on < $1::date", today=today)
    return PassResult(completed, soon, overdue, policy_versions)


class Scheduler:
    """Runs `run_pass` every `interval` seconds while this worker holds the scheduler lock."""

    def __init__(self, url: str, *, interval: float = 30.0, clock: Clock = system_clock) -> None:
        self.url = url
        self.interval = interval
        self.clock = clock
        self.leading = False
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hub-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            con: asyncpg.Connection | None = None
            try:
                con = await connect(self.url)
                while not self._stopping:
                    if not self.leading:
                        self.leading = bool(await con.fetchval("select pg_try_advisory_lock($1)", SCHEDULER_LOCK_KEY))
                        if self.leading:
                            log.info("this worker now runs the scheduler")
                    if self.leading:
                        result = await run_pass(con, now=self.clock())
                        self.passes += 1
                        if (
                            result.completed_agreements
                            or result.standards_due_soon
                            or result.standards_overdue
                            or result.policy_versions_in_effect
                        ):
                            log.info("scheduler pass: %s", result)
                    await asyncio.sleep(self.interval)
            except (OSError, asyncpg.InterfaceError, TimeoutError, asyncpg.ConnectionDoesNotExistError) as error:
                log.warning("scheduler lost its connection (%s); trying again", type(error).__name__)
            except asyncpg.PostgresError:
                log.exception("a scheduler pass failed; trying again")
            finally:
                # the lock goes with the connection: another worker may take over
                self.leading = False
                if con is not None:
                    with contextlib.suppress(Exception):
                        await con.close()
            if not self._stopping:
                await asyncio.sleep(min(self.interval, 5.0))


def clock_from_offset(offset: timedelta) -> Clock:
    """A clock running `offset` ahead of the system's (HUB_CLOCK_OFFSET_SECONDS, for trying deadlines out)."""
    return lambda: datetime.now(UTC) + offset
