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
# no reset when it takes one back. And JIT compilation is off for the transaction, as for every session of the hub
# (hub/db.py, NO_JIT), also behind a transaction pooler, where sessions cannot be given settings: the
# policies' estimated cost would make a JIT-enabled server compile each read for seconds.
BIND_PRINCIPAL = (
    "select set_config('hub.principal_id', $1, true), set_config('hub.agency_id', $2, true),"
    " set_config('hub.lab_id', $3, true), set_config('hub.role', $4, true), set_config('statement_timeout', $5, true),"
    " set_config('jit', 'off', true)"
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


def decode_cursor(cursor: str, order: str, *, argument: str = "after") -> tuple[str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        got_order, value, row_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(row_id, int) or not isinstance(value, str) or not isinstance(got_order, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise UserInputError(f"{argument} is not a cursor this hub issued", field=argument) from None
    if got_order != order:
        raise UserInputError(
            f"{argument} is a cursor of the ordering {got_order}, not of {order}: page again from the start",
            field=argument,
        )
    return value, row_id


def check_first(first: int, *, argument: str = "first") -> None:
    if first < 0:
        raise UserInputError(f"{argument} must be 0 or more, not {first}", field=argument)
    if first > MAX_PAGE_SIZE:
        raise UserInputError(f"{argument} must be at most {MAX_PAGE_SIZE}, not {first}", field=argument)


DEFAULT_PAGE_SIZE = 50


def page_size(first: int | None, last: int | None, default: int = DEFAULT_PAGE_SIZE) -> tuple[int, bool]:
    """(how many rows a page holds, whether it is the last ones before `before`) for Relay's `first` and `last`:
    both at once is refused naming `last`; neither gives the first `default`."""
    if first is not None and last is not None:
        raise UserInputError("last cannot be given with first: ask for the first or the last rows", field="last")
    if last is not None:
        check_first(last, argument="last")
        return last, True
    size = default if first is None else first
    check_first(size)
    return size, False


@dataclass(frozen=True)
class PageSql:
    """The statements of one page.

    `sql` selects the page's rows with their `_order_value` and their position `_n` in the order asked: the page is
    the rows with `_n` between 1 and `size` (`page_condition`); with `first` one more row (`_n` = size + 1) tells
    that there is a next page, with `last` one more row (`_n` = 0) that rows precede the page (`has_next_sql`,
    `has_previous_sql`). `count_sql` counts all rows that match; `rows_sql` selects all rows that match (the store's
    select list, the visibility rule applied, no order or limit), which the aggregates group and count. A nested
    connection's (`within`) apply its parent's relation to all three. All use the parameters of the Params they
    were built with; `count_sql` and `rows_sql` only those made before the cursors'."""

    sql: str
    count_sql: str
    rows_sql: str
    order: str
    order_field: OrderField
    size: int
    after: str | None
    before: str | None = None
    backwards: bool = False

    @property
    def first(self) -> int:
        """The page's size (named so before `last` came)."""
        return self.size

    def page_condition(self, alias: str) -> str:
        return f"{alias}._n between 1 and {self.size}"

    def has_next_sql(self, rows: str) -> str:
        """Whether a page follows, over the page's rows `rows` (a CTE or a subquery with its alias)."""
        if self.backwards:
            return "true" if self.before is not None else "false"
        return f"exists (select 1 from {rows} where _n > {self.size})"

    def has_previous_sql(self, rows: str) -> str:
        if self.backwards:
            return f"exists (select 1 from {rows} where _n < 1)"
        return "true" if self.after is not None else "false"

    def has_next_page(self, fetched: int) -> bool:
        """Whether a page follows, from the number of rows `sql` returned for the page (the resolvers')."""
        return self.before is not None if self.backwards else fetched > self.size

    def has_previous_page(self, fetched: int) -> bool:
        return fetched > self.size if self.backwards else self.after is not None


@dataclass(frozen=True)
class _PageParts:
    select: str
    source: str
    condition: str
    count_source: str
    order: str
    order_field: OrderField
    cursor_condition: str
    ordering: str
    # the filter's conditions alone (without the visibility rule): what decides whether a summary may count
    filter_sql: str = "true"


def _page_parts(
    principal: Principal,
    p: Params,
    entity: Entity,
    *,
    build_where: Callable[[Where], None] | None,
    order: str | None,
    descending: bool,
    backwards: bool,
    after: str | None,
    before: str | None,
    within: tuple[Relation, str] | None,
) -> _PageParts:
    order = order or entity.default_order
    order_field = entity.orders[order]
    where = Where(p, principal)
    join = ""
    if within is not None:
        relation, parent = within
        join = f" {relation.join}" if relation.join else ""
        where.add(f"{relation.parent} = {parent}")
    if build_where is not None:
        build_where(where)
    condition = f"{visible(entity.kind, 't', principal, p)} and {where.sql()}"
    cursor_condition = ""
    for cursor, argument, going in ((after, "after", not descending), (before, "before", descending)):
        if cursor is None:
            continue
        value, row_id = decode_cursor(cursor, order, argument=argument)
        compare = ">" if going else "<"
        cursor_condition += (
            f" and ({order_field.expr}, t.id) {compare} ({p(value)}::text::{order_field.sql_type}, {p(row_id)}::bigint)"
        )
    # with `last`, the rows are read in the reverse order, nearest `before` first
    direction = "desc" if descending != backwards else "asc"
    return _PageParts(
        select=entity.select_list(principal, p),
        source=entity.source(principal, p) + join,
        condition=condition,
        count_source=f"{entity.table} t{join}",
        order=order,
        order_field=order_field,
        cursor_condition=cursor_condition,
        ordering=f"{order_field.expr} {direction}, t.id {direction}",
        filter_sql=where.sql(),
    )


def page_sql(
    principal: Principal,
    p: Params,
    entity: Entity,
    *,
    build_where: Callable[[Where], None] | None = None,
    order: str | None = None,
    descending: bool = False,
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    within: tuple[Relation, str] | None = None,
) -> PageSql:
    """A page of `entity` visible to `principal`, in keyset order (shared by the resolvers and schema/compiler/):
    the `first` rows after `after`, or the `last` rows before `before` (either cursor bounds the other side too).
    `within`: a nested connection's, the parent's relation (hub.store.base.Relation: its join and parent column)
    and the SQL of the parent's id (a parameter, or a column of the parent's row in the compiler)."""
    size, backwards = page_size(first, last)
    parts = _page_parts(
        principal,
        p,
        entity,
        build_where=build_where,
        order=order,
        descending=descending,
        backwards=backwards,
        after=after,
        before=before,
        within=within,
    )
    order_value = f"{parts.order_field.expr} as _order_value"
    rank = f"row_number() over (order by {parts.ordering})"
    read = (
        f"select {parts.select}, {order_value}, {rank} as _r from {parts.source} where {parts.condition}"
        f"{parts.cursor_condition} order by {parts.ordering} limit {size + 1}"
    )
    if backwards:
        # with `last` the rows are read nearest `before` first: the row read last is the page's first, and the
        # (size + 1)-th read, the one before the page, gets position 0
        sql = f"select r.*, least(count(*) over (), {size}) + 1 - r._r as _n from ({read}) r order by _n"
    else:
        sql = (
            f"select {parts.select}, {order_value}, {rank} as _n from {parts.source}"
            f" where {parts.condition}{parts.cursor_condition} order by {parts.ordering} limit {size + 1}"
        )
    if within is None:
        count_sql = count_statement(principal, entity.kind, entity.table, parts.condition, parts.filter_sql)
    else:
        count_sql = f"select count(*) from {parts.count_source} where {parts.condition}"
    return PageSql(
        sql=sql,
        count_sql=count_sql,
        rows_sql=f"select {parts.select} from {parts.source} where {parts.condition}",
        order=parts.order,
        order_field=parts.order_field,
        size=size,
        after=after,
        before=before,
        backwards=backwards,
    )


def pages_sql(
    principal: Principal,
    p: Params,
    entity: Entity,
    relation: Relation,
    parent_ids: str,
    *,
    build_where: Callable[[Where], None] | None = None,
    order: str | None = None,
    descending: bool = False,
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> tuple[PageSql, str, str]:
    """The pages of a nested connection for many parents at once (the resolvers' batch): (the page's PageSql for
    one parent, the statement of every parent's page with its `_parent` and `_n`, the statement of every parent's
    count as (`_parent`, `count`)). `parent_ids` is the SQL of a bigint[] of the parents' ids."""
    size, backwards = page_size(first, last)
    parts = _page_parts(
        principal,
        p,
        entity,
        build_where=build_where,
        order=order,
        descending=descending,
        backwards=backwards,
        after=after,
        before=before,
        within=(relation, f"any({parent_ids})"),
    )
    rank = f"row_number() over (partition by {relation.parent} order by {parts.ordering})"
    read = (
        f"select {parts.select}, {parts.order_field.expr} as _order_value, {relation.parent} as _parent,"
        f" {rank} as _r from {parts.source} where {parts.condition}{parts.cursor_condition}"
    )
    position = f"least(count(*) over (partition by r._parent), {size}) + 1 - r._r" if backwards else "r._r"
    sql = (
        f"select s.* from (select r.*, {position} as _n from ({read}) r where r._r <= {size + 1}) s"
        f" order by s._parent, s._n"
    )
    count_sql = (
        f"select {relation.parent} as _parent, count(*) as count from {parts.count_source}"
        f" where {parts.condition} group by {relation.parent}"
    )
    one = PageSql(
        sql=sql,
        count_sql=count_sql,
        rows_sql=f"select {parts.select} from {parts.source} where {parts.condition}",
        order=parts.order,
        order_field=parts.order_field,
        size=size,
        after=after,
        before=before,
        backwards=backwards,
    )
    return one, sql, count_sql


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
    first: int | None = DEFAULT_PAGE_SIZE,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    within: tuple[Relation, int] | None = None,
) -> Page:
    """One page of `entity` visible to the session's principal, in keyset order, with a lazy total count; `within`
    (a relation and a parent's id): a nested connection's page under that parent."""
    p = Params()
    parent = None if within is None else (within[0], f"{p(within[1])}::bigint")
    built = page_sql(
        db.principal,
        p,
        entity,
        build_where=build_where,
        order=order,
        descending=descending,
        first=first,
        after=after,
        last=last,
        before=before,
        within=parent,
    )
    records = await db.fetch(built.sql, *p.values)
    return page_of(built, [dict(r) for r in records], count_sql=built.count_sql, db=db, p=p)


def page_of(
    built: PageSql,
    records: list[dict[str, Any]],
    *,
    count_sql: str,
    db: Session,
    p: Params,
    count: Callable[[], Any] | None = None,
) -> Page:
    """The Page of the rows `built.sql` returned (with their `_n`), its count by `count_sql` (or `count`) on
    demand."""
    rows = [r for r in records if 1 <= r["_n"] <= built.size]
    cursors = []
    for row in rows:
        row.pop("_n")
        row.pop("_r", None)
        row.pop("_parent", None)
        cursors.append(encode_cursor(built.order, row.pop("_order_value"), row["id"]))

    async def count_rows() -> int:
        # the count statement shares the page's parameters (those after its own are unused by it: pass the prefix)
        return int(await db.fetchval(count_sql, *p.values[: count_params(count_sql)]))

    return Page(
        rows=rows,
        cursors=cursors,
        has_next_page=built.has_next_page(len(records)),
        has_previous_page=built.has_previous_page(len(records)),
        count=count or count_rows,
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


@dataclass(frozen=True)
class PageArguments:
    """What a nested connection's page is asked for (the same for every parent of a batch)."""

    build_where: Callable[[Where], None] | None = None
    order: str | None = None
    descending: bool = False
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


async def load_pages(
    db: Session, relation: Relation, arguments: PageArguments, parent_ids: Sequence[int]
) -> list[Page]:
    """A nested connection's page under each of `parent_ids` (aligned to them), in ONE statement for all of them
    (a window per parent); the counts, when a page's count is asked, in one grouped statement for all of them."""
    p = Params()
    ids_param = p(list(parent_ids))
    built, sql, count_sql = pages_sql(
        db.principal,
        p,
        relation.entity,
        relation,
        f"{ids_param}::bigint[]",
        build_where=arguments.build_where,
        order=arguments.order,
        descending=arguments.descending,
        first=arguments.first,
        after=arguments.after,
        last=arguments.last,
        before=arguments.before,
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for record in await db.fetch(sql, *p.values):
        row = dict(record)
        grouped.setdefault(row.pop("_parent"), []).append(row)
    counts: asyncio.Future[dict[int, int]] | None = None

    async def all_counts() -> dict[int, int]:
        nonlocal counts
        if counts is None:
            counts = asyncio.get_running_loop().create_future()
            try:
                rows = await db.fetch(count_sql, *p.values[: count_params(count_sql)])
                counts.set_result({r["_parent"]: int(r["count"]) for r in rows})
            except BaseException as error:
                counts.set_exception(error)
                raise
        return await counts

    pages = []
    for parent_id in parent_ids:
        records = grouped.get(parent_id, [])

        async def count(parent_id: int = parent_id) -> int:
            return (await all_counts()).get(parent_id, 0)

        pages.append(page_of(built, records, count_sql=count_sql, db=db, p=p, count=count))
    return pages
