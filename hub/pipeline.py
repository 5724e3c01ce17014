"""The admission pipeline: what every operation goes through before it runs, over HTTP and over WebSocket alike
(docs/design.md, "Requests").

    authenticate   the token -> a principal (hub.auth.check_token; HTTP per request, WebSocket per connection)
    read           the text -> a document (parse, one cache) -> the operation to run
    admit          limits -> validation (one cache) -> production rules -> cost -> rate
    run            strawberry (or the SQL compiler) in the request's transaction
    format         hub.errors: every error with its code and the request id

HTTP (hub/app.py) calls `read` and `admit` itself, before it opens the request's transaction, so that it can answer
with a status and headers; over WebSocket strawberry parses and validates through the same caches
(`OperationCache`), and `WebSocketAdmission` calls `admit` before the operation's first resolver. Every step
raises `hub.errors.Refused`, which HTTP turns into a status and WebSocket into a GraphQL error with the same code.
The functions take the GraphQL schema as an argument: schema/ imports this module, not the reverse.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLSyntaxError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.language.parser import MAX_NESTING_DEPTH
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from hub import metrics
from hub.auth import Principal
from hub.cost import ROWS_ESTIMATOR, Scan, counted_points, operation_cost
from hub.demand import cost_extension, rate_limit_headers, rate_limited_message, too_costly
from hub.errors import SUGGESTION, Refused, hides_suggestions
from hub.limits import TooComplex
from hub.limits import check as check_limits
from hub.persisted import normalized_hash, vetted_hashes
from hub.ratelimit import Spent, spend
from hub.settings import Settings

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------ read


@functools.lru_cache(maxsize=1024)
def parse_cached(query: str, max_tokens: int) -> DocumentNode:
    """Parse an operation once per worker (a syntax error is not remembered: it raises each time)."""
    return parse(query, max_tokens=max_tokens)


def read(query: Any, operation_name: str | None, settings: Settings) -> tuple[DocumentNode, OperationDefinitionNode]:
    """The parsed document and the operation to run, or a request error: not a string, over the token limit,
    nested too deeply, not GraphQL, or no single operation to run."""
    if not isinstance(query, str) or not query.strip():
        raise Refused(400, "query must be a non-empty string", "BAD_REQUEST")
    max_tokens = settings.limits.max_tokens
    try:
        document = parse_cached(query, max_tokens)
    except GraphQLSyntaxError as error:
        if "more than" in error.message and "tokens" in error.message:
            raise Refused(
                400,
                f"the query has more than {max_tokens} tokens (HUB_MAX_TOKENS)",
                "QUERY_TOO_COMPLEX",
                outcome="too_complex",
            ) from None
        if "nested too deeply" in error.message:
            raise Refused(
                400, f"the document is nested too deeply: {error.message}", "QUERY_TOO_COMPLEX", outcome="too_complex"
            ) from None
        raise Refused(
            400,
            error.message,
            "GRAPHQL_PARSE_FAILED",
            errors=[{**error.formatted, "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}],
        ) from None
    return document, select_operation(document, operation_name)


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    """The operation to run (GraphQL, "GetOperation"): the one named `operation_name`, or the document's only one.
    Several operations and no name, or a name the document does not hold, is a request error naming what it has."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    names = ", ".join(o.name.value for o in operations if o.name is not None) or "none named"
    if operation_name is None:
        if len(operations) == 1:
            return operations[0]
        if not operations:
            raise Refused(400, "the document holds no operation, only fragments", "GRAPHQL_VALIDATION_FAILED")
        raise Refused(
            400,
            f"the document holds {len(operations)} operations ({names}): say which to run with operationName",
            "GRAPHQL_VALIDATION_FAILED",
        )
    for operation in operations:
        if operation.name is not None and operation.name.value == operation_name:
            return operation
    raise Refused(
        400,
        f"operationName {operation_name!r} names no operation of the document (its operations: {names})",
        "GRAPHQL_VALIDATION_FAILED",
    )


def introspection_only(operation: OperationDefinitionNode) -> bool:
    """Whether the operation selects nothing but `__schema`, `__type` and `__typename`."""
    fields = [s for s in operation.selection_set.selections if hasattr(s, "name")]
    return bool(fields) and all(f.name.value.startswith("__") for f in fields)  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------ admit


# How deep the JSON of an operation's variables may nest (input objects in lists in input objects...): the schema's
# deepest input is a few levels; graphql-core's coercion and the compiler's cache key recurse through the value.
MAX_VARIABLES_DEPTH = 32


def variables_depth(variables: Any) -> int:
    """How deep a JSON value nests (a scalar is 0), without recursion."""
    deepest, stack = 0, [(variables, 0)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_VARIABLES_DEPTH:
            return deepest  # enough to refuse it
        stack.extend((child, depth + 1) for child in children)
    return deepest


@dataclass(frozen=True)
class Admitted:
    """An operation that may run: what it costs (its static cost and what its counting costs), what the principal's
    budget says after paying for it, and the connections it counts or groups with the planner's estimate of their
    rows."""

    cost: int
    spent: Spent | None
    scans: tuple[Scan, ...] = ()


@functools.lru_cache(maxsize=1024)
def _validation_errors(graphql_schema: GraphQLSchema, query: str, max_tokens: int) -> tuple[GraphQLError, ...]:
    # strawberry's validation: graphql-core's specified rules and strawberry's own (OneOf inputs, Maybe)
    return tuple(validate_document(graphql_schema, parse_cached(query, max_tokens), tuple(specified_rules)))


def validation_errors(graphql_schema: GraphQLSchema, query: str, settings: Settings) -> tuple[GraphQLError, ...]:
    """The schema's validation errors of an operation text, once per text and worker (keyed by the text, not the
    parsed document, whose hash walks the tree)."""
    return _validation_errors(graphql_schema, query, settings.limits.max_tokens)


def check_valid(graphql_schema: GraphQLSchema, query: str, principal: Principal, settings: Settings) -> None:
    """Refuse a document that fails the schema's validation, with every error and its locations."""
    errors = validation_errors(graphql_schema, query, settings)
    if any(isinstance(e, ValidationAbortedError) for e in errors):
        raise Refused(
            400,
            "the document nests fragments or selections too deeply to validate (graphql-core stops at "
            f"{MAX_NESTING_DEPTH} levels); flatten its fragments",
            "QUERY_TOO_COMPLEX",
            outcome="too_complex",
        )
    if errors:
        formatted: list[dict[str, Any]] = [
            {**e.formatted, "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}} for e in errors
        ]
        if hides_suggestions(principal, settings):
            for item in formatted:
                item["message"] = SUGGESTION.sub("", item["message"])
        raise Refused(400, str(formatted[0]["message"]), "GRAPHQL_VALIDATION_FAILED", errors=formatted)


def check_production(
    graphql_schema: GraphQLSchema, document: DocumentNode, principal: Principal, settings: Settings
) -> None:
    """In production, for everyone but admins: no introspection, and with the allow-list only vetted operations."""
    if not settings.production or principal.role == "ADMIN":
        return
    if validate(graphql_schema, document, [NoSchemaIntrospectionCustomRule]):
        raise Refused(
            400,
            "introspection is off in production for non-admins; the schema is schema/schema.graphql",
            "GRAPHQL_VALIDATION_FAILED",
            outcome="introspection_off",
        )
    if settings.operations_allowlist and normalized_hash(document) not in vetted_hashes():
        raise Refused(
            403,
            "this hub serves only the vetted operations of schema/operations/ to non-admins "
            "(production allow-list); run one of those, e.g. with `hub query NAME`",
            "OPERATION_NOT_ALLOWED",
            outcome="not_allowed",
        )


async def admit(
    con: asyncpg.Connection | Any,
    graphql_schema: GraphQLSchema,
    *,
    query: str,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    principal: Principal,
    settings: Settings,
) -> Admitted:
    """Admit an operation, or refuse it: the request limits (cheap and bounded: before the validation, whose work
    grows with what they limit), validation, the production rules, the cost (after validation, which bounds the
    nesting it walks), then the rate limit, which charges the cost to the principal. `con` is a connection, or a
    pool to take one from for the charge (over WebSocket)."""
    limits = settings.limits
    if variables_depth(variables) > MAX_VARIABLES_DEPTH:
        raise Refused(
            400,
            f"the variables nest deeper than {MAX_VARIABLES_DEPTH} levels",
            "QUERY_TOO_COMPLEX",
            outcome="too_complex",
        )
    try:
        check_limits(document, operation, limits)
    except TooComplex as error:
        metrics.RATE_LIMITED.labels(limit="query_complexity").inc()
        raise Refused(400, str(error), "QUERY_TOO_COMPLEX", outcome="too_complex") from None
    check_valid(graphql_schema, query, principal, settings)
    check_production(graphql_schema, document, principal, settings)
    cost = operation_cost(graphql_schema, document, operation, variables)
    budget = settings.rate_limit
    refuse_costly(cost, limits, budget)
    # what counting and grouping make PostgreSQL read, estimated by its planner before anything runs (hub/cost.py)
    estimator = graphql_schema.extensions.get(ROWS_ESTIMATOR)
    scans: tuple[Scan, ...] = ()
    if estimator is not None and operation.operation == OperationType.QUERY:
        try:
            scans = tuple(
                await estimator(con, document, operation, variables, principal, settings.statement_timeout_ms)
            )
        except asyncpg.QueryCanceledError:
            # the planner's estimate itself outlasted the statement timeout: the operation's own statements will
            # too, and it answers TIMEOUT as any statement cut short does (over HTTP and WebSocket alike)
            log.warning("the counting estimate outlasted the statement timeout; the operation runs on its static cost")
            scans = ()
        if scans:
            cost += counted_points(list(scans))
            refuse_costly(cost, limits, budget, scans)
    spent = None
    if budget.enabled:
        # outside any transaction: the bucket's row is locked for this one statement only
        if isinstance(con, asyncpg.Pool):
            async with con.acquire() as acquired:
                spent = await spend(acquired, principal.id, cost, budget)
        else:
            spent = await spend(con, principal.id, cost, budget)
        if not spent.allowed:
            metrics.RATE_LIMITED.labels(limit="rate").inc()
            raise Refused(
                429,
                rate_limited_message(spent, budget),
                "RATE_LIMITED",
                headers={"Retry-After": str(spent.retry_after), **rate_limit_headers(spent, budget)},
                extra={"cost": cost, "remaining": spent.remaining, "retryAfter": spent.retry_after},
                outcome="rate_limited",
            )
    return Admitted(cost=cost, spent=spent, scans=scans)


def refuse_costly(cost: int, limits: Any, budget: Any, scans: tuple[Scan, ...] = ()) -> None:
    """Refuse an operation over the cost limit or over the whole rate-limit budget, before any of it runs."""
    refusal = too_costly(cost, limits, budget, scans)
    if refusal is not None:
        metrics.RATE_LIMITED.labels(limit="query_cost").inc()
        extra = {"cost": cost, "maxCost": limits.max_cost or None}
        raise Refused(400, refusal, "QUERY_TOO_COMPLEX", extra=extra, outcome="too_complex")


# ------------------------------------------------------------------------------------------------ the caches


class OperationCache(SchemaExtension):
    """strawberry's parsing and validation through the pipeline's caches (keyed by the operation's text), so that
    an operation is parsed and validated once per worker whichever transport it came by. A text that does not
    parse is left to strawberry, which reports the error."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        if context.query and settings is not None:
            try:
                context.graphql_document = parse_cached(context.query, settings.limits.max_tokens)
            except GraphQLSyntaxError:
                pass
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        if context.query and settings is not None and context.graphql_document is not None:
            # the hub adds no validation rule of its own: strawberry's rules are graphql-core's specified ones
            context.pre_execution_errors = list(validation_errors(context.schema._schema, context.query, settings))
        yield


class WebSocketAdmission(SchemaExtension):
    """`admit` for operations over WebSocket (a no-op over HTTP, which admits before it executes). A WebSocket has
    one connection for many operations, so each subscribe, query or mutation sent over it is admitted here, after
    strawberry's parsing and validation and before its first resolver: a refused one gets an `error` message with
    the code HTTP would give (QUERY_TOO_COMPLEX, RATE_LIMITED, ...), and the socket stays open. A subscription is
    costed and charged once, when it starts: its selection set is what every event it delivers costs."""

    def __init__(self, *, execution_context: Any = None) -> None:
        self.report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if getattr(context, "websocket", None) is not None:
            await self.admit(context)
        yield

    async def admit(self, context: Any) -> None:
        execution = self.execution_context
        document = execution.graphql_document
        operation = get_operation_ast(document, execution.operation_name) if document else None
        if document is None or operation is None or not execution.query:
            return  # validation has reported it
        settings: Settings = context.settings
        try:
            admitted = await admit(
                context.db.pool,
                execution.schema._schema,
                query=execution.query,
                document=document,
                operation=operation,
                variables=execution.variables,
                principal=context.principal,
                settings=settings,
            )
        except Refused as refused:
            raise GraphQLError(refused.message, extensions={"code": refused.code, **(refused.extra or {})}) from None
        if operation.operation != OperationType.SUBSCRIPTION:
            self.report = cost_extension(
                admitted.cost, settings.limits, settings.rate_limit, admitted.spent, admitted.scans
            )

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report} if self.report is not None else {}
