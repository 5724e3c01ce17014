"""The inputs of a coverage screening (docs/design.md, "Coverage"), as records of their own: compute estimates,
the register of evaluation suites and their results, and agencies' designations of models.

A compute estimate or an evaluation result is LAB_REPORTED when a liaison of the model's lab writes it, and
AGENCY_ESTIMATED (with the agency that made it) when an agency principal does: the method follows the caller.
Quantities are exact decimals (hub/quantities.py): compute is stored in FLOP, a score in its suite's unit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.participation import check_taking_part
from hub.quantities import SCORE_BOUNDS, SCORE_UNITS, QuantityError, to_flop, to_score_unit
from hub.remits import Facts
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    check_remit,
    check_version,
    exists_visible,
    idempotent,
    insert_row,
    lock_in_remit,
    record_event,
    text,
    transition,
    write_unique,
)

_RECORD_ORDERS = {k: v for k, v in standard_orders("t.id").items() if k != "NAME"}

COMPUTE_ESTIMATE = Entity(
    kind="COMPUTE_ESTIMATE",
    orders={**_RECORD_ORDERS, "AS_OF": OrderField("t.as_of", "date")},
    default_order="CREATED_AT",
)

EVAL_SUITE = Entity(kind="EVAL_SUITE", orders=standard_orders("t.name"), default_order="CREATED_AT")


def _result_suite(principal: Principal, p: Any) -> str:
    # a result's score is in its suite's unit: read beside it (every principal who may see a result sees the suites)
    return "join evaluation_suites score_suite on score_suite.id = t.suite_id"


EVAL_RESULT = Entity(
    kind="EVAL_RESULT",
    columns="t.*, score_suite.score_unit",
    lateral=_result_suite,
    orders={**_RECORD_ORDERS, "RAN_ON": OrderField("t.ran_on", "date")},
    default_order="CREATED_AT",
)

DESIGNATION = Entity(
    kind="DESIGNATION",
    orders={**_RECORD_ORDERS, "STATE": OrderField("t.state", "text")},
    default_order="CREATED_AT",
)

ESTIMATES_BY_MODEL = Relation(COMPUTE_ESTIMATE, parent="t.model_id", order="t.created_at")
RESULTS_BY_MODEL = Relation(EVAL_RESULT, parent="t.model_id", order="t.created_at")
RESULTS_BY_SUITE = Relation(EVAL_RESULT, parent="t.suite_id", order="t.created_at")
DESIGNATIONS_BY_MODEL = Relation(DESIGNATION, parent="t.model_id", order="t.created_at")
SUITES_BY_OWNER_AGENCY = Relation(EVAL_SUITE, parent="t.owner_agency_id", order="t.created_at")

METHODS = ("LAB_REPORTED", "AGENCY_ESTIMATED")
CAPABILITY_AREAS = ("CYBER_OFFENSE", "CYBER_DEFENSE", "CBRN", "AUTONOMY", "PERSUASION", "GENERAL")
SHA256_HEX = "0123456789abcdef"


def where_compute_estimates(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.any_of("t.method", f.get("method"))


def where_evaluation_suites(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.capability_area", f.get("capability_area"))
    w.search(f.get("search"), column="to_tsvector('simple', t.name || ' ' || t.suite_version)")


def where_evaluation_results(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.suite_id", f.get("suite_ids"), "bigint")
    w.any_of("t.method", f.get("method"))


def where_designations(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.agency_id", f.get("agency_ids"), "bigint")
    w.any_of("t.state", f.get("state"))


# ------------------------------------------------------------------------------------------------ writes


def method_of(principal: Principal) -> tuple[str, int | None]:
    """The method of what `principal` reports, and the agency that made it: a lab liaison's is the lab's own word
    (LAB_REPORTED, no agency); an agency principal's is that agency's (AGENCY_ESTIMATED)."""
    if principal.is_lab:
        return "LAB_REPORTED", None
    return "AGENCY_ESTIMATED", principal.agency_id


async def model_in_remit(
    con: asyncpg.Connection, principal: Principal, kind: str, action: str, model_id: int, owner: int | None
) -> int:
    """The lab of a model the caller may see (NOT_FOUND naming input.modelId otherwise), once the remit of `action`
    on a record of `kind` about it (owned by `owner`) is checked. A liaison's report is the lab's own submission
    to the program: only while the lab takes part. An agency's estimate, result or designation is the agency's own
    record about the model, whatever the lab's participation (docs/design.md, "Participation")."""
    await exists_visible(con, principal, "MODEL", [model_id], field="input.modelId")
    lab_id = int(await con.fetchval("select lab_id from frontier_models where id = $1", model_id))
    check_remit(principal, kind, action, Facts(lab_id=lab_id, owner_agency_id=owner))
    if principal.is_lab:
        await check_taking_part(con, lab_id, field="input.modelId", doing="submitted")
    return lab_id


async def today(con: asyncpg.Connection) -> Any:
    return await con.fetchval("select current_date")


def quantity(value: Any, field: str) -> Decimal:
    """A Decimal the GraphQL scalar parsed (hub.quantities.parse_decimal): non-negative and finite."""
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise bad_input(field, f"must be a decimal of 0 or more, not {value!r}")
    return value


def compute_range(values: dict[str, Any] | None, field: str, unit: str) -> tuple[Decimal, Decimal] | None:
    """(low, high) in FLOP of a ComputeRangeInput written in `unit`; high omitted: a single value."""
    if values is None:
        return None
    low = quantity(values.get("low"), f"{field}.low")
    high = low if values.get("high") is None else quantity(values["high"], f"{field}.high")
    if low > high:
        raise bad_input(f"{field}.high", f"must be at least the low value ({low}), not {high}")
    try:
        return to_flop(low, unit), to_flop(high, unit)
    except QuantityError as error:
        raise bad_input("input.unit", str(error)) from None


@idempotent("reportComputeEstimate", "COMPUTE_ESTIMATE")
async def report_compute_estimate(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """A liaison of the model's lab reports its training compute (LAB_REPORTED); an agency analyst, officer or
    admin estimates it (AGENCY_ESTIMATED, saying how in methodNote). Stored in FLOP."""
    check_remit(principal, "COMPUTE_ESTIMATE", "reportComputeEstimate", None)
    method, agency_id = method_of(principal)
    unit = values.get("unit") or "FLOP"
    pre = compute_range(values.get("pre_training"), "input.preTraining", unit)
    if pre is None:
        raise bad_input("input.preTraining", "is required")
    post = compute_range(values.get("post_training"), "input.postTraining", unit)
    note = text(values.get("method_note"), "input.methodNote", max_length=5000, multiline=True)
    if method == "AGENCY_ESTIMATED" and note is None:
        raise bad_input("input.methodNote", "an agency's estimate says how it was made")
    as_of = values.get("as_of") or await today(con)
    if as_of > await today(con):
        raise bad_input("input.asOf", f"must not be in the future, not {as_of}")
    lab_id = await model_in_remit(
        con, principal, "COMPUTE_ESTIMATE", "reportComputeEstimate", values["model_id"], agency_id
    )
    created = await insert_row(
        con,
        "compute_estimates",
        {
            "model_id": values["model_id"],
            "lab_id": lab_id,
            "method": method,
            "author_agency_id": agency_id,
            "pre_training_low": pre[0],
            "pre_training_high": pre[1],
            "post_training_low": post[0] if post else None,
            "post_training_high": post[1] if post else None,
            "method_note": note,
            "as_of": as_of,
            "created_by": principal.id or None,
        },
    )
    await record_event(
        con,
        principal,
        kind="COMPUTE_ESTIMATE",
        entity_id=created["id"],
        action="REPORTED",
        details={"method": method, "unit": unit, "postTrainingReported": post is not None},
    )
    return int(created["id"])


@idempotent("registerEvaluationSuite", "EVAL_SUITE")
async def register_evaluation_suite(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """An agency analyst, officer or admin registers a suite at a version; their agency owns it."""
    check_remit(principal, "EVAL_SUITE", "registerEvaluationSuite", None)
    name = text(values.get("name"), "input.name", required=True, max_length=200)
    version = text(values.get("suite_version"), "input.suiteVersion", required=True, max_length=50)
    description = text(values.get("description"), "input.description", max_length=5000, multiline=True)
    area = values.get("capability_area")
    if area not in CAPABILITY_AREAS:
        raise bad_input("input.capabilityArea", f"must be one of {', '.join(CAPABILITY_AREAS)}")
    unit = values.get("score_unit")
    if unit not in SCORE_UNITS:
        raise bad_input("input.scoreUnit", f"must be one of {', '.join(SCORE_UNITS)}")
    check_remit(principal, "EVAL_SUITE", "registerEvaluationSuite", Facts(owner_agency_id=principal.agency_id))
    # two registrations racing for one name and version: the second waits, then gets CONFLICT naming the field
    await con.execute(
        "select pg_advisory_xact_lock(hashtextextended('evaluation_suites:' || length($1) || ':' || $1 || $2, 0))",
        name,
        version,
    )
    if await con.fetchval(
        "select exists (select 1 from evaluation_suites where name = $1 and suite_version = $2)", name, version
    ):
        raise Rejected(
            ErrorCode.CONFLICT,
            f"input.suiteVersion: the suite {name!r} at version {version!r} is registered already",
            field="input.suiteVersion",
        )
    created = await insert_row(
        con,
        "evaluation_suites",
        {
            "name": name,
            "suite_version": version,
            "capability_area": area,
            "score_unit": unit,
            "description": description,
            "owner_agency_id": principal.agency_id,
            "created_by": principal.id or None,
        },
    )
    await record_event(
        con,
        principal,
        kind="EVAL_SUITE",
        entity_id=created["id"],
        action="REGISTERED",
        details={"suiteVersion": version, "capabilityArea": area, "scoreUnit": unit},
    )
    return int(created["id"])


def check_sha256(value: str | None) -> str | None:
    digest = text(value, "input.evidenceSha256", max_length=64)
    if digest is None:
        return None
    digest = digest.lower()
    if len(digest) != 64 or any(c not in SHA256_HEX for c in digest):
        raise bad_input("input.evidenceSha256", "must be a SHA-256 digest: 64 hexadecimal characters")
    return digest


@idempotent("recordEvaluationResult", "EVAL_RESULT")
async def record_evaluation_result(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """A liaison of the model's lab records a result it ran (LAB_REPORTED); an agency analyst, officer or admin one
    its agency ran (AGENCY_ESTIMATED). The score is stored in the suite's unit (percent and fraction convert)."""
    check_remit(principal, "EVAL_RESULT", "recordEvaluationResult", None)
    method, agency_id = method_of(principal)
    model_version = text(values.get("model_version"), "input.modelVersion", required=True, max_length=100)
    evidence_ref = text(values.get("evidence_ref"), "input.evidenceRef", required=True, max_length=500)
    digest = check_sha256(values.get("evidence_sha256"))
    score = quantity(values.get("score"), "input.score")
    ran_on = values.get("ran_on")
    if ran_on is None:
        raise bad_input("input.ranOn", "is required")
    if ran_on > await today(con):
        raise bad_input("input.ranOn", f"must not be in the future, not {ran_on}")
    await exists_visible(con, principal, "EVAL_SUITE", [values["suite_id"]], field="input.suiteId")
    suite = await con.fetchrow("select id, score_unit from evaluation_suites where id = $1", values["suite_id"])
    assert suite is not None
    unit = values.get("unit") or suite["score_unit"]
    try:
        stored = to_score_unit(score, unit, suite["score_unit"])
    except QuantityError as error:
        raise bad_input("input.unit", str(error)) from None
    bound = SCORE_BOUNDS.get(suite["score_unit"])
    if bound is not None and stored > bound:
        raise bad_input("input.score", f"{score} {unit} is more than {bound} {suite['score_unit']}")
    lab_id = await model_in_remit(
        con, principal, "EVAL_RESULT", "recordEvaluationResult", values["model_id"], agency_id
    )
    created = await insert_row(
        con,
        "evaluation_results",
        {
            "model_id": values["model_id"],
            "lab_id": lab_id,
            "suite_id": suite["id"],
            "method": method,
            "run_by_agency_id": agency_id,
            "score": stored,
            "ran_on": ran_on,
            "model_version": model_version,
            "evidence_ref": evidence_ref,
            "evidence_sha256": digest,
            "created_by": principal.id or None,
        },
    )
    await record_event(
        con,
        principal,
        kind="EVAL_RESULT",
        entity_id=created["id"],
        action="RECORDED",
        details={"method": method, "unit": unit, "scoreUnit": suite["score_unit"]},
    )
    return int(created["id"])


@idempotent("designateModel", "DESIGNATION")
async def designate_model(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """An agency officer or admin designates a model the program should cover, for their agency: one designation in
    force per model and agency."""
    check_remit(principal, "DESIGNATION", "designateModel", None)
    reason = text(values.get("reason"), "input.reason", required=True, max_length=5000, multiline=True)
    model_id = values["model_id"]
    lab_id = await model_in_remit(con, principal, "DESIGNATION", "designateModel", model_id, principal.agency_id)
    created = await write_unique(
        con,
        lambda: insert_row(
            con,
            "model_designations",
            {
                "model_id": model_id,
                "lab_id": lab_id,
                "agency_id": principal.agency_id,
                "reason": reason,
                "created_by": principal.id or None,
            },
        ),
        field="input.modelId",
        message="your agency has a designation of this model in force already; withdraw it first",
    )
    await record_event(
        con, principal, kind="DESIGNATION", entity_id=created["id"], action="DESIGNATED", to_state=created["state"]
    )
    return int(created["id"])


async def withdraw_designation(
    con: asyncpg.Connection, principal: Principal, designation_id: int, expected_version: int, reason: str | None
) -> int:
    """Officers and admins of the designating agency withdraw its designation: IN_FORCE -> WITHDRAWN, with a
    reason."""
    row = await lock_in_remit(con, principal, "DESIGNATION", designation_id, "withdrawDesignation", to="WITHDRAWN")
    check_version(row, expected_version)
    await transition(
        con,
        principal,
        "DESIGNATION",
        row,
        "WITHDRAWN",
        action="WITHDRAWN",
        reason=reason,
        reason_required=True,
        field="input.id",
        changes={"withdrawn_at": await con.fetchval("select now()")},
    )
    return designation_id
