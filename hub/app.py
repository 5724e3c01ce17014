"""The Starlette application: GraphQL over HTTP, GraphiQL, health and readiness."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    OperationDefinitionNode,
    OperationType,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types import ExecutionResult

from hub import graphiql, metrics
from hub.access import Params
from hub.auth import Principal, authenticate, bearer_token, check_token
from hub.db import DatabaseUnavailable, DatabaseUrls, connection_lost, create_pool, database_unavailable
from hub.demand import cost_extension, rate_limit_headers
from hub.errors import INTERNAL_MESSAGE, TIMEOUT_MESSAGE, Refused, error_body, request_id_from
from hub.events import LIVE_COUNTS, LIVE_SENDER, RUNNING_HUBS, EventHub
from hub.loaders import Loaders
from hub.logs import configure as configure_logging
from hub.persisted import (
    PersistedQueryError,
    operations_dir,
    persisted_query,
    register_query,
    resolve_query,
)
from hub.pipeline import Admitted, admit, introspection_only, read
from hub.replicas import (
    READ_FROM_HEADER,
    TOKEN_HEADER,
    BadToken,
    ReadRouter,
    RetryOnPrimary,
    current_position,
    parse_token,
    recovery_conflict,
    token_beyond_primary,
)
from hub.scheduler import Scheduler, clock_from_offset
from hub.settings import Settings
from hub.store.base import PoolSession, Session
from hub.taxii import TaxiiEndpoint
from hub.webhooks.worker import WebhookWorker
from schema import schema
from schema.common import Context
from schema.compiler import Compiler

log = logging.getLogger("hub.app")
request_log = logging.getLogger("hub.request")

# Who an unauthenticated introspection runs as in development: a principal that may see no record.
NOBODY = Principal(id=0, name="anonymous", role="VIEWER", agency_id=None, agency_code=None, lab_id=None)


GRAPHQL_RESPONSE = "application/graphql-response+json"
# what an Accept header may name, and the media type of the answer each stands for (GraphQL over HTTP, "Accept")
ACCEPTED_MEDIA = {
    GRAPHQL_RESPONSE: GRAPHQL_RESPONSE,
    "application/json": "application/json",
    "application/*": "application/json",
    "*/*": "application/json",
}
BODY_MEDIA = ("application/json", GRAPHQL_RESPONSE)


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
    request_id: str,
    extra: dict[str, Any] | None = None,
    media_type: str = "application/json",
) -> JSON:
    """One error in the envelope (hub.errors.error_body), with its status and headers."""
    body = error_body(message, code, request_id, extra=extra)
    return JSON(body, status_code=status, headers=headers, media_type=media_type)


def negotiate(accept: str | None) -> str:
    """The media type of the answer: the Accept header's most preferred of application/graphql-response+json and
    application/json (q-values honoured, the first listed wins a tie); application/json when the header is missing
    or names neither (the spec lets a server disregard such a header rather than answer 406)."""
    best, best_q = None, 0.0
    for part in (accept or "").split(","):
        media, *parameters = part.split(";")
        chosen = ACCEPTED_MEDIA.get(media.strip().lower())
        q = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if chosen is not None and q > best_q:
            best, best_q = chosen, q
    return best or "application/json"


def unauthenticated(token_sent: bool) -> Refused:
    """401: no token, or one that is not valid."""
    return Refused(
        401,
        "a valid token is required" if token_sent else "no token: send Authorization: Bearer <token>",
        "UNAUTHENTICATED",
        headers={"WWW-Authenticate": "Bearer"},
        outcome="unauthenticated",
    )


def check_transport(operation: OperationDefinitionNode, *, allow_mutation: bool) -> None:
    """What HTTP does not carry: a mutation over GET, a subscription at all (it runs over WebSocket)."""
    if operation.operation == OperationType.MUTATION and not allow_mutation:
        raise Refused(405, "mutations need POST", "METHOD_NOT_ALLOWED", headers={"Allow": "POST"})
    if operation.operation == OperationType.SUBSCRIPTION:
        raise Refused(
            405,
            "subscriptions run over WebSocket (graphql-transport-ws) at this same path, not over HTTP",
            "METHOD_NOT_ALLOWED",
            headers={"Allow": "GET, POST"},
        )


def statement_timeout_error(request_id: str, path: Any = None) -> dict[str, Any]:
    """The error of a statement that PostgreSQL cancelled at HUB_STATEMENT_TIMEOUT_MS (either read path)."""
    return {"message": TIMEOUT_MESSAGE, "path": path, "extensions": {"code": "TIMEOUT", "requestId": request_id}}


def request_parameters(body: Any) -> tuple[Any, dict[str, Any] | None, str | None]:
    """The query, variables and operationName of a request's parameters, each checked for its JSON type."""
    if isinstance(body, list):
        raise Refused(
            400,
            "batching is not supported: send one operation per request, as a JSON object, not an array",
            "BAD_REQUEST",
        )
    if not isinstance(body, dict):
        raise Refused(400, "the request body must be a JSON object with a `query`", "BAD_REQUEST")
    variables = body.get("variables")
    operation_name = body.get("operationName")
    extensions = body.get("extensions")
    if variables is not None and not isinstance(variables, dict):
        raise Refused(400, "variables must be a JSON object (or null)", "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise Refused(400, "operationName must be a string (or null)", "BAD_REQUEST")
    if extensions is not None and not isinstance(extensions, dict):
        raise Refused(400, "extensions must be a JSON object (or null)", "BAD_REQUEST")
    return body.get("query"), variables, operation_name


class GraphQLEndpoint:
    """GraphQL over HTTP: POST (JSON) for queries and mutations, GET for GraphiQL and for queries. Every answer,
    however early it is refused, is JSON in one envelope with the request id (hub/errors.py)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        request_id = request_id_from(request.headers.get("x-request-id"))
        media_type = negotiate(request.headers.get("accept"))
        try:
            response = await self.handle(request, request_id, media_type)
        except Refused as refused:
            response = JSON(
                refused.body(request_id), status_code=refused.status, headers=refused.headers, media_type=media_type
            )
        except Exception:  # a bug: the client gets the envelope and the request id, the log gets the trace
            log.exception("request %s: internal error", request_id)
            response = error_response(500, INTERNAL_MESSAGE, "INTERNAL", request_id=request_id, media_type=media_type)
        response.headers["X-Request-Id"] = request_id
        await response(scope, receive, send)

    async def handle(self, request: Request, request_id: str, media_type: str) -> Response:
        if request.method == "GET":
            if "query" not in request.query_params and "extensions" not in request.query_params:
                if "text/html" not in request.headers.get("accept", ""):
                    raise Refused(400, "query must be a non-empty string (the query parameter)", "BAD_REQUEST")
                if self.settings.production:
                    raise Refused(404, "GraphiQL is off in production", "NOT_FOUND")
                return graphiql.page()
            if self.settings.production:
                raise Refused(
                    405,
                    "queries over GET are off in production: POST them",
                    "METHOD_NOT_ALLOWED",
                    headers={"Allow": "POST"},
                )
            body: dict[str, Any] = {
                "query": request.query_params.get("query"),
                "variables": _json_parameter(request, "variables"),
                "operationName": request.query_params.get("operationName"),
                "extensions": _json_parameter(request, "extensions"),
            }
            return await self.execute(request, body, request_id, media_type, allow_mutation=False)
        if request.method != "POST":
            raise Refused(
                405,
                f"{request.method} is not served here: use GET or POST",
                "METHOD_NOT_ALLOWED",
                headers={"Allow": "GET, POST"},
            )
        content_type, *parameters = request.headers.get("content-type", "").split(";")
        content_type = content_type.strip().lower()
        if content_type not in BODY_MEDIA:
            raise Refused(
                415,
                f"Content-Type must be application/json, not {content_type or 'missing'!r}",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
                raise Refused(415, f"the body must be UTF-8, not charset {value.strip()!r}", "UNSUPPORTED_MEDIA_TYPE")
        raw = await self.read_body(request)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise Refused(400, f"the request body is not valid JSON: {error}", "BAD_REQUEST") from None
        return await self.execute(request, body, request_id, media_type, allow_mutation=True)

    async def read_body(self, request: Request) -> bytes:
        """The body, read no further than HUB_MAX_BODY_BYTES (a declared length over it is refused unread)."""
        limit = self.settings.max_body_bytes
        too_large = Refused(
            413, f"the request body is larger than {limit} bytes (HUB_MAX_BODY_BYTES)", "PAYLOAD_TOO_LARGE"
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def execute(
        self, request: Request, body: Any, request_id: str, media_type: str, *, allow_mutation: bool
    ) -> Response:
        """Answer one GraphQL request, then count it and log it (one JSON line: who, what, how long, outcome)."""
        started = time.perf_counter()
        record: dict[str, Any] = {"requestId": request_id, "operation": None, "principalId": None, "agency": None}
        # one deadline for the whole request: waiting for a connection and authenticating count too
        deadline = asyncio.timeout(self.settings.request_timeout_seconds)
        try:
            async with deadline:
                response = await self._execute(
                    request, body, allow_mutation=allow_mutation, record=record, media_type=media_type
                )
        except Refused as refused:
            record["outcome"] = refused.outcome or f"http_{refused.status}"
            response = JSON(
                refused.body(request_id), status_code=refused.status, headers=refused.headers, media_type=media_type
            )
        except TimeoutError as error:
            if not deadline.expired():
                # asyncpg's own connect timeout (HUB_DATABASE_CONNECT_TIMEOUT_SECONDS): the server does not answer
                response = self._unavailable(error, record, media_type)
            else:
                record["outcome"] = "timeout"
                response = error_response(
                    504,
                    f"the request took longer than {self.settings.request_timeout_seconds:g} s "
                    "(HUB_REQUEST_TIMEOUT_SECONDS); ask for less, e.g. a smaller `first`",
                    "TIMEOUT",
                    request_id=request_id,
                    media_type=media_type,
                )
        except DatabaseUnavailable as error:
            response = self._unavailable(error.__cause__ or error, record, media_type)
        except (OSError, asyncpg.PostgresError) as error:
            # no connection to be had: refused, or the server is starting up or shutting down
            if not database_unavailable(error):
                raise
            response = self._unavailable(error, record, media_type)
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
        return response

    @staticmethod
    def _unavailable(error: BaseException, record: dict[str, Any], media_type: str) -> Response:
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
            media_type=media_type,
        )

    async def _authenticate(self, con: asyncpg.Connection, request: Request, body: Any) -> Principal | None:
        """The request's principal; None for no token at all (which only development's anonymous introspection
        accepts, once the operation is read). A token sent and not valid (unknown, expired, revoked, or not a
        Bearer token) is refused whatever it asks, and nobody without a token reads or writes persisted queries."""
        authorization = request.headers.get("authorization")
        principal = await authenticate(con, bearer_token(authorization))
        if principal is None and (authorization is not None or persisted_query(body) is not None):
            raise unauthenticated(authorization is not None)
        return principal

    async def _execute(
        self, request: Request, body: Any, *, allow_mutation: bool, record: dict[str, Any], media_type: str
    ) -> Response:
        """The pipeline of hub/pipeline.py, top to bottom: authenticate, read, admit, run, format. Everything up to
        the run is the primary's (tokens, persisted queries, the rate limit); a query then runs where the read router
        sends it (hub/replicas.py), a mutation on the primary, whose WAL position after it is its consistency token."""
        request_id = record["requestId"]
        query, variables, operation_name = request_parameters(body)
        record["operation"] = operation_name
        try:
            token = parse_token(request.headers.get(TOKEN_HEADER))
        except BadToken as error:
            raise Refused(400, str(error), "BAD_REQUEST") from None
        pool: asyncpg.Pool = request.app.state.pool
        reads: ReadRouter = request.app.state.reads
        request.app.state.pool_waiting += 1
        try:
            con_context = pool.acquire()
            con = await con_context.__aenter__()
        finally:
            request.app.state.pool_waiting -= 1
        held = True  # the primary's connection is still this request's
        lost = False
        session: Session | None = None
        result: ExecutionResult | None = None
        try:
            # authenticate
            principal = await self._authenticate(con, request, body)
            try:
                persisted = await resolve_query(con, body) if principal is not None else None
            except PersistedQueryError as error:
                raise Refused(error.status, str(error), error.code, outcome=error.code.lower()) from None
            if persisted is not None:
                query = persisted.query
            # read
            document, operation = read(query, operation_name, self.settings)
            if principal is None:
                if not introspection_only(operation) or self.settings.production:
                    raise unauthenticated(False)
                principal = NOBODY  # introspection without a token, in development only
            if operation.name is not None:
                record["operation"] = operation.name.value
            record.update(principalId=principal.id or None, agency=principal.agency_code or principal.lab_name)
            check_transport(operation, allow_mutation=allow_mutation)
            # admit
            admitted = await admit(
                con,
                schema._schema,
                query=query,
                document=document,
                operation=operation,
                variables=variables,
                principal=principal,
                settings=self.settings,
            )
            record["cost"] = admitted.cost
            if persisted is not None and persisted.register:
                # only a valid document sent by a known principal is kept
                await register_query(con, persisted.digest, query, principal.id)
            # run
            if operation.operation == OperationType.QUERY and reads.has_replica:
                ahead = token is not None and await token_beyond_primary(con, token)
                # the primary's part is done: its connection goes back before the replica (or the primary) answers
                held = False
                await con_context.__aexit__(None, None, None)
                (compiled, result, session), record["readFrom"] = await reads.read(
                    lambda con, target: self._read(
                        con, target, principal, query, document, operation, variables, request_id
                    ),
                    token=token,
                    token_ahead=ahead,
                )
            else:
                session, (compiled, result) = await self._run_fresh(
                    con, principal, query, document, operation, variables, request_id
                )
                if operation.operation == OperationType.MUTATION and not connection_lost(con):
                    position = await current_position(con)
                    if position is not None:
                        record["consistencyToken"] = position
                record["readFrom"] = "primary"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            if database_unavailable(error) or (held and connection_lost(con)):
                raise DatabaseUnavailable() from error
            raise
        finally:
            if held:
                lost = connection_lost(con)
                if session is not None and not lost:
                    await session.close()  # a straggling field's statement ends before the connection goes back
                await con_context.__aexit__(None, None, None)
        record.update(sqlStatements=session.statements, sqlSeconds=session.sql_seconds)
        if (
            result is not None
            and result.errors
            and (lost or any(database_unavailable(e.original_error) for e in result.errors))
        ):
            # the database went away under a resolver: the answer is "unavailable", not INTERNAL
            raise DatabaseUnavailable() from next((e.original_error for e in result.errors if e.original_error), None)
        # format
        return self._format(compiled, result, session, admitted, record, media_type)

    async def _read(
        self,
        con: asyncpg.Connection,
        target: str,
        principal: Principal,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        request_id: str,
    ) -> tuple[tuple[str, str] | None, ExecutionResult | None, Session]:
        """A query on a connection the read router chose (hub/replicas.py). An answer whose errors the primary
        would not give (the replica cancelled a statement in conflict with recovery, or its connection died) goes
        back to the router, which runs it again on the primary."""
        session = Session(con, principal, self.settings.statement_timeout_ms)
        try:
            session, (compiled, result) = await self._run_fresh(
                con, principal, query, document, operation, variables, request_id
            )
        finally:
            if not connection_lost(con):
                await session.close()
        if result is not None and result.errors:
            causes = [e.original_error for e in result.errors if e.original_error is not None]
            if target == "replica":
                for cause in causes:
                    if recovery_conflict(cause):
                        raise RetryOnPrimary("conflict", cause)
                if connection_lost(con) or any(database_unavailable(c) for c in causes):
                    raise RetryOnPrimary("lost", next(iter(causes), None))
            elif connection_lost(con):
                raise DatabaseUnavailable() from next(iter(causes), None)
        return compiled, result, session

    async def _run_fresh(
        self,
        con: asyncpg.Connection,
        principal: Principal,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        request_id: str,
    ) -> tuple[Session, tuple[tuple[str, str] | None, ExecutionResult | None]]:
        """`_run` on a session of `con`; once more, on a new session, when a statement asyncpg kept prepared no longer
        fits its table: a migration of the next release added a column while this node serves (a rolling upgrade,
        docs/operators.md). asyncpg has dropped the statement, the transaction was rolled back (a mutation's too),
        and the second run prepares it afresh."""
        session = Session(con, principal, self.settings.statement_timeout_ms)
        try:
            ran = await self._run(session, query, document, operation, variables, request_id)
        except asyncpg.InvalidCachedStatementError:
            ran = None
        if ran is not None and not stale_statement(ran[1]):
            return session, ran
        log.info("a prepared statement no longer fits its table (a migration ran); the operation runs again")
        if not connection_lost(con):
            await session.close()
        session = Session(con, principal, self.settings.statement_timeout_ms)
        return session, await self._run(session, query, document, operation, variables, request_id)

    async def _run(
        self,
        session: Session,
        query: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any] | None,
        request_id: str,
    ) -> tuple[tuple[str, str] | None, ExecutionResult | None]:
        """Run an admitted operation: a mutation in its own transaction (the store opens it), a query in one
        consistent snapshot (a page and its totalCount agree), by the SQL compiler when it can answer it, else by
        strawberry. Returns the compiled answer ("data" and its JSON text, or "timeout") or strawberry's result."""
        context = Context(
            db=session,
            loaders=Loaders(session),
            principal=session.principal,
            settings=self.settings,
            request_id=request_id,
        )
        operation_name = operation.name.value if operation.name is not None else None
        if operation.operation == OperationType.MUTATION:
            return None, await schema.execute(
                query, variable_values=variables, context_value=context, operation_name=operation_name
            )
        try:
            async with session.snapshot():
                compiled = await self._compiled(session, document, operation, query, variables, session.principal)
                if compiled is not None:
                    return compiled, None
                return None, await schema.execute(
                    query, variable_values=variables, context_value=context, operation_name=operation_name
                )
        except asyncpg.QueryCanceledError:
            return ("timeout", ""), None  # only the compiled statement lets this through

    def _format(
        self,
        compiled: tuple[str, str] | None,
        result: ExecutionResult | None,
        session: Session,
        admitted: Admitted,
        record: dict[str, Any],
        media_type: str,
    ) -> Response:
        """The answer: data and errors (each shaped by hub.errors.ErrorPolicy) with the request's extensions (its
        id, SQL statements, cost) and the rate-limit headers."""
        request_id = record["requestId"]
        limits, budget, spent = self.settings.limits, self.settings.rate_limit, admitted.spent
        extensions: dict[str, Any] = {
            "requestId": request_id,
            "sqlStatements": session.statements,
            "cost": cost_extension(admitted.cost, limits, budget, spent, admitted.scans),
        }
        headers = dict(rate_limit_headers(spent, budget)) if spent is not None else {}
        if "readFrom" in record:
            headers[READ_FROM_HEADER] = record["readFrom"]
        if "consistencyToken" in record:
            # read-your-writes: a read that sends it back is answered by a replica only once it has replayed this far
            extensions["consistencyToken"] = headers[TOKEN_HEADER] = record["consistencyToken"]
        if compiled is not None:
            record["path"] = "compiled"
            kind, data = compiled
            if kind == "timeout":
                record["outcome"] = "timeout"
                return JSON(
                    {"errors": [statement_timeout_error(request_id)], "data": None, "extensions": extensions},
                    headers=headers,
                    media_type=media_type,
                )
            # the data as PostgreSQL wrote it, not parsed again
            extensions["compiled"] = True
            return Response(
                b'{"data":' + data.encode() + b',"extensions":' + orjson.dumps(extensions) + b"}",
                media_type=media_type,
                headers=headers,
            )
        assert result is not None
        payload: dict[str, Any] = {}
        status = 200
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
            record["outcome"] = "error"
        # the spec's rule: "data" is there (maybe null) once execution started, absent when the request was invalid
        # (a variable that does not coerce), which is a request error: 400
        executed = result.data is not None or not result.errors or any(e.path for e in result.errors)
        if executed:
            payload["data"] = result.data
        else:
            status = 400
        payload["extensions"] = extensions
        return JSON(payload, status_code=status, headers=headers, media_type=media_type)

    async def _compiled(
        self,
        session: Session,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        query: str,
        variables: dict[str, Any] | None,
        principal: Principal,
    ) -> tuple[str, str] | None:
        """A query answered by one SQL statement (schema/compiler/), in the request's snapshot: ("data", the data
        as JSON text); None when the operation needs the resolvers."""
        if not self.settings.sql_compiler:
            return None  # (the operation is admitted, so valid: hub.pipeline.admit)

        async def columns_of(entity: Any) -> frozenset[str]:
            known = COMPILER.columns.get(entity.kind)
            if known is None:
                p = Params()
                # the unnamed statement (name=""), which lives until the next one on this connection: a named one
                # would outlive the transaction, and through a pooler in transaction mode (HUB_DATABASE_POOLER)
                # stay on a server connection that other clients' transactions then get
                statement = await session.con.prepare(
                    f"select {entity.select_list(principal, p)} from {entity.source(principal, p)} limit 0", name=""
                )
                known = COMPILER.columns[entity.kind] = frozenset(a.name for a in statement.get_attributes())
            return known

        compiled = await COMPILER.compile(document, operation, query, variables, principal, columns_of)
        if compiled is None:
            return None
        if not compiled.refusable:
            data = await session.fetchval(compiled.sql, *compiled.bind(principal))
            return ("data", str(data))
        try:
            # a savepoint: the request's snapshot stays usable for the resolvers
            async with session.con.transaction():
                data = await session.fetchval(compiled.sql, *compiled.bind(principal))
        except asyncpg.PostgresError as error:
            if error.sqlstate != TOO_MANY_GROUPS_SQLSTATE:
                raise
            return None  # too many groups: the resolvers answer, and refuse it with TOO_MANY_GROUPS
        return ("data", str(data))


COMPILER = Compiler(schema)
# raised by hub_too_many_groups (sql/026_aggregates.sql) in a compiled statement
TOO_MANY_GROUPS_SQLSTATE = "HG001"


def _json_parameter(request: Request, name: str) -> Any:
    """A JSON-encoded query parameter of a GET (variables, extensions), or None when it is not there."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Refused(400, f"{name} is not valid JSON", "BAD_REQUEST") from None


def stale_statement(result: ExecutionResult | None) -> bool:
    """Did a statement of this result fail because the statement asyncpg kept prepared no longer fits its table
    (InvalidCachedStatementError: a column was added under it)?"""
    for error in (result.errors or []) if result is not None else []:
        cause: BaseException | None = error.original_error
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, asyncpg.InvalidCachedStatementError):
                return True
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
    return False


class ClosableWebSocket(ASGIWebSocketAdapter):
    """strawberry's WebSocket adapter, for a socket the hub may already have closed with a code of its own."""

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            # a close frame's reason holds at most 123 bytes (RFC 6455): a longer one fails the close itself
            await super().close(code, reason.encode()[:123].decode(errors="ignore"))


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """strawberry's graphql-transport-ws handler, with the pipeline's `read` before an operation starts: a subscribe
    message of the wrong shape closes the socket with 4400 (the protocol's "invalid message"; strawberry failed on
    some with a TypeError and dropped the socket), and a document that does not parse or names no single operation
    to run gets an `error` message in the envelope (strawberry closed the socket, or ran the first operation)."""

    async def handle_subscribe(self, message: Any) -> None:
        payload = message.get("payload")
        if (
            not isinstance(message.get("id"), str)
            or not isinstance(payload, dict)
            or not isinstance(payload.get("query"), str)
            or not isinstance(payload.get("variables"), dict | None)
            or not isinstance(payload.get("operationName"), str | None)
            or not isinstance(payload.get("extensions"), dict | None)
        ):
            await self.handle_invalid_message("subscribe needs a string id and a payload with a string query")
            return
        if self.connection_acknowledged and message["id"] not in self.operations:
            try:
                read(payload["query"], payload.get("operationName"), self.context.settings)
            except Refused as refused:
                errors = refused.body(uuid.uuid4().hex)["errors"]
                await self.send_message({"id": message["id"], "type": "error", "payload": errors})
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """strawberry's operation task, which also lets a live subscription send an event its group's payload was
        encoded for once (hub/events.py, Executed.payload_json) with only its id around it, past strawberry's
        handling of each result: the same frame, without formatting and encoding the same data once per subscriber
        (docs/live.md, "How it scales")."""
        head = '{"id":' + orjson.dumps(operation.id).decode() + ',"type":"next","payload":'
        websocket = cast(ClosableWebSocket, self.websocket).ws

        async def send_encoded(payload: str) -> None:
            if operation.completed:
                return
            try:
                await websocket.send_text(head + payload + "}")
                LIVE_COUNTS["sent_encoded"] += 1
            except WebSocketDisconnect as error:
                raise WebSocketDisconnected from error

        # set in this task's context: the subscription's generator runs in it
        LIVE_SENDER.set(send_encoded)
        await super().run_operation(operation)


class GraphQLWebSocket(GraphQL[Context, None]):
    """Subscriptions (and any operation) over WebSocket with graphql-transport-ws; the token travels in the
    connection_init payload as {"authorization": "Bearer ..."}. A missing or bad token closes with 4403; a database
    out of reach, with 1013 (try again later)."""

    websocket_adapter_class = ClosableWebSocket
    graphql_transport_ws_handler_class = TransportWSHandler

    def decode_json(self, data: str | bytes) -> object:
        # orjson refuses JSON nested deeper than 1,024 levels with a JSONDecodeError (the socket is closed 4400)
        # where the standard library's decoder ran out of stack and dropped the socket
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        # every frame of every subscriber goes through here: orjson, a text frame as the protocol wants
        return orjson.dumps(data, default=str).decode()

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
        # requests run as the role row-level security holds; the hub's own pool serves the gauges (as the tables'
        # owner) and the event fan-out, which sets the request role and each subscriber's principal itself
        # (docs/design.md, "Events and subscriptions")
        # Where each connects (docs/operators.md, "Beyond one machine"): requests log in with their own role when
        # HUB_REQUEST_DATABASE_URL is set; what is session-scoped (LISTEN, the scheduler's and the webhooks' locks)
        # goes straight to the primary; behind a transaction pooler no pool keeps prepared statements
        urls = DatabaseUrls.from_settings(settings, database_url)
        app.state.database_urls = urls
        app.state.pool = await create_pool(
            urls.request,
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            connect_timeout=settings.database_connect_timeout_seconds,
            set_role=urls.set_role,
            pooled=urls.pooled,
        )
        app.state.system_pool = await create_pool(
            urls.owner,
            min_size=1,
            # the gauges, the listener's catch-up and the fan-out, which executes a few sights at once
            max_size=6,
            connect_timeout=settings.database_connect_timeout_seconds,
            app_role=False,
            pooled=urls.pooled,
        )
        # reads (queries, TAXII's objects) on a streaming replica when one is set (hub/replicas.py), as the request
        # role (logged in as it, or as the owner with `set role` like the request pool); all else on the pools above
        replica_url = urls.replica

        async def open_replica() -> asyncpg.Pool:
            assert replica_url is not None
            return await create_pool(
                replica_url,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                connect_timeout=settings.database_connect_timeout_seconds,
                set_role=urls.set_role,
                pooled=urls.pooled,
            )

        app.state.reads = ReadRouter(
            app.state.pool,
            open_replica if replica_url else None,
            max_lag_seconds=settings.replica_max_lag_seconds,
            consistency_wait_seconds=settings.consistency_wait_seconds,
        )
        await app.state.reads.start()
        app.state.events = EventHub(
            urls.direct,
            app.state.system_pool,
            poll_seconds=settings.events_poll_seconds,
            queue_limit=settings.ws_queue_limit,
            max_per_principal=settings.ws_max_subscriptions_per_principal,
        )
        await app.state.events.start()
        RUNNING_HUBS.add(app.state.events)
        app.state.scheduler = Scheduler(
            urls.direct,
            interval=settings.scheduler_interval_seconds,
            clock=clock_from_offset(timedelta(seconds=settings.clock_offset_seconds)),
        )
        if settings.scheduler_enabled:
            app.state.scheduler.start()
        # the webhook delivery worker (hub/webhooks/worker.py): one per process, one per endpoint across them
        app.state.webhooks = (
            WebhookWorker(urls.owner, settings, lock_url=urls.direct, pooled=urls.pooled)
            if settings.webhooks_enabled
            else None
        )
        if app.state.webhooks is not None:
            await app.state.webhooks.start()
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
            if app.state.webhooks is not None:
                await app.state.webhooks.stop()
            RUNNING_HUBS.discard(app.state.events)
            await app.state.events.stop()
            await app.state.reads.stop()
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
        body: dict[str, Any] = {"status": "ready", "subscriptions": len(events.subscribers)}
        reads: ReadRouter = request.app.state.reads
        if reads.has_replica:
            # said, never a reason to be unready: the primary answers reads while the replica is skipped
            body["replica"] = reads.usable() or "up"
        return JSONResponse(body)

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
            request_id = request_id_from(request.headers.get("x-request-id"))
            return error_response(
                404,
                f"no vetted operation named {name!r}",
                "NOT_FOUND",
                {"X-Request-Id": request_id},
                request_id=request_id,
            )
        return Response(path.read_text(), media_type="application/graphql; charset=utf-8")

    taxii = TaxiiEndpoint(settings)
    return Starlette(
        routes=[
            Route("/", board_page),
            Mount("/board", app=BoardFiles(directory=board), name="board"),
            Route("/operations/{name}.graphql", vetted_operation),
            Route("/metrics", metrics_endpoint),
            Route("/graphql", GraphQLEndpoint(settings)),  # every method: others get 405 in the envelope
            *graphiql.routes(settings.production),
            WebSocketRoute("/graphql", GraphQLWebSocket(settings)),
            # TAXII 2.1 (hub/taxii.py): every method and path under /taxii2, answered in TAXII's own format
            Route("/taxii2", taxii),
            Route("/taxii2/{path:path}", taxii),
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
