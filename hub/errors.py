"""One error policy for every answer, over HTTP and over WebSocket (docs/frontends.md, "Errors").

Every error a client gets has a `message`, an `extensions.code` and the `extensions.requestId` under which the hub's
log holds the request. Errors the hub means (HubError, the limits, validation) pass as they are, with a default code
where graphql-core gave none; a statement PostgreSQL cancelled is TIMEOUT; anything else is a bug or a fault: it is
logged with its trace and reaches the client as INTERNAL, with no message of its own, no stack and no SQL.

The masking is a strawberry schema extension, so the HTTP endpoint and the WebSocket handler (whose operations
strawberry runs itself) apply the same policy; HTTP answers refused before execution (hub/app.py) build the same
envelope with `error_body`.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from hub.db import database_unavailable

log = logging.getLogger("hub.errors")

INTERNAL_MESSAGE = "internal error; the hub's log has the details under this request id"
TIMEOUT_MESSAGE = "a database statement took longer than the statement timeout (HUB_STATEMENT_TIMEOUT_MS)"
SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
# a request id a client sends is kept when it looks like one (it ends up in logs and headers), else a new one is made
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from(header: str | None) -> str:
    """The request's id: the client's X-Request-Id when it is a plain token of at most 128 characters, else new."""
    if header and REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def error_body(
    message: str, code: str, request_id: str, *, extra: dict[str, Any] | None = None, locations: Any = None
) -> dict[str, Any]:
    """The envelope of an answer refused before execution: `{"errors": [...]}` with one error."""
    error: dict[str, Any] = {"message": message}
    if locations:
        error["locations"] = locations
    error["extensions"] = {"code": code, "requestId": request_id, **(extra or {})}
    return {"errors": [error]}


class Refused(Exception):
    """A request the hub answers before executing it: a status, and errors in the envelope (each with its code)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        outcome: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers
        self.extra = extra
        self.outcome = outcome
        # several errors at once (validation); each already has its message, locations and code
        self.errors = errors

    def body(self, request_id: str) -> dict[str, Any]:
        if self.errors is None:
            return error_body(self.message, self.code, request_id, extra=self.extra)
        return {"errors": [{**e, "extensions": {**e["extensions"], "requestId": request_id}} for e in self.errors]}


def hides_suggestions(principal: Any, settings: Any) -> bool:
    """Field suggestions ("Did you mean ...?") map the schema for whoever guesses: off in production but for admins."""
    return bool(getattr(settings, "production", False)) and getattr(principal, "role", None) != "ADMIN"


def is_expected(error: GraphQLError) -> bool:
    """Whether the client may read this error as it is: raised by the hub or graphql-core on purpose."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError)


def shaped(error: GraphQLError, request_id: str, *, hide_suggestions: bool = False) -> GraphQLError:
    """`error` as a client gets it: an expected error with its code and the request id, a statement timeout as
    TIMEOUT, anything else INTERNAL (and logged with its trace). The original error is kept on the result (never
    printed), so that the HTTP layer can still tell a lost database from a bug."""
    original = error.original_error
    if isinstance(original, asyncpg.QueryCanceledError):
        code, message = "TIMEOUT", TIMEOUT_MESSAGE
    elif database_unavailable(original):
        # a fault, not a bug: HTTP answers 503 for it; a subscription's client resubscribes
        log.warning("request %s: the database is unavailable (%s)", request_id, type(original).__name__)
        code, message = "DATABASE_UNAVAILABLE", "the database is unavailable; try again shortly"
    elif not is_expected(error):
        log.error("request %s: internal error at %s", request_id, error.path, exc_info=original)
        code, message = "INTERNAL", INTERNAL_MESSAGE
    else:
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED" if error.path is None else "BAD_USER_INPUT")
        extensions["requestId"] = request_id
        return GraphQLError(
            SUGGESTION.sub("", error.message) if hide_suggestions else error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions=extensions,
        )
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions={"code": code, "requestId": request_id},
    )


class ErrorPolicy(SchemaExtension):
    """Applies `shaped` to every result an operation produces: the one result of a query or mutation, and each
    result a subscription streams. The request id is the HTTP request's (on the context), or one per operation
    over WebSocket."""

    def __init__(self, *, execution_context: Any = None) -> None:
        self.request_id: str | None = None
        self.streamed = False

    def _request_id(self) -> str:
        if self.request_id is None:
            context = self.execution_context.context
            self.request_id = getattr(context, "request_id", None) or uuid.uuid4().hex
        return self.request_id

    def _apply(self, result: Any) -> None:
        errors = getattr(result, "errors", None)
        if errors:
            request_id = self._request_id()
            context = self.execution_context.context
            hide = hides_suggestions(getattr(context, "principal", None), getattr(context, "settings", None))
            result.errors = [shaped(e, request_id, hide_suggestions=hide) for e in errors]

    def on_operation(self) -> Iterator[None]:
        self.streamed = False
        yield
        if not self.streamed:
            self._apply(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self.streamed = True
        self._apply(result)
        yield None
