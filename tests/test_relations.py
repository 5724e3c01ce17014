"""Every nested field declares what it loads (schema/relations.py), and each declaration agrees with its field: the
SQL compiler, the look-ahead and the cost model read these declarations and never call a resolver to find out."""

from __future__ import annotations

import dataclasses
from typing import Any

from graphql import (
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
)

from hub.cost import MOST
from hub.loaders import Loaders
from schema import schema
from schema.aggregates import Aggregate
from schema.common import NODE_TYPES, Connection, Edge, PageInfo
from schema.relations import (
    ById,
    ByKind,
    EachById,
    History,
    Related,
    Rows,
    computed_of,
    record_type,
    relation_of,
)

GQL = schema._schema
ROOTS = {GQL.query_type, GQL.mutation_type, GQL.subscription_type}


def definition(type_name: str) -> Any:
    return schema.get_type_by_name(type_name)


def machinery(gql_type: GraphQLObjectType) -> bool:
    """Connections, edges, page info and aggregates: the compiler and the look-ahead read them as such, not as
    records."""
    found = definition(gql_type.name)
    origin = found.concrete_of.origin if found.concrete_of is not None else found.origin
    return isinstance(origin, type) and issubclass(origin, Connection | Edge | PageInfo | Aggregate)


def record_types() -> list[GraphQLObjectType]:
    """The object types of records (those with a from_row) and every object type reachable from them or from a root
    read field, past the connection machinery."""
    start = [GQL.get_type(name) for name in NODE_TYPES]
    start += [get_named_type(f.type) for f in GQL.query_type.fields.values()]
    seen: dict[str, GraphQLObjectType] = {}
    stack = list(start)
    while stack:
        gql_type = stack.pop()
        types = (
            GQL.get_possible_types(gql_type)
            if isinstance(gql_type, GraphQLInterfaceType | GraphQLUnionType)
            else [gql_type]
        )
        for found in types:
            if not isinstance(found, GraphQLObjectType) or found.name in seen or found in ROOTS:
                continue
            if not machinery(found):
                seen[found.name] = found
            stack.extend(get_named_type(f.type) for f in found.fields.values())
    return sorted(seen.values(), key=lambda t: t.name)


def nested_fields() -> list[tuple[GraphQLObjectType, Any, Any]]:
    """(type, GraphQL field, strawberry field) of every field of a record type that holds an object or objects, but
    for connections (a page that resolve_connection reads, as for a root connection; `SectorInfo.findings`)."""
    found = []
    for gql_type in record_types():
        by_name = {schema.config.name_converter.get_graphql_name(f): f for f in definition(gql_type.name).fields}
        for name, field in gql_type.fields.items():
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType) and machinery(named):
                continue
            if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                found.append((gql_type, field, by_name[name]))
    return found


def test_every_nested_field_declares_its_relation_or_that_it_loads_nothing() -> None:
    names = {t.name for t in record_types()}
    assert {"FrontierModel", "Finding", "Event", "AgreementParty", "Discoverer", "Principal", "Deadline"} <= names
    undeclared = [
        f"{gql_type.name}.{strawberry_field.python_name}"
        for gql_type, _, strawberry_field in nested_fields()
        if relation_of(strawberry_field) is None and computed_of(strawberry_field) is None
    ]
    assert not undeclared, f"declare with relation_field or computed_field (schema/relations.py): {undeclared}"
    assert len(nested_fields()) > 60


def test_no_record_field_has_a_resolver_of_its_own() -> None:
    """A field with a hand-written resolver would load behind the declarations' back: records' fields are columns,
    declared relations, or computed_field (which makes no resolver)."""
    own = []
    for gql_type, _, strawberry_field in nested_fields():
        if strawberry_field.base_resolver is not None and relation_of(strawberry_field) is None:
            own.append(f"{gql_type.name}.{strawberry_field.python_name}")
    assert not own, own


def node_type_of(entity: Any) -> str:
    (name,) = [name for name, (e, _) in NODE_TYPES.items() if e is entity]
    return name


def is_list(gql_type: Any) -> bool:
    return isinstance(gql_type.of_type if isinstance(gql_type, GraphQLNonNull) else gql_type, GraphQLList)


def test_each_declaration_agrees_with_its_field() -> None:
    checked = 0
    for gql_type, field, strawberry_field in nested_fields():
        declared = relation_of(strawberry_field)
        if declared is None:
            continue
        where = f"{gql_type.name}.{strawberry_field.python_name}"
        loads = declared.loads
        named = get_named_type(field.type)
        parent = record_type(definition(gql_type.name).origin)
        attributes = {f.name for f in dataclasses.fields(parent)} | set(vars(parent))
        # the field takes `first` exactly when it declares one, with that default
        if declared.first is not None:
            assert field.args["first"].default_value == declared.first, where
        else:
            assert "first" not in field.args, where
        assert loads.sized == (declared.first is not None or declared.page is not None), where
        # the cost model reads a declared bound from the GraphQL field (hub/cost.py)
        assert field.extensions.get(MOST) == declared.most, where
        if isinstance(loads, ById):
            assert not is_list(field.type) and named.name == node_type_of(loads.entity), where
            assert loads.key_attribute in attributes, where
        elif isinstance(loads, Related):
            assert named.name == node_type_of(loads.relation.entity) or declared.convert is not None, where
            assert is_list(field.type) or declared.convert is not None, where
        elif isinstance(loads, History):
            assert is_list(field.type) and named.name == "Event", where
        elif isinstance(loads, Rows):
            assert is_list(field.type) and hasattr(record_type(strawberry_field.type), "from_row"), where
            assert isinstance(getattr(Loaders, loads.loader_name), property), where
        elif isinstance(loads, EachById):
            # records of several entities are a union; of one entity (the agencies a request names), its type
            types = {t.name for t in named.types} if isinstance(named, GraphQLUnionType) else {named.name}
            assert declared.convert is not None and is_list(field.type), where
            assert types == {node_type_of(e) for e, _ in loads.parts}, where
            assert all(attribute in attributes for _, attribute in loads.parts), where
        else:
            assert isinstance(loads, ByKind) and named.name == "Node", where
            assert {loads.kind, loads.key_attribute} <= attributes, where
        checked += 1
    assert checked > 50
