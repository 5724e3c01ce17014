"""The resolver path's look-ahead: before a connection (or `node`, `nodes`) returns its page, it reads the selection
under it and loads, for the whole page at once, every relation the selected fields will ask for, level by level down
the tree. The nested fields then find their rows in the loaders' caches and answer synchronously
(`hub.loaders.now_or_later`), so graphql-core creates no asyncio task for them: the tasks of a request depend on the
depth of its selection, not on how many rows it returns (tests/test_lookahead.py counts them).

What a field will load is what it declares (schema/relations.py): the relation it was made of, with the loader its
resolver reads and the key it looks up there for each parent, so the look-ahead asks the same loaders for the same
keys as the resolvers will. A field that declares no relation loads nothing, or loads as it runs.

The selection is read with the compiler's `Selections` (hub/selections.py's reader, strict) over the same syntax
tree that strawberry's `info.selected_fields` wraps, because that view leaves arguments uncoerced (a literal
`first: 3` arrives as the string "3") and does not apply @skip/@include; the loads must use exactly the arguments
the resolvers will get.

Nothing here decides what anyone sees: the loaders apply the visibility rule as they do when the fields run. A load
that fails leaves its error in the cache, so the fields that need it report that error, as they would have.

Where the look-ahead stops, fields load as they run, a task each: under a union or an interface (`shareWith`,
`entity`), under an object the hub computes rather than loads (`discoveredBy`), and for every field when tracing is
on (strawberry's tracing extension makes each resolver a coroutine).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, SelectionSetNode
from graphql.execution.values import VariableValues

from hub.loaders import MISSING, HubLoader
from hub.selections import Unreadable
from schema.relations import relation_of
from schema.selections import Selections

log = logging.getLogger(__name__)

Group = tuple[GraphQLObjectType, list[SelectionSetNode], list[Any]]


def _object_type(gql_type: Any) -> GraphQLObjectType | None:
    while isinstance(gql_type, GraphQLNonNull | GraphQLList):
        gql_type = gql_type.of_type
    return gql_type if isinstance(gql_type, GraphQLObjectType) else None


def _type_name(record: Any) -> str | None:
    definition = getattr(type(record), "__strawberry_definition__", None)
    return getattr(definition, "name", None)


async def preload(info: strawberry.Info, groups: list[Group]) -> None:
    """Load what the selected fields of each group's records will ask for, one batch per loader and level."""
    schema = info.schema
    reader = _reader(info)
    loaders = info.context.loaders
    levels = 0
    while groups:
        levels += 1
        wanted: dict[int, tuple[HubLoader, dict[Any, None]]] = {}
        below: list[tuple[GraphQLObjectType, Any, list[SelectionSetNode], dict[tuple[int, Any], HubLoader]]] = []
        for gql_type, selection_sets, records in groups:
            try:
                fields = reader.collect(selection_sets, gql_type.name)
            except Unreadable:
                continue
            for nodes in fields.values():
                name = nodes[0].name.value
                if name.startswith("__"):
                    continue
                try:
                    declared = relation_of(reader.strawberry_field(gql_type, name))
                    if declared is None:
                        continue  # a column, or a field that loads nothing
                    page = declared.page_of(reader.arguments(gql_type, nodes)[1] if declared.first else {})
                except Exception:  # noqa: BLE001 - the field reports its own bad arguments when it runs
                    continue
                loads: dict[tuple[int, Any], HubLoader] = {}
                for record in records:
                    for loader, key in declared.wants(record, loaders, page):
                        wanted.setdefault(id(loader), (loader, {}))[1][key] = None
                        loads[(id(loader), key)] = loader
                subselections = reader.subselections(nodes)
                child_type = _object_type(gql_type.fields[name].type)
                if loads and subselections and child_type is not None:
                    definition = schema.get_type_by_name(child_type.name)
                    cls = getattr(definition, "origin", None)
                    if cls is not None and hasattr(cls, "from_row"):
                        below.append((child_type, cls, subselections, loads))
        if not wanted:
            break
        batches = [(loader, list(keys)) for loader, keys in wanted.values()]
        results = await asyncio.gather(*(loader.load_many(keys) for loader, keys in batches), return_exceptions=True)
        for (loader, keys), result in zip(batches, results, strict=True):
            if isinstance(result, Exception):
                # a retry could not tell why (a timeout aborts the request's transaction): the fields that need
                # these keys raise this error instead
                loader.keep_error(keys, result)
        groups = []
        for child_type, cls, subselections, loads in below:
            children = []
            try:
                for (_, key), loader in loads.items():
                    value = loader.peek(key)  # MISSING where the load failed: that field reports it
                    for row in value if isinstance(value, list) else (value,):
                        if row is not None and row is not MISSING:
                            children.append(cls.from_row(row))
            except Exception:  # noqa: BLE001 - rows this type does not take: its fields load when they run
                log.debug("look-ahead stops at %s", child_type.name, exc_info=True)
                continue
            if children:
                groups.append((child_type, subselections, children))
    log.debug("look-ahead: %d levels", levels)


async def preload_page(info: strawberry.Info, nodes: Sequence[Any]) -> None:
    """The look-ahead of a connection field: its `edges { node }` and `nodes` selections, over the page."""
    if not nodes:
        return
    raw = info._raw_info
    connection = _object_type(raw.return_type)
    nodes_field = connection.fields.get("nodes") if connection is not None else None
    node_type = _object_type(nodes_field.type) if nodes_field is not None else None
    if connection is None or node_type is None:
        return
    reader = _reader(info)
    selection_sets: list[SelectionSetNode] = []
    try:
        for field_nodes in reader.collect(_sets(raw.field_nodes), connection.name).values():
            name = field_nodes[0].name.value
            if name == "nodes":
                selection_sets += reader.subselections(field_nodes)
            elif name == "edges":
                edge = _object_type(connection.fields["edges"].type)
                assert edge is not None
                for edge_nodes in reader.collect(reader.subselections(field_nodes), edge.name).values():
                    if edge_nodes[0].name.value == "node":
                        selection_sets += reader.subselections(edge_nodes)
    except Unreadable:
        return
    if selection_sets:
        await preload(info, [(node_type, selection_sets, list(nodes))])


async def preload_records(info: strawberry.Info, records: Iterable[Any]) -> None:
    """The look-ahead of a field that returns records (`node`, `nodes`), of any record type, over its answer."""
    raw = info._raw_info
    selection_sets = _sets(raw.field_nodes)
    by_type: dict[str, list[Any]] = {}
    for record in records:
        name = _type_name(record)
        if name is not None:
            by_type.setdefault(name, []).append(record)
    groups: list[Group] = []
    for name, same in by_type.items():
        gql_type = raw.schema.get_type(name)
        if isinstance(gql_type, GraphQLObjectType):
            groups.append((gql_type, selection_sets, same))
    if groups:
        await preload(info, groups)


def _reader(info: strawberry.Info) -> Selections:
    raw = info._raw_info
    variables = raw.variable_values
    if isinstance(variables, dict):  # strawberry hands resolvers the coerced values alone
        variables = VariableValues(sources={}, coerced=variables)
    return Selections(info.schema, raw.fragments, variables)


def _sets(field_nodes: Iterable[Any]) -> list[SelectionSetNode]:
    return [node.selection_set for node in field_nodes if node.selection_set is not None]
