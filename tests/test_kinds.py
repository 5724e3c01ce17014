"""The kinds registry (hub/kinds.py): every state machine is whole, and what maps a kind to something reads it."""

from __future__ import annotations

import dataclasses

import pytest

from hub import access
from hub.kinds import KINDS, Kind, event_kinds, machine_problems, stateful_kinds


@pytest.mark.parametrize("kind", stateful_kinds(), ids=lambda k: k.name)
def test_every_state_is_final_or_has_a_move_and_every_move_names_a_state(kind: Kind) -> None:
    assert machine_problems(kind) == []
    for state in kind.states:
        assert (state in kind.final) != bool(kind.next_states(state)), state
        assert set(kind.next_states(state)) <= set(kind.states)
        assert state not in kind.next_states(state), f"{state} moves to itself"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"final": frozenset()}, "DEPRECATED is neither final nor has a move"),
        ({"final": frozenset({"DEPRECATED", "GENERALLY_AVAILABLE"})}, "GENERALLY_AVAILABLE is final but has moves"),
        (
            {"moves": {**KINDS["MODEL"].moves, "GENERALLY_AVAILABLE": ("RETIRED",)}},
            "GENERALLY_AVAILABLE moves to RETIRED, which is not a state",
        ),
        ({"subsets": {"public": frozenset({"RELEASED"})}}, "the set public names RELEASED, which are not states"),
    ],
)
def test_a_broken_machine_is_refused_when_the_registry_is_built(change: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        dataclasses.replace(KINDS["MODEL"], **change)  # type: ignore[arg-type]


def test_the_maps_of_kinds_to_tables_are_the_registry() -> None:
    assert access.TLP_TABLES == {
        "FINDING": "findings",
        "MEASURE": "cyber_measures",
        "ENGAGEMENT": "infrastructure_engagements",
    }
    assert access.TLP_LAB_COLUMN == {"FINDING": "lab_id", "MEASURE": None, "ENGAGEMENT": "lab_id"}
    assert set(access.ENTITY_TABLES) == {k.name for k in event_kinds()} - {"POLICY", "PRINCIPAL"}
    assert all(access.ENTITY_TABLES[name] == KINDS[name].table for name in access.ENTITY_TABLES)
    assert [k.name for k in event_kinds()] == [
        "AGENCY",
        "LAB",
        "MODEL",
        "AGREEMENT",
        "STANDARD",
        "DECISION",
        "FINDING",
        "MEASURE",
        "ENGAGEMENT",
        "POLICY",
        "PRINCIPAL",
    ]


def test_every_store_entity_reads_the_table_of_its_kind() -> None:
    from schema import schema  # noqa: F401 - fills NODE_TYPES
    from schema.common import NODE_TYPES

    for type_name, (entity, _) in NODE_TYPES.items():
        assert KINDS[entity.kind].type_name == type_name
        assert entity.table == KINDS[entity.kind].table
