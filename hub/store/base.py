"""The store's shared machinery: a request session, entity specs, pages with keyset cursors, batched loads.

Every query built here applies the visibility rule of hub.access in SQL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from hub.access import Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, facts_of, facts_sql
from hub.remits import Facts
from hub.summaries import count_source

MAX_PAGE_SIZE = 500


class UserInputError(ValueError):
    """Input a user can fix; becomes a GraphQL error with code BAD_USER_INPUT naming `field`."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Who is asking, for the row-level security policies of sql/003_rls.sql: local to the transaction (`true`), so the
# principal ends with it and never reaches the next user of a pooled connection.
# The statement timeout travels the same way: no request leaves a setting on a pooled connection, so the pool needs
# no reset when it takes one back.
BIND_PRINCIPAL = (
    "select set_config('hub.principal_id', $1, true), set_config('hub.agency_id', $2, true),"
    " set_config('hub.lab_id', $3, true), set_config('hub.role', $4, true), set_config('statement_timeout', $5, true)"
)
DEFAULT_STATEMENT_TIMEOUT_MS = 10_000


async def bind_principal(
    con: asyncpg.Connection, principal: Principal, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
) -> None:
    """Tell the row-level security policies who runs the current transaction, and set its statement timeout."""

    def text(value: int | str | None) -> str:
        return "" if value is None else str(value)

    await con.execute(
        BIND_PRINCIPAL,
        text(principal.id or None),
        text(principal.agency_id),
        text(principal.lab_id),
        principal.role,
        str(int(statement_timeout_ms)),
    )


class SessionClosed(RuntimeError):
    """A statement of a request that has already been answered (a straggling field's): it is not run."""


class Session:
    """One request's connection, shared by its loaders (one statement at a time) and counted.

    Every statement runs in a transaction that carries the principal for row-level security: the request's own
    (a query's snapshot, a mutation's write) or, for a statement on its own, one around just that statement.
    """

    def __init__(
        self, con: asyncpg.Connection, principal: Principal, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    ) -> None:
        self.con = con
        self.principal = principal
        self.statement_timeout_ms = statement_timeout_ms
        self.statements = 0
        self.sql_seconds = 0.0
        self._lock = asyncio.Lock()
        self._bound = False
        self._closed = False

    async def close(self) -> None:
        """End the session: wait for the statement that runs, if any, and refuse every later one. graphql-core can
        return while a sibling field's statement still runs or waits (an error nulled their parent): the request's
        transaction must end after that statement, and nothing may run on the connection once it is back in the
        pool."""
        async with self._lock:
            self._closed = True
            self._bound = False

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosed("the request this statement belonged to has been answered")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """One read-only repeatable-read transaction for all of a query's statements: a page and its totalCount
        agree, and the principal is bound once. The session ends with it."""
        async with self.con.transaction(isolation="repeatable_read", readonly=True):
            await bind_principal(self.con, self.principal, self.statement_timeout_ms)
            self._bound = True
            try:
                yield
            finally:
                await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """The connection, inside one transaction that this request's other statements wait for."""
        async with self._lock, self.con.transaction():
            self._check_open()
            if not self._bound:
                await bind_principal(self.con, self.principal, self.statement_timeout_ms)
            self.statements += 1
            yield self.con

    async def _run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        """`method` (fetch, fetchrow, fetchval) of the connection, inside a transaction bound to the principal."""
        async with self._lock:
            self._check_open()
            self.statements += 1
            started = time.perf_counter()
            try:
                if self._bound:
                    return await getattr(self.con, method)(sql, *args)
                async with self.con.transaction():
                    await bind_principal(self.con, self.principal, self.statement_timeout_ms)
                    return await getattr(self.con, method)(sql, *args)
            finally:
                self.sql_seconds += time.perf_counter() - started

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return list(await self._run("fetch", sql, args))

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._run("fetchrow", sql, args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run("fetchval", sql, args)


class PoolSession(Session):
    """A session for long-lived callers (a WebSocket connection): each statement borrows a pooled connection, and a
    write takes one for its transaction, so that an idle subscription holds no connection."""

    def __init__(
        self, pool: asyncpg.Pool, principal: Principal, statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    ) -> None:
        self.pool = pool
        self.principal = principal
        self.statement_timeout_ms = statement_timeout_ms
        self.statements = 0
        self.sql_seconds = 0.0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as con, con.transaction():
            await bind_principal(con, self.principal, self.statement_timeout_ms)
            self.statements += 1
            yield con

    async def _run(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        self.statements += 1
        async with self.pool.acquire() as con, con.transaction():
            await bind_principal(con, self.principal, self.statement_timeout_ms)
            return await getattr(con, method)(sql, *args)


@dataclass(frozen=True)
class OrderField:
    """An orderable column: a non-null SQL expression on alias `t` and the type its cursor value casts to."""

    expr: str
    sql_type: str


Columns = Callable[[Principal, Params], str]


@dataclass(frozen=True)
class Entity:
    """What the generic reads need to know about the table of one kind (hub/kinds.py)."""

    kind: str
    columns: str | Columns = "t.*"
    orders: dict[str, OrderField] = field(default_factory=dict)
    default_order: str = "CREATED_AT"
    # joins after `from <table> t` that the columns refer to (a lateral per-row rule, say)
    lateral: Columns | None = None

    @property
    def table(self) -> str:
        return KINDS[self.kind].table

    def select_list(self, principal: Principal, p: Params) -> str:
        return self.columns(principal, p) if callable(self.columns) else self.columns

    def source(self, principal: Principal, p: Params) -> str:
        """`<table> t` and its laterals."""
        return f"{self.table} t " + (self.lateral(principal, p) if self.lateral else "")


def standard_orders(name_expr: str) -> dict[str, OrderField]:
    return {
        "NAME": OrderField(name_expr, "text"),
        "CREATED_AT": OrderField("t.created_at", "timestamptz"),
        "UPDATED_AT": OrderField("t.updated_at", "timestamptz"),
    }


# ------------------------------------------------------------------------------------------------ filters


def search_query(text: str) -> str | None:
    """A prefix tsquery for free text: every word must start a word of the name or title."""
    words = re.findall(r"\w+", text.lower())[:12]
    if not words:
        return None
    return " & ".join(f"{w}:*" for w in words)


class Where:
    """Conditions with their parameters, built from a filter input for `principal` (a condition that reads other
    records applies their visibility rule too)."""

    def __init__(self, p: Params, principal: Principal) -> None:
        self.p = p
        self.principal = principal
        self.conditions: list[str] = []

    def add(self, condition: str) -> None:
        self.conditions.append(condition)

    def any_of(self, column: str, values: Sequence[Any] | None, sql_type: str = "text") -> None:
        if values is not None:
            self.add(f"{column} = any({self.p(list(values))}::{sql_type}[])")

    def linked(self, table: str, on: str, column: str, ids: Sequence[int] | None) -> None:
        """Rows linked through `table` (aliased `l`, joined `on`) to one of `ids` in its `column`."""
        if ids is not None:
            self.add(f"exists (select 1 from {table} l where {on} and l.{column} = any({self.p(list(ids))}::bigint[]))")

    def overlaps(self, column: str, values: Sequence[Any] | None, sql_type: str = "text") -> None:
        if values is not None:
            self.add(f"{column} && {self.p(list(values))}::{sql_type}[]")

    def at_least(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} >= {self.p(value)}")

    def before(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} < {self.p(value)}")

    def at_most(self, column: str, value: Any) -> None:
        if value is not None:
            self.add(f"{column} <= {self.p(value)}")

    def search(self, text: str | None, column: str = "t.search") -> None:
        if text is None:
            return
        query = search_query(text)
        if query is None:
            raise UserInputError("search needs at least one letter or digit", field="filter.search")
        self.add(f"{column} @@ to_tsquery('simple', {self.p(query)})")

    def sql(self) -> str:
        return " and ".join(self.conditions) if self.conditions else "true"


# ------------------------------------------------------------------------------------------------ pages


@dataclass
class Page:
    rows: list[dict[str, Any]]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Any]


def encode_cursor(order: str, value: Any, row_id: int) -> str:
    raw = orjson.dumps([order, None if value is None else str(value), row_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple[str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        got_order, value, row_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(row_id, int) or not isinstance(value, str) or not isinstance(got_order, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise UserInputError("after is not a cursor this hub issued", field="after") from None
    if got_order != order:
        raise UserInputError(
            f"after is a cursor of the ordering {got_order}, not of {order}: page again from the start",
            field="after",
        )
    return value, row_id


def check_first(first: int, *, argument: str = "first") -> None:
    if first < 0:
        raise UserInputError(f"{argument} must be 0 or more, not {first}", field=argument)
    if first > MAX_PAGE_SIZE:
        raise UserInputError(f"{argument} must be at most {MAX_PAGE_SIZE}, not {first}", field=argument)


@dataclass(frozen=True)
class PageSql:
    """The statements of one page: `sql` selects the rows (one more than `first`, to tell whether there is a next
    page) with their `_order_value` and position `_n`; `count_sql` counts all rows that match; `rows_sql` selects
    all rows that match (the store's select list, the visibility rule applied, no order or limit), which the
    aggregates group and count. All use the parameters of the Params they were built with."""

    sql: str
    count_sql: str
    rows_sql: str
    order: str
    order_field: OrderField
    first: int
    after: str | None


def page_sql(
    principal: Principal,
    p: Params,
    entity: Entity,
    *,
    build_where: Callable[[Where], None] | None = None,
    order: str | None = None,
    descending: bool = False,
    first: int = 50,
    after: str | None = None,
) -> PageSql:
    """A page of `entity` visible to `principal`, in keyset order (shared by the resolvers and schema/compiler/)."""
    check_first(first)
    order = order or entity.default_order
    order_field = entity.orders[order]
    where = Where(p, principal)
    if build_where is not None:
        build_where(where)
    condition = f"{visible(entity.kind, 't', principal, p)} and {where.sql()}"
    select = entity.select_list(principal, p)
    source = entity.source(principal, p)
    direction, compare = ("desc", "<") if descending else ("asc", ">")
    cursor_condition = ""
    if after is not None:
        value, row_id = decode_cursor(after, order)
        cursor_condition = (
            f" and ({order_field.expr}, t.id) {compare} ({p(value)}::text::{order_field.sql_type}, {p(row_id)}::bigint)"
        )
    ordering = f"{order_field.expr} {direction}, t.id {direction}"
    sql = (
        f"select {select}, {order_field.expr} as _order_value, row_number() over (order by {ordering}) as _n"
        f" from {source} where {condition}{cursor_condition} order by {ordering} limit {first + 1}"
    )
    count_sql = count_statement(principal, entity.kind, entity.table, condition, where.sql())
    rows_sql = f"select {select} from {source} where {condition}"
    return PageSql(
        sql=sql,
        count_sql=count_sql,
        rows_sql=rows_sql,
        order=order,
        order_field=order_field,
        first=first,
        after=after,
    )


def count_statement(principal: Principal, kind: str, table: str, condition: str, filter_sql: str) -> str:
    """How many rows of `table` (aliased `t`) `condition` keeps (the visibility rule and the filter `filter_sql`): from
    a summary table of the kind when the filter reads only its dimensions (hub/summaries.py; the summary's key holds
    every column the rule reads, so the same condition applies to its rows), else from the table."""
    summary = count_source(kind, principal, condition, filter_sql)
    if summary is not None:
        return f"select coalesce(sum(t.n), 0)::bigint from {summary} t where {condition}"
    return f"select count(*) from {table} t where {condition}"


async def page(
    db: Session,
    entity: Entity,
    *,
    build_where: Callable[[Where], None] | None = None,
    order: str | None = None,
    descending: bool = False,
    first: int = 50,
    after: str | None = None,
) -> Page:
    """One page of `entity` visible to the session's principal, in keyset order, with a lazy total count."""
    p = Params()
    built = page_sql(
        db.principal, p, entity, build_where=build_where, order=order, descending=descending, first=first, after=after
    )
    records = await db.fetch(built.sql, *p.values)
    rows = [dict(r) for r in records[:first]]
    cursors = []
    for row in rows:
        row.pop("_n")
        cursors.append(encode_cursor(built.order, row.pop("_order_value"), row["id"]))

    async def count() -> int:
        # the count statement shares the page's parameters (those after its own are unused by it: pass the prefix)
        return int(await db.fetchval(built.count_sql, *p.values[: count_params(built.count_sql)]))

    return Page(
        rows=rows,
        cursors=cursors,
        has_next_page=len(records) > first,
        has_previous_page=after is not None,
        count=count,
    )


def count_params(sql: str) -> int:
    """How many leading `$n` parameters `sql` uses."""
    used = [int(n) for n in re.findall(r"\$(\d+)", sql)]
    return max(used, default=0)


# ------------------------------------------------------------------------------------------------ batches


async def get_many(db: Session, entity: Entity, ids: Sequence[int]) -> list[dict[str, Any] | None]:
    """Rows of `entity` by id, aligned to `ids`; None where missing or invisible."""
    p = Params()
    select = entity.select_list(db.principal, p)
    source = entity.source(db.principal, p)
    ids_param = p(list(ids))
    rule = visible(entity.kind, "t", db.principal, p)
    records = await db.fetch(
        f"select {select} from {source} where t.id = any({ids_param}::bigint[]) and {rule}", *p.values
    )
    by_id = {r["id"]: dict(r) for r in records}
    return [by_id.get(i) for i in ids]


async def facts_by_record(db: Session, keys: Sequence[tuple[str, int]]) -> list[Facts | None]:
    """What the remits ask about each (kind, id) the principal may see (hub/kinds.py, facts_sql), aligned to `keys`;
    None where missing or invisible. One statement per kind."""
    by_kind: dict[str, list[int]] = {}
    for kind, pk in keys:
        by_kind.setdefault(kind, []).append(pk)
    found: dict[tuple[str, int], Facts] = {}
    for kind, ids in by_kind.items():
        p = Params()
        condition = f"t.id = any({p(ids)}::bigint[]) and {visible(kind, 't', db.principal, p)}"
        for row in await db.fetch(facts_sql(kind, condition), *p.values):
            found[(kind, row["id"])] = facts_of(row)
    return [found.get(key) for key in keys]


@dataclass(frozen=True)
class Relation:
    """A one-to-many or many-to-many relation: rows of `entity` grouped by the parent id `parent` yields."""

    entity: Entity
    parent: str
    join: str = ""
    order: str = "t.id"


def through(entity: Entity, link: str, own: str, parent: str, *, order: str) -> Relation:
    """A many-to-many relation: the rows of `entity` linked to their parents by the table `link`, whose column `own`
    holds the row's id and `parent` the parent's."""
    return Relation(entity, parent=f"j.{parent}", join=f"join {link} j on j.{own} = t.id", order=order)


async def load_related(
    db: Session, relation: Relation, parent_ids: Sequence[int], *, limit: int
) -> list[list[dict[str, Any]]]:
    """For each parent id, its visible related rows (at most `limit` each), aligned to `parent_ids`."""
    check_first(limit)
    entity = relation.entity
    p = Params()
    select = entity.select_list(db.principal, p)
    source = entity.source(db.principal, p)
    ids_param = p(list(parent_ids))
    rule = visible(entity.kind, "t", db.principal, p)
    sql = (
        f"select * from (select {select}, {relation.parent} as _parent,"
        f" row_number() over (partition by {relation.parent} order by {relation.order}, t.id) as _rn"
        f" from {source} {relation.join}"
        f" where {relation.parent} = any({ids_param}::bigint[]) and {rule}) x"
        f" where _rn <= {p(limit)} order by _parent, _rn"
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for record in await db.fetch(sql, *p.values):
        row = dict(record)
        parent = row.pop("_parent")
        row.pop("_rn")
        grouped.setdefault(parent, []).append(row)
    return [grouped.get(i, []) for i in parent_ids]


async def rows_of_visible_parents(
    db: Session, parent_ids: Sequence[int], kind: str, select: str, parent: str, *, then: str
) -> list[list[dict[str, Any]]]:
    """The rows that `select` reads (its parent table aliased `t`, linked by the column `parent`) for each of
    `parent_ids`, ordered by parent `then` by what `then` says, for the parents of `kind` that the principal may see:
    a list per parent id, aligned to `parent_ids` (a loader's batch)."""
    p = Params()
    rule = visible(kind, "t", db.principal, p)
    rows = await db.fetch(
        f"{select} where {parent} = any({p(list(parent_ids))}::bigint[]) and {rule} order by {parent}, {then}",
        *p.values,
    )
    column = parent.split(".")[-1]
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r[column], []).append(dict(r))
    return [grouped.get(i, []) for i in parent_ids]
