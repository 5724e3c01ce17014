"""The kinds registry (hub/kinds.py): every state machine is whole; what maps a kind to something reads it; the
database's state constraints and docs/workflows.md's tables are the registry's; remits are predicates over the
principal and the record, one per mutation."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from hub import access, db, kinds_doc
from hub.auth import Principal
from hub.kinds import (
    EVENT_KIND_CONSTRAINT,
    KINDS,
    Kind,
    allowed_moves,
    check_constraints_sql,
    event_kinds,
    machine_problems,
    stateful_kinds,
)
from hub.remits import HUB, Facts
from hub.workflow import Forbidden, check_remit, remit_verdict

DOC = Path(__file__).resolve().parent.parent / "docs" / "workflows.md"


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
    assert set(access.ENTITY_TABLES) == {k.name for k in event_kinds()} - {"POLICY", "POLICY_VERSION", "PRINCIPAL"}
    assert all(access.ENTITY_TABLES[name] == KINDS[name].table for name in access.ENTITY_TABLES)
    assert [k.name for k in event_kinds()] == [
        "AGENCY",
        "LAB",
        "MODEL",
        "AGREEMENT",
        "REQUEST",
        "STANDARD",
        "DECISION",
        "COMPUTE_ESTIMATE",
        "EVAL_SUITE",
        "EVAL_RESULT",
        "DESIGNATION",
        "FINDING",
        "MEASURE",
        "COUNTERPART",
        "ENGAGEMENT",
        "POLICY",
        "POLICY_VERSION",
        "PRINCIPAL",
        "WEBHOOK",
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


# ------------------------------------------------------------------------------------------------ remits


def test_every_mutation_has_a_remit_and_every_remit_is_a_mutation_or_the_hub_s() -> None:
    from schema import schema

    mutations = set(schema._schema.mutation_type.fields)  # type: ignore[union-attr]
    by_principals = {r.action for k in KINDS.values() for r in k.remits if r.who is not HUB}
    by_hub = {r.action for k in KINDS.values() for r in k.remits if r.who is HUB}
    assert by_principals == mutations
    assert by_hub == {"complete", "supersede", "disable"} and not by_hub & mutations


def test_every_move_is_made_by_some_remit_but_the_one_no_mutation_makes_yet() -> None:
    unmade = {
        (k.name, state, to)
        for k in stateful_kinds()
        for state in k.states
        for to in k.next_states(state)
        if not any(r.moves_to(to) for r in k.remits)
    }
    # a standard in review goes back to draft in the machine, but no mutation does it yet
    assert unmade == {("STANDARD", "IN_REVIEW", "DRAFT")}


def test_the_documented_tables_are_the_registry() -> None:
    text = DOC.read_text()
    assert kinds_doc.rewrite(text) == text, "docs/workflows.md is stale: run `make docs`"


def principal(role: str, *, agency: str | None = None, lab: int | None = None, pk: int = 7) -> Principal:
    agency_ids = {"CISA": 1, "NIST": 2, "DOD": 3}
    return Principal(
        id=pk,
        name="t",
        role=role,
        agency_id=agency_ids.get(agency or ""),
        agency_code=agency,
        lab_id=lab,
    )


CISA_OFFICER = principal("OFFICER", agency="CISA")
CISA_ANALYST = principal("ANALYST", agency="CISA")
NIST_ADMIN = principal("ADMIN", agency="NIST")
DOD_OFFICER = principal("OFFICER", agency="DOD")
DOD_VIEWER = principal("VIEWER", agency="DOD")
LIAISON_1 = principal("LAB_LIAISON", lab=1)
LIAISON_2 = principal("LAB_LIAISON", lab=2)


@pytest.mark.parametrize(
    ("who", "kind", "action", "facts", "to", "verdict"),
    [
        # before the record is known: refused only when no record could be in the remit
        (LIAISON_1, "MODEL", "registerModel", None, None, None),
        # models are registered and changed by their lab alone; an agency records a publicly released one
        (CISA_OFFICER, "MODEL", "registerModel", None, None, False),
        (CISA_OFFICER, "MODEL", "updateModel", Facts(lab_id=1), None, False),
        (DOD_OFFICER, "MODEL", "registerModel", None, None, False),
        (DOD_OFFICER, "MODEL", "recordPublicModel", Facts(lab_id=1), None, True),
        (CISA_ANALYST, "MODEL", "recordPublicModel", Facts(lab_id=1), None, False),
        (LIAISON_1, "MODEL", "recordPublicModel", Facts(lab_id=1), None, False),
        (LIAISON_1, "MODEL", "registerModel", Facts(lab_id=1), None, True),
        (LIAISON_2, "MODEL", "registerModel", Facts(lab_id=1), None, False),
        # the lab moves its participation anywhere; CISA and NIST only invite again
        (LIAISON_1, "LAB", "setLabParticipation", Facts(lab_id=1), "WITHDRAWN", True),
        (CISA_OFFICER, "LAB", "setLabParticipation", Facts(lab_id=1), "INVITED", True),
        (CISA_OFFICER, "LAB", "setLabParticipation", Facts(lab_id=1), "ENGAGED", False),
        (CISA_ANALYST, "LAB", "setLabParticipation", Facts(lab_id=1), "INVITED", False),
        # named on the agreement, as an officer
        (NIST_ADMIN, "AGREEMENT", "acceptEarlyAccess", Facts(lab_id=1, agencies=("CISA", "NIST")), "ACTIVE", True),
        (DOD_OFFICER, "AGREEMENT", "acceptEarlyAccess", Facts(lab_id=1, agencies=("CISA", "NIST")), "ACTIVE", False),
        (LIAISON_1, "AGREEMENT", "withdrawEarlyAccess", Facts(lab_id=1), "WITHDRAWN_BY_LAB", True),
        # the owning agency's writers; the lab declines or withdraws an engagement, nothing else
        (CISA_ANALYST, "FINDING", "transitionFinding", Facts(owner_agency_id=1), "TRIAGED", True),
        (DOD_OFFICER, "FINDING", "transitionFinding", Facts(owner_agency_id=1), "TRIAGED", False),
        (CISA_ANALYST, "FINDING", "shareFinding", Facts(owner_agency_id=1), None, False),
        (LIAISON_1, "ENGAGEMENT", "transitionEngagement", Facts(lab_id=1, owner_agency_id=1), "DECLINED", True),
        (LIAISON_1, "ENGAGEMENT", "transitionEngagement", Facts(lab_id=1, owner_agency_id=1), "ACTIVE", False),
        (CISA_OFFICER, "ENGAGEMENT", "transitionEngagement", Facts(lab_id=1, owner_agency_id=1), "ACTIVE", True),
        (DOD_VIEWER, "MEASURE", "transitionMeasure", Facts(owner_agency_id=3), "DEPLOYING", False),
        # tokens: one's own, or an admin's of the holder's agency
        (LIAISON_1, "PRINCIPAL", "revokeToken", Facts(principal_id=7), None, True),
        (NIST_ADMIN, "PRINCIPAL", "revokeToken", Facts(principal_id=8, owner_agency_id=2), None, True),
        (NIST_ADMIN, "PRINCIPAL", "revokeToken", Facts(principal_id=8, owner_agency_id=1), None, False),
        # the hub's own moves are nobody else's
        (None, "AGREEMENT", "complete", Facts(), "COMPLETED", True),
        (CISA_OFFICER, "AGREEMENT", "complete", Facts(), "COMPLETED", False),
    ],
)
def test_a_remit_is_a_predicate_over_the_principal_and_the_record(
    who: Principal | None, kind: str, action: str, facts: Facts | None, to: str | None, verdict: bool | None
) -> None:
    assert remit_verdict(who, kind, action, facts, to=to) is verdict
    if verdict is False:
        with pytest.raises(Forbidden, match=f"outside your remit: {action} is for "):
            check_remit(who, kind, action, facts, to=to)
    else:
        check_remit(who, kind, action, facts, to=to)


def test_a_refusal_says_who_may_with_the_record_s_agencies() -> None:
    with pytest.raises(Forbidden) as refused:
        check_remit(DOD_OFFICER, "STANDARD", "signCoverageStandard", Facts(agencies=("CISA", "NIST")))
    assert str(refused.value) == (
        "outside your remit: signCoverageStandard is for officers and admins of an agency whose sign-off the "
        "standard needs (CISA, NIST)"
    )


@pytest.mark.parametrize(
    ("who", "kind", "facts", "moves"),
    [
        (LIAISON_1, "LAB", Facts(lab_id=1, state="INVITED"), ["ENGAGED", "DECLINED", "WITHDRAWN"]),
        (CISA_OFFICER, "LAB", Facts(lab_id=1, state="DECLINED"), ["INVITED"]),
        (CISA_OFFICER, "LAB", Facts(lab_id=1, state="INVITED"), []),
        (DOD_VIEWER, "LAB", Facts(lab_id=1, state="DECLINED"), []),
        (CISA_OFFICER, "AGREEMENT", Facts(lab_id=1, agencies=("CISA",), state="ACTIVE"), ["TERMINATED"]),
        (LIAISON_1, "AGREEMENT", Facts(lab_id=1, agencies=("CISA",), state="ACTIVE"), ["WITHDRAWN_BY_LAB"]),
        (None, "AGREEMENT", Facts(lab_id=1, state="ACTIVE"), ["COMPLETED"]),
        (LIAISON_1, "ENGAGEMENT", Facts(lab_id=1, owner_agency_id=1, state="SCOPING"), ["DECLINED", "WITHDRAWN"]),
        (LIAISON_1, "FINDING", Facts(lab_id=1, owner_agency_id=1, state="REPORTED"), []),
        (CISA_OFFICER, "FINDING", Facts(lab_id=1, owner_agency_id=1, state="REMEDIATED"), []),
    ],
)
def test_the_moves_a_principal_may_make(who: Principal | None, kind: str, facts: Facts, moves: list[str]) -> None:
    assert allowed_moves(who, kind, facts) == moves
