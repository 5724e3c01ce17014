"""Request limits checked before any SQL runs: depth, aliases, root fields and directives per field (the token
count is checked by the parser). Each is a setting; going over one is a QUERY_TOO_COMPLEX error naming the limit."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_root_fields: int = 20
    max_directives_per_field: int = 5
    max_tokens: int = 5000
    # 0: no cost limit (the cost is still computed and reported)
    max_cost: int = 500_000


class TooComplex(Exception):
    """A request over a limit; the message names the limit and the setting that raises it."""


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def check(document: DocumentNode, operation: OperationDefinitionNode, limits: Limits) -> None:
    """Raise TooComplex when `operation` goes over a limit."""
    fragments = _fragments(document)
    aliases = 0
    deepest = 0

    def walk(selection_set: SelectionSetNode | None, depth: int, seen: frozenset[str]) -> None:
        nonlocal aliases, deepest
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    aliases += 1
                if len(selection.directives or ()) > limits.max_directives_per_field:
                    raise TooComplex(
                        f"field {selection.name.value} has {len(selection.directives or ())} directives; at most "
                        f"{limits.max_directives_per_field} (HUB_MAX_DIRECTIVES_PER_FIELD)"
                    )
                if selection.selection_set is not None:
                    deepest = max(deepest, depth + 1)
                    if deepest > limits.max_depth:
                        raise TooComplex(f"the query is nested deeper than {limits.max_depth} (HUB_MAX_DEPTH)")
                    walk(selection.selection_set, depth + 1, seen)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, depth, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in seen or name not in fragments:
                    continue  # a cycle or an unknown fragment: validation reports it
                walk(fragments[name].selection_set, depth, seen | {name})

    root_fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    if len(root_fields) > limits.max_root_fields:
        raise TooComplex(
            f"the operation has {len(root_fields)} root fields; at most {limits.max_root_fields} (HUB_MAX_ROOT_FIELDS)"
        )
    walk(operation.selection_set, 0, frozenset())
    if aliases > limits.max_aliases:
        raise TooComplex(f"the query uses {aliases} aliases; at most {limits.max_aliases} (HUB_MAX_ALIASES)")
