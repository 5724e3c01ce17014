"""Coverage standards, their sign-offs, and coverage decisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from hub.access import STANDING_DECISION_STATES, Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, sql_list
from hub.participation import DECISION_PENDING_CLEARED, check_taking_part, lock_for_lab, lock_participation
from hub.quantities import COMPUTE_UNITS, SCORE_BOUNDS, QuantityError, decimal_text, to_flop, to_score_unit
from hub.remits import Facts
from hub.screening import OUTCOMES, Screening, screen, screen_one
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
    text_list,
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

SCREENING = Entity(
    kind="SCREENING",
    orders={"CREATED_AT": standard_orders("t.id")["CREATED_AT"]},
    default_order="CREATED_AT",
)

DECISIONS_BY_MODEL = Relation(DECISION, parent="t.model_id", order="t.created_at")
SCREENINGS_BY_DECISION = Relation(SCREENING, parent="t.decision_id", order="t.created_at")
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
    if f.get("is_override") is not None:
        w.add(f"t.is_override = {w.p(bool(f['is_override']))}::boolean")
    if f.get("awaiting_rescreening") is not None:
        queued = awaiting_rescreening("t")
        w.add(queued if f["awaiting_rescreening"] else f"not {queued}")


def awaiting_rescreening(t: str) -> str:
    """The rescreening queue (docs/design.md, "Coverage"): is decision `t` standing under a standard that is no longer
    the one in force, its model waiting for a decision in effect under the adopted standard?"""
    return (
        f"({t}.outcome is not null and {t}.state in {sql_list(STANDING_DECISION_STATES)}"
        f" and exists (select 1 from coverage_standards q where q.state = 'ADOPTED' and q.id <> {t}.standard_id))"
    )


# on the way to adoption (hub/kinds.py): the dry run applies the newest of them by default
PENDING_STANDARD_STATES = KINDS["STANDARD"].subset("pending")


async def standards_in(db: Session, states: Sequence[str]) -> list[dict[str, Any]]:
    """The standards in `states` that the principal may see, newest first."""
    p = Params()
    rows = await db.fetch(
        f"""select t.id, t.state, t.created_at from coverage_standards t
             where t.state = any({p(list(states))}::text[]) and {visible("STANDARD", "t", db.principal, p)}
             order by t.created_at desc, t.id desc""",
        *p.values,
    )
    return [dict(r) for r in rows]


async def signoffs_by_standard(db: Session, standard_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each standard's sign-offs (agency and time), for standards the principal may see."""
    sql = """select so.standard_id, so.agency_id, so.signed_at
               from coverage_signoffs so join coverage_standards t on t.id = so.standard_id"""
    return await rows_of_visible_parents(db, standard_ids, "STANDARD", sql, "so.standard_id", then="so.signed_at")


# ------------------------------------------------------------------------------------------------ writes

OPEN_REQUEST_STATES = KINDS["DECISION"].subset("open_request")
# An undecided request under a standard that a newer one supersedes is carried over to the newer one.
UNDECIDED_STATES = KINDS["DECISION"].subset("undecided")
FINAL_DECISION_STATES = KINDS["DECISION"].final
MAX_CRITERIA = 50
METRICS = ("TRAINING_COMPUTE", "EVALUATION_SCORE", "DESIGNATION")
SCOPES = ("PRE_TRAINING", "POST_TRAINING", "TOTAL")
OPERATORS = {"GTE": ">=", "GT": ">", "LTE": "<=", "LT": "<"}
SOURCES = ("LAB_REPORTED", "AGENCY_ESTIMATED", "HIGHER_OF_TWO")
COMBINATIONS = ("ANY_OF", "ALL_OF")


def not_evaluable(field: str, message: str) -> Rejected:
    return Rejected(ErrorCode.CRITERION_NOT_EVALUABLE, f"{field}: {message}", field=field)


async def check_criteria(con: asyncpg.Connection, criteria: Sequence[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Typed criteria, each checked against the data it will read: a metric with what it needs (a compute scope; a
    suite that exists; agencies that exist), a threshold converted into the unit the inputs are stored in, an operator
    and a source. A criterion the hub could not evaluate is refused here, naming its field, never at screening."""
    if not criteria:
        raise bad_input("input.criteria", "a standard needs at least one criterion")
    if len(criteria) > MAX_CRITERIA:
        raise bad_input("input.criteria", f"at most {MAX_CRITERIA} criteria (got {len(criteria)})")
    checked = []
    for index, c in enumerate(criteria):
        field = f"input.criteria[{index}]"
        metric, unit, threshold = c.get("metric"), c.get("unit"), c.get("threshold")
        if metric not in METRICS:
            raise bad_input(f"{field}.metric", f"must be one of {', '.join(METRICS)}")
        operator = c.get("operator") or "GTE"
        if operator not in OPERATORS:
            raise bad_input(f"{field}.operator", f"must be one of {', '.join(OPERATORS)}")
        source = c.get("source") or "HIGHER_OF_TWO"
        if source not in SOURCES:
            raise bad_input(f"{field}.source", f"must be one of {', '.join(SOURCES)}")
        if not isinstance(threshold, Decimal) or not threshold.is_finite() or threshold < 0:
            raise bad_input(f"{field}.threshold", "must be a decimal of 0 or more, written as a string")
        description = text(c.get("description"), f"{field}.description", max_length=2000, multiline=True)
        scope, suite_id, agency_ids = c.get("compute_scope"), c.get("suite_id"), []
        if metric != "TRAINING_COMPUTE" and scope is not None:
            raise not_evaluable(
                f"{field}.computeScope", f"only a TRAINING_COMPUTE criterion counts compute, not {metric}"
            )
        if metric != "EVALUATION_SCORE" and suite_id is not None:
            raise not_evaluable(f"{field}.suiteId", f"only an EVALUATION_SCORE criterion reads a suite, not {metric}")
        if metric != "DESIGNATION" and c.get("designating_agencies"):
            raise not_evaluable(f"{field}.designatingAgencies", "only a DESIGNATION criterion names agencies")
        if metric == "TRAINING_COMPUTE":
            if scope not in SCOPES:
                raise not_evaluable(
                    f"{field}.computeScope", f"a TRAINING_COMPUTE criterion says what it counts: {', '.join(SCOPES)}"
                )
            if unit not in COMPUTE_UNITS:
                raise not_evaluable(
                    f"{field}.unit", f"{unit} is not a unit of compute: use one of {', '.join(COMPUTE_UNITS)}"
                )
            stored, stored_unit = to_flop(threshold, unit), "FLOP"
        elif metric == "EVALUATION_SCORE":
            if suite_id is None:
                raise not_evaluable(f"{field}.suiteId", "an EVALUATION_SCORE criterion names the suite, at a version")
            suite = await con.fetchrow(
                "select id, name, suite_version, score_unit from evaluation_suites where id = $1", suite_id
            )
            if suite is None:
                raise not_evaluable(f"{field}.suiteId", "no such evaluation suite")
            try:
                stored = to_score_unit(threshold, str(unit), suite["score_unit"])
            except (QuantityError, KeyError) as e:
                raise not_evaluable(f"{field}.unit", str(e)) from None
            stored_unit = suite["score_unit"]
            top = SCORE_BOUNDS.get(stored_unit)
            if top is not None and stored > top:
                raise not_evaluable(
                    f"{field}.threshold",
                    f"{threshold} {unit} is beyond the suite's scale (at most {top} {stored_unit})",
                )
        else:
            if unit != "DESIGNATIONS":
                raise not_evaluable(f"{field}.unit", "a DESIGNATION criterion counts DESIGNATIONS")
            if threshold != threshold.to_integral_value():
                raise not_evaluable(f"{field}.threshold", "designations are counted in whole numbers")
            codes = (
                text_list(
                    c.get("designating_agencies"),
                    f"{field}.designatingAgencies",
                    max_length=20,
                    pattern=r"[A-Z][A-Z0-9_]*",
                    hint=": an agency code such as CISA",
                )
                or []
            )
            rows = await con.fetch("select id, code from agencies where code = any($1::text[])", codes)
            known = {r["code"] for r in rows}
            for position, code in enumerate(codes):
                if code not in known:
                    raise not_evaluable(f"{field}.designatingAgencies[{position}]", f"no agency {code}")
            agency_ids = sorted(r["id"] for r in rows)
            stored, stored_unit = threshold, "DESIGNATIONS"
        checked.append(
            {
                "position": index,
                "metric": metric,
                "compute_scope": scope if metric == "TRAINING_COMPUTE" else None,
                "suite_id": suite_id if metric == "EVALUATION_SCORE" else None,
                "designating_agency_ids": agency_ids,
                "unit": stored_unit,
                "operator": operator,
                "threshold": stored,
                "written_as": f"{OPERATORS[operator]} {decimal_text(threshold)} {unit}",
                "source": source,
                "description": description,
            }
        )
    return checked


async def criteria_by_standard(db: Session, standard_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each standard's typed criteria, in order, for standards the principal may see."""
    sql = """select c.*, su.name as suite_name, su.suite_version,
                    array(select a.code from agencies a where a.id = any(c.designating_agency_ids) order by a.code)
                        as designating_agencies
               from coverage_criteria c join coverage_standards t on t.id = c.standard_id
               left join evaluation_suites su on su.id = c.suite_id"""
    return await rows_of_visible_parents(db, standard_ids, "STANDARD", sql, "c.standard_id", then="c.position")


async def signatures_by_decision(db: Session, decision_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each decision's signatures, every round, oldest first, for decisions the principal may see."""
    sql = """select sg.*, a.code as agency_code
               from coverage_decision_signatures sg join coverage_decisions t on t.id = sg.decision_id
               join agencies a on a.id = sg.agency_id"""
    return await rows_of_visible_parents(db, decision_ids, "DECISION", sql, "sg.decision_id", then="sg.id")


@idempotent("draftCoverageStandard", "STANDARD")
async def draft_standard(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """A CISA or NIST officer drafts a standard; its sign-off agencies and due date come from the policy in force
    now (a later policy change leaves it as drafted); the drafter's agency owns it."""
    check_remit(principal, "STANDARD", "draftCoverageStandard", None)
    version = text(values.get("standard_version"), "input.standardVersion", required=True, max_length=50)
    title = text(values.get("title"), "input.title", required=True, max_length=300)
    summary = text(values.get("summary"), "input.summary", max_length=10000, multiline=True)
    combine = values.get("combine") or "ANY_OF"
    if combine not in COMBINATIONS:
        raise bad_input("input.combine", f"must be one of {', '.join(COMBINATIONS)}")
    criteria = await check_criteria(con, values.get("criteria"))
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
            "combine": combine,
            "required_signoffs": list(policy["required_signoffs"]),
            "due_on": policy["order_date"] + timedelta(days=policy["standard_due_days"]),
            "owner_agency_id": principal.agency_id,
            "created_by": principal.id,
        },
    )
    for criterion in criteria:
        await insert_row(con, "coverage_criteria", {"standard_id": created["id"], **criterion})
    await record_event(
        con,
        principal,
        kind="STANDARD",
        entity_id=created["id"],
        action="DRAFTED",
        to_state="DRAFT",
        details={
            "standardVersion": version,
            "requiredSignoffs": list(policy["required_signoffs"]),
            "combine": combine,
            "criteria": [c["written_as"] for c in criteria],
        },
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
    # the labs' rows before anything else (hub/participation.py, lock order): an adoption carries requests over for
    # the labs that take part, and none joins or leaves meanwhile
    await lock_participation(con)
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
    old_standards = await con.fetch(
        "select id, state, standard_version from coverage_standards where state = 'ADOPTED' for update"
    )
    for old in old_standards:
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
    await carry_over(con, principal, standard_id, version)
    return standard_id


async def carry_over(con: asyncpg.Connection, principal: Principal, standard_id: int, version: str) -> None:
    """The new standard is adopted: revisions lose nothing (docs/design.md, "Coverage"). A decision in effect under
    an older standard stays DECIDED, its outcome standing, until a decision under the new one is in effect; an
    undecided request is carried over. Either way the model is screened under the new standard and a request under
    it is opened (the lab's request stands; it may withdraw it): the rescreening queue, each screening an event.
    Only for the models of labs that take part: nothing is requested for a lab that left the program, whose
    decided outcomes stand (docs/design.md, "Participation")."""
    # locked already by sign_standard, before its first event (hub/participation.py, lock order)
    taking_part = await lock_participation(con)
    old = await con.fetch(
        """select d.id, d.state, d.model_id, d.outcome, s.standard_version, m.lab_id
             from coverage_decisions d join coverage_standards s on s.id = d.standard_id
             join frontier_models m on m.id = d.model_id
            where d.standard_id <> $1 and d.state <> all($2::text[])
              and (d.outcome is not null or d.state = any($3::text[]))
            order by d.model_id, d.id for update of d""",
        standard_id,
        sorted(FINAL_DECISION_STATES),
        sorted(UNDECIDED_STATES),
    )
    if not old:
        return
    already = {
        r["model_id"]
        for r in await con.fetch(
            "select model_id from coverage_decisions where standard_id = $1 and state <> all($2::text[])",
            standard_id,
            sorted(FINAL_DECISION_STATES),
        )
    }
    by_model: dict[int, list[dict[str, Any]]] = {}
    for r in old:
        by_model.setdefault(r["model_id"], []).append(dict(r))
    already |= {model_id for model_id, ds in by_model.items() if ds[0]["lab_id"] not in taking_part}
    screenings = {s.model_id: s for s in await screen(con, principal, [standard_id], sorted(set(by_model) - already))}
    for model_id, decisions in by_model.items():
        new_id = None
        if model_id not in already and model_id in screenings:
            screening = screenings[model_id]
            created = await insert_row(
                con,
                "coverage_decisions",
                {
                    "model_id": model_id,
                    "standard_id": standard_id,
                    "request_note": f"carried over to standard {version} from decision {decisions[-1]['id']}"
                    f" under standard {decisions[-1]['standard_version']}; the lab may withdraw it",
                },
            )
            new_id = int(created["id"])
            screening_id = await store_screening(con, principal, new_id, screening, "ADOPTION")
            await con.execute(
                "update coverage_decisions set latest_screening_id = $2 where id = $1", new_id, screening_id
            )
            await record_event(
                con,
                principal,
                kind="DECISION",
                entity_id=new_id,
                action="RESCREENED",
                to_state="REQUESTED",
                reason=f"standard {version} adopted",
                details={
                    "standardId": standard_id,
                    "carriedOverFrom": [d["id"] for d in decisions],
                    "screeningId": screening_id,
                    "proposedOutcome": screening.proposed_outcome,
                },
            )
        for d in decisions:
            if d["outcome"] is None:
                await transition(
                    con,
                    principal,
                    "DECISION",
                    d,
                    "SUPERSEDED",
                    action="SUPERSEDED",
                    reason=f"standard {d['standard_version']} superseded by standard {version}; "
                    + (
                        "the request is carried over" + (f" as decision {new_id}" if new_id else "")
                        if d["lab_id"] in taking_part
                        else "the lab does not take part in the program: nothing is requested for it"
                    ),
                    details={"supersededById": standard_id, "carriedOverTo": new_id},
                    changes={
                        "pending_outcome": None,
                        "pending_rationale": None,
                        "pending_override_reason": None,
                        "pending_screening_id": None,
                    },
                )


async def store_screening(
    con: asyncpg.Connection, principal: Principal | None, decision_id: int, screening: Screening, trigger: str
) -> int:
    """Keep a screening of a decision with the inputs exactly as used; its id."""
    screening_id = await con.fetchval(
        """insert into coverage_screenings (decision_id, model_id, lab_id, standard_id, proposed_outcome, results,
                                            trigger, screened_by, screened_by_agency_id)
           select $1, m.id, m.lab_id, $3, $4, $5::jsonb, $6, $7, $8 from frontier_models m where m.id = $2
           returning id""",
        decision_id,
        screening.model_id,
        screening.standard_id,
        screening.proposed_outcome,
        [r.as_json() for r in screening.results],
        trigger,
        principal.id if principal is not None else None,
        principal.agency_id if principal is not None else None,
    )
    return int(screening_id)


async def screen_decision(
    con: asyncpg.Connection, principal: Principal, decision: Mapping[str, Any], trigger: str
) -> tuple[int, Screening]:
    """Screen the decision's model under its standard now, keep it as the decision's latest screening."""
    screening = await screen_one(con, principal, decision["standard_id"], decision["model_id"])
    screening_id = await store_screening(con, principal, decision["id"], screening, trigger)
    await con.execute(
        "update coverage_decisions set latest_screening_id = $2 where id = $1", decision["id"], screening_id
    )
    return screening_id, screening


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
    the model, while the lab takes part (docs/design.md, "Participation"). One open request per model and
    standard."""
    check_remit(principal, "DECISION", "requestCoverageDetermination", None)
    model_id = values["model_id"]
    await exists_visible(con, principal, "MODEL", [model_id], field="input.modelId")
    lab_id = await con.fetchval("select lab_id from frontier_models where id = $1", model_id)
    check_remit(principal, "DECISION", "requestCoverageDetermination", Facts(lab_id=lab_id))
    # the lab's row before the model's (hub/participation.py, lock order)
    await check_taking_part(con, lab_id, field="input.modelId", doing="requested")
    # locked: two requests racing for the same model cannot both be the open one
    await lock_visible(con, principal, "MODEL", model_id, field="input.modelId")
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
    screening_id, screening = await screen_decision(con, principal, created, "REQUESTED")
    await record_event(
        con,
        principal,
        kind="DECISION",
        entity_id=created["id"],
        action="REQUESTED",
        to_state="REQUESTED",
        details={
            "modelId": model_id,
            "standardId": standard_id,
            "screeningId": screening_id,
            "proposedOutcome": screening.proposed_outcome,
        },
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


async def _check_adopted(con: asyncpg.Connection, decision: Mapping[str, Any]) -> None:
    """Decisions are made under the standard in force: one under a superseded standard stands as it is, and its
    model's request is carried over to the new standard."""
    standard = await con.fetchrow(
        "select state, standard_version from coverage_standards where id = $1", decision["standard_id"]
    )
    assert standard is not None
    if standard["state"] != "ADOPTED":
        raise bad_input(
            "input.id",
            f"standard {standard['standard_version']} is {standard['state']}: decisions are made under the adopted"
            " standard (the request under it carries this one over)",
        )


async def _required(con: asyncpg.Connection, decision: Mapping[str, Any]) -> list[str]:
    return list(
        await con.fetchval("select required_signoffs from coverage_standards where id = $1", decision["standard_id"])
    )


async def _signed(con: asyncpg.Connection, decision_id: int, round_: int) -> set[str]:
    return {
        r["code"]
        for r in await con.fetch(
            """select a.code from coverage_decision_signatures s join agencies a on a.id = s.agency_id
                where s.decision_id = $1 and s.round = $2""",
            decision_id,
            round_,
        )
    }


async def _sign(
    con: asyncpg.Connection,
    principal: Principal,
    decision_id: int,
    round_: int,
    action: str,
    outcome: str,
    reason: str | None,
) -> None:
    """The caller's agency signs round `round_` of the decision: once per agency and round."""
    if principal.agency_code in await _signed(con, decision_id, round_):
        raise Rejected(
            ErrorCode.ALREADY_SIGNED,
            f"input.id: {principal.agency_code} has signed this decision already (round {round_})",
            field="input.id",
        )
    await insert_row(
        con,
        "coverage_decision_signatures",
        {
            "decision_id": decision_id,
            "round": round_,
            "agency_id": principal.agency_id,
            "principal_id": principal.id,
            "action": action,
            "outcome": outcome,
            "reason": reason,
        },
    )


async def _in_effect(con: asyncpg.Connection, principal: Principal, row: Mapping[str, Any], reason: str) -> None:
    """The decision `row` (AWAITING_CONCURRENCE) takes effect: its pending outcome becomes its outcome, and the
    decisions on the model that stood under older standards are superseded by it, each with its event."""
    first = await con.fetchrow(
        """select principal_id, agency_id from coverage_decision_signatures
            where decision_id = $1 and round = $2 and action = 'DECIDED'""",
        row["id"],
        row["signature_round"],
    )
    proposal = await con.fetchval(
        "select proposed_outcome from coverage_screenings where id = $1", row["pending_screening_id"]
    )
    now = await con.fetchval("select now()")
    await transition(
        con,
        principal,
        "DECISION",
        row,
        "DECIDED",
        action="DECIDED",
        reason=reason,
        field="input.id",
        changes={
            "outcome": row["pending_outcome"],
            "rationale": row["pending_rationale"],
            "override_reason": row["pending_override_reason"],
            "is_override": row["pending_override_reason"] is not None,
            "proposed_outcome": proposal,
            "screening_id": row["pending_screening_id"],
            "decided_by": first["principal_id"] if first else principal.id,
            "decided_by_agency_id": first["agency_id"] if first else principal.agency_id,
            "decided_at": now,
            "pending_outcome": None,
            "pending_rationale": None,
            "pending_override_reason": None,
            "pending_screening_id": None,
        },
        details={
            "outcome": row["pending_outcome"],
            "previousOutcome": row["outcome"],
            "proposedOutcome": proposal,
            "override": row["pending_override_reason"] is not None,
            "round": row["signature_round"],
        },
    )
    for older in await con.fetch(
        """select d.id, d.state from coverage_decisions d
            where d.model_id = $1 and d.id <> $2 and d.outcome is not null and d.state = any($3::text[])
            order by d.id for update""",
        row["model_id"],
        row["id"],
        sorted(STANDING_DECISION_STATES),
    ):
        await transition(
            con,
            principal,
            "DECISION",
            older,
            "SUPERSEDED",
            action="SUPERSEDED",
            reason=f"decision {row['id']} under a newer standard is in effect",
            details={"supersededByDecisionId": row["id"]},
        )


async def decide(
    con: asyncpg.Connection,
    principal: Principal,
    decision_id: int,
    expected_version: int,
    outcome: str,
    rationale: str | None,
    override_reason: str | None = None,
) -> int:
    """An officer of an agency the standard names decides, signing for it: the hub screens the model now, and an
    outcome that differs from the proposal is an override and needs its reason. The decision takes effect when every
    other agency the standard names has concurred (AWAITING_CONCURRENCE until then), at once when there is none.
    COVERED means the program asks the lab for early access; the lab decides. Nothing else changes, least of all the
    model's release status."""
    row = await lock_in_remit(con, principal, "DECISION", decision_id, "decideCoverage", to="AWAITING_CONCURRENCE")
    check_version(row, expected_version)
    check_transition("DECISION", row["state"], "AWAITING_CONCURRENCE", field="input.id")
    if outcome not in OUTCOMES:
        raise bad_input("input.outcome", f"must be one of {', '.join(OUTCOMES)}")
    checked = text(rationale, "input.rationale", required=True, max_length=10000, multiline=True)
    override = text(override_reason, "input.overrideReason", max_length=10000, multiline=True)
    await _check_adopted(con, row)
    screening_id, screening = await screen_decision(con, principal, row, "DECIDED")
    if outcome != screening.proposed_outcome and override is None:
        raise Rejected(
            ErrorCode.OVERRIDE_REASON_REQUIRED,
            f"input.overrideReason: the screening proposes {screening.proposed_outcome}; an outcome of {outcome}"
            " overrides it and needs a reason",
            field="input.overrideReason",
        )
    if outcome == screening.proposed_outcome and override is not None:
        raise bad_input(
            "input.overrideReason", f"the outcome is the screening's proposal ({outcome}): there is nothing to override"
        )
    round_ = row["signature_round"] + 1
    await _sign(con, principal, decision_id, round_, "DECIDED", outcome, checked)
    awaiting = [code for code in await _required(con, row) if code != principal.agency_code]
    row = await transition(
        con,
        principal,
        "DECISION",
        row,
        "AWAITING_CONCURRENCE",
        action="SIGNED",
        # the rationale (up to 10,000 characters) is the signature's and the decision's; an event's reason is short
        reason=None,
        field="input.id",
        changes={
            "pending_outcome": outcome,
            "pending_rationale": checked,
            "pending_override_reason": override,
            "pending_screening_id": screening_id,
            "signature_round": round_,
        },
        details={
            "agency": principal.agency_code,
            "outcome": outcome,
            "proposedOutcome": screening.proposed_outcome,
            "override": override is not None,
            "awaiting": awaiting,
            "round": round_,
        },
    )
    if not awaiting:
        await _in_effect(con, principal, row, f"signed by {principal.agency_code}, the one agency the standard names")
    return decision_id


def _awaiting(row: Mapping[str, Any]) -> None:
    if row["state"] != "AWAITING_CONCURRENCE":
        raise Rejected(
            ErrorCode.INVALID_TRANSITION,
            f"input.id: the decision is {row['state']}; only one AWAITING_CONCURRENCE takes a concurrence or an"
            " objection",
            field="input.id",
            allowed=KINDS["DECISION"].next_states(row["state"]),
        )


async def concur(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer of another agency the standard names concurs, signing for it; the last concurrence puts the
    decision in effect."""
    row = await lock_in_remit(con, principal, "DECISION", decision_id, "concurCoverageDecision", to="DECIDED")
    check_version(row, expected_version)
    _awaiting(row)
    reason = reason_text(reason)
    await _check_adopted(con, row)
    await _sign(con, principal, decision_id, row["signature_round"], "CONCURRED", row["pending_outcome"], reason)
    signed = await _signed(con, decision_id, row["signature_round"])
    missing = [code for code in await _required(con, row) if code not in signed]
    await record_event(
        con,
        principal,
        kind="DECISION",
        entity_id=decision_id,
        action="CONCURRED",
        reason=reason,
        details={"agency": principal.agency_code, "awaiting": missing, "round": row["signature_round"]},
    )
    if missing:
        await update_row(con, "DECISION", decision_id, {})
    else:
        agencies = ", ".join(sorted(signed))
        await _in_effect(con, principal, row, f"signed by every agency the standard names ({agencies})")
    return decision_id


async def object_to(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer of another agency the standard names objects, with a reason: the decision goes back to
    UNDER_ASSESSMENT (an outcome in effect before stands), the objection in its signatures and history."""
    row = await lock_in_remit(
        con, principal, "DECISION", decision_id, "objectToCoverageDecision", to="UNDER_ASSESSMENT"
    )
    check_version(row, expected_version)
    _awaiting(row)
    checked = reason_text(reason, required=True)
    await _sign(con, principal, decision_id, row["signature_round"], "OBJECTED", row["pending_outcome"], checked)
    await transition(
        con,
        principal,
        "DECISION",
        row,
        "UNDER_ASSESSMENT",
        action="OBJECTED",
        reason=checked,
        field="input.id",
        changes={
            "pending_outcome": None,
            "pending_rationale": None,
            "pending_override_reason": None,
            "pending_screening_id": None,
        },
        details={
            "agency": principal.agency_code,
            "objectedTo": row["pending_outcome"],
            "round": row["signature_round"],
        },
    )
    return decision_id


async def rescreen(con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int) -> int:
    """Screen the decision's model again on the inputs as they stand: a new screening, kept, and an event."""
    row = await lock_in_remit(con, principal, "DECISION", decision_id, "rescreenCoverage")
    check_version(row, expected_version)
    if row["state"] in FINAL_DECISION_STATES:
        raise Rejected(
            ErrorCode.INVALID_TRANSITION,
            f"input.id: the decision is {row['state']}, which is final: it is not screened again",
            field="input.id",
            allowed=[],
        )
    screening_id, screening = await screen_decision(con, principal, row, "RESCREENED")
    await update_row(con, "DECISION", decision_id, {})
    await record_event(
        con,
        principal,
        kind="DECISION",
        entity_id=decision_id,
        action="RESCREENED",
        details={"screeningId": screening_id, "proposedOutcome": screening.proposed_outcome},
    )
    return decision_id


# the kinds of record a lab may name as evidence for a reconsideration
EVIDENCE_KINDS = ("COMPUTE_ESTIMATE", "EVAL_RESULT")


async def request_reconsideration(
    con: asyncpg.Connection,
    principal: Principal,
    decision_id: int,
    expected_version: int,
    reason: str | None,
    evidence: Sequence[tuple[str, int]] = (),
) -> int:
    """The lab answers a decision with new evidence (compute estimates or evaluation results on the model): a new
    screening starts, and the decision it questions keeps its outcome standing until the next one is in effect."""
    row = await lock_for_lab(
        con,
        principal,
        "DECISION",
        decision_id,
        "requestCoverageReconsideration",
        to="RECONSIDERATION_REQUESTED",
        doing="requested",
    )
    check_version(row, expected_version)
    check_transition("DECISION", row["state"], "RECONSIDERATION_REQUESTED", field="input.id")
    if not evidence:
        raise bad_input("input.evidence", "a reconsideration answers the decision with new evidence: name at least one")
    if len(evidence) > 50:
        raise bad_input("input.evidence", f"at most 50 records (got {len(evidence)})")
    named = []
    for index, (kind, record_id) in enumerate(evidence):
        field = f"input.evidence[{index}]"
        if kind not in EVIDENCE_KINDS:
            raise bad_input(field, "evidence is a ComputeEstimate or an EvaluationResult")
        await exists_visible(con, principal, kind, [record_id], field=field)
        model_id = await con.fetchval(f"select model_id from {KINDS[kind].table} where id = $1", record_id)
        if model_id != row["model_id"]:
            raise bad_input(field, "the evidence is about another model")
        named.append({"kind": kind, "id": record_id})
    checked = reason_text(reason, required=True)
    screening_id, screening = await screen_decision(con, principal, row, "RECONSIDERATION")
    await transition(
        con,
        principal,
        "DECISION",
        row,
        "RECONSIDERATION_REQUESTED",
        action="RECONSIDERATION_REQUESTED",
        reason=checked,
        field="input.id",
        details={"evidence": named, "screeningId": screening_id, "proposedOutcome": screening.proposed_outcome},
    )
    return decision_id


async def withdraw_request(
    con: asyncpg.Connection, principal: Principal, decision_id: int, expected_version: int, reason: str | None
) -> int:
    """The lab withdraws its request, whenever the state machine allows."""
    row = await _lock_decision(con, principal, decision_id, expected_version, "withdrawCoverageRequest", "WITHDRAWN")
    await transition(
        con,
        principal,
        "DECISION",
        row,
        "WITHDRAWN",
        action="WITHDRAWN",
        reason=reason,
        field="input.id",
        changes=DECISION_PENDING_CLEARED,
    )
    return decision_id
