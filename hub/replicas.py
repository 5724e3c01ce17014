"""Read operations on a streaming replica (HUB_REPLICA_DATABASE_URL), with read-your-writes.

What a read may be answered by (docs/operators.md, "Beyond one machine", "Read replicas"):
- the primary, when no replica is set, when the replica is down or not in recovery (promoted), or when it lags more
  than HUB_REPLICA_MAX_LAG_SECONDS;
- the replica otherwise; a read that sends a consistency token (the `Hub-Consistency-Token` header, the WAL
  position a mutation's answer carried) only once the replica has replayed past it, waiting for that at most
  HUB_CONSISTENCY_WAIT_SECONDS, else the primary answers.
A read the replica cancels because of a conflict with recovery (SQLSTATE 40001, "conflict with recovery"), or whose
replica connection dies under it, runs once more on the primary.

Everything that writes or must be current stays on the primary: mutations, token checks, rate limits, persisted
queries, the event replay of subscriptions. The router only runs the read itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import asyncpg

from hub import metrics
from hub.db import UnsafeRole, connection_lost, database_unavailable

log = logging.getLogger("hub.replicas")

TOKEN_HEADER = "Hub-Consistency-Token"
# who answered a read: "replica" or "primary" (for clients that want to know, and for the tests)
READ_FROM_HEADER = "Hub-Read-From"
# how often the router measures the replica's lag (and sees a replica that was down come back)
CHECK_SECONDS = 1.0
# how long one check waits for either server
CHECK_TIMEOUT_SECONDS = 2.0

Target = Literal["primary", "replica"]
T = TypeVar("T")

# an LSN as PostgreSQL prints one: two hexadecimal halves of a 64-bit position, e.g. 0/3000148
LSN_PATTERN = re.compile(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}")


class BadToken(ValueError):
    """A `Hub-Consistency-Token` that is not a WAL position."""


def parse_lsn(text: str) -> int:
    """A WAL position as printed by PostgreSQL (`0/3000148`) as a number, to compare positions."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def parse_token(raw: str | None) -> int | None:
    """The WAL position of a request's `Hub-Consistency-Token` header; None when it sent none (or an empty one)."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not LSN_PATTERN.fullmatch(text):
        raise BadToken(
            f"{TOKEN_HEADER} must be the WAL position a mutation's answer carried (like 0/3000148), not {text[:40]!r}"
        )
    return parse_lsn(text)


def recovery_conflict(error: BaseException | None) -> bool:
    """True when the replica cancelled a statement because replaying the primary's changes needed what it held
    (SQLSTATE 40001, or 40P01 for a deadlock with the startup process, with "conflict with recovery"; PostgreSQL's
    documentation, "Hot Standby", "Handling Query Conflicts")."""
    return isinstance(error, asyncpg.TransactionRollbackError) and "conflict with recovery" in str(error)


async def current_position(con: asyncpg.Connection) -> str | None:
    """The primary's WAL position now, as the consistency token of what committed before it (a mutation's answer):
    the insert position, which is past the commit record of every transaction that committed before it whatever
    `synchronous_commit` says (the write position may not have reached a commit record yet when it is off, as
    managed services often set it). None when the database cannot say (it went away after the commit): the answer
    then carries no token rather than fail a write that was made."""
    try:
        return str(await con.fetchval("select pg_current_wal_insert_lsn()::text"))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.warning("no consistency token for a mutation's answer: %s", type(error).__name__)
        return None


async def token_beyond_primary(con: asyncpg.Connection, token: int) -> bool:
    """Is `token` past the primary's WAL insert position (on `con`, a connection of the primary)? No mutation's answer
    carries such a token: it was made up, or comes from another cluster. Waiting for a replica to replay it would
    only hold a replica connection for HUB_CONSISTENCY_WAIT_SECONDS."""
    return bool(
        await con.fetchval("select $1::text::numeric > (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)", str(token))
    )


class RetryOnPrimary(Exception):
    """Raised by a read's work when its answer holds an error that the primary would not give (a recovery conflict
    caught by a resolver, or the replica's connection lost under one): the router runs it on the primary."""

    def __init__(self, reason: str, cause: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass
class ReplicaState:
    """What the last check saw of the replica."""

    up: bool = False
    lag_seconds: float | None = None
    lag_bytes: int | None = None
    replayed: int = 0  # the replica's replay position (as far as this process knows: it only grows)
    reason: str = "not checked yet"


class ReadRouter:
    """Runs each read operation on the replica or the primary, and measures the replica's lag.

    `primary` is the request pool; `open_replica` opens the replica's (create_pool: it logs in as, or sets, the
    request role, and refuses a role that could bypass row-level security). Without it every read runs on the
    primary."""

    def __init__(
        self,
        primary: asyncpg.Pool,
        open_replica: Callable[[], Awaitable[asyncpg.Pool]] | None,
        *,
        max_lag_seconds: float,
        consistency_wait_seconds: float,
        check_seconds: float = CHECK_SECONDS,
    ) -> None:
        self.primary = primary
        # the replica's pool is opened by the first check that reaches it: a replica down when the hub starts is
        # skipped until it is back, it does not keep the hub from serving
        self.open_replica = open_replica
        self.replica: asyncpg.Pool | None = None
        self.max_lag_seconds = max_lag_seconds
        self.consistency_wait_seconds = consistency_wait_seconds
        self.check_seconds = check_seconds
        self.state = ReplicaState()
        # (monotonic time, primary position) samples the replica has not replayed yet, oldest first: the lag is the
        # age of the oldest one (measured on this process's clock alone, so clock skew between servers is moot)
        self._ahead: deque[tuple[float, int]] = deque(maxlen=100_000)
        self._task: asyncio.Task[None] | None = None

    @property
    def has_replica(self) -> bool:
        return self.open_replica is not None

    # ------------------------------------------------------------------------------------------ the lag

    async def start(self) -> None:
        """Check the replica once (an unsafe role refuses to start: UnsafeRole), then every CHECK_SECONDS."""
        if self.open_replica is None:
            return
        await self.check(starting=True)
        self._task = asyncio.create_task(self._monitor(), name="hub-replica-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.replica is not None:
            await self.replica.close()
            self.replica = None

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except Exception:  # noqa: BLE001 - the monitor must outlive any one failed check
                log.exception("the replica's lag could not be measured")

    async def check(self, *, starting: bool = False) -> ReplicaState:
        """Measure the replica once: up or not, in recovery or not, its replay position and lag."""
        assert self.open_replica is not None
        if self.replica is None:
            try:
                self.replica = await self.open_replica()
            except UnsafeRole as error:
                if starting:
                    raise UnsafeRole(f"HUB_REPLICA_DATABASE_URL: {error}") from None
                log.error("the replica is not used: %s (HUB_REPLICA_DATABASE_URL)", error)
                self._mark_down("its role could bypass row-level security")
                return self.state
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                self._mark_down(f"unreachable ({type(error).__name__}: {error})")
                return self.state
        try:
            async with self.primary.acquire(timeout=CHECK_TIMEOUT_SECONDS) as con:
                primary_text = await con.fetchval("select pg_current_wal_lsn()::text", timeout=CHECK_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return self.state  # the primary is out of reach: nothing to compare with (requests say so themselves)
        now = time.monotonic()
        primary_at = parse_lsn(primary_text)
        try:
            async with self.replica.acquire(timeout=CHECK_TIMEOUT_SECONDS) as con:
                row = await con.fetchrow(
                    "select pg_is_in_recovery() as recovery, pg_last_wal_replay_lsn()::text as replayed",
                    timeout=CHECK_TIMEOUT_SECONDS,
                )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            self._mark_down(f"unreachable ({type(error).__name__})")
            return self.state
        assert row is not None
        if not row["recovery"] or row["replayed"] is None:
            # promoted (or not a replica at all): its positions say nothing about the primary's
            self._mark_down("not in recovery: not a streaming replica of the primary")
            return self.state
        replayed = self._replayed(parse_lsn(row["replayed"]))
        if primary_at > replayed:
            self._ahead.append((now, primary_at))
        while self._ahead and self._ahead[0][1] <= replayed:
            self._ahead.popleft()
        lag = now - self._ahead[0][0] if self._ahead else 0.0
        self.state.lag_seconds = lag
        self.state.lag_bytes = max(0, primary_at - replayed)
        if not self.state.up:
            log.info("the replica is up (lag %.1f s)", lag)
        self.state.up = True
        self.state.reason = "ok"
        metrics.REPLICA_UP.set(1)
        metrics.REPLICA_LAG_SECONDS.set(lag)
        metrics.REPLICA_LAG_BYTES.set(self.state.lag_bytes)
        return self.state

    def _replayed(self, position: int) -> int:
        self.state.replayed = max(self.state.replayed, position)
        return self.state.replayed

    def _mark_down(self, reason: str) -> None:
        if self.state.up or self.state.reason != reason:
            log.warning("the replica is skipped: %s; the primary answers reads", reason)
        self.state.up = False
        self.state.reason = reason
        # a replica that comes back may be behind where this one was (restored, or another behind the same URL)
        self.state.replayed = 0
        metrics.REPLICA_UP.set(0)

    # ------------------------------------------------------------------------------------------ reads

    def usable(self) -> str | None:
        """Why the replica may not answer now (None: it may)."""
        if self.open_replica is None:
            return "none"
        if self.replica is None or not self.state.up:
            return "down"
        if self.state.lag_seconds is not None and self.state.lag_seconds > self.max_lag_seconds:
            return "lagging"
        return None

    async def _replayed_past(self, con: asyncpg.Connection, token: int) -> bool:
        """Whether the replica behind `con` has replayed past `token`, waiting for it at most
        HUB_CONSISTENCY_WAIT_SECONDS."""
        # asked of this very connection each time (no position remembered from another): behind a URL that balances
        # over several replicas, or after a replica restarted behind where it was, another's position says nothing
        deadline = time.monotonic() + self.consistency_wait_seconds
        pause = 0.005
        while True:
            text = await con.fetchval("select pg_last_wal_replay_lsn()::text")
            if text is not None and parse_lsn(text) >= token:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)

    async def read(
        self,
        work: Callable[[asyncpg.Connection, Target], Awaitable[T]],
        *,
        token: int | None = None,
        token_ahead: bool = False,
    ) -> tuple[T, Target]:
        """Run `work` (a read) on a connection of the replica or of the primary; returns its result and which one
        answered. `work` raises RetryOnPrimary for an answer the primary should give instead. `token_ahead`: the
        token is past anything the primary has written (token_beyond_primary), so no replica will reach it: the
        primary answers without the wait."""
        reason = "ahead" if token_ahead and self.replica is not None else self.usable()
        replica = self.replica
        if reason is None and replica is not None:
            try:
                async with replica.acquire() as con:
                    if token is None or await self._replayed_past(con, token):
                        try:
                            result = await work(con, "replica")
                        except RetryOnPrimary as retry:
                            reason = retry.reason
                            self._lost(con, retry.cause)
                        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                            reason = self._failed(con, error)
                        else:
                            metrics.READS.labels(target="replica").inc()
                            return result, "replica"
                    else:
                        reason = "token"
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                # no replica connection to be had (acquiring or giving it back failed)
                if not isinstance(error, TimeoutError) and not database_unavailable(error):
                    raise
                self._mark_down(f"unreachable ({type(error).__name__})")
                reason = "down"
        if reason != "none":
            metrics.REPLICA_FALLBACKS.labels(reason=reason).inc()
        async with self.primary.acquire() as con:
            result = await work(con, "primary")
        metrics.READS.labels(target="primary").inc()
        return result, "primary"

    def _failed(self, con: Any, error: BaseException) -> str:
        """The fallback reason for a read that failed on the replica, or raise the error if the primary would fail
        it the same way (a bad statement, a timeout)."""
        if recovery_conflict(error):
            log.info("a read on the replica was cancelled by a conflict with recovery; the primary answers it")
            return "conflict"
        if database_unavailable(error) or connection_lost(con):
            self._lost(con, error)
            return "lost"
        raise error

    def _lost(self, con: Any, error: BaseException | None) -> None:
        if error is not None and (database_unavailable(error) or connection_lost(con)):
            self._mark_down(f"connection lost ({type(error).__name__})")
