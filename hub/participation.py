"""Participation checked on every write that acts for a lab (docs/design.md, "Participation").

The program is voluntary: nothing is registered, requested or started for a lab that has not chosen to take part.
A lab has chosen once it is ENGAGED or PARTICIPATING (hub/kinds.py, LAB's subset `taking_part`); INVITED,
DECLINED and WITHDRAWN labs are refused with LAB_NOT_PARTICIPATING, whoever writes. The lab's own liaisons can
always change the lab's participation (setLabParticipation), which is how a lab chooses, and always withdraw what
they opened.

Which writes act for a lab: those that register, request or start something for it, whoever sends them (a liaison's
model, compute estimate, evaluation result, coverage request or reconsideration; an agency's recorded model or
coverage request on the lab's behalf; an early-access request, offer or acceptance; an engagement). An agency's
own records about a model (its findings, its compute estimate or evaluation result, its designation, its cyber
measures) are the agency's, not the lab's, and are not checked; nor are moves that end something (a withdrawal,
a termination), nor the lab's own release status, a public fact the lab may always record.

Lock order: the lab's row first. The check reads it FOR SHARE; a lab's leaving (set_lab_participation) locks it FOR
UPDATE and then closes everything open (close_for_lab) in the same transaction. So a write that passed the check
commits before the leaving goes on, and the leaving closes what it wrote too; a write that comes after sees DECLINED
or WITHDRAWN and is refused. Nothing opened for a lab outlives its leaving. A write checks the lab before it locks
a record of the lab (lock_for_lab) and before its first event (the events' chain lock, hub/workflow.py's
record_event, is held to commit), as the leaving does, so that the two never wait for each other in a circle.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.access import Params
from hub.auth import Principal
from hub.kinds import KINDS
from hub.workflow import (
    ErrorCode,
    Rejected,
    check_remit,
    exists_visible,
    lock_in_remit,
    record_facts,
    transition,
)

TAKING_PART = KINDS["LAB"].subset("taking_part")

# What a lab's leaving the program (DECLINED or WITHDRAWN) closes, each record through its state machine with an
# event of its own: (kind, the states it closes, the state it moves them to). Decided coverage outcomes are not
# here: an outcome is a fact about the model under a standard, and stands.
CLOSED_WHEN_THE_LAB_LEAVES: tuple[tuple[str, frozenset[str], str], ...] = (
    ("REQUEST", KINDS["REQUEST"].subset("open"), "WITHDRAWN"),
    ("AGREEMENT", KINDS["AGREEMENT"].subset("open"), "WITHDRAWN_BY_LAB"),
    ("ENGAGEMENT", KINDS["ENGAGEMENT"].subset("open"), "WITHDRAWN"),
    ("DECISION", KINDS["DECISION"].subset("open_request"), "WITHDRAWN"),
)

# the event of each record closed so
CLOSED_ACTION = "LAB_LEFT_PROGRAM"

# What a decision's withdrawal clears: the round of signatures pending in AWAITING_CONCURRENCE (sql/009, the CHECK
# constraint coverage_decisions_pending_check), whoever withdraws it (hub/store/coverage.py, withdraw_request)
DECISION_PENDING_CLEARED: dict[str, Any] = dict.fromkeys(
    ("pending_outcome", "pending_rationale", "pending_override_reason", "pending_screening_id")
)
# the columns a kind's closing clears besides its state
CLEARED_WHEN_CLOSED: dict[str, dict[str, Any]] = {"DECISION": DECISION_PENDING_CLEARED}


async def check_taking_part(con: asyncpg.Connection, lab_id: int, *, field: str, doing: str) -> str:
    """The lab's participation, when it has chosen to take part; else LAB_NOT_PARTICIPATING naming `field` (the
    input that names the lab or its model) and what was refused (`doing`, e.g. "asked for early access")."""
    row = await con.fetchrow("select name, participation from labs where id = $1 for share", lab_id)
    if row is None:
        raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no such lab", field=field)
    state = row["participation"]
    if state not in TAKING_PART:
        raise Rejected(
            ErrorCode.LAB_NOT_PARTICIPATING,
            f"{field}: {row['name']} is {state} in the program, not ENGAGED or PARTICIPATING: nothing is {doing} for "
            "a lab that has not chosen to take part (the lab's liaisons change its participation)",
            field=field,
        )
    return str(state)


async def lab_taking_part(
    con: asyncpg.Connection, principal: Principal, kind: str, record_id: int, *, field: str, doing: str
) -> int:
    """The lab of a record of `kind` the caller may see (NOT_FOUND naming `field` otherwise), once it is checked to
    take part: for a create that names a record of the lab (a model, say). Returns the lab's id."""
    await exists_visible(con, principal, kind, [record_id], field=field)
    lab_id = (await record_facts(con, kind, record_id)).lab_id
    assert lab_id is not None, f"a {kind} concerns no lab"
    await check_taking_part(con, lab_id, field=field, doing=doing)
    return lab_id


async def lock_for_lab(
    con: asyncpg.Connection,
    principal: Principal,
    kind: str,
    record_id: int,
    action: str,
    *,
    doing: str,
    to: str | None = None,
    field: str = "input.id",
) -> dict[str, Any]:
    """lock_in_remit for a write that acts for the record's lab: the record must be visible (NOT_FOUND) and in the
    caller's remit (FORBIDDEN), its lab taking part (LAB_NOT_PARTICIPATING), checked in that order; the lab's row
    is locked before the record's (the lock order above)."""
    await exists_visible(con, principal, kind, [record_id], field=field)
    facts = await record_facts(con, kind, record_id)
    check_remit(principal, kind, action, facts, to=to)
    assert facts.lab_id is not None, f"a {kind} concerns no lab"
    await check_taking_part(con, facts.lab_id, field=field, doing=doing)
    return await lock_in_remit(con, principal, kind, record_id, action, to=to, field=field)


async def lock_participation(con: asyncpg.Connection) -> set[int]:
    """Every lab's row FOR SHARE, in id order, so that no lab joins or leaves until the caller commits; the ids of
    the labs taking part. For a write that may open something for many labs at once (a standard's adoption carries
    requests over): call it before the write's first event, since the events' chain lock (held to commit) comes
    after the labs' rows in the lock order, as in a lab's leaving."""
    rows = await con.fetch("select id, participation from labs order by id for share")
    return {int(r["id"]) for r in rows if r["participation"] in TAKING_PART}


def leaving_reason(to: str, day: Any) -> str:
    """The neutral reason each closed record's event gives: what the lab did, and when (a UTC date)."""
    did = "declined to take part in the program" if to == "DECLINED" else "withdrew from the program"
    return f"the lab {did} on {day.isoformat()}"


async def close_for_lab(con: asyncpg.Connection, principal: Principal, lab_id: int, to: str) -> dict[str, list[int]]:
    """Close everything the lab had open, in the caller's transaction (set_lab_participation's, which holds the
    lab's row FOR UPDATE): each record of CLOSED_WHEN_THE_LAB_LEAVES, locked, moved through the state machine with
    its own event, actor the principal who moved the lab, and the neutral reason. Returns the ids closed per kind.
    Every record of the lab is closed, whether or not the principal may see it: the lab's leaving is the lab's."""
    day = await con.fetchval("select (now() at time zone 'UTC')::date")
    reason = leaving_reason(to, day)
    closed: dict[str, list[int]] = {}
    for kind, states, target in CLOSED_WHEN_THE_LAB_LEAVES:
        k = KINDS[kind]
        lab = k.lab_sql or f"t.{k.lab_column}"
        p = Params()
        rows = await con.fetch(
            f"select t.* from {k.table} t where ({lab}) = {p(lab_id)} and t.{k.state_column} = any({p(sorted(states))})"
            " order by t.id for update of t",
            *p.values,
        )
        for row in rows:
            await transition(
                con,
                principal,
                kind,
                dict(row),
                target,
                action=CLOSED_ACTION,
                reason=reason,
                field="input.to",
                changes=CLEARED_WHEN_CLOSED.get(kind),
                details={"labParticipation": to},
            )
        closed[kind] = [int(r["id"]) for r in rows]
    return closed


__all__ = [
    "CLOSED_WHEN_THE_LAB_LEAVES",
    "TAKING_PART",
    "check_taking_part",
    "close_for_lab",
    "lab_taking_part",
    "lock_for_lab",
    "lock_participation",
]
