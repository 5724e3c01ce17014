"""The static cost of an operation, computed from the document, the variables and the schema before any SQL runs
(the model of Apollo Router's demand control and of Shopify's and GitHub's GraphQL APIs).

Every field costs 1 each time it is resolved, and a list multiplies the cost of what it selects by how many items
it may hold: its `first` argument (a literal or a variable, else the argument's default: 100 for nested lists; a
connection, root or nested, that takes `last` holds its `first`, else its `last`, else 50), `len(ids)` for
`nodes(ids:)`, the most its relation declares it holds (`MOST`), and otherwise `DEFAULT_LIST_SIZE`. A field that
takes `first` but returns an object (a connection, the dashboard) passes that size to its list fields (`edges`,
`nodes`, `dueSoon`, ...). So `findings(first: 50) { edges { node { id title } } }` costs 1 + 1 + 50 * (1 + 2) =
152: an upper bound on the fields the answer can hold, whatever the data. A root mutation field costs
MUTATION_COST instead of 1.
`__typename` is free. Fragments and inline fragments count once per concrete type they apply to; on an interface or
union, the costliest concrete type counts; `@skip`/`@include` are honoured, and repeated selections of one response
key are merged, as execution does: the selections are read with hub/selections.py, as the limits, the SQL compiler
and the look-ahead read them.

Counting is charged by what PostgreSQL may scan for it (item 7 of the analysts' issue; docs/security.md): a field
that counts or groups a connection's records (`totalCount`, `aggregate`) costs, on top of its static cost, one point
per ROWS_PER_POINT rows of the planner's estimate of the rows it reads, estimated before execution from the filter and
the tables' statistics (schema/scans.py, found in the GraphQL schema's extensions under ROWS_ESTIMATOR: hub/ does not
import schema/). An aggregate's `groups` list declares no size (MOST 0): its groups are charged by the planner's
estimate of how many there are, times what one group's selection costs. `counted_points` turns the estimates into
points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_composite_type,
    is_list_type,
    type_from_ast,
    value_from_ast,
)
from graphql.type import GraphQLNamedType

from hub.selections import SelectionReader, fragments_of
from hub.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# Items assumed in a list that takes no size argument and declares no bound (sign-offs, shareWith, milestones, the 16
# sectors, introspection's lists): these are short lists, and one that is not is bounded by its own table.
DEFAULT_LIST_SIZE = 20
# The key of a GraphQL field's extensions that holds the most items the field's list holds, when its relation
# declares it (schema/relations.py, where the schema's fields are declared: an agreement's parties, say).
MOST = "hub.most"
# What a root mutation field costs: a write (a transaction, an event, a notification) weighs more than a read.
MUTATION_COST = 10

# The key of the GraphQL schema's extensions that holds the estimator of the rows an operation makes PostgreSQL count
# (schema/scans.py's RowEstimator): called with (con, document, operation, variables, principal, timeout in ms).
ROWS_ESTIMATOR = "hub.rows_estimator"
# Rows counted or grouped per point: reading a row costs PostgreSQL far less than resolving a field costs the hub (a
# page of 50 findings of 3 fields costs 152), so 100 counted rows cost what one field does; a totalCount over 50,000
# findings costs 500, one over 500,000 costs 5,000.
ROWS_PER_POINT = 100

SIZE_ARGUMENT = "first"
LAST_ARGUMENT = "last"
IDS_ARGUMENT = "ids"


def variable_values(
    schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The operation's variables as sent, with the defaults of those not sent (values are not coerced: the cost
    only reads sizes, and execution reports a bad value)."""
    values = dict(variables or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            type_ = type_from_ast(schema, definition.type)
            if type_ is not None:
                default = value_from_ast(definition.default_value, type_)  # type: ignore[arg-type]
                if default is not Undefined:
                    values[name] = default
    return values


class _Costing:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.reader = SelectionReader(schema, fragments_of(document.definitions), variables)
        # one selection on one type costs the same wherever it appears: without this, fields of an interface type
        # nested in one another would be costed once per implementing type per level (10 types, 6 levels: 10**6)
        self.memo: dict[tuple[tuple[int, ...], str, int | None], int] = {}

    def selections(self, selection_sets: list[SelectionSetNode], parent: GraphQLNamedType, size: int | None) -> int:
        """The cost of `selection_sets` on one object of type `parent`; `size` is the page size its list fields
        hold when the field that returned it took `first`."""
        if not selection_sets:
            return 0
        runtimes = self.schema.get_possible_types(parent) if is_abstract_type(parent) else [parent]  # type: ignore
        return max((self.on_object(selection_sets, r, size) for r in runtimes), default=0)  # type: ignore[arg-type]

    def on_object(
        self,
        selection_sets: list[SelectionSetNode],
        runtime: GraphQLObjectType,
        size: int | None,
        mutation: bool = False,
    ) -> int:
        key = (tuple(id(s) for s in selection_sets), runtime.name, size)
        if key not in self.memo:
            self.memo[key] = self.fields_on_object(selection_sets, runtime, size, mutation)
        return self.memo[key]

    def fields_on_object(
        self, selection_sets: list[SelectionSetNode], runtime: GraphQLObjectType, size: int | None, mutation: bool
    ) -> int:
        total = 0
        for nodes in self.reader.collect(selection_sets, runtime).values():
            name = nodes[0].name.value
            if name == "__typename":
                continue
            if name == "__schema" and runtime is self.schema.query_type:
                definition: GraphQLField | None = SchemaMetaFieldDef
            elif name == "__type" and runtime is self.schema.query_type:
                definition = TypeMetaFieldDef
            else:
                definition = runtime.fields.get(name)
            if definition is None:
                continue  # an unknown field: validation reports it
            total += self.field(definition, nodes, size, MUTATION_COST if mutation else 1)
        return total

    def argument(self, definition: GraphQLField, node: FieldNode, name: str) -> Any:
        argument = definition.args.get(name)
        if argument is None:
            return Undefined
        literal = next((a.value for a in node.arguments or () if a.name.value == name), None)
        if literal is None:
            return argument.default_value
        value = value_from_ast(literal, argument.type, self.variables)
        return argument.default_value if value is Undefined or value is None else value

    def field(self, definition: GraphQLField, nodes: list[FieldNode], size: int | None, own: int) -> int:
        named = get_named_type(definition.type)
        children = [n.selection_set for n in nodes if n.selection_set is not None]
        first = self.argument(definition, nodes[0], SIZE_ARGUMENT)
        if LAST_ARGUMENT in definition.args and not isinstance(first, int):
            # a Relay connection (root or nested) holds its `first`, else its `last`, else DEFAULT_PAGE_SIZE
            last = self.argument(definition, nodes[0], LAST_ARGUMENT)
            first = last if isinstance(last, int) else DEFAULT_PAGE_SIZE
        # a `first` out of range is refused (BAD_USER_INPUT) by its resolver before its SQL: count at most the cap
        first = max(0, min(first, MAX_PAGE_SIZE)) if isinstance(first, int) and not isinstance(first, bool) else None
        if not is_composite_type(named):
            return own
        if is_list_type(get_nullable_type(definition.type)):  # type: ignore[arg-type]
            ids = self.argument(definition, nodes[0], IDS_ARGUMENT)
            if first is not None:
                items = first
            elif isinstance(ids, list):
                items = min(len(ids), MAX_PAGE_SIZE)
            elif definition.extensions.get(MOST) is not None:
                items = definition.extensions[MOST]
            elif size is not None:
                items = size
            else:
                items = DEFAULT_LIST_SIZE
            return own + items * self.selections(children, named, None)
        return own + self.selections(children, named, first)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The static cost of `operation` (see the module's docstring)."""
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    if root is None:
        return 0
    costing = _Costing(schema, document, variable_values(schema, operation, variables))
    if costing.reader.cyclic():
        return 0  # a validation error (NoFragmentCyclesRule): it runs nothing
    return costing.on_object(
        [operation.selection_set], root, None, mutation=operation.operation == OperationType.MUTATION
    )


@dataclass(frozen=True)
class Scan:
    """One pass of an operation over a connection's rows: the path of the field that asks it (`findings.totalCount`,
    `findings.aggregate` for the ungrouped figures, `findings.aggregate.groups` for each `groups(by:)`), its kind,
    the planner's estimate of the rows of the connection's filtered, visible row set and, for a `groups`, of how
    many groups it makes (at most MAX_GROUPS) with what the selection of one group costs."""

    path: str
    kind: str
    rows: int
    groups: int | None = None
    group_cost: int = 0

    @property
    def points(self) -> int:
        """A point per ROWS_PER_POINT rows read (at least 1), and the fields of the groups it returns."""
        return max(1, math.ceil(self.rows / ROWS_PER_POINT)) + (self.groups or 0) * self.group_cost


def counted_points(scans: list[Scan]) -> int:
    """What counting and grouping cost, over all of an operation's passes."""
    return sum(scan.points for scan in scans)


def selection_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any],
    selection_sets: list[SelectionSetNode],
    parent: GraphQLNamedType,
) -> int:
    """The static cost of `selection_sets` on one object of type `parent` (one group of an aggregate, say)."""
    return _Costing(schema, document, dict(variables)).selections(selection_sets, parent, None)
