"""Demand control: the cost limit and the per-principal rate limit, as HTTP reports them, and the schema extension
that applies them (with the other request limits) to operations over WebSocket.

HTTP checks everything in hub/app.py before it opens the request's transaction (so that it can answer 400 or 429
with headers); a WebSocket has one connection for many operations, so each subscribe, query or mutation sent over it
is checked here, after validation and before its first resolver: a refused one gets an `error` message with
QUERY_TOO_COMPLEX or RATE_LIMITED and the socket stays open.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast
from strawberry.extensions import SchemaExtension

from hub import metrics
from hub.cost import operation_cost
from hub.limits import Limits, TooComplex
from hub.limits import check as check_limits
from hub.ratelimit import Budget, Spent, spend


def rate_limit_headers(spent: Spent, budget: Budget) -> dict[str, str]:
    """GitHub's X-RateLimit-* headers: the budget, what is left of it, and when (epoch seconds) it is full again."""
    return {
        "X-RateLimit-Limit": str(budget.limit),
        "X-RateLimit-Remaining": str(spent.remaining),
        "X-RateLimit-Reset": str(math.ceil(time.time()) + spent.full_in),
    }


def cost_extension(cost: int, limits: Limits, budget: Budget, spent: Spent | None) -> dict[str, Any]:
    """`extensions.cost` of a response: what the operation cost, the most one may cost, and the principal's budget."""
    report: dict[str, Any] = {"requested": cost, "limit": limits.max_cost or None}
    if spent is not None:
        report["rateLimit"] = {
            "limit": budget.limit,
            "windowSeconds": budget.window_seconds,
            "spent": spent.cost,
            "remaining": spent.remaining,
            "fullInSeconds": spent.full_in,
        }
    return report


def too_costly(cost: int, limits: Limits, budget: Budget) -> str | None:
    """Why an operation of this cost is refused before anything runs, or None."""
    if limits.max_cost and cost > limits.max_cost:
        return (
            f"the query costs {cost} and at most {limits.max_cost} is allowed (HUB_MAX_COST): every field counts 1 "
            "and every list multiplies what it selects by its `first` (nested lists default to 100); ask for fewer "
            "items or fewer nested lists"
        )
    if budget.enabled and cost > budget.limit:
        return (
            f"the query costs {cost}, more than the whole rate-limit budget of {budget.limit} points per "
            f"{budget.window_seconds:g} s (HUB_RATE_LIMIT_COST): ask for fewer items or fewer nested lists"
        )
    return None


def rate_limited_message(spent: Spent, budget: Budget) -> str:
    at = (datetime.now(UTC) + timedelta(seconds=spent.retry_after)).isoformat(timespec="seconds")
    return (
        f"rate limit: this request costs {spent.cost} points and {spent.remaining} of your {budget.limit} points per "
        f"{budget.window_seconds:g} s are left (HUB_RATE_LIMIT_COST, HUB_RATE_LIMIT_WINDOW_SECONDS); "
        f"retry after {spent.retry_after} s, at {at}"
    )


class DemandControl(SchemaExtension):
    """Request limits, cost limit and rate limit for operations over WebSocket (a no-op over HTTP, which checks
    them before it executes). A subscription is costed and charged once, when it starts: its selection set is what
    every event it delivers costs."""

    def __init__(self, *, execution_context: Any = None) -> None:
        self.report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if getattr(context, "websocket", None) is not None:
            await self.check(context)
        yield

    async def check(self, context: Any) -> None:
        document = self.execution_context.graphql_document
        operation = get_operation_ast(document, self.execution_context.operation_name) if document else None
        if document is None or operation is None:
            return  # validation has reported it
        limits: Limits = context.settings.limits
        budget: Budget = context.settings.rate_limit
        try:
            check_limits(document, operation, limits)
        except TooComplex as error:
            metrics.RATE_LIMITED.labels(limit="query_complexity").inc()
            raise GraphQLError(str(error), extensions={"code": "QUERY_TOO_COMPLEX"}) from None
        cost = operation_cost(
            self.execution_context.schema._schema, document, operation, self.execution_context.variables
        )
        refusal = too_costly(cost, limits, budget)
        if refusal is not None:
            metrics.RATE_LIMITED.labels(limit="query_cost").inc()
            raise GraphQLError(
                refusal, extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "maxCost": limits.max_cost or None}
            )
        spent = None
        if budget.enabled:
            async with context.db.pool.acquire() as con:
                spent = await spend(con, context.principal.id, cost, budget)
            if not spent.allowed:
                metrics.RATE_LIMITED.labels(limit="rate").inc()
                raise GraphQLError(
                    rate_limited_message(spent, budget),
                    extensions={
                        "code": "RATE_LIMITED",
                        "cost": cost,
                        "remaining": spent.remaining,
                        "retryAfter": spent.retry_after,
                    },
                )
        if operation.operation != OperationType.SUBSCRIPTION:
            self.report = cost_extension(cost, limits, budget, spent)

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report} if self.report is not None else {}
