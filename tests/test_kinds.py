"""The kinds registry (hub/kinds.py): every state machine is whole, and what maps a kind to something reads it."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hub import access, db
from hub.kinds import (
    EVENT_KIND_CONSTRAINT,
    KINDS,
    Kind,
    check_constraints_sql,
    event_kinds,
    machine_problems,
    stateful_kinds,
)


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


CHECKED_VALUES = re.compile(r"'([^']*)'::text")


async def check_constraints(url: str, table: str) -> dict[str, str]:
    """The CHECK constraints of `table`: name -> definition (pg_get_constraintdef)."""
    con = await db.connect(url)
    try:
        rows = await con.fetch(
            """select conname, pg_get_constraintdef(oid) as definition from pg_constraint
                where contype = 'c' and conrelid = $1::regclass""",
            table,
        )
        return {r["conname"]: r["definition"] for r in rows}
    finally:
        await con.close()


def listed_values(definition: str, column: str) -> list[str] | None:
    """The values a `column in (...)` constraint allows, or None when the definition is not one."""
    if not re.fullmatch(rf"CHECK \(\({column} = ANY \(ARRAY\[('[^']*'::text(, )?)+\]\)\)\)", definition):
        return None
    return CHECKED_VALUES.findall(definition)


@pytest.mark.parametrize("kind", stateful_kinds(), ids=lambda k: k.name)
async def test_each_state_column_allows_exactly_the_registry_s_states(demo_url: str, kind: Kind) -> None:
    column = str(kind.state_column)
    constraints = await check_constraints(demo_url, kind.table)
    assert kind.state_constraint in constraints, f"no CHECK constraint {kind.state_constraint}: add a migration"
    allowed = listed_values(constraints[kind.state_constraint], column)
    assert allowed is not None, constraints[kind.state_constraint]
    # both ways: every state of the registry may be stored, and nothing else
    assert set(allowed) == set(kind.states), "the registry and the database differ: add a migration (hub.kinds)"
    # and no second list of the states stands beside it
    others = [name for name, d in constraints.items() if name != kind.state_constraint and listed_values(d, column)]
    assert others == []


async def test_events_name_exactly_the_registry_s_kinds(demo_url: str) -> None:
    constraints = await check_constraints(demo_url, "events")
    allowed = listed_values(constraints[EVENT_KIND_CONSTRAINT], "entity_kind")
    assert allowed is not None and set(allowed) == {k.name for k in event_kinds()}


def test_the_constraints_sql_lists_every_state() -> None:
    sql = check_constraints_sql()
    for kind in stateful_kinds():
        assert f"add constraint {kind.state_constraint} check ({kind.state_column} in (" in sql
        assert all(f"'{state}'" in sql for state in kind.states)
