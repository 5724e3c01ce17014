"""The one reader of selections (hub/selections.py) that the limits, the cost model, the SQL compiler and the
look-ahead share: fields in execution's order, fragments as execution expands them, and no recursion however long
a chain of fragments is."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, parse
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_variable_values

from hub.cost import operation_cost
from hub.limits import Limits, TooComplex
from hub.limits import check as check_limits
from hub.selections import SelectionReader, Unreadable, fragments_of
from schema import schema

GQL = schema._schema


def chain(length: int, tail: str = "me { name }", root: str = "") -> str:
    """An operation whose root spreads F0, F0 spreads F1, ... and the last one selects `tail`."""
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length - 1))
    return f"query {{ {root} ...F0 }} {fragments} fragment F{length - 1} on Query {{ {tail} }}"


def operation_of(document: Any) -> OperationDefinitionNode:
    return next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))


@contextmanager
def few_frames(spare: int = 150) -> Iterator[None]:
    """Python may stack only `spare` frames more than it has now: a walker that recursed once per fragment of a long
    chain would raise RecursionError."""
    depth = len(inspect.stack(0))
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + spare)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def test_a_chain_of_550_fragment_spreads_is_read_without_recursion() -> None:
    document = parse(chain(550))
    operation = operation_of(document)
    with few_frames():
        reader = SelectionReader(GQL, fragments_of(document.definitions), {})
        assert list(reader.collect([operation.selection_set], GQL.query_type)) == ["me"]
        assert not reader.cyclic()
        # the limits read it before validation, the cost after
        check_limits(document, operation, Limits())
        assert operation_cost(GQL, document, operation) == 2


def test_the_limits_still_see_what_a_long_chain_hides() -> None:
    deep = "labs { edges { node { " + "models { lab { " * 6 + "name" + " } }" * 6 + " } } }"
    document = parse(chain(550, deep))
    with few_frames(), pytest.raises(TooComplex, match="HUB_MAX_DEPTH"):
        check_limits(document, operation_of(document), Limits())
    aliased = " ".join(f"a{i}: me {{ name }}" for i in range(31))
    document = parse(chain(550, aliased))
    with few_frames(), pytest.raises(TooComplex, match="HUB_MAX_ALIASES"):
        check_limits(document, operation_of(document), Limits())


def test_a_fragment_cycle_ends_every_walker() -> None:
    """A cycle is a validation error; the limits read it before validation and pass it on to validation."""
    text = "fragment F on Finding { measures { findings { ...F } } } { findings { edges { node { ...F } } } }"
    document = parse(text)
    check_limits(document, operation_of(document), Limits())
    assert SelectionReader(GQL, fragments_of(document.definitions), {}).cyclic()
    assert operation_cost(GQL, document, operation_of(document)) == 0
    self_spread = parse("query { ...A } fragment A on Query { ...B me { name } } fragment B on Query { ...A }")
    check_limits(self_spread, operation_of(self_spread), Limits())
    assert SelectionReader(GQL, fragments_of(self_spread.definitions), {}).cyclic()


def test_fragments_spread_twice_at_every_level_are_read_once() -> None:
    """Without expanding a fragment once per selection, 30 levels of two spreads each would be 2**30 walks."""
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30))
    document = parse(f"query {{ ...F0 }} {fragments} fragment F30 on Query {{ me {{ name }} }}")
    operation = operation_of(document)
    check_limits(document, operation, Limits())
    assert operation_cost(GQL, document, operation) == 2


READS = [
    """query($s: Boolean!, $i: Boolean!) {
         a: findings(first: 2) { nodes { id ...F title @skip(if: $s) } }
         ... on Query { me { name } agencies @include(if: $i) { totalCount } }
         findings(first: 1) { totalCount }
         a: findings(first: 2) { nodes { tlp } }
       }
       fragment F on Finding { state ... on Node { id } cve: cveId }""",
    """{ node(id: "x") { id ... on Finding { title } ... on Lab { name } ...N } }
       fragment N on Node { __typename ... on FrontierModel { name } }""",
]


@pytest.mark.parametrize("text", READS)
@pytest.mark.parametrize("flags", [(True, False), (False, True)])
def test_fields_are_collected_as_graphql_core_collects_them(text: str, flags: tuple[bool, bool]) -> None:
    document = parse(text)
    operation = operation_of(document)
    coerced = get_variable_values(GQL, operation.variable_definitions or (), {"s": flags[0], "i": flags[1]})
    assert not isinstance(coerced, list)
    fragments = fragments_of(document.definitions)
    reader = SelectionReader(GQL, fragments, coerced.coerced, strict=True)
    # graphql-core's own reader, as execution runs it
    from graphql.execution.collect_fields import FragmentDetails, collect_subfields

    def keys(grouped: dict[str, Any]) -> list[tuple[str, list[int]]]:
        return [(key, [id(getattr(n, "node", n)) for n in nodes]) for key, nodes in grouped.items()]

    details = {name: FragmentDetails(definition) for name, definition in fragments.items()}
    ours = reader.collect([operation.selection_set], GQL.query_type)
    theirs = collect_fields(GQL, details, coerced, GQL.query_type, operation).grouped_field_set
    assert keys(ours) == keys(theirs)
    for key, nodes in ours.items():
        field = GQL.query_type.fields[nodes[0].name.value]
        child = field.type
        while hasattr(child, "of_type"):
            child = child.of_type
        runtimes = GQL.get_possible_types(child) if hasattr(child, "resolve_type") else [child]
        for runtime in runtimes:
            if not hasattr(runtime, "fields"):
                continue
            ours_below = reader.collect(reader.subselections(nodes), runtime)
            theirs_below = collect_subfields(GQL, details, coerced, operation, runtime, theirs[key]).grouped_field_set
            assert keys(ours_below) == keys(theirs_below), (key, runtime)


def test_a_strict_reader_refuses_what_it_cannot_read_exactly() -> None:
    document = parse("{ me { ...Missing name @deprecated } }")
    me: Any = operation_of(document).selection_set.selections[0]
    assert isinstance(me, FieldNode)
    strict = SelectionReader(GQL, fragments_of(document.definitions), {}, strict=True)
    with pytest.raises(Unreadable, match="Missing"):
        strict.collect([me.selection_set], "Principal")
    lenient = SelectionReader(GQL, fragments_of(document.definitions), {})
    assert list(lenient.collect([me.selection_set], "Principal")) == ["name"]
