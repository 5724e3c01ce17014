"""Demand control as clients read it: the refusals of the cost limit and the per-principal rate limit, the
X-RateLimit-* headers and `extensions.cost`. hub/pipeline.py applies the limits, on HTTP and WebSocket alike."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.cost import Scan, counted_points
from hub.limits import Limits
from hub.ratelimit import Budget, Spent


def rate_limit_headers(spent: Spent, budget: Budget) -> dict[str, str]:
    """GitHub's X-RateLimit-* headers: the budget, what is left of it, and when (epoch seconds) it is full again."""
    return {
        "X-RateLimit-Limit": str(budget.limit),
        "X-RateLimit-Remaining": str(spent.remaining),
        "X-RateLimit-Reset": str(math.ceil(time.time()) + spent.full_in),
    }


def cost_extension(
    cost: int, limits: Limits, budget: Budget, spent: Spent | None, scans: tuple[Scan, ...] = ()
) -> dict[str, Any]:
    """`extensions.cost` of a response: what the operation cost, the most one may cost, and the principal's budget;
    for an operation that counts or groups, what that part cost (`counted`: each pass over a connection's rows with
    the planner's estimate of its rows and groups, and the points they cost, included in `requested`)."""
    report: dict[str, Any] = {"requested": cost, "limit": limits.max_cost or None}
    if scans:
        report["counted"] = {
            "points": counted_points(list(scans)),
            "passes": [
                {"path": s.path, "estimatedRows": s.rows, "points": s.points}
                | ({"estimatedGroups": s.groups} if s.groups is not None else {})
                for s in scans
            ],
        }
    if spent is not None:
        report["rateLimit"] = {
            "limit": budget.limit,
            "windowSeconds": budget.window_seconds,
            "spent": spent.cost,
            "remaining": spent.remaining,
            "fullInSeconds": spent.full_in,
        }
    return report


def too_costly(cost: int, limits: Limits, budget: Budget, scans: tuple[Scan, ...] = ()) -> str | None:
    """Why an operation of this cost is refused before anything runs, or None."""
    counting = ""
    if scans:
        rows = sum(s.rows for s in scans)
        counting = (
            f"; of it, {counted_points(list(scans))} is for counting or grouping about {rows} rows (the planner's "
            "estimate; 1 point per 100 rows): narrow the filter"
        )
    if limits.max_cost and cost > limits.max_cost:
        return (
            f"the query costs {cost} and at most {limits.max_cost} is allowed (HUB_MAX_COST): every field counts 1 "
            "and every list multiplies what it selects by its `first` (nested lists default to 100); ask for fewer "
            f"items or fewer nested lists{counting}"
        )
    if budget.enabled and cost > budget.limit:
        return (
            f"the query costs {cost}, more than the whole rate-limit budget of {budget.limit} points per "
            f"{budget.window_seconds:g} s (HUB_RATE_LIMIT_COST): ask for fewer items or fewer nested lists{counting}"
        )
    return None


def rate_limited_message(spent: Spent, budget: Budget) -> str:
    at = (datetime.now(UTC) + timedelta(seconds=spent.retry_after)).isoformat(timespec="seconds")
    return (
        f"rate limit: this request costs {spent.cost} points and {spent.remaining} of your {budget.limit} points per "
        f"{budget.window_seconds:g} s are left (HUB_RATE_LIMIT_COST, HUB_RATE_LIMIT_WINDOW_SECONDS); "
        f"retry after {spent.retry_after} s, at {at}"
    )
