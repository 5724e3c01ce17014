"""The schema's reader of an operation's selections: hub/selections.py's reader, strict, and the arguments of each
field coerced and converted as its resolver gets them. The SQL compiler (schema/compiler/) reads a whole operation
with it; the resolver path's look-ahead (schema/lookahead.py) reads one field's subtree."""

from __future__ import annotations

import weakref
from typing import Any

import orjson
from graphql import FieldNode, FragmentDefinitionNode, GraphQLObjectType
from graphql.execution.values import get_argument_values
from strawberry.types.arguments import convert_arguments

from hub.selections import SelectionReader, Unreadable


class Selections(SelectionReader):
    """Reads an operation's selections as execution would (hub/selections.py: fragments expanded, @skip/@include
    applied, same-key fields merged), and the arguments of its fields coerced and converted as the resolver gets
    them. The compiler reads a whole operation with it; the resolver path's look-ahead (schema/lookahead.py) reads
    one field's subtree."""

    def __init__(self, schema: Any, fragments: dict[str, FragmentDefinitionNode], variables: Any) -> None:
        super().__init__(schema._schema, fragments, variables.coerced, strict=True)
        self.schema = schema  # strawberry's
        self.gql: Any = schema._schema
        self.variable_values = variables  # graphql-core's VariableValues

    def arguments(self, parent: GraphQLObjectType, nodes: list[FieldNode]) -> tuple[Any, dict[str, Any]]:
        """The strawberry field and its arguments, converted as the resolver would get them."""
        name = nodes[0].name.value
        if any(
            orjson.dumps(n.arguments and [a.to_dict() for a in n.arguments])
            != orjson.dumps(nodes[0].arguments and [a.to_dict() for a in nodes[0].arguments])
            for n in nodes[1:]
        ):
            raise Unreadable("merged fields with different arguments")
        field_def = parent.fields[name]
        values = get_argument_values(field_def, nodes[0], self.variable_values)
        strawberry_field = self.strawberry_field(parent, name)
        kwargs = convert_arguments(
            values,
            strawberry_field.arguments,
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )
        return strawberry_field, kwargs

    def strawberry_field(self, parent: GraphQLObjectType, name: str) -> Any:
        """The strawberry field behind `parent.name` (remembered per schema: the schema does not change)."""
        remembered = _STRAWBERRY_FIELDS.setdefault(self.schema, {})
        key = (parent.name, name)
        found = remembered.get(key)
        if found is None:
            definition = self.schema.get_type_by_name(parent.name)
            if definition is None:
                raise Unreadable(f"type {parent.name}")
            found = next((f for f in definition.fields if self.graphql_name(f) == name), None)
            if found is None:
                raise Unreadable(f"field {parent.name}.{name}")
            remembered[key] = found
        return found

    def graphql_name(self, strawberry_field: Any) -> str:
        return str(self.schema.config.name_converter.get_graphql_name(strawberry_field))


_STRAWBERRY_FIELDS: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], Any]] = weakref.WeakKeyDictionary()
