"""Frontier models. Their confidential fields are nulled in SQL for those who may not see them."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from hub.access import MODEL_CONFIDENTIAL_COLUMNS, STANDING_DECISION_STATES, Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, sql_list
from hub.participation import check_taking_part, lock_for_lab
from hub.remits import Facts
from hub.store import lead_times
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders, through
from hub.store.labs import check_website
from hub.store.requests import early_access_status
from hub.workflow import (
    bad_input,
    changed,
    check_remit,
    check_version,
    exists_visible,
    idempotent,
    insert_row,
    lock_in_remit,
    reason_text,
    record_event,
    record_updated,
    text,
    text_list,
    transition,
    update_row,
    write_unique,
)

CONFIDENTIAL_COLUMNS = MODEL_CONFIDENTIAL_COLUMNS


def model_columns(principal: Principal, p: Params) -> str:
    hidden = ", ".join(f"masked.{c}" for c in CONFIDENTIAL_COLUMNS)
    return (
        "t.id, t.lab_id, t.name, t.model_version, t.modality, t.description, t.capabilities, t.release_status,"
        " t.announced_on, t.general_availability_on, t.recorded_by_agency_id, t.source_url, t.corrected_by_lab_at,"
        " t.created_at, t.updated_at, t.version,"
        f" coalesce(masked.confidential_visible, false) as confidential_visible, {hidden}"
    )


def model_confidential_lateral(principal: Principal, p: Params) -> str:
    # The confidential columns come masked by the database, for every path alike: from the view frontier_models_masked
    # that hub/policies.py generates from hub.access.model_confidential_visible (docs/design.md, Who sees what),
    # for the principal bound to the transaction. Looked up by id, once per row read.
    columns = ", ".join(f"m.{c}" for c in ("confidential_visible", *CONFIDENTIAL_COLUMNS))
    return f"left join lateral (select {columns} from frontier_models_masked m where m.id = t.id) masked on true"


MODEL = Entity(
    kind="MODEL",
    columns=model_columns,
    lateral=model_confidential_lateral,
    orders={
        **standard_orders("t.name"),
        "RELEASE_STATUS": OrderField("t.release_status", "text"),
    },
    default_order="NAME",
)

MODELS_BY_LAB = Relation(MODEL, parent="t.lab_id", order="t.name")
MODELS_BY_MEASURE = through(MODEL, "measure_models", "model_id", "measure_id", order="t.name")


def where_models(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.release_status", f.get("release_status"))
    w.any_of("t.modality", f.get("modality"))
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    participation = f.get("lab_participation")
    if participation is not None:
        # every principal sees every lab (docs/design.md, "Who sees what"), so this tells nobody anything new
        states = w.p(list(participation))
        w.add(f"exists (select 1 from labs fl where fl.id = t.lab_id and fl.participation = any({states}::text[]))")
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))
    outcomes = f.get("coverage_outcome")
    if outcomes is not None:
        # the model's coverageOutcome, as the field reads it: the outcome of the newest standing decision the
        # principal may see, so that the filter tells nobody of a decision the field would not show them
        rule = visible("DECISION", "d", w.principal, w.p)
        latest = (
            f"(select d.outcome from coverage_decisions d where d.model_id = t.id and d.outcome is not null"
            f" and d.state in {sql_list(STANDING_DECISION_STATES)}"
            f" and {rule} order by d.decided_at desc, d.id desc limit 1)"
        )
        w.add(f"{latest} = any({w.p(list(outcomes))}::text[])")
    statuses = f.get("early_access_status")
    if statuses is not None:
        w.add(f"{early_access_status(w)} = any({w.p(list(statuses))}::text[])")


# ------------------------------------------------------------------------------------------------ writes

MODALITIES = ("TEXT", "CODE", "IMAGE", "AUDIO", "VIDEO", "MULTIMODAL")
RELEASE_STATUSES = KINDS["MODEL"].states


def utc_today() -> date:
    return datetime.now(UTC).date()


def model_fields(values: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """The checked descriptive and confidential columns of a registration or an update (only the keys present).

    General availability (docs/design.md, "Early access"): the actual date cannot be in the future (`today` is the
    UTC date); a planned date may be in the past, since a plan that slipped is what the lab said, and a frontend
    that sends back what it read must not be refused for a date that has since passed."""
    fields: dict[str, Any] = {}
    if "name" in values:
        fields["name"] = text(values["name"], "input.name", required=True, max_length=200)
    if "model_version" in values:
        fields["model_version"] = text(values["model_version"], "input.modelVersion", max_length=100) or ""
    if "modality" in values:
        if values["modality"] not in MODALITIES:
            raise bad_input("input.modality", f"is required, one of {', '.join(MODALITIES)}")
        fields["modality"] = values["modality"]
    if "description" in values:
        fields["description"] = text(values["description"], "input.description", max_length=5000, multiline=True)
    if "capabilities" in values:
        fields["capabilities"] = (
            text_list(values["capabilities"], "input.capabilities", max_items=50, max_length=100) or []
        )
    if "training_compute_flop" in values:
        flop = values["training_compute_flop"]
        if flop is not None and (not math.isfinite(flop) or flop < 0):
            raise bad_input("input.trainingComputeFlop", f"must be a finite number of operations >= 0, not {flop}")
        fields["training_compute_flop"] = float(flop) if flop is not None else None
    if "capability_details" in values:
        fields["capability_details"] = text(
            values["capability_details"], "input.capabilityDetails", max_length=10000, multiline=True
        )
    if "planned_release_on" in values:
        fields["planned_release_on"] = values["planned_release_on"]
    if "announced_on" in values:
        fields["announced_on"] = values["announced_on"]
    if "planned_general_availability_on" in values:
        fields["planned_general_availability_on"] = values["planned_general_availability_on"]
    if "general_availability_on" in values:
        fields["general_availability_on"] = actual_general_availability(
            values["general_availability_on"], "input.generalAvailabilityOn", today=today
        )
    return fields


def actual_general_availability(value: date | None, field: str, *, today: date | None = None) -> date | None:
    """The date a model became generally available: a fact, so not a date to come (UTC)."""
    today = today or utc_today()
    if value is not None and value > today:
        raise bad_input(field, f"is the date the model became generally available: not after today ({today}, UTC)")
    return value


def _duplicate(fields: dict[str, Any]) -> str:
    version = f" version {fields['model_version']!r}" if fields.get("model_version") else ""
    return f"the lab already has a model named {fields['name']!r}{version}"


@idempotent("registerModel", "MODEL")
async def register_model(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """The lab's liaisons register a model of their lab, while it takes part (docs/design.md, "Participation")."""
    check_remit(principal, "MODEL", "registerModel", None)
    lab_id = values["lab_id"]
    await exists_visible(con, principal, "LAB", [lab_id], field="input.labId")
    check_remit(principal, "MODEL", "registerModel", Facts(lab_id=lab_id))
    await check_taking_part(con, lab_id, field="input.labId", doing="registered")
    row = model_fields(values)
    row.setdefault("model_version", "")
    status = values.get("release_status") or "IN_DEVELOPMENT"
    if status not in RELEASE_STATUSES:
        raise bad_input("input.releaseStatus", f"must be one of {', '.join(RELEASE_STATUSES)}")
    row.update(lab_id=lab_id, release_status=status)
    created = await write_unique(
        con, lambda: insert_row(con, "frontier_models", row), field="input.name", message=_duplicate(row)
    )
    await record_event(con, principal, kind="MODEL", entity_id=created["id"], action="REGISTERED", to_state=status)
    return int(created["id"])


async def update_model(
    con: asyncpg.Connection, principal: Principal, model_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    """The lab's liaisons, while the lab takes part. The release status is not changed here. A change to a model an
    agency recorded (recordPublicModel) is the lab's correction of it: correctedByLabAt and the event say so."""
    row = await lock_for_lab(con, principal, "MODEL", model_id, "updateModel", doing="changed")
    check_version(row, expected_version)
    fields = model_fields(values)
    reason = reason_text(values.get("reason"))
    changes = changed(row, fields)
    # A writer who may not read the confidential fields learns nothing about them from whether a value it sent
    # changed anything: each confidential field it sends counts as written.
    may_read = await con.fetchval("select confidential_visible from frontier_models_masked where id = $1", model_id)
    if not may_read:
        changes.update({c: fields[c] for c in CONFIDENTIAL_COLUMNS if c in fields})
    if changes:
        merged = {**row, **changes}
        names = list(changes)
        correction: dict[str, Any] = {}
        if row["recorded_by_agency_id"] is not None:
            changes["corrected_by_lab_at"] = await con.fetchval("select now()")
            code = await con.fetchval("select code from agencies where id = $1", row["recorded_by_agency_id"])
            correction = {"correctsRecordOf": code}
        await write_unique(
            con,
            lambda: update_row(con, "MODEL", model_id, changes),
            field="input.name",
            message=_duplicate(merged),
        )
        await record_updated(con, principal, "MODEL", model_id, reason, names, correction)
    return model_id


PUBLICLY_RELEASED = KINDS["MODEL"].subset("publicly_released")
# what an agency may record of a lab's public announcement: public facts only, never a confidential field
PUBLIC_FIELDS = ("name", "model_version", "modality", "capabilities", "announced_on")


@idempotent("recordPublicModel", "MODEL")
async def record_public_model(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """An agency officer or admin records a model that a lab taking part has publicly released, from the public
    announcement (`source_url`): marked as recorded by their agency, with the public facts only. The lab's liaisons
    correct it (updateModel) and alone set its confidential fields and its release status from then on."""
    check_remit(principal, "MODEL", "recordPublicModel", None)
    lab_id = values["lab_id"]
    await exists_visible(con, principal, "LAB", [lab_id], field="input.labId")
    check_remit(principal, "MODEL", "recordPublicModel", Facts(lab_id=lab_id))
    await check_taking_part(con, lab_id, field="input.labId", doing="recorded")
    row = model_fields({k: v for k, v in values.items() if k in PUBLIC_FIELDS})
    row.setdefault("model_version", "")
    status = values.get("release_status")
    if status not in PUBLICLY_RELEASED:
        raise bad_input(
            "input.releaseStatus",
            f"must be one of {', '.join(sorted(PUBLICLY_RELEASED))}: what a public announcement says of a release",
        )
    source = check_website(values.get("source_url"), "input.sourceUrl")
    if source is None:
        raise bad_input("input.sourceUrl", "is required: the address of the lab's public announcement")
    row.update(lab_id=lab_id, release_status=status, recorded_by_agency_id=principal.agency_id, source_url=source)
    created = await write_unique(
        con, lambda: insert_row(con, "frontier_models", row), field="input.name", message=_duplicate(row)
    )
    await record_event(
        con,
        principal,
        kind="MODEL",
        entity_id=created["id"],
        action="RECORDED_FROM_PUBLIC_SOURCE",
        to_state=status,
        details={"sourceUrl": source, "recordedBy": principal.agency_code},
    )
    return int(created["id"])


async def set_model_release_status(
    con: asyncpg.Connection,
    principal: Principal,
    model_id: int,
    to: str,
    expected_version: int,
    reason: str | None,
    general_availability_on: date | None = None,
) -> int:
    """The lab alone sets its model's release status. Nothing gates it: not a coverage decision, an agreement or a
    finding. A move to GENERALLY_AVAILABLE records the date (the one given, else the one the lab already recorded,
    else today's UTC date) and, as an ordinary fact on each PROPOSED or ACTIVE agreement on the model, the preview
    lead time each agency joined had (docs/workflows.md, "Preview lead time, measured"): an event on the
    agreement, so that only its parties learn of it."""
    row = await lock_in_remit(con, principal, "MODEL", model_id, "setModelReleaseStatus", to=to)
    check_version(row, expected_version)
    field = "input.generalAvailabilityOn"
    if general_availability_on is not None and to != "GENERALLY_AVAILABLE":
        raise bad_input(field, "is recorded only with to: GENERALLY_AVAILABLE (or through updateModel)")
    changes: dict[str, Any] = {}
    details: dict[str, Any] = {}
    if to == "GENERALLY_AVAILABLE":
        on = actual_general_availability(general_availability_on, field) or row["general_availability_on"]
        if on is None:
            on = await con.fetchval("select (now() at time zone 'UTC')::date")
        changes["general_availability_on"] = on
        details["generalAvailabilityOn"] = on.isoformat()
    await transition(con, principal, "MODEL", row, to, reason=reason, changes=changes, details=details)
    if to == "GENERALLY_AVAILABLE":
        await record_general_availability(con, principal, model_id, changes["general_availability_on"])
    return model_id


async def record_general_availability(con: asyncpg.Connection, principal: Principal, model_id: int, on: date) -> None:
    """One event MODEL_GENERALLY_AVAILABLE on each PROPOSED or ACTIVE agreement on the model, stating the date and
    the lead time each agency that has joined had: a fact, whatever the figure."""
    agreements = await con.fetch(
        """select id, state from early_access_agreements
            where model_id = $1 and state in ('PROPOSED', 'ACTIVE') order by id""",
        model_id,
    )
    if not agreements:
        return
    by_agreement = await lead_times.lead_times_by_agreement(con, principal, [a["id"] for a in agreements])
    for agreement, rows in zip(agreements, by_agreement, strict=True):
        joined = [r for r in rows if r["days"] is not None]
        await record_event(
            con,
            principal,
            kind="AGREEMENT",
            entity_id=agreement["id"],
            action="MODEL_GENERALLY_AVAILABLE",
            from_state=agreement["state"],
            to_state=agreement["state"],
            reason=lead_times.general_availability_reason(on, rows),
            details={
                "generalAvailabilityOn": on.isoformat(),
                "leadTimeDays": {r["agency_code"]: r["days"] for r in joined},
                "leadTimeAskedDays": rows[0]["asked_days"] if rows else None,
            },
        )
