"""Frontier models. Their confidential fields are nulled in SQL for those who may not see them."""

from __future__ import annotations

import math
from typing import Any

import asyncpg

from hub.access import MODEL_CONFIDENTIAL_COLUMNS, STANDING_DECISION_STATES, Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, sql_list
from hub.remits import Facts
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders, through
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
        " t.announced_on, t.created_at, t.updated_at, t.version,"
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


def model_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked descriptive and confidential columns of a registration or an update (only the keys present)."""
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
    return fields


def _duplicate(fields: dict[str, Any]) -> str:
    version = f" version {fields['model_version']!r}" if fields.get("model_version") else ""
    return f"the lab already has a model named {fields['name']!r}{version}"


@idempotent("registerModel", "MODEL")
async def register_model(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """The lab's liaisons, or CISA and NIST officers on the lab's behalf, register a model of the lab."""
    check_remit(principal, "MODEL", "registerModel", None)
    lab_id = values["lab_id"]
    await exists_visible(con, principal, "LAB", [lab_id], field="input.labId")
    check_remit(principal, "MODEL", "registerModel", Facts(lab_id=lab_id))
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
    """The lab's liaisons, or CISA and NIST officers on the lab's behalf. The release status is not changed here."""
    row = await lock_in_remit(con, principal, "MODEL", model_id, "updateModel")
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
        await write_unique(
            con,
            lambda: update_row(con, "MODEL", model_id, changes),
            field="input.name",
            message=_duplicate(merged),
        )
        await record_updated(con, principal, "MODEL", model_id, reason, list(changes))
    return model_id


async def set_model_release_status(
    con: asyncpg.Connection, principal: Principal, model_id: int, to: str, expected_version: int, reason: str | None
) -> int:
    """The lab alone sets its model's release status. Nothing gates it: not a coverage decision, an agreement or a
    finding. A release while a preview window is open is recorded, never refused: as an event on each such
    agreement, so that only the agreement's parties learn of the window."""
    row = await lock_in_remit(con, principal, "MODEL", model_id, "setModelReleaseStatus", to=to)
    check_version(row, expected_version)
    await transition(con, principal, "MODEL", row, to, reason=reason)
    if to == "GENERALLY_AVAILABLE":
        open_windows = await con.fetch(
            """select id, state from early_access_agreements
                where model_id = $1 and state = 'ACTIVE' and access_start <= now() and access_end > now()
                order by id""",
            model_id,
        )
        for agreement in open_windows:
            await record_event(
                con,
                principal,
                kind="AGREEMENT",
                entity_id=agreement["id"],
                action="MODEL_RELEASED_DURING_WINDOW",
                from_state=agreement["state"],
                to_state=agreement["state"],
                reason="the lab released the model while this preview window was open",
                details={"releaseStatus": to},
            )
    return model_id
