"""The Starlette application: GraphQL over HTTP, GraphiQL, health and readiness."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.ides import get_graphql_ide_html
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from hub.auth import Principal, authenticate, bearer_token
from hub.db import create_pool
from hub.events import RUNNING_HUBS, EventHub
from hub.loaders import Loaders
from hub.scheduler import Scheduler, clock_from_offset
from hub.settings import Settings
from hub.store.base import PoolSession, Session
from schema import schema
from schema.common import Context

log = logging.getLogger("hub.app")

MAX_BODY_BYTES = 1_000_000
# Who an unauthenticated introspection runs as in development: a principal that may see no record.
NOBODY = Principal(id=0, name="anonymous", role="VIEWER", agency_id=None, agency_code=None, lab_id=None)


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> JSON:
    return JSON({"errors": [{"message": message, "extensions": {"code": code}}]}, status_code=status, headers=headers)


def _operation(document: Any, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    return operations[0] if len(operations) == 1 else None


def _introspection_only(operation: OperationDefinitionNode) -> bool:
    fields = [s for s in operation.selection_set.selections if hasattr(s, "name")]
    return bool(fields) and all(f.name.value.startswith("__") for f in fields)  # type: ignore[attr-defined]


def format_errors(errors: list[GraphQLError], request_id: str) -> list[dict[str, Any]]:
    """Errors for the client: expected ones as they are, anything else masked as INTERNAL (and logged)."""
    formatted: list[dict[str, Any]] = []
    for error in errors:
        original = error.original_error
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
            if "query" not in request.query_params:
                if self.settings.production:
                    return error_response(404, "GraphiQL is off in production", "NOT_FOUND")
                return HTMLResponse(get_graphql_ide_html(graphql_ide="graphiql"))
            variables_raw = request.query_params.get("variables")
            try:
                variables = orjson.loads(variables_raw) if variables_raw else None
            except orjson.JSONDecodeError:
                return error_response(400, "variables is not valid JSON", "BAD_REQUEST")
            body: dict[str, Any] = {
                "query": request.query_params["query"],
                "variables": variables,
                "operationName": request.query_params.get("operationName"),
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
        if len(raw) > MAX_BODY_BYTES:
            return error_response(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", "BAD_REQUEST")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            return error_response(400, f"the request body is not valid JSON: {error}", "BAD_REQUEST")
        if not isinstance(body, dict):
            return error_response(400, "the request body must be a JSON object", "BAD_REQUEST")
        return await self.execute(request, body, allow_mutation=True)

    async def execute(self, request: Request, body: dict[str, Any], *, allow_mutation: bool) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        headers = {"X-Request-Id": request_id}
        query = body.get("query")
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return error_response(400, "query must be a non-empty string", "BAD_REQUEST", headers)
        if variables is not None and not isinstance(variables, dict):
            return error_response(400, "variables must be a JSON object", "BAD_REQUEST", headers)
        if operation_name is not None and not isinstance(operation_name, str):
            return error_response(400, "operationName must be a string", "BAD_REQUEST", headers)
        try:
            document = parse(query)
        except GraphQLSyntaxError as error:
            return error_response(400, f"syntax error: {error.message}", "GRAPHQL_PARSE_FAILED", headers)
        operation = _operation(document, operation_name)
        is_mutation = operation is not None and operation.operation == OperationType.MUTATION
        if is_mutation and not allow_mutation:
            headers["Allow"] = "POST"
            return error_response(405, "mutations need POST", "METHOD_NOT_ALLOWED", headers)

        pool: asyncpg.Pool = request.app.state.pool
        token = bearer_token(request.headers.get("authorization"))
        async with pool.acquire() as con:
            principal = await authenticate(con, token)
            if principal is None:
                if operation is not None and _introspection_only(operation) and not self.settings.production:
                    principal = NOBODY
                else:
                    message = "a valid token is required" if token else "no token: send Authorization: Bearer <token>"
                    return error_response(401, message, "UNAUTHENTICATED", {**headers, "WWW-Authenticate": "Bearer"})
            session = Session(con, principal)
            context = Context(db=session, loaders=Loaders(session), principal=principal, settings=self.settings)
            if is_mutation:
                result = await schema.execute(
                    query, variable_values=variables, context_value=context, operation_name=operation_name
                )
            else:
                # one consistent snapshot: a page and its totalCount agree
                async with con.transaction(isolation="repeatable_read", readonly=True):
                    result = await schema.execute(
                        query, variable_values=variables, context_value=context, operation_name=operation_name
                    )
        payload: dict[str, Any] = {}
        if result.errors:
            payload["errors"] = format_errors(result.errors, request_id)
        # the spec's rule: "data" is there (maybe null) once execution started, absent when the request was invalid
        executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
        if executed:
            payload["data"] = result.data
        payload["extensions"] = {"requestId": request_id, "sqlStatements": session.statements}
        return JSON(payload, headers=headers)


class GraphQLWebSocket(GraphQL[Context, None]):
    """Subscriptions (and any operation) over WebSocket with graphql-transport-ws; the token travels in the
    connection_init payload as {"authorization": "Bearer ..."}. A missing or bad token closes with 4403."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=settings.ws_max_subscriptions_per_connection,
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
        async with context.db.pool.acquire() as con:  # type: ignore[attr-defined]
            principal = await authenticate(con, token)
        if principal is None:
            raise ConnectionRejectionError()
        context.principal = principal
        context.db = PoolSession(context.db.pool, principal)  # type: ignore[attr-defined]
        context.loaders = Loaders(context.db)
        return {"principal": principal.name}


def create_app(settings: Settings, *, database_url: str) -> Starlette:
    """The hub as an ASGI application on the database at `database_url` (migrated already)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.pool = await create_pool(
            database_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size
        )
        app.state.events = EventHub(
            database_url,
            app.state.pool,
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
        try:
            yield
        finally:
            await app.state.scheduler.stop()
            RUNNING_HUBS.discard(app.state.events)
            await app.state.events.stop()
            await app.state.pool.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        events: EventHub = request.app.state.events
        try:
            async with request.app.state.pool.acquire(timeout=2) as con:
                await con.fetchval("select 1", timeout=2)
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "not ready", "reason": type(error).__name__}, status_code=503)
        if not events.listener_connected:
            return JSONResponse({"status": "not ready", "reason": "event listener reconnecting"}, status_code=503)
        return JSONResponse({"status": "ready", "subscriptions": len(events.subscribers)})

    return Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(settings), methods=["GET", "POST"]),
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
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO))
    return create_app(settings, database_url=settings.database_url)
