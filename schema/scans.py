"""The rows an operation makes PostgreSQL count or group, estimated before it runs (docs/security.md, "Query cost").

The static cost (hub/cost.py) bounds the fields an answer can hold; a count or a group-by returns one number or a
few groups whatever it reads, so its static cost says nothing of its work. Each field that counts or groups the
records of a connection (`totalCount`; `aggregate`'s `count`, `min`, `max`, `avg`, `sum`, together one pass; each
`groups(by:)` one pass) is charged what PostgreSQL may scan for it: the planner's estimate of the rows of the
connection's whole filtered, visible row set (`PageSql.rows_sql`, as the resolvers and the compiler read it), asked
with `explain` in a transaction bound to the principal (so row-level security and the visibility rule are those of
the request), from the filter's values and the tables' statistics. A root connection's filter is decoded by its own
resolver (asked with the compiler's Planning context); a nested connection's as its declaration says (the root
connection of its node type decodes it), and it is charged the rows its filter keeps of its whole kind visible to
the principal, once whatever its parents' page: the records under all parents together are at most that many, an
upper bound. A `groups(by:)` is also charged its groups: the planner's estimate of how many the
aggregate's statement (hub/store/aggregates.py `aggregate_sql`) makes, at most MAX_GROUPS, times the static cost of
one group's selection (the `groups` list itself declares no size to the static cost: publish_group_sizes). Estimates
are cached per statement and parameters for `CACHE_SECONDS`.
"""

from __future__ import annotations

import importlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_object_type,
)
from graphql.execution.values import get_variable_values

from hub.access import Params
from hub.auth import Principal
from hub.cost import MOST, Scan, selection_cost
from hub.selections import fragments_of
from hub.store.aggregates import MAX_GROUPS, aggregate_sql
from hub.store.base import Entity, bind_principal, page_sql
from schema.common import NODE_TYPES, ConnectionSource
from schema.relations import RELATION, Paged, PlannedConnection
from schema.selections import Selections

# The fields of a connection type that make PostgreSQL count or group its records.
COUNT_FIELD = "totalCount"
AGGREGATE_FIELD = "aggregate"
GROUPS_FIELD = "groups"

CACHE_SIZE = 1024
CACHE_SECONDS = 60.0
# Fields nested deeper than this are not walked (validation refuses deeper documents: HUB_MAX_DEPTH is 12).
MAX_DEPTH = 16


def is_connection(type_: Any) -> bool:
    return is_object_type(type_) and COUNT_FIELD in type_.fields and "edges" in type_.fields


@dataclass(frozen=True)
class _Pass:
    """One pass over a connection's rows: `by` the keys of a `groups(by:)` (None for a count), `group_cost` what one
    of its groups' selection costs."""

    path: str
    entity: Entity
    build_where: Any
    by: list[str] | None = None
    group_cost: int = 0


class _Reader(Selections):
    """The schema's reader of one operation, with the operation's document and variables as sent (for the cost of a
    group's selection)."""

    document: DocumentNode
    raw_variables: dict[str, Any]


class RowEstimator:
    """The scans of an operation, for one strawberry schema (schema/__init__.py puts it in the GraphQL schema's
    extensions, where hub/pipeline.py finds it: hub/ does not import schema/)."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.cache: OrderedDict[tuple[str, bytes], tuple[float, int]] = OrderedDict()

    async def __call__(
        self,
        con: Any,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        principal: Principal,
        statement_timeout_ms: int,
    ) -> list[Scan]:
        if operation.operation != OperationType.QUERY:
            return []
        wanted = await self.wanted(document, operation, variables, principal)
        scans = []
        for item in wanted:
            p = Params()
            try:
                sql = page_sql(principal, p, item.entity, build_where=item.build_where).rows_sql
            except ValueError:
                continue  # a filter its resolver refuses (UserInputError): nothing of it runs, nothing to charge
            rows = await self.estimate(con, sql, list(p.values), principal, statement_timeout_ms)
            groups = None
            if item.by is not None:
                q = Params()
                source = ConnectionSource(item.entity, item.build_where or (lambda w: None))
                grouped = aggregate_sql(principal, q, source, by=item.by, numbers=[])
                groups = min(
                    MAX_GROUPS, await self.estimate(con, grouped, list(q.values), principal, statement_timeout_ms)
                )
            scans.append(
                Scan(path=item.path, kind=item.entity.kind, rows=rows, groups=groups, group_cost=item.group_cost)
            )
        return scans

    # ---------------------------------------------------------------- what the operation counts

    async def wanted(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        principal: Principal,
    ) -> list[_Pass]:
        gql = self.schema._schema
        coerced = get_variable_values(gql, operation.variable_definitions or (), dict(variables or {}))
        if isinstance(coerced, list):
            return []  # execution reports the variables; nothing runs
        reader = _Reader(self.schema, fragments_of(document.definitions), coerced)
        reader.document, reader.raw_variables = document, dict(variables or {})
        reader.strict = False  # read as execution would, without refusing what the compiler cannot read
        found: list[_Pass] = []
        await self.walk(reader, [operation.selection_set], gql.query_type, principal, "", 0, found, root=True)
        return found

    async def walk(
        self,
        reader: _Reader,
        selection_sets: list[SelectionSetNode],
        parent: Any,
        principal: Principal,
        path: str,
        depth: int,
        found: list[_Pass],
        *,
        root: bool = False,
    ) -> None:
        if depth > MAX_DEPTH or not selection_sets:
            return
        runtimes = self.schema._schema.get_possible_types(parent) if is_abstract_type(parent) else [parent]
        for runtime in runtimes:
            for key, nodes in reader.collect(selection_sets, runtime).items():
                name = nodes[0].name.value
                definition = runtime.fields.get(name)
                if definition is None or name.startswith("__"):
                    continue
                named = get_named_type(definition.type)
                sub = reader.subselections(nodes)
                where = f"{path}{key}"
                if is_connection(named):
                    passes = self.passes(reader, sub, named, where)
                    if passes:
                        counted = await self.source(reader, runtime, nodes, named, principal, root=root)
                        if counted is not None:
                            found.extend(
                                _Pass(path, counted[0], counted[1], by, group_cost) for path, by, group_cost in passes
                            )
                    for inner in ("edges", "nodes"):
                        for inner_key, inner_nodes in reader.collect(sub, named).items():
                            if inner_nodes[0].name.value != inner:
                                continue
                            inner_type = get_named_type(named.fields[inner].type)
                            inner_sub = reader.subselections(inner_nodes)
                            if inner == "edges":
                                for node_key, node_nodes in reader.collect(inner_sub, inner_type).items():
                                    if node_nodes[0].name.value == "node":
                                        node_type = get_named_type(inner_type.fields["node"].type)
                                        await self.walk(
                                            reader,
                                            reader.subselections(node_nodes),
                                            node_type,
                                            principal,
                                            f"{where}.{inner_key}.{node_key}.",
                                            depth + 3,
                                            found,
                                        )
                            else:
                                await self.walk(
                                    reader, inner_sub, inner_type, principal, f"{where}.{inner_key}.", depth + 2, found
                                )
                elif sub:
                    await self.walk(reader, sub, named, principal, f"{where}.", depth + 1, found)

    def passes(
        self, reader: _Reader, selection_sets: list[SelectionSetNode], connection: GraphQLObjectType, path: str
    ) -> list[tuple[str, list[str] | None, int]]:
        """The passes over its whole row set that answering this selection on a connection makes: (the path of the
        field, the keys of a `groups(by:)` or None, the cost of one group's selection)."""
        found: list[tuple[str, list[str] | None, int]] = []
        for key, nodes in reader.collect(selection_sets, connection).items():
            name = nodes[0].name.value
            if name == COUNT_FIELD:
                found.append((f"{path}.{key}", None, 0))
            elif name == AGGREGATE_FIELD:
                aggregate = get_named_type(connection.fields[name].type)
                ungrouped = False
                for inner_key, inner_nodes in reader.collect(reader.subselections(nodes), aggregate).items():
                    inner_name = inner_nodes[0].name.value
                    if inner_name == GROUPS_FIELD:
                        _field, kwargs = reader.arguments(aggregate, inner_nodes)
                        by = [getattr(b, "value", b) for b in kwargs.get("by") or ()]
                        group_type = get_named_type(aggregate.fields[GROUPS_FIELD].type)
                        per_group = selection_cost(
                            self.schema._schema,
                            reader.document,
                            reader.raw_variables,
                            reader.subselections(inner_nodes),
                            group_type,
                        )
                        found.append((f"{path}.{key}.{inner_key}", by, per_group))
                    elif inner_name != "__typename":
                        ungrouped = True
                if ungrouped:
                    found.append((f"{path}.{key}", None, 0))
        return found

    async def source(
        self,
        reader: _Reader,
        parent: GraphQLObjectType,
        nodes: list[Any],
        connection: GraphQLObjectType,
        principal: Principal,
        *,
        root: bool,
    ) -> tuple[Entity, Any] | None:
        """The entity and filter a counting connection reads: a root connection's from its resolver; else (or when
        its resolver does not say) the whole kind of its nodes."""
        if root:
            from schema.compiler.plan import ask  # the compiler's package imports this schema's modules

            try:
                strawberry_field, kwargs = reader.arguments(parent, nodes)
                planned = await ask(strawberry_field, kwargs, principal)
            except Exception:  # noqa: BLE001 - a filter the resolver refuses: it runs nothing, the kind bounds it
                planned = None
            if isinstance(planned, PlannedConnection):
                return planned.entity, planned.build_where
        else:
            nested = self.nested_source(reader, parent, nodes)
            if nested is not None:
                return nested
        node_type = get_named_type(get_named_type(connection.fields["edges"].type).fields["node"].type)
        known = NODE_TYPES.get(node_type.name)
        return (known[0], None) if known is not None else None

    @staticmethod
    def nested_source(reader: _Reader, parent: GraphQLObjectType, nodes: list[Any]) -> tuple[Entity, Any] | None:
        """A nested connection's entity and filter, as its declaration (schema/common.py `connection_field`) and
        the root connection of its node type decode them: over every parent at once (no `within`)."""
        from schema.common import CONNECTIONS, NODE_MODULES, _empty_filter

        try:
            strawberry_field, kwargs = reader.arguments(parent, nodes)
            declared = (strawberry_field.metadata or {}).get(RELATION)
            paged = getattr(declared, "loads", None)
            if not isinstance(paged, Paged):
                return None
            if paged.node not in CONNECTIONS:
                importlib.import_module(NODE_MODULES[paged.node][0])
            spec = CONNECTIONS[paged.node]
            filters: dict[str, Any] = {}
            if spec.decode is not None and spec.filter_input is not None:
                given = kwargs.get("filter")
                filters = spec.decode(given if given is not None else _empty_filter(spec))
        except Exception:  # noqa: BLE001 - a filter the field refuses: it runs nothing, the kind bounds it
            return None
        where = spec.where
        return paged.relation.entity, (lambda w: where(w, filters)) if where is not None else None

    # ---------------------------------------------------------------- the planner's estimate

    async def estimate(
        self, con: Any, sql: str, params: list[Any], principal: Principal, statement_timeout_ms: int
    ) -> int:
        key = (sql, orjson.dumps(params, default=str))
        now = time.monotonic()
        cached = self.cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            self.cache.move_to_end(key)
            return cached[1]
        if isinstance(con, asyncpg.Pool):
            async with con.acquire() as acquired:
                rows = await self._explain(acquired, sql, params, principal, statement_timeout_ms)
        else:
            rows = await self._explain(con, sql, params, principal, statement_timeout_ms)
        self.cache[key] = (now, rows)
        self.cache.move_to_end(key)
        if len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        return rows

    @staticmethod
    async def _explain(
        con: asyncpg.Connection, sql: str, params: list[Any], principal: Principal, statement_timeout_ms: int
    ) -> int:
        async with con.transaction(readonly=True):
            await bind_principal(con, principal, statement_timeout_ms)
            plan = await con.fetchval(f"explain (format json) {sql}", *params)
        if isinstance(plan, str):
            plan = orjson.loads(plan)
        return max(0, round(float(plan[0]["Plan"]["Plan Rows"])))


def publish_group_sizes(gql: Any) -> None:
    """An aggregate's `groups` lists declare no size to the static cost (MOST 0): the scans charge their groups by
    the planner's estimate of how many there are."""
    for type_ in gql.type_map.values():
        if is_object_type(type_) and COUNT_FIELD not in type_.fields and GROUPS_FIELD in type_.fields:
            if type_.name.endswith("Aggregate"):
                type_.fields[GROUPS_FIELD].extensions[MOST] = 0
