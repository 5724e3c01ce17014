"""Request limits checked before any SQL runs: depth, aliases, root fields and directives per field (the token
count is checked by the parser). Each is a setting; going over one is a QUERY_TOO_COMPLEX error naming the limit."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import DocumentNode, FieldNode, OperationDefinitionNode

from hub.selections import SelectionReader, fragments_of


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_root_fields: int = 20
    max_directives_per_field: int = 5
    max_tokens: int = 5000
    # 0: no cost limit (the cost is still computed and reported)
    max_cost: int = 500_000


# The standard introspection query of graphql-core 3.3 (which Python clients and tools such as Schemathesis send)
# nests 13 deep: __schema > types > fields > type > 9 levels of ofType. Introspection is answered from the schema
# in memory, without SQL, so its subtrees get this allowance when HUB_MAX_DEPTH is lower.
INTROSPECTION_MAX_DEPTH = 15
INTROSPECTION_FIELDS = ("__schema", "__type")


class TooComplex(Exception):
    """A request over a limit; the message names the limit and the setting that raises it."""


def check(document: DocumentNode, operation: OperationDefinitionNode, limits: Limits) -> None:
    """Raise TooComplex when `operation` goes over a limit. It reads the document before validation: every field
    counts whatever its type or directives, fragments are expanded wherever they are spread (each once per selection,
    never inside themselves) and an unknown one is passed over (validation reports it)."""
    root_fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(root_fields) > limits.max_root_fields:
        raise TooComplex(
            f"the operation has {len(root_fields)} root fields; at most {limits.max_root_fields} (HUB_MAX_ROOT_FIELDS)"
        )
    reader = SelectionReader(None, fragments_of(document.definitions), None)
    aliases = 0
    # depth first, as the operation reads, with a stack of our own: (the fields of a selection set still to read,
    # their depth, the depth they may reach)
    stack = [(iter(reader.fields([operation.selection_set], None, frozenset())), 0, limits.max_depth)]
    while stack:
        fields, depth, max_depth = stack.pop()
        for selection, around in fields:
            limit = max_depth
            if depth == 0 and selection.name.value in INTROSPECTION_FIELDS:
                limit = max(max_depth, INTROSPECTION_MAX_DEPTH)
            if selection.alias is not None:
                aliases += 1
            if len(selection.directives or ()) > limits.max_directives_per_field:
                raise TooComplex(
                    f"field {selection.name.value} has {len(selection.directives or ())} directives; at most "
                    f"{limits.max_directives_per_field} (HUB_MAX_DIRECTIVES_PER_FIELD)"
                )
            if selection.selection_set is not None:
                if depth + 1 > limit:
                    setting = "HUB_MAX_DEPTH" if limit == limits.max_depth else "introspection's own limit"
                    raise TooComplex(f"the query is nested deeper than {limit} ({setting})")
                stack.append((fields, depth, max_depth))
                stack.append((iter(reader.fields([selection.selection_set], None, around)), depth + 1, limit))
                break
    if aliases > limits.max_aliases:
        raise TooComplex(f"the query uses {aliases} aliases; at most {limits.max_aliases} (HUB_MAX_ALIASES)")
