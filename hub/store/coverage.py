"""Coverage standards, their sign-offs, and coverage decisions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.kinds import KINDS
from hub.remits import Facts
from hub.store.base import Entity, OrderField, Relation, Session, Where, rows_of_visible_parents, standard_orders
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    check_remit,
    check_transition,
    check_version,
    exists_visible,
    idempotent,
    insert_row,
    lock_in_remit,
    lock_visible,
    reason_text,
    record_event,
    text,
    transition,
    update_row,
)

STANDARD = Entity(
    kind="STANDARD",
    orders={
        **standard_orders("t.title"),
        "DUE_ON": OrderField("t.due_on", "date"),
        "VERSION": OrderField("t.standard_version", "text"),
    },
    default_order="CREATED_AT",
)

DECISION = Entity(
    kind="DECISION",
    orders={
        "CREATED_AT": standard_orders("t.id")["CREATED_AT"],
        "UPDATED_AT": standard_orders("t.id")["UPDATED_AT"],
        "STATE": OrderField("t.state", "text"),
    },
    default_order="CREATED_AT",
)

DECISIONS_BY_MODEL = Relation(DECISION, parent="t.model_id", order="t.created_at")
DECISIONS_BY_STANDARD = Relation(DECISION, parent="t.standard_id", order="t.created_at")


def where_standards(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.search(f.get("search"))
    w.at_least("t.due_on", f.get("due_from"))
    w.before("t.due_on", f.get("due_before"))


def where_decisions(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.outcome", f.get("outcome"))
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.standard_id", f.get("standard_ids"), "bigint")
    w.linked("frontier_models", "l.id = t.model_id", "lab_id", f.get("lab_ids"))
    w.at_least("t.decided_at", f.get("decided_from"))
    w.before("t.decided_at", f.get("decided_before"))


async def signoffs_by_standard(db: Session, standard_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each standard's sign-offs (agency and time), for standards the principal may see."""
    sql = """select so.standard_id, so.agency_id, so.signed_at
               from coverage_signoffs so join coverage_standards t on t.id = so.standard_id"""
    return await rows_of_visible_parents(db, standard_ids, "STANDARD", sql, "so.standard_id", then="so.signed_at")


# ------------------------------------------------------------------------------------------------ writes

OPEN_REQUEST_STATES = KINDS["DECISION"].subset("open_request")
# A decision under a standard that a newer one supersedes is superseded with it, from any state that may move so.
SUPERSEDABLE_DECISION_STATES = KINDS["DECISION"].sources("SUPERSEDED")
CRITERION_KINDS = ("COMPUTE_THRESHOLD", "CAPABILITY_EVAL", "DESIGNATION")
MAX_CRITERIA = 50


def check_criteria(criteria: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """[{kind, description, threshold}]: 1 to 50 criteria, each described; thresholds >= 0, and required where
    the kind is COMPUTE_THRESHOLD (training compute in FLOP)."""
    if not criteria:
        raise bad_input("input.criteria", "a standard needs at least one criterion")
    if len(criteria) > MAX_CRITERIA:
        raise bad_input("input.criteria", f"at most {MAX_CRITERIA} criteria (got {len(criteria)})")
    checked = []
    for index, criterion in enumerate(criteria):
        field = f"input.criteria[{index}]"
        kind = criterion.get("kind")
        if kind not in CRITERION_KINDS:
            raise bad_input(f"{field}.kind", f"must be one of {', '.join(CRITERION_KINDS)}")
        description = text(
            criterion.get("description"), f"{field}.description", required=True, max_length=2000, multiline=True
        )
        threshold = criterion.get("threshold")
        if threshold is None:
            if kind == "COMPUTE_THRESHOLD":
                raise bad_input(f"{field}.threshold", "a COMPUTE_THRESHOLD criterion needs a threshold (FLOP)")
        elif not math.isfinite(threshold) or threshold < 0:
            raise bad_input(f"{field}.threshold", f"must be a number of 0 or more, not {threshold}")
        checked.append(
            {"kind": kind, "description": description, "threshold": float(threshold) if threshold is not None else None}
        )
    return checked


@idempotent("draftCoverageStandard", "STANDARD")
async def draft_standard(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """A CISA or NIST officer drafts a standard; its sign-off agencies and due date come from the policy in force
    now (a later policy change leaves it as drafted); the drafter's agency owns it."""
    check_remit(principal, "STANDARD", "draftCoverageStandard", None)
    version = text(values.get("standard_version"), "input.standardVersion", required=True, max_length=50)
    title = text(values.get("title"), "input.title", required=True, max_length=300)
    summary = text(values.get("summary"), "input.summary", max_length=10000, multiline=True)
    criteria = check_criteria(values.get("criteria"))
    # two drafts racing for one version: the second waits, then gets CONFLICT naming the field
    await con.execute(
        "select pg_advisory_xact_lock(hashtextextended('coverage_standards.standard_version:' || $1, 0))", version
    )
    if await con.fetchval("select exists (select 1 from coverage_standards where standard_version = $1)", version):
        raise Rejected(
            ErrorCode.CONFLICT,
            f"input.standardVersion: standard {version!r} exists already",
            field="input.standardVersion",
        )
    policy = await con.fetchrow(
        "select order_date, standard_due_days, required_signoffs from policy where id = 1 for share"
    )
    assert policy is not None, "the migrations seed the policy"
    created = await insert_row(
        con,
        "coverage_standards",
        {
            "standard_version": version,
            "title": title,
            "summary": summary,
            "criteria": criteria,
            "required_signoffs": list(policy["required_signoffs"]),
            "due_on": policy["order_date"] + timedelta(days=policy["standard_due_days"]),
            "owner_agency_id": principal.agency_id,
            "created_by": principal.id,
        },
    )
    await record_event(
        con,
        principal,
        kind="STANDARD",
        entity_id=created["id"],
        action="DRAFTED",
        to_state="DRAFT",
        details={"standardVersion": version, "requiredSignoffs": list(policy["required_signoffs"])},
    )
    return int(created["id"])


# the moves of a standard that are a mutation of their own: mutation -> (the state it moves to, the event's action)
STANDARD_MOVES = {
    "submitCoverageStandard": ("IN_REVIEW", "SUBMITTED"),
    "withdrawCoverageStandard": ("WITHDRAWN", "WITHDRAWN"),
}


async def move_standard(
    con: asyncpg.Connection,
    principal: Principal,
    standard_id: int,
    expected_version: int,
    reason: str | None,
    *,
    mutation: str,
) -> int:
    """The moves of STANDARD_MOVES: submitCoverageStandard, DRAFT -> IN_REVIEW (the required agencies may sign from
    now on); withdrawCoverageStandard, DRAFT or IN_REVIEW -> WITHDRAWN (an adopted standard is only ever
    superseded)."""
    to, action = STANDARD_MOVES[mutation]
    row = await lock_in_remit(con, principal, "STANDARD", standard_id, mutation, to=to)
    check_version(row, expected_version)
    await transition(con, principal, "STANDARD", row, to, action=action, reason=reason, field="input.id")
    return standard_id


async def sign_standard(
    con: asyncpg.Connection, principal: Principal, standard_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer of a required agency signs for it. The last required signature adopts the standard in the same
    transaction: the standard in force until then is superseded, with its open and decided decisions."""
    row = await lock_in_remit(con, principal, "STANDARD", standard_id, "signCoverageStandard")
    required = list(row["required_signoffs"])
    check_version(row, expected_version)
    # a signature leads to adoption: only a standard the machine lets move to ADOPTED takes one
    check_transition("STANDARD", row["state"], "ADOPTED", field="input.id")
    reason = reason_text(reason)
    signed = {
        r["code"]
        for r in await con.fetch(
            "select a.code from coverage_signoffs s join agencies a on a.id = s.agency_id where s.standard_id = $1",
            standard_id,
        )
    }
    if principal.agency_code in signed:
        raise bad_input("input.id", f"{principal.agency_code} has signed this standard already")
    await insert_row(
        con,
        "coverage_signoffs",
        {"standard_id": standard_id, "agency_id": principal.agency_id, "principal_id": principal.id},
    )
    signed.add(str(principal.agency_code))
    missing = [code for code in required if code not in signed]
    await record_event(
        con,
        principal,
        kind="STANDARD",
        entity_id=standard_id,
        action="SIGNED",
        reason=reason,
        details={"agency": principal.agency_code, "awaiting": missing},
    )
    if missing:
        await update_row(con, "STANDARD", standard_id, {})
        return standard_id

    version = row["standard_version"]
    now = await con.fetchval("select now()")
    # only one standard is in force at a time (a unique index): supersede the old one before adopting
    for old in await con.fetch(
        "select id, state, standard_version from coverage_standards where state = 'ADOPTED' for update"
    ):
        await transition(
            con,
            principal,
            "STANDARD",
            old,
            "SUPERSEDED",
            action="SUPERSEDED",
            reason=f"superseded by standard {version}",
            changes={"superseded_by_id": standard_id},
            details={"supersededById": standard_id},
        )
        for decision in await con.fetch(
            """select id, state from coverage_decisions where standard_id = $1 and state = any($2::text[])
                order by id for update""",
            old["id"],
            sorted(SUPERSEDABLE_DECISION_STATES),
        ):
            await transition(
                con,
                principal,
                "DECISION",
                decision,
                "SUPERSEDED",
                action="SUPERSEDED",
                reason=f"standard {old['standard_version']} superseded by standard {version}",
                details={"standardId": old["id"], "supersededById": standard_id},
            )
    await transition(
        con,
        principal,
        "STANDARD",
        row,
        "ADOPTED",
        action="ADOPTED",
        reason=f"signed by every required agency ({', '.join(required)})",
        changes={"adopted_at": now},
    )
    return standard_id


async def _adopted_standard(con: asyncpg.Connection, principal: Principal, standard_id: int | None) -> tuple[int, str]:
    """The standard a new request is made under, locked against being superseded until the request commits:
    the one named (which must be the adopted one), or the adopted one."""
    if standard_id is not None:
        await exists_visible(con, principal, "STANDARD", [standard_id], field="input.standardId")
        row = await con.fetchrow(
            "select id, state, standard_version from coverage_standards where id = $1 for share", standard_id
        )
        assert row is not None
        if row["state"] != "ADOPTED":
            raise bad_input(
                "input.standardId",
                f"standard {row['standard_version']} is {row['state']}; requests are made under the ADOPTED one",
            )
        return int(row["id"]), row["standard_version"]
    # a second look when the first waited for a signature that superseded the standard it found
    for _ in range(2):
        row = await con.fetchrow(
            "select id, standard_version from coverage_standards where state = 'ADOPTED' for share"
        )
        if row is not None:
            return int(row["id"]), row["standard_version"]
    raise bad_input("input.standardId", "no coverage standard is adopted yet: there is nothing to request under")


@idempotent("requestCoverageDetermination", "DECISION")
async def request_determination(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """The model's lab's liaisons, or CISA and NIST officers on the lab's behalf, ask whether the standard covers
    the model. One open request per model and standard."""
    check_remit(principal, "DECISION", "requestCoverageDetermination", None)
    model_id = values["model_id"]
    # locked: two requests racing for the same model cannot both be the open one
    model = await lock_visible(con, principal, "MODEL", model_id, field="input.modelId")
    check_remit(principal, "DECISION", "requestCoverageDetermination", Facts(lab_id=model["lab_id"]))
    note = text(values.get("note"), "input.note", max_length=5000, multiline=True)
    standard_id, version = await _adopted_standard(con, principal, values.get("standard_id"))
    open_state = await con.fetchval(
        """select state from coverage_decisions where model_id = $1 and standard_id = $2
              and state = any($3::text[]) limit 1""",
        model_id,
        standard_id,
        sorted(OPEN_REQUEST_STATES),
    )
    if open_state is not None:
        raise Rejected(
            ErrorCode.CONFLICT,
            f"input.modelId: the model has an open request under standard {version} ({open_state})",
            field="input.modelId",
        )
    created = await insert_row(
        con,
        "coverage_decisions",
        {"model_id": model_id, "standard_id": standard_id, "request_note": note, "requested_by": principal.id},
    )
    await record_event(
        con,
        principal,
        kind="DECISION",
        entity_id=created["id"],
        action="REQUESTED",
        to_state="REQUESTED",
        details={"modelId": model_id, "standardId": standard_id},
    )
    return int(created["id"])


async def _lock_decision(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, mutation: str, to: str
) -> dict[str, Any]:
    """The decision, locked, after the remit of `mutation` (a move to `to`) and the version are checked."""
    row = await lock_in_remit(con, principal, "DECISION", decision_id, mutation, to=to)
    check_version(row, expected_version)
    return row


async def start_assessment(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, reason: str | None
) -> int:
    row = await _lock_decision(
        con, principal, decision_id, expected_version, "startCoverageAssessment", "UNDER_ASSESSMENT"
    )
    await transition(
        con,
        principal,
        "DECISION",
        row,
        "UNDER_ASSESSMENT",
        action="ASSESSMENT_STARTED",
        reason=reason,
        field="input.id",
    )
    return decision_id


async def decide(
    con: asyncpg.Connection,
    principal: Principal,
    decision_id: int,
    expected_version: int,
    outcome: str,
    rationale: str | None,
) -> int:
    """Record the outcome. COVERED only makes the model eligible for an invitation: nothing else changes, least of
    all the model's release status."""
    row = await _lock_decision(con, principal, decision_id, expected_version, "decideCoverage", "DECIDED")

    async def decided(row: dict[str, Any]) -> dict[str, Any]:
        if outcome not in ("COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION"):
            raise bad_input("input.outcome", "must be COVERED, NOT_COVERED or INSUFFICIENT_INFORMATION")
        checked = text(rationale, "input.rationale", required=True, max_length=10000, multiline=True)
        now = await con.fetchval("select now()")
        return {
            "outcome": outcome,
            "rationale": checked,
            "decided_by": principal.id,
            "decided_by_agency_id": principal.agency_id,
            "decided_at": now,
        }

    await transition(
        con,
        principal,
        "DECISION",
        row,
        "DECIDED",
        action="DECIDED",
        field="input.id",
        prepare=decided,
        details={"outcome": outcome, "previousOutcome": row["outcome"]},
    )
    return decision_id


async def request_reconsideration(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, reason: str | None
) -> int:
    """The lab asks again; the decision it questions stays on record until the next one."""
    row = await _lock_decision(
        con, principal, decision_id, expected_version, "requestCoverageReconsideration", "RECONSIDERATION_REQUESTED"
    )
    await transition(
        con,
        principal,
        "DECISION",
        row,
        "RECONSIDERATION_REQUESTED",
        action="RECONSIDERATION_REQUESTED",
        reason=reason,
        reason_required=True,
        field="input.id",
    )
    return decision_id


async def withdraw_request(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, reason: str | None
) -> int:
    """The lab withdraws its request, whenever the state machine allows."""
    row = await _lock_decision(con, principal, decision_id, expected_version, "withdrawCoverageRequest", "WITHDRAWN")
    await transition(con, principal, "DECISION", row, "WITHDRAWN", action="WITHDRAWN", reason=reason, field="input.id")
    return decision_id
