"""TAXII 2.1 over the STIX feed of hub/stix/feed.py: the hub's findings, measures, engagements and the identities
they name, to any TAXII 2.1 client (OpenCTI's TAXII 2.1 feed connector, taxii2-client), with the hub's own tokens
(docs/sharing.md).

Routes (all under /taxii2/, with or without the trailing slash):
    GET  /taxii2/                                             discovery
    GET  /taxii2/api/                                         the one API root
    GET  /taxii2/api/status/{id}/                             404: the hub takes no objects, so it has no status
    GET  /taxii2/api/collections/                             the collections (one per kind, hub.stix.feed)
    GET  /taxii2/api/collections/{id}/                        one collection
    GET  /taxii2/api/collections/{id}/objects/                an envelope of objects (paged)
    GET  /taxii2/api/collections/{id}/objects/{object_id}/    one object (its versions by match[version])
    GET  /taxii2/api/collections/{id}/objects/{object_id}/versions/
    GET  /taxii2/api/collections/{id}/manifest/
    POST .../objects/ and DELETE .../objects/{object_id}/     403: the collections are read-only (can_write false)

Every answer is `application/taxii+json;version=2.1`; every error is the TAXII error message (title, description,
error_id = the request id, error_code, http_status, details), never a trace. What a principal gets is what the feed
reads with that principal bound: the visibility rule of hub/access.py, applied in SQL, with row-level security
under it; every read of a request runs in one repeatable-read snapshot.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import orjson
from starlette.requests import Request
from starlette.responses import Response

from hub import metrics
from hub.auth import Principal, authenticate, bearer_token
from hub.db import DatabaseUnavailable, connection_lost, database_unavailable
from hub.demand import rate_limit_headers
from hub.errors import request_id_from
from hub.ratelimit import spend
from hub.replicas import READ_FROM_HEADER, TOKEN_HEADER, BadToken, ReadRouter, parse_token, token_beyond_primary
from hub.settings import Settings
from hub.stix.feed import COLLECTIONS, Collection, Entry, read_collection, read_object_versions
from hub.store.base import Session

log = logging.getLogger("hub.taxii")
T = TypeVar("T")
request_log = logging.getLogger("hub.request")

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"
PREFIX = "/taxii2"
API_ROOT = "api"
# a page holds `limit` objects: 100 unless the client asks, never more than MAX_LIMIT (TAXII 2.1 lets a server cap
# what a client asks for: a larger limit is served MAX_LIMIT objects and `more`/`next` say what is left)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# what a request is charged in the principal's rate-limit budget (hub/ratelimit.py), in the points of GraphQL's cost
# (hub/cost.py: a field counts 1, a list multiplies by its length): an object of about ten properties counts 10
POINTS_PER_OBJECT = 10
# how many values a match[...] filter may list, and how long a `next` cursor may be
MAX_MATCH_VALUES = 1000
MAX_CURSOR_LENGTH = 1000

# STIX 2.1: a type is 3-250 characters of a-z, 0-9 and '-'; an id is `type--UUID`
TYPE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")
ID_PATTERN = re.compile(
    r"(?P<type>[a-z0-9][a-z0-9-]{1,248}[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
# an RFC 3339 timestamp in UTC, as STIX and TAXII write them (the fraction optional, any number of digits)
TIMESTAMP_PATTERN = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z")
# the error codes of answers refused before anything is read
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
    504: "Timeout",
}


class TaxiiError(Exception):
    """An answer in the TAXII error format: a status, a code, what went wrong, and the parameter it concerns."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        parameter: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        details: dict[str, Any] = {"request_id": request_id}
        if self.parameter is not None:
            details["parameter"] = self.parameter
        return {
            "title": TITLES.get(self.status, "Error"),
            "description": self.description,
            "error_id": request_id,
            "error_code": self.code,
            "http_status": str(self.status),
            "details": details,
            # the hub's error envelope, as every other answer of the hub carries it (docs/frontends.md, "Errors"): a
            # custom property of the error message, which TAXII clients pass over
            "errors": [{"message": self.description, "extensions": {"code": self.code, "requestId": request_id}}],
        }


def bad(parameter: str, message: str) -> TaxiiError:
    """400 for a request parameter (or path part) the client can fix; the description starts with its name."""
    return TaxiiError(400, "BAD_PARAMETER", f"{parameter}: {message}", parameter=parameter)


def taxii_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=TAXII_MEDIA)


def stamp(at: datetime) -> str:
    """A timestamp as STIX and TAXII write it: UTC, microseconds, `Z` (microseconds: a client that sends back
    X-TAXII-Date-Added-Last as added_after misses nothing and gets nothing twice)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(parameter: str, text: str) -> datetime:
    match = TIMESTAMP_PATTERN.fullmatch(text.strip())
    if match is None:
        raise bad(parameter, f"{text[:80]!r} is not a timestamp such as 2025-01-31T12:00:00.000Z (UTC, with Z)")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError as error:
        raise bad(parameter, f"{text[:80]!r} is not a valid date and time ({error})") from None


# ------------------------------------------------------------------------------------------------ media types


def accepts_taxii(accept: str | None) -> bool:
    """Whether an Accept header admits `application/taxii+json;version=2.1`: that media type, or
    application/taxii+json without a version (the newest, 2.1), application/* or */*; a missing header admits it
    too. A version other than 2.1, or q=0, does not."""
    if accept is None or not accept.strip():
        return True
    for part in accept.split(","):
        media, *parameters = part.split(";")
        media = media.strip().lower()
        version, q = None, 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "version":
                version = value
            elif name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media == "application/taxii+json" and version in (None, "2.1"):
            return True
        if media in ("*/*", "application/*") and version is None:
            return True
    return False


def is_taxii_body(content_type: str | None) -> bool:
    media, *parameters = (content_type or "").split(";")
    versions = [p.partition("=")[2].strip().strip('"') for p in parameters if p.partition("=")[0].strip() == "version"]
    return media.strip().lower() == "application/taxii+json" and versions in ([], ["2.1"])


# ------------------------------------------------------------------------------------------------ parameters


class Query:
    """The filters and paging of an objects, manifest, object or versions request, read and checked."""

    def __init__(self, request: Request, *, versions: bool = True) -> None:
        params = request.query_params
        for name in set(params.keys()):
            if len(params.getlist(name)) > 1:
                raise bad(name, "given more than once; give one value (a match[...] filter takes a comma list)")
        self.added_after = parse_timestamp("added_after", params["added_after"]) if "added_after" in params else None
        self.limit = read_limit(params.get("limit"))
        self.next = params.get("next")
        if self.next is not None and (not self.next or len(self.next) > MAX_CURSOR_LENGTH):
            raise bad("next", "not a cursor this server gave (use the `next` of the previous envelope as it is)")
        self.types = match_values(params.get("match[type]"), "match[type]", TYPE_PATTERN, "a STIX type")
        self.ids = match_values(params.get("match[id]"), "match[id]", ID_PATTERN, "a STIX id (type--UUID)")
        self.versions = read_versions(params.get("match[version]")) if versions else ("last",)
        spec_versions = match_values(
            params.get("match[spec_version]"), "match[spec_version]", re.compile(r"\d+\.\d+"), "a STIX version"
        )
        # the hub serves STIX 2.1 only: asking for others alone selects nothing
        self.nothing = spec_versions is not None and "2.1" not in spec_versions

    @property
    def latest_only(self) -> bool:
        return self.versions == ("last",)


def read_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        raise bad("limit", f"{text[:40]!r} is not a positive whole number (the most objects a page holds)")
    digits = text.lstrip("0") or "0"
    if len(digits) > 9:  # more than the server's maximum, however many digits (no huge int is made)
        return MAX_LIMIT
    limit = int(digits)
    if limit < 1:
        raise bad("limit", "must be 1 or more")
    return min(limit, MAX_LIMIT)


def match_values(text: str | None, parameter: str, pattern: re.Pattern[str], what: str) -> set[str] | None:
    """The values of a match[...] filter (a comma list), each checked; None when the filter is not given."""
    if text is None:
        return None
    values = [v.strip() for v in text.split(",")]
    if len(values) > MAX_MATCH_VALUES:
        raise bad(parameter, f"lists {len(values)} values; at most {MAX_MATCH_VALUES}")
    for value in values:
        if not pattern.fullmatch(value):
            raise bad(parameter, f"{value[:80]!r} is not {what}")
    return set(values)


def read_versions(text: str | None) -> tuple[str, ...]:
    """match[version]: `last` (the default), `first`, `all` or timestamps (each the `modified` of a version)."""
    if text is None:
        return ("last",)
    chosen = []
    for value in (v.strip() for v in text.split(",")):
        if value in ("last", "first", "all"):
            chosen.append(value)
        else:
            parse_timestamp("match[version]", value)
            chosen.append(value)
        if len(chosen) > MAX_MATCH_VALUES:
            raise bad("match[version]", f"lists more than {MAX_MATCH_VALUES} values")
    return tuple(chosen)


def version_time(version: str) -> datetime | None:
    match = TIMESTAMP_PATTERN.fullmatch(version)
    if match is None:
        return None
    return parse_timestamp("version", version)


def select_versions(entries: Sequence[Entry], versions: Sequence[str]) -> list[Entry]:
    """The entries of one object's versions (oldest first) that match[version] selects."""
    if not entries or "all" in versions:
        return list(entries)
    ordered = sorted(entries, key=lambda e: (version_time(e.version) or e.date_added, e.date_added))
    chosen: list[Entry] = []
    wanted_times = {parse_timestamp("match[version]", v) for v in versions if v not in ("first", "last")}
    for entry in ordered:
        at = version_time(entry.version)
        if (
            ("first" in versions and entry.version == ordered[0].version)
            or ("last" in versions and entry.version == ordered[-1].version)
            or (at is not None and at in wanted_times)
        ):
            chosen.append(entry)
    return chosen


def select_versions_of_page(entries: Sequence[Entry], versions: Sequence[str]) -> list[Entry]:
    """The entries of a page of current versions that match[version] selects: `first` and `last` select every one (an
    object's one version is both), a timestamp the entries whose version it is."""
    if "first" in versions or "last" in versions:
        return list(entries)
    wanted = {parse_timestamp("match[version]", v) for v in versions}
    return [e for e in entries if version_time(e.version) in wanted]


# ------------------------------------------------------------------------------------------------ paging in memory


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    """The offset of a `next` this module made for a list it pages itself (one object's versions)."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != "v1" or not number.isdigit() or len(number) > 9:
        raise bad("next", "not a cursor this server gave (use the `next` of the previous envelope as it is)")
    return int(number)


def window(items: list[Any], query: Query) -> tuple[list[Any], bool, str | None]:
    start = decode_offset(query.next)
    end = start + query.limit
    more = end < len(items)
    return items[start:end], more, encode_offset(end) if more else None


def date_added_headers(entries: Iterable[Entry]) -> dict[str, str]:
    """X-TAXII-Date-Added-First / -Last: the earliest and latest date_added of the objects (or versions) answered."""
    added = [e.date_added for e in entries]
    if not added:
        return {}
    return {"X-TAXII-Date-Added-First": stamp(min(added)), "X-TAXII-Date-Added-Last": stamp(max(added))}


def envelope(entries: Sequence[Entry], more: bool, next_cursor: str | None) -> dict[str, Any]:
    """The TAXII envelope: `more`, `next` when there is more, and the objects (left out when there are none)."""
    body: dict[str, Any] = {"more": more}
    if more and next_cursor:
        body["next"] = next_cursor
    if entries:
        body["objects"] = [e.object for e in entries]
    return body


def manifest(entries: Sequence[Entry], more: bool, next_cursor: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"more": more}
    if more and next_cursor:
        body["next"] = next_cursor
    if entries:
        body["objects"] = [
            {
                "id": e.object["id"],
                "date_added": stamp(e.date_added),
                "version": e.version,
                "media_type": e.media_type,
            }
            for e in entries
        ]
    return body


# ------------------------------------------------------------------------------------------------ the endpoint


class TaxiiEndpoint:
    """Every request under /taxii2/: routed by its path, answered in TAXII's media type and error format."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        request_id = request_id_from(request.headers.get("x-request-id"))
        started = time.perf_counter()
        record: dict[str, Any] = {"requestId": request_id, "principalId": None, "agency": None}
        deadline = asyncio.timeout(self.settings.request_timeout_seconds)
        try:
            async with deadline:
                response = await self.handle(request, record)
        except Exception as failure:  # noqa: BLE001 - every failure is answered in TAXII's error format
            refusal = self.refusal(failure, deadline.expired(), request_id)
            response = taxii_response(refusal.body(request_id), refusal.status, refusal.headers)
        response.headers["X-Request-Id"] = request_id
        if "readFrom" in record:
            response.headers[READ_FROM_HEADER] = record["readFrom"]
        seconds = time.perf_counter() - started
        outcome = "ok" if response.status_code == 200 else f"http_{response.status_code}"
        metrics.REQUESTS.labels(operation="taxii", outcome=outcome).inc()
        request_log.info(
            "request",
            extra={
                **record,
                "operation": "taxii",
                "path": request.url.path,
                "status": response.status_code,
                "outcome": outcome,
                "durationMs": round(seconds * 1000, 2),
            },
        )
        await response(scope, receive, send)

    def refusal(self, failure: Exception, expired: bool, request_id: str) -> TaxiiError:
        """The TAXII error that answers `failure`: its own, a timeout, the database out of reach, or a bug (500,
        logged with its trace; the client gets the request id and no more)."""
        if isinstance(failure, TaxiiError):
            return failure
        if isinstance(failure, TimeoutError) and expired:
            return TaxiiError(
                504,
                "TIMEOUT",
                f"the request took longer than {self.settings.request_timeout_seconds:g} s "
                "(HUB_REQUEST_TIMEOUT_SECONDS); ask for a smaller limit",
            )
        if isinstance(failure, asyncpg.QueryCanceledError):
            return TaxiiError(
                504,
                "TIMEOUT",
                "a database statement took longer than the statement timeout (HUB_STATEMENT_TIMEOUT_MS); "
                "ask for a smaller limit",
            )
        if isinstance(failure, DatabaseUnavailable | TimeoutError) or database_unavailable(failure):
            # (a TimeoutError before the deadline: asyncpg's own connect timeout)
            return TaxiiError(
                503,
                "DATABASE_UNAVAILABLE",
                "the database is unavailable; try again shortly",
                headers={"Retry-After": "1"},
            )
        log.error("request %s: internal error", request_id, exc_info=failure)
        return TaxiiError(500, "INTERNAL", "internal error; the hub's log has the details under this request id")

    async def handle(self, request: Request, record: dict[str, Any]) -> Response:
        path = request.url.path
        rest = path[len(PREFIX) :] if path.startswith(PREFIX) else path
        parts = [p for p in rest.split("/") if p]
        method = request.method
        if method not in ("GET", "HEAD", "POST", "DELETE"):
            raise TaxiiError(405, "METHOD_NOT_ALLOWED", f"{method} is not served here", headers={"Allow": "GET"})
        if not accepts_taxii(request.headers.get("accept")):
            raise TaxiiError(
                406,
                "NOT_ACCEPTABLE",
                f"this server answers only {TAXII_MEDIA}; the Accept header "
                f"{request.headers.get('accept', '')[:120]!r} does not admit it",
            )
        try:
            record["token"] = parse_token(request.headers.get(TOKEN_HEADER))
        except BadToken as error:
            raise TaxiiError(400, "BAD_REQUEST", str(error)) from None
        pool: asyncpg.Pool = request.app.state.pool
        # counted while waiting for a connection, as GraphQL's requests are (the pool gauges of hub/metrics.py)
        request.app.state.pool_waiting += 1
        try:
            con_context = pool.acquire()
            con = await con_context.__aenter__()
        finally:
            request.app.state.pool_waiting -= 1
        record["held"] = True  # the primary's connection is this request's until a read goes to the read router
        try:
            return await self.answer(request, con, parts, method, record)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            if database_unavailable(error) or (record["held"] and connection_lost(con)):
                raise DatabaseUnavailable() from error
            raise
        finally:
            if record.pop("held"):
                await con_context.__aexit__(None, None, None)
            record.pop("token", None)

    async def reading(
        self, request: Request, con: asyncpg.Connection, record: dict[str, Any], work: Callable[[Any], Awaitable[T]]
    ) -> T:
        """Run a read of objects: on the request's primary connection when no replica is set, else where the read
        router sends it (hub/replicas.py), after giving the primary's connection back (the token was checked and
        the rate limit charged on it)."""
        reads: ReadRouter = request.app.state.reads
        if not reads.has_replica:
            record["readFrom"] = "primary"
            return await work(con)
        token = record.get("token")
        ahead = token is not None and await token_beyond_primary(con, token)
        record["held"] = False
        await request.app.state.pool.release(con)
        result, record["readFrom"] = await reads.read(lambda c, target: work(c), token=token, token_ahead=ahead)
        return result

    async def answer(
        self, request: Request, con: asyncpg.Connection, parts: list[str], method: str, record: dict[str, Any]
    ) -> Response:
        principal = await self.authenticate(con, request)
        record.update(principalId=principal.id, agency=principal.agency_code or principal.lab_name)
        # discovery and the API root
        if not parts:
            self.only_get(method)
            await self.charge(con, principal, 1)
            return self.discovery(request)
        if parts[0] != API_ROOT:
            raise TaxiiError(404, "NOT_FOUND", f"no API root at {'/'.join(parts)[:120]!r}: the API root is {API_ROOT}/")
        if len(parts) == 1:
            self.only_get(method)
            await self.charge(con, principal, 1)
            return taxii_response(
                {
                    "title": "frontier-hub",
                    "description": "Findings, DoD measures and infrastructure engagements of the frontier-hub, as "
                    "STIX 2.1, each as the token's principal may see it",
                    "versions": [TAXII_MEDIA],
                    "max_content_length": self.settings.max_body_bytes,
                }
            )
        if parts[1] == "status":
            self.only_get(method)
            raise TaxiiError(
                404,
                "NOT_FOUND",
                "no such status resource: this server accepts no objects over TAXII, so it keeps no status",
            )
        if parts[1] != "collections":
            raise TaxiiError(404, "NOT_FOUND", f"no resource {parts[1][:80]!r} in the API root")
        if len(parts) == 2:
            self.only_get(method)
            await self.charge(con, principal, 1)
            return taxii_response({"collections": [describe(c) for c in COLLECTIONS.values()]})
        collection = COLLECTIONS.get(parts[2])
        if collection is None:
            raise TaxiiError(
                404,
                "NOT_FOUND",
                f"collection id: no collection {parts[2][:80]!r} (GET {PREFIX}/{API_ROOT}/collections/ lists them)",
            )
        if len(parts) == 3:
            self.only_get(method)
            await self.charge(con, principal, 1)
            return taxii_response(describe(collection))
        resource = parts[3]
        if resource == "manifest" and len(parts) == 4:
            self.only_get(method)
            query = Query(request)
            await self.charge(con, principal, query.limit * POINTS_PER_OBJECT)
            entries, more, cursor = await self.reading(
                request, con, record, lambda c: self.objects(c, principal, collection, query)
            )
            return taxii_response(manifest(entries, more, cursor), headers=date_added_headers(entries))
        if resource != "objects" or len(parts) > 6 or (len(parts) == 6 and parts[5] != "versions"):
            raise TaxiiError(404, "NOT_FOUND", f"no resource {'/'.join(parts[3:])[:120]!r} in a collection")
        if len(parts) == 4:
            if method == "POST":
                if not is_taxii_body(request.headers.get("content-type")):
                    raise TaxiiError(
                        415,
                        "UNSUPPORTED_MEDIA_TYPE",
                        f"Content-Type: objects are sent as {TAXII_MEDIA} (and this server accepts none)",
                    )
                raise read_only()
            self.only_get(method, allow="GET, POST")
            query = Query(request)
            await self.charge(con, principal, query.limit * POINTS_PER_OBJECT)
            entries, more, cursor = await self.reading(
                request, con, record, lambda c: self.objects(c, principal, collection, query)
            )
            return taxii_response(envelope(entries, more, cursor), headers=date_added_headers(entries))
        object_id = parts[4]
        if not ID_PATTERN.fullmatch(object_id):
            raise bad("object_id", f"{object_id[:80]!r} is not a STIX id (type--UUID)")
        if method == "DELETE":
            raise read_only()
        self.only_get(method, allow="GET, DELETE")
        if len(parts) == 6:
            query = Query(request, versions=False)
            await self.charge(con, principal, POINTS_PER_OBJECT)
            versions, more, cursor = await self.reading(
                request, con, record, lambda c: self.versions(c, principal, collection, object_id, query)
            )
            body: dict[str, Any] = {"more": more}
            if more and cursor:
                body["next"] = cursor
            if versions:
                body["versions"] = [e.version for e in versions]
            return taxii_response(body, headers=date_added_headers(versions))
        query = Query(request)
        await self.charge(con, principal, POINTS_PER_OBJECT)
        entries, more, cursor = await self.reading(
            request, con, record, lambda c: self.one_object(c, principal, collection, object_id, query)
        )
        return taxii_response(envelope(entries, more, cursor), headers=date_added_headers(entries))

    # -------------------------------------------------------------------------------------------- the parts

    async def authenticate(self, con: asyncpg.Connection, request: Request) -> Principal:
        """The principal of `Authorization: Bearer <token>` (the hub's tokens; `Token <token>`, as taxii2-client's
        TokenAuth sends it, is read the same); 401 with WWW-Authenticate: Bearer otherwise."""
        header = request.headers.get("authorization")
        principal = await authenticate(con, bearer_token(header, schemes=("bearer", "token")))
        if principal is None:
            raise TaxiiError(
                401,
                "UNAUTHENTICATED",
                "a valid token is required" if header else "no token: send Authorization: Bearer <token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return principal

    async def charge(self, con: asyncpg.Connection, principal: Principal, cost: int) -> None:
        """Spend `cost` points of the principal's rate-limit budget, the one its GraphQL requests spend."""
        budget = self.settings.rate_limit
        if not budget.enabled:
            return
        spent = await spend(con, principal.id, min(cost, budget.limit), budget)
        if not spent.allowed:
            metrics.RATE_LIMITED.labels(limit="rate").inc()
            raise TaxiiError(
                429,
                "RATE_LIMITED",
                f"rate limit: this request costs {spent.cost} points and {spent.remaining} of your {budget.limit} "
                f"points per {budget.window_seconds:g} s are left (HUB_RATE_LIMIT_COST); retry after "
                f"{spent.retry_after} s, or ask for a smaller limit",
                headers={"Retry-After": str(spent.retry_after), **rate_limit_headers(spent, budget)},
            )

    @staticmethod
    def only_get(method: str, allow: str = "GET") -> None:
        if method not in ("GET", "HEAD"):
            raise TaxiiError(405, "METHOD_NOT_ALLOWED", f"{method} is not served here", headers={"Allow": allow})

    def session(self, con: asyncpg.Connection, principal: Principal) -> Session:
        return Session(con, principal, self.settings.statement_timeout_ms)

    def discovery(self, request: Request) -> Response:
        root = str(request.base_url).rstrip("/") + f"{PREFIX}/{API_ROOT}/"
        return taxii_response(
            {
                "title": "frontier-hub TAXII 2.1",
                "description": "The frontier-hub's findings, DoD measures and infrastructure engagements as STIX "
                "2.1 with their TLP 2.0 markings; read with the hub's API tokens (docs/sharing.md)",
                "contact": "the hub's operators",
                "default": root,
                "api_roots": [root],
            }
        )

    async def objects(
        self, con: asyncpg.Connection, principal: Principal, collection: Collection, query: Query
    ) -> tuple[list[Entry], bool, str | None]:
        """A page of the collection's objects for the principal (feed order: date_added, record, position)."""
        if query.nothing:
            return [], False, None
        session = self.session(con, principal)
        async with session.snapshot():
            try:
                page = await read_collection(
                    session,
                    collection,
                    added_after=query.added_after,
                    after=query.next,
                    limit=query.limit,
                    types=query.types,
                    ids=query.ids,
                )
            except ValueError as error:
                raise feed_error(error) from None
            if query.latest_only or "all" in query.versions:
                return page.entries, page.more, page.next
            # the hub keeps one version of an object, its current one (hub/stix/feed.py), so `first` and `last` are
            # that version, and a timestamp selects it when it is that version's
            return select_versions_of_page(page.entries, query.versions), page.more, page.next

    async def one_object(
        self, con: asyncpg.Connection, principal: Principal, collection: Collection, object_id: str, query: Query
    ) -> tuple[list[Entry], bool, str | None]:
        entries = await self.object_versions(con, principal, collection, object_id, query)
        return window(select_versions(entries, query.versions), query)

    async def versions(
        self, con: asyncpg.Connection, principal: Principal, collection: Collection, object_id: str, query: Query
    ) -> tuple[list[Entry], bool, str | None]:
        entries = await self.object_versions(con, principal, collection, object_id, query)
        # one version string once, oldest first (an SCO in several units shares its version)
        distinct: dict[str, Entry] = {}
        for entry in sorted(entries, key=lambda e: (version_time(e.version) or e.date_added, e.date_added)):
            distinct.setdefault(entry.version, entry)
        return window(list(distinct.values()), query)

    async def object_versions(
        self, con: asyncpg.Connection, principal: Principal, collection: Collection, object_id: str, query: Query
    ) -> list[Entry]:
        """Every version the principal may have of one object, filtered by added_after, match[type] and
        match[spec_version]; 404 when the principal has none (whether or not the object exists for others)."""
        decode_offset(query.next)  # a bad cursor is refused before anything is read
        session = self.session(con, principal)
        async with session.snapshot():
            try:
                entries = await read_object_versions(session, collection, object_id)
            except ValueError as error:
                raise feed_error(error) from None
        if not entries:
            raise TaxiiError(404, "NOT_FOUND", f"object_id: no object {object_id!r} in collection {collection.alias!r}")
        if query.nothing:
            return []
        if query.types is not None:
            entries = [e for e in entries if e.object.get("type") in query.types]
        if query.added_after is not None:
            entries = [e for e in entries if e.date_added > query.added_after]
        return sorted(entries, key=lambda e: (version_time(e.version) or e.date_added, e.date_added))


def describe(collection: Collection) -> dict[str, Any]:
    """A collection resource: read-only for everyone (can_write false), STIX 2.1."""
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "can_read": True,
        "can_write": False,
        "media_types": [STIX_MEDIA],
    }


def read_only() -> TaxiiError:
    return TaxiiError(
        403,
        "READ_ONLY",
        "the hub's collections are read-only over TAXII (can_write is false): findings are added and changed "
        "through the GraphQL API's mutations, which check who may do what and record each change "
        "(docs/sharing.md, 'Adding objects')",
    )


def feed_error(error: ValueError) -> TaxiiError:
    """The feed's ValueError ("<parameter>: <message>") as a 400 naming that parameter."""
    message = str(error)
    parameter, sep, rest = message.partition(":")
    if sep and re.fullmatch(r"[a-z_\[\]]{1,40}", parameter.strip()):
        return bad(parameter.strip(), rest.strip())
    return TaxiiError(400, "BAD_PARAMETER", message)
