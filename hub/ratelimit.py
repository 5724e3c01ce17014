"""Per-principal rate limits counted in query cost (hub/cost.py): a token bucket per principal, kept in PostgreSQL so
that every worker spends from the same one.

A bucket holds at most `limit` points and refills continuously at `limit / window_seconds` points a second (so a
principal may spend its whole budget in a burst, then `limit` points per window). A request spends its cost (at
least 1). One upsert statement refills and spends atomically: concurrent requests of one principal, on any worker,
queue on the bucket's row for the length of that statement only. A request that does not fit spends nothing and is
told how long until it would fit (Retry-After); the model is Shopify's and GitHub's cost-based GraphQL limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import asyncpg

# The bucket at this instant: refilled for the time since it was last touched, never above the limit.
_AVAILABLE = "least($2::float8, r.points + extract(epoch from clock_timestamp() - r.updated_at) * $2::float8 / $4)"

SPEND = f"""
insert into rate_limits as r (principal_id, points, updated_at, last_allowed)
values ($1, $2::float8 - $3, clock_timestamp(), true)
on conflict (principal_id) do update set
    points = case when {_AVAILABLE} >= $3 then {_AVAILABLE} - $3 else {_AVAILABLE} end,
    last_allowed = {_AVAILABLE} >= $3,
    updated_at = clock_timestamp()
returning points, last_allowed
"""


@dataclass(frozen=True, kw_only=True)
class Budget:
    """`limit` points per `window_seconds`; a limit of 0 turns rate limiting off."""

    limit: int
    window_seconds: float

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    @property
    def per_second(self) -> float:
        return self.limit / self.window_seconds


@dataclass(frozen=True, kw_only=True)
class Spent:
    """The outcome of one request's spend."""

    allowed: bool
    cost: int
    remaining: int
    # seconds until this request would fit (0 when it was allowed)
    retry_after: int
    # seconds until the bucket is full again
    full_in: int


async def spend(con: asyncpg.Connection, principal_id: int, cost: int, budget: Budget) -> Spent:
    """Spend `cost` points of `principal_id`'s bucket if they are there; one statement, atomic across workers.
    The caller makes sure that `cost <= budget.limit` (else no wait would ever do)."""
    cost = max(1, cost)
    row = await con.fetchrow(SPEND, principal_id, float(budget.limit), float(cost), float(budget.window_seconds))
    assert row is not None
    points, allowed = float(row["points"]), bool(row["last_allowed"])
    retry_after = 0 if allowed else max(1, math.ceil((cost - points) / budget.per_second))
    full_in = math.ceil(max(0.0, budget.limit - points) / budget.per_second)
    return Spent(
        allowed=allowed, cost=cost, remaining=max(0, math.floor(points)), retry_after=retry_after, full_in=full_in
    )
