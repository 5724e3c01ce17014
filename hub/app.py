"""The Starlette application: GraphQL over HTTP, GraphiQL, health and readiness."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from hub import graphiql, metrics
from hub.access import Params
from hub.auth import Principal, authenticate, bearer_token, check_token
from hub.compiler import Compiler
from hub.cost import operation_cost
from hub.db import DatabaseUnavailable, connection_lost, create_pool, database_unavailable
from hub.demand import cost_extension, rate_limit_headers, rate_limited_message, too_costly
from hub.events import RUNNING_HUBS, EventHub
from hub.limits import TooComplex
from hub.limits import check as check_limits
from hub.loaders import Loaders
from hub.logs import configure as configure_logging
from hub.persisted import PersistedQueryError, normalized_hash, operations_dir, resolve_query, vetted_hashes
from hub.ratelimit import Spent, spend
from hub.scheduler import Scheduler, clock_from_offset
from hub.settings import Settings
from hub.store.base import PoolSession, Session
from schema import schema
from schema.common import Context

log = logging.getLogger("hub.app")
request_log = logging.getLogger("hub.request")
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")

# Who an unauthenticated introspection runs as in development: a principal that may see no record.
NOBODY = Principal(id=0, name="anonymous", role="VIEWER", agency_id=None, agency_code=None, lab_id=None)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
    *,
    request_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JSON:
    extensions: dict[str, Any] = {"code": code}
    if request_id:
        extensions["requestId"] = request_id
    extensions.update(extra or {})
    return JSON({"errors": [{"message": message, "extensions": extensions}]}, status_code=status, headers=headers)


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None


def _introspection_only(operation: OperationDefinitionNode) -> bool:
    fields = [s for s in operation.selection_set.selections if hasattr(s, "name")]
    return bool(fields) and all(f.name.value.startswith("__") for f in fields)  # type: ignore[attr-defined]


def statement_timeout_error(request_id: str, path: Any = None) -> dict[str, Any]:
    """The error of a statement that PostgreSQL cancelled at HUB_STATEMENT_TIMEOUT_MS (either read path)."""
    return {
        "message": "a database statement took longer than the statement timeout (HUB_STATEMENT_TIMEOUT_MS)",
        "path": path,
        "extensions": {"code": "TIMEOUT", "requestId": request_id},
    }


def format_errors(errors: list[GraphQLError], request_id: str) -> list[dict[str, Any]]:
    """Errors for the client: expected ones as they are, anything else masked as INTERNAL (and logged)."""
    formatted: list[dict[str, Any]] = []
    for error in errors:
        original = error.original_error
        if isinstance(original, asyncpg.QueryCanceledError):
            formatted.append(statement_timeout_error(request_id, error.path))
            continue
        if original is not None and not isinstance(original, GraphQLError):
            log.error("request %s: internal error at %s", request_id, error.path, exc_info=original)
            formatted.append(
                {
                    "message": "internal error; the hub's log has the details under this request id",
                    "path": error.path,
                    "extensions": {"code": "INTERNAL", "requestId": request_id},
                }
            )
            continue
        item: dict[str, Any] = dict(error.formatted)
        extensions = dict(item.get("extensions") or {})
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED" if error.path is None else "BAD_USER_INPUT")
        extensions["requestId"] = request_id
        item["extensions"] = extensions
        formatted.append(item)
    return formatted


class GraphQLEndpoint:
    """GraphQL over HTTP: POST (JSON) for queries and mutations, GET for GraphiQL and for queries."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            if "query" not in request.query_params and "extensions" not in request.query_params:
                if self.settings.production:
                    return error_response(404, "GraphiQL is off in production", "NOT_FOUND")
                return graphiql.page()
            if self.settings.production:
                return error_response(
                    405, "queries over GET are off in production: POST them", "METHOD_NOT_ALLOWED", {"Allow": "POST"}
                )
            variables_raw = request.query_params.get("variables")
            try:
                variables = orjson.loads(variables_raw) if variables_raw else None
            except orjson.JSONDecodeError:
                return error_response(400, "variables is not valid JSON", "BAD_REQUEST")
            extensions_raw = request.query_params.get("extensions")
            try:
                extensions = orjson.loads(extensions_raw) if extensions_raw else None
            except orjson.JSONDecodeError:
                return error_response(400, "extensions is not valid JSON", "BAD_REQUEST")
            body: dict[str, Any] = {
                "query": request.query_params.get("query"),
                "variables": variables,
                "operationName": request.query_params.get("operationName"),
                "extensions": extensions,
            }
            return await self.execute(request, body, allow_mutation=False)
        if request.method != "POST":
            return error_response(405, "use GET or POST", "METHOD_NOT_ALLOWED", {"Allow": "GET, POST"})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in ("application/json", "application/graphql-response+json"):
            return error_response(
                415, f"Content-Type must be application/json, not {content_type or 'missing'!r}", "BAD_REQUEST"
            )
        raw = await request.body()
        if len(raw) > self.settings.max_body_bytes:
            return error_response(
                413,
                f"the request body is larger than {self.settings.max_body_bytes} bytes (HUB_MAX_BODY_BYTES)",
                "QUERY_TOO_COMPLEX",
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            return error_response(400, f"the request body is not valid JSON: {error}", "BAD_REQUEST")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object", "BAD_REQUEST")
        return await self.execute(request, body, allow_mutation=True)

    async def execute(self, request: Request, body: dict[str, Any], *, allow_mutation: bool) -> Response:
        """Answer one GraphQL request, then count it and log it (one JSON line: who, what, how long, outcome)."""
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        record: dict[str, Any] = {"requestId": request_id, "operation": None, "principalId": None, "agency": None}
        # one deadline for the whole request: waiting for a connection and authenticating count too
        deadline = asyncio.timeout(self.settings.request_timeout_seconds)
        try:
            async with deadline:
                response = await self._execute(request, body, allow_mutation=allow_mutation, record=record)
        except TimeoutError as error:
            if not deadline.expired():
                # asyncpg's own connect timeout (HUB_DATABASE_CONNECT_TIMEOUT_SECONDS): the server does not answer
                response = self._unavailable(error, record)
            else:
                record["outcome"] = "timeout"
                response = error_response(
                    504,
                    f"the request took longer than {self.settings.request_timeout_seconds:g} s "
                    "(HUB_REQUEST_TIMEOUT_SECONDS); ask for less, e.g. a smaller `first`",
                    "TIMEOUT",
                    request_id=request_id,
                )
        except DatabaseUnavailable as error:
            response = self._unavailable(error.__cause__ or error, record)
        except (OSError, asyncpg.PostgresError) as error:
            # no connection to be had: refused, or the server is starting up or shutting down
            if not database_unavailable(error):
                raise
            response = self._unavailable(error, record)
        seconds = time.perf_counter() - started
        operation = record["operation"] or "anonymous"
        outcome = record.get("outcome") or ("ok" if response.status_code == 200 else f"http_{response.status_code}")
        metrics.REQUESTS.labels(operation=operation, outcome=outcome).inc()
        metrics.REQUEST_SECONDS.labels(operation=operation).observe(seconds)
        if "sqlStatements" in record:
            metrics.SQL_STATEMENTS.observe(record["sqlStatements"])
            metrics.SQL_SECONDS.observe(record["sqlSeconds"])
        request_log.info(
            "request",
            extra={
                **record,
                "pid": os.getpid(),  # which worker answered, with `hub serve --workers N`
                "status": response.status_code,
                "outcome": outcome,
                "durationMs": round(seconds * 1000, 2),
                "sqlSeconds": round(record.get("sqlSeconds", 0.0), 4),
            },
        )
        response.headers["X-Request-Id"] = request_id
        return response

    @staticmethod
    def _unavailable(error: BaseException, record: dict[str, Any]) -> Response:
        """503 for a request that met the database out of reach: fast and clear, no trace (the log says what)."""
        record["outcome"] = "database_unavailable"
        log.warning(
            "request %s: the database is unavailable (%s: %s)", record["requestId"], type(error).__name__, error
        )
        return error_response(
            503,
            "the database is unavailable; try again shortly",
            "DATABASE_UNAVAILABLE",
            {"Retry-After": "1"},
            request_id=record["requestId"],
        )

    async def _execute(
        self, request: Request, body: dict[str, Any], *, allow_mutation: bool, record: dict[str, Any]
    ) -> Response:
        request_id = record["requestId"]
        variables = body.get("variables")
        operation_name = body.get("operationName")
        record["operation"] = operation_name if isinstance(operation_name, str) else None
        if variables is not None and not isinstance(variables, dict):
            return error_response(400, "variables must be a JSON object", "BAD_REQUEST", request_id=request_id)
        if operation_name is not None and not isinstance(operation_name, str):
            return error_response(400, "operationName must be a string", "BAD_REQUEST", request_id=request_id)

        pool: asyncpg.Pool = request.app.state.pool
        token = bearer_token(request.headers.get("authorization"))
        request.app.state.pool_waiting += 1
        try:
            con_context = pool.acquire()
            con = await con_context.__aenter__()
        finally:
            request.app.state.pool_waiting -= 1
        try:
            principal = await authenticate(con, token)
            try:
                query = await resolve_query(con, principal.id if principal else 0, body)
            except PersistedQueryError as error:
                record["outcome"] = error.code.lower()
                return error_response(error.status, str(error), error.code, request_id=request_id)
            if not isinstance(query, str) or not query.strip():
                return error_response(400, "query must be a non-empty string", "BAD_REQUEST", request_id=request_id)
            limits = self.settings.limits
            try:
                document = parse_cached(query, limits.max_tokens)
            except GraphQLSyntaxError as error:
                if "more than" in error.message and "tokens" in error.message:
                    record["outcome"] = "too_complex"
                    return error_response(
                        400,
                        f"the query has more than {limits.max_tokens} tokens (HUB_MAX_TOKENS)",
                        "QUERY_TOO_COMPLEX",
                        request_id=request_id,
                    )
                return error_response(
                    400, f"syntax error: {error.message}", "GRAPHQL_PARSE_FAILED", request_id=request_id
                )
            operation = _operation(document, operation_name)
            if operation is not None:
                try:
                    check_limits(document, operation, limits)
                except TooComplex as error:
                    record["outcome"] = "too_complex"
                    metrics.RATE_LIMITED.labels(limit="query_complexity").inc()
                    return error_response(400, str(error), "QUERY_TOO_COMPLEX", request_id=request_id)
            # before any SQL of the operation runs; a document without a single operation to run costs 1
            cost = operation_cost(schema._schema, document, operation, variables) if operation is not None else 1
            record["cost"] = cost
            budget = self.settings.rate_limit
            refusal = too_costly(cost, limits, budget)
            if refusal is not None:
                record["outcome"] = "too_complex"
                metrics.RATE_LIMITED.labels(limit="query_cost").inc()
                extra = {"cost": cost, "maxCost": limits.max_cost or None}
                return error_response(400, refusal, "QUERY_TOO_COMPLEX", request_id=request_id, extra=extra)
            if operation is not None and operation.name is not None:
                record["operation"] = operation.name.value
            is_mutation = operation is not None and operation.operation == OperationType.MUTATION
            if is_mutation and not allow_mutation:
                return error_response(
                    405, "mutations need POST", "METHOD_NOT_ALLOWED", {"Allow": "POST"}, request_id=request_id
                )
            if principal is None:
                if operation is not None and _introspection_only(operation) and not self.settings.production:
                    principal = NOBODY
                else:
                    record["outcome"] = "unauthenticated"
                    message = "a valid token is required" if token else "no token: send Authorization: Bearer <token>"
                    return error_response(
                        401, message, "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"}, request_id=request_id
                    )
            record.update(principalId=principal.id or None, agency=principal.agency_code or principal.lab_name)
            if self.settings.production and principal.role != "ADMIN":
                introspection = validate(schema._schema, document, [NoSchemaIntrospectionCustomRule])
                if introspection:
                    record["outcome"] = "introspection_off"
                    return error_response(
                        400,
                        "introspection is off in production for non-admins; the schema is schema/schema.graphql",
                        "GRAPHQL_VALIDATION_FAILED",
                        request_id=request_id,
                    )
            if self.settings.production and self.settings.operations_allowlist and principal.role != "ADMIN":
                if normalized_hash(document) not in vetted_hashes():
                    record["outcome"] = "not_allowed"
                    return error_response(
                        403,
                        "this hub serves only the vetted operations of schema/operations/ to non-admins "
                        "(production allow-list); run one of those, e.g. with `hub query NAME`",
                        "OPERATION_NOT_ALLOWED",
                        request_id=request_id,
                    )
            compiled: tuple[str, str] | None = None
            spent: Spent | None = None
            if budget.enabled:
                # outside any transaction: the bucket's row is locked for this one statement only
                spent = await spend(con, principal.id, cost, budget)
                if not spent.allowed:
                    record["outcome"] = "rate_limited"
                    metrics.RATE_LIMITED.labels(limit="rate").inc()
                    return error_response(
                        429,
                        rate_limited_message(spent, budget),
                        "RATE_LIMITED",
                        {"Retry-After": str(spent.retry_after), **rate_limit_headers(spent, budget)},
                        request_id=request_id,
                        extra={"cost": cost, "remaining": spent.remaining, "retryAfter": spent.retry_after},
                    )
            # the statement timeout is set per transaction, with the principal (hub.store.base.bind_principal)
            session = Session(con, principal, self.settings.statement_timeout_ms)
            context = Context(db=session, loaders=Loaders(session), principal=principal, settings=self.settings)
            if is_mutation:
                result = await schema.execute(
                    query, variable_values=variables, context_value=context, operation_name=operation_name
                )
            else:
                # one consistent snapshot: a page and its totalCount agree
                try:
                    async with session.snapshot():
                        compiled = await self._compiled(session, document, operation, query, variables, principal)
                        if compiled is None:
                            result = await schema.execute(
                                query,
                                variable_values=variables,
                                context_value=context,
                                operation_name=operation_name,
                            )
                except asyncpg.QueryCanceledError:
                    compiled = ("timeout", "")  # only the compiled statement lets this through
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            if database_unavailable(error) or connection_lost(con):
                raise DatabaseUnavailable() from error
            raise
        finally:
            lost = connection_lost(con)
            await con_context.__aexit__(None, None, None)
        record.update(sqlStatements=session.statements, sqlSeconds=session.sql_seconds)
        if (
            compiled is None
            and result.errors
            and (lost or any(database_unavailable(e.original_error) for e in result.errors))
        ):
            # the database went away under a resolver: the answer is "unavailable", not INTERNAL
            raise DatabaseUnavailable() from next((e.original_error for e in result.errors if e.original_error), None)
        extensions: dict[str, Any] = {
            "requestId": request_id,
            "sqlStatements": session.statements,
            "cost": cost_extension(cost, limits, budget, spent),
        }
        headers = rate_limit_headers(spent, budget) if spent is not None else None
        if compiled is not None:
            record["path"] = "compiled"
            kind, data = compiled
            if kind == "timeout":
                record["outcome"] = "timeout"
                return JSON(
                    {"errors": [statement_timeout_error(request_id)], "data": None, "extensions": extensions},
                    headers=headers,
                )
            # the data as PostgreSQL wrote it, not parsed again
            extensions["compiled"] = True
            return Response(
                b'{"data":' + data.encode() + b',"extensions":' + orjson.dumps(extensions) + b"}",
                media_type="application/json",
                headers=headers,
            )
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = format_errors(result.errors, request_id)
            if self.settings.production and principal.role != "ADMIN":
                # field suggestions map the schema for whoever guesses: not in production
                for item in payload["errors"]:
                    item["message"] = SUGGESTION.sub("", item["message"])
            record["outcome"] = "error"
        # the spec's rule: "data" is there (maybe null) once execution started, absent when the request was invalid
        executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
        if executed:
            payload["data"] = result.data
        payload["extensions"] = extensions
        return JSON(payload, headers=headers)

    async def _compiled(
        self,
        session: Session,
        document: DocumentNode,
        operation: OperationDefinitionNode | None,
        query: str,
        variables: dict[str, Any] | None,
        principal: Principal,
    ) -> tuple[str, str] | None:
        """A query answered by one SQL statement (hub/compiler.py), in the request's snapshot: ("data", the data
        as JSON text); None when the operation needs the resolvers."""
        if (
            not self.settings.sql_compiler
            or operation is None
            or not valid_document(query, self.settings.limits.max_tokens)
        ):
            return None

        async def columns_of(entity: Any) -> frozenset[str]:
            known = COMPILER.columns.get(entity.kind)
            if known is None:
                p = Params()
                statement = await session.con.prepare(
                    f"select {entity.select_list(principal, p)} from {entity.source(principal, p)} limit 0"
                )
                known = COMPILER.columns[entity.kind] = frozenset(a.name for a in statement.get_attributes())
            return known

        compiled = await COMPILER.compile(document, operation, query, variables, principal, columns_of)
        if compiled is None:
            return None
        data = await session.fetchval(compiled.sql, *compiled.bind(principal))
        return ("data", str(data))


COMPILER = Compiler(schema)


@functools.lru_cache(maxsize=1024)
def parse_cached(query: str, max_tokens: int) -> DocumentNode:
    """Parse an operation once per worker (a syntax error is not remembered: it raises each time)."""
    return parse(query, max_tokens=max_tokens)


@functools.lru_cache(maxsize=1024)
def valid_document(query: str, max_tokens: int) -> bool:
    """Whether the operation text passes the schema's validation, once per text and worker (keyed by the text, not
    the parsed document, whose hash walks the tree)."""
    return not validate(schema._schema, parse_cached(query, max_tokens))


class ClosableWebSocket(ASGIWebSocketAdapter):
    """strawberry's WebSocket adapter, for a socket the hub may already have closed with a code of its own."""

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await super().close(code, reason)


class GraphQLWebSocket(GraphQL[Context, None]):
    """Subscriptions (and any operation) over WebSocket with graphql-transport-ws; the token travels in the
    connection_init payload as {"authorization": "Bearer ..."}. A missing or bad token closes with 4403; a database
    out of reach, with 1013 (try again later)."""

    websocket_adapter_class = ClosableWebSocket

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
            # pages of other origins may not open a socket with a user's credentials; same-origin and
            # non-browser clients always may
            allowed_origins=settings.ws_allowed_origins,
        )
        self.settings = settings

    async def get_context(self, request: Any, response: Any) -> Context:
        pool = request.app.state.pool
        session = PoolSession(pool, NOBODY)
        return Context(
            db=session,
            loaders=Loaders(session),
            principal=NOBODY,
            settings=self.settings,
            events=request.app.state.events,
            websocket=request,
        )

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        token = bearer_token(raw) if isinstance(raw, str) else None
        try:
            async with context.db.pool.acquire() as con:  # type: ignore[attr-defined]
                checked = await check_token(con, token)
        except (OSError, asyncpg.PostgresError) as error:
            if not database_unavailable(error):
                raise
            # 1013 "try again later": not 4403, the token may be fine
            log.warning("a WebSocket could not authenticate: the database is unavailable (%s)", type(error).__name__)
            await context.websocket.close(code=1013, reason="the database is unavailable; try again shortly")
            raise ConnectionRejectionError() from error
        if checked is None:
            raise ConnectionRejectionError()
        principal, context.token_id = checked
        context.principal = principal
        context.db = PoolSession(context.db.pool, principal, self.settings.statement_timeout_ms)  # type: ignore[attr-defined]
        context.loaders = Loaders(context.db)
        context.websocket.app.state.ws_connections.add(context)
        return {"principal": principal.name}


# the board runs only its own code and talks only to this hub
BOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class BoardFiles(StaticFiles):
    """The board's files, with the board's security headers."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(BOARD_HEADERS)
        return response


async def recheck_socket_tokens(app_state: Any, *, every: float) -> None:
    """Close (4403) every open WebSocket whose token has since been revoked or has expired: one statement per
    check for all of this worker's sockets."""
    while True:
        await asyncio.sleep(every)
        contexts = [c for c in list(app_state.ws_connections) if c.token_id is not None]
        if not contexts:
            continue
        try:
            async with app_state.pool.acquire(timeout=5) as con:
                valid = {
                    r[0]
                    for r in await con.fetch(
                        """select id from api_tokens where id = any($1::bigint[])
                             and revoked_at is null and (expires_at is null or expires_at > now())""",
                        list({c.token_id for c in contexts}),
                    )
                }
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            continue
        for context in contexts:
            if context.token_id not in valid:
                app_state.ws_connections.discard(context)
                context.token_id = None
                with contextlib.suppress(Exception):
                    await context.websocket.close(code=4403, reason="token revoked or expired")


def tune_garbage_collector() -> None:
    """Request work makes many short-lived objects: collect the youngest generation less often (every 20,000
    allocations rather than 700), and leave what startup made (the schema, the modules) out of every collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(settings: Settings, *, database_url: str) -> Starlette:
    """The hub as an ASGI application on the database at `database_url` (migrated already)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # requests run as the role row-level security holds; the hub's own reads of everything (the event
        # fan-out, the gauges) as the tables' owner
        app.state.pool = await create_pool(
            database_url,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            connect_timeout=settings.database_connect_timeout_seconds,
        )
        app.state.system_pool = await create_pool(
            database_url,
            min_size=1,
            max_size=3,
            connect_timeout=settings.database_connect_timeout_seconds,
            app_role=False,
        )
        app.state.events = EventHub(
            database_url,
            app.state.system_pool,
            poll_seconds=settings.events_poll_seconds,
            queue_limit=settings.ws_queue_limit,
            max_per_principal=settings.ws_max_subscriptions_per_principal,
        )
        await app.state.events.start()
        RUNNING_HUBS.add(app.state.events)
        app.state.scheduler = Scheduler(
            database_url,
            interval=settings.scheduler_interval_seconds,
            clock=clock_from_offset(timedelta(seconds=settings.clock_offset_seconds)),
        )
        if settings.scheduler_enabled:
            app.state.scheduler.start()
        app.state.pool_waiting = 0
        app.state.ws_connections = weakref.WeakSet()
        refresher = asyncio.create_task(metrics.refresh_gauges(app.state), name="hub-metrics")
        rechecker = asyncio.create_task(
            recheck_socket_tokens(app.state, every=settings.ws_token_recheck_seconds), name="hub-ws-tokens"
        )
        try:
            yield
        finally:
            refresher.cancel()
            rechecker.cancel()
            await app.state.scheduler.stop()
            RUNNING_HUBS.discard(app.state.events)
            await app.state.events.stop()
            await app.state.pool.close()
            await app.state.system_pool.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        events: EventHub = request.app.state.events
        try:
            async with request.app.state.pool.acquire(timeout=2) as con:
                await con.fetchval("select 1", timeout=2)
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            reason = f"database unavailable ({type(error).__name__})"
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        if not events.listener_connected:
            return JSONResponse({"status": "not ready", "reason": "event listener reconnecting"}, status_code=503)
        return JSONResponse({"status": "ready", "subscriptions": len(events.subscribers)})

    async def metrics_endpoint(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    board = Path(__file__).resolve().parent / "board"

    async def board_page(request: Request) -> Response:
        return FileResponse(board / "index.html", headers={"Cache-Control": "no-cache", **BOARD_HEADERS})

    async def vetted_operation(request: Request) -> Response:
        """The text of a vetted operation (schema/operations/NAME.graphql): what the board and other frontends
        send, so that the production allow-list serves them. Texts only, no data."""
        name = request.path_params["name"]
        path = operations_dir() / f"{name}.graphql"
        if not name.replace("_", "").isalnum() or not path.is_file():
            return error_response(404, f"no vetted operation named {name!r}", "NOT_FOUND")
        return Response(path.read_text(), media_type="application/graphql; charset=utf-8")

    return Starlette(
        routes=[
            Route("/", board_page),
            Mount("/board", app=BoardFiles(directory=board), name="board"),
            Route("/operations/{name}.graphql", vetted_operation),
            Route("/metrics", metrics_endpoint),
            Route("/graphql", GraphQLEndpoint(settings), methods=["GET", "POST"]),
            *graphiql.routes(settings.production),
            WebSocketRoute("/graphql", GraphQLWebSocket(settings)),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )


def app_from_env() -> Starlette:
    """The uvicorn factory used by `hub serve`: settings and the database URL come from the environment."""
    settings = Settings.from_env()
    if not settings.database_url:
        raise RuntimeError("HUB_DATABASE_URL is not set: start the hub with `hub serve`")
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, database_url=settings.database_url)
    tune_garbage_collector()  # a worker process of its own: what it made so far lives as long as it does
    return app
