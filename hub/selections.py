"""The one reader of an operation's selections, shared by the request limits (hub/limits.py), the cost model
(hub/cost.py), the SQL compiler (schema/compiler/) and the resolvers' look-ahead (schema/lookahead.py).

It expands fragments and inline fragments as execution does (graphql-core's `collect_fields`): a fragment applies
when its type condition is the object's type or an abstract type the object belongs to, each fragment is expanded
at most once per collection, and `@skip`/`@include` are applied when variables are given. Unlike graphql-core's, it
also reads documents that have not been validated (the limits run before validation): without a type it expands
every fragment, an unknown fragment is passed over, and a fragment is never expanded inside itself. It walks with a
stack of its own, never by recursion, so a chain of any length of fragments spreading each other costs no Python
frames (tests/test_selections.py spreads 550).

A strict reader (the compiler's and the look-ahead's) refuses, with `Unreadable`, what it cannot read exactly as
execution would: an unknown fragment, a directive other than @skip/@include, a directive argument that is not a
boolean.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    SelectionSetNode,
    VariableNode,
    is_abstract_type,
)

Runtime = GraphQLObjectType | str | None


class Unreadable(Exception):
    """A selection a strict reader cannot read as execution would."""


class SelectionReader:
    """Reads the selections of one document.

    `schema` resolves type conditions (None: every fragment applies); `variables` are the values @skip/@include read
    (None: neither is applied, every selection counts)."""

    def __init__(
        self,
        schema: GraphQLSchema | None,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
        *,
        strict: bool = False,
    ) -> None:
        self.graphql_schema = schema
        self.fragments = fragments
        self.variables = variables
        self.strict = strict

    def included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        """Whether @skip/@include keep the selection (always, without variables)."""
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                if self.strict:
                    raise Unreadable(f"directive @{name}")
                continue
            if self.variables is None:
                continue
            condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
            value: Any = None
            if isinstance(condition, BooleanValueNode):
                value = condition.value
            elif isinstance(condition, VariableNode):
                value = self.variables.get(condition.name.value)
            if not isinstance(value, bool):
                if self.strict:
                    raise Unreadable(f"the argument of @{name}")
                continue  # a bad value: validation or execution reports it; count the selection
            if (name == "skip") == value:
                return False
        return True

    def applies(self, condition: NamedTypeNode | str | None, runtime: Runtime) -> bool:
        """Whether a fragment on `condition` applies to an object of type `runtime` (itself, or an interface or
        union it belongs to); every fragment applies when there is no runtime type or no schema."""
        if condition is None or runtime is None or self.graphql_schema is None:
            return True
        condition_name = condition if isinstance(condition, str) else condition.name.value
        runtime_name = runtime if isinstance(runtime, str) else runtime.name
        if condition_name == runtime_name:
            return True
        abstract = self.graphql_schema.get_type(condition_name)
        concrete = self.graphql_schema.get_type(runtime_name)
        if abstract is None or not is_abstract_type(abstract) or not isinstance(concrete, GraphQLObjectType):
            return False
        return bool(self.graphql_schema.is_sub_type(abstract, concrete))  # type: ignore[arg-type]

    def fields(
        self, selection_sets: Sequence[SelectionSetNode], runtime: Runtime, within: frozenset[str] | None = None
    ) -> list[tuple[FieldNode, frozenset[str] | None]]:
        """The field nodes the selection sets select on an object of type `runtime`, in document order, fragments
        expanded (each once). With `within` (the fragments around the selection sets, which are not expanded
        again), each field comes with the fragments around it, to pass on to its own selection set; without, with
        None."""
        found: list[tuple[FieldNode, frozenset[str] | None]] = []
        expanded: set[str] | None = None  # the fragments expanded so far (made at the first spread)
        # the selections still to read, innermost last; a fragment suspends the selections it is in
        stack: list[tuple[Iterator[Any], frozenset[str] | None]]
        if len(selection_sets) == 1:
            stack = [(iter(selection_sets[0].selections), within)]
        else:
            stack = [(iter(s.selections), within) for s in reversed(selection_sets)]
        while stack:
            selections, around = stack.pop()
            for selection in selections:
                if selection.directives and not self.included(selection):
                    continue
                kind = selection.kind
                if kind == "field":
                    found.append((selection, around))
                    continue
                if kind == "inline_fragment":
                    if not self.applies(selection.type_condition, runtime):
                        continue
                    inner, inner_around = selection.selection_set, around
                else:  # a fragment spread
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is None:
                        if self.strict:
                            raise Unreadable(f"unknown fragment {name}")
                        continue  # validation reports it
                    if expanded is None:
                        expanded = set(within or ())
                    if name in expanded or not self.applies(fragment.type_condition, runtime):
                        continue
                    expanded.add(name)
                    inner, inner_around = fragment.selection_set, None if around is None else around | {name}
                stack.append((selections, around))
                stack.append((iter(inner.selections), inner_around))
                break
        return found

    def collect(self, selection_sets: Sequence[SelectionSetNode], runtime: Runtime) -> dict[str, list[FieldNode]]:
        """The fields of the selection sets on an object of type `runtime`, by response key, in order (fragments
        expanded, @skip/@include applied, same-key fields merged), as execution groups them."""
        grouped: dict[str, list[FieldNode]] = {}
        for node, _ in self.fields(selection_sets, runtime):
            key = node.alias.value if node.alias else node.name.value
            grouped.setdefault(key, []).append(node)
        return grouped

    def cyclic(self) -> bool:
        """Whether a fragment spreads itself, directly or through others (a validation error: NoFragmentCyclesRule);
        collecting level by level would then never end."""
        spreads = {name: _spreads(f.selection_set) for name, f in self.fragments.items()}
        state: dict[str, int] = {}  # 1: on the path being walked, 2: done
        for start in spreads:
            if state.get(start):
                continue
            state[start] = 1
            path: list[tuple[str, Iterator[str]]] = [(start, iter(spreads[start]))]
            while path:
                name, following = path[-1]
                nxt = next(following, None)
                if nxt is None:
                    state[name] = 2
                    path.pop()
                elif state.get(nxt) == 1:
                    return True
                elif nxt in spreads and not state.get(nxt):
                    state[nxt] = 1
                    path.append((nxt, iter(spreads[nxt])))
        return False

    @staticmethod
    def subselections(nodes: Iterable[FieldNode]) -> list[SelectionSetNode]:
        return [n.selection_set for n in nodes if n.selection_set is not None]


def _spreads(selection_set: SelectionSetNode) -> set[str]:
    """The names of the fragments spread anywhere in a selection set (under its fields too)."""
    names: set[str] = set()
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.add(selection.name.value)
            elif selection.selection_set is not None:  # type: ignore[attr-defined]
                stack.append(selection.selection_set)  # type: ignore[attr-defined]
    return names


def fragments_of(definitions: Iterable[Any]) -> dict[str, FragmentDefinitionNode]:
    """A document's fragment definitions by name."""
    return {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
