"""DoD cyber measures."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.auth import Principal
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders, through
from hub.store.sharing import check_sharing, sharing_before
from hub.workflow import (
    bad_input,
    changed,
    check_remit,
    check_version,
    idempotent,
    insert_row,
    lock_in_remit,
    move_state,
    record_created,
    record_update,
    replace_links,
    text,
    text_list,
)

MEASURE = Entity(
    kind="MEASURE",
    orders={**standard_orders("t.title"), "STATE": OrderField("t.state", "text")},
    default_order="CREATED_AT",
)

MEASURES_BY_FINDING = through(MEASURE, "measure_findings", "measure_id", "finding_id", order="t.created_at")
MEASURES_BY_MODEL = through(MEASURE, "measure_models", "measure_id", "model_id", order="t.created_at")
MEASURES_BY_OWNER_AGENCY = Relation(MEASURE, parent="t.owner_agency_id", order="t.created_at")


def where_measures(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.kind", f.get("kind"))
    w.any_of("t.tlp", f.get("tlp"))
    w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
    w.linked("measure_findings", "l.measure_id = t.id", "finding_id", f.get("finding_ids"))
    w.linked("measure_models", "l.measure_id = t.id", "model_id", f.get("model_ids"))
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))


# ------------------------------------------------------------------------------------------------ writes

D3FEND = r"D3-[A-Z0-9]{1,12}"
ATTACK = r"T\d{4}(\.\d{3})?"
NIST_CONTROL = r"[A-Z]{2}-\d{1,2}(\(\d{1,2}\))?"


def measure_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked descriptive columns of a plan or an update (only the keys present)."""
    fields: dict[str, Any] = {}
    if "title" in values:
        fields["title"] = text(values["title"], "input.title", required=True, max_length=300)
    if "description" in values:
        fields["description"] = text(values["description"], "input.description", max_length=20000, multiline=True)
    if "kind" in values:
        fields["kind"] = values["kind"]
    if "system_scope" in values:
        fields["system_scope"] = text(values["system_scope"], "input.systemScope", required=True, max_length=500)
    if "owner_component" in values:
        fields["owner_component"] = text(
            values["owner_component"], "input.ownerComponent", required=True, max_length=100
        )
    for key, field, pattern, hint in (
        ("d3fend_ids", "input.d3fendIds", D3FEND, " (a D3FEND id such as D3-NTA)"),
        ("attack_ids", "input.attackIds", ATTACK, " (an ATT&CK technique such as T1190)"),
        ("nist80053_controls", "input.nist80053Controls", NIST_CONTROL, " (a NIST SP 800-53 control such as SI-2)"),
    ):
        if key in values:
            fields[key] = text_list(values[key], field, pattern=pattern, hint=hint) or []
    if "evidence" in values:
        fields["evidence"] = text(values["evidence"], "input.evidence", max_length=20000, multiline=True)
    return fields


async def link_measure(
    con: asyncpg.Connection, principal: Principal, measure_id: int, values: dict[str, Any]
) -> list[str]:
    """Set the measure's findings and models when the input names them; returns which changed."""
    done = []
    for key, table, column, kind, field in (
        ("finding_ids", "measure_findings", "finding_id", "FINDING", "input.findingIds"),
        ("model_ids", "measure_models", "model_id", "MODEL", "input.modelIds"),
    ):
        if await replace_links(
            con,
            principal,
            table=table,
            owner_column="measure_id",
            owner_id=measure_id,
            target_column=column,
            target_kind=kind,
            ids=values.get(key),
            field=field,
        ):
            done.append(key)
    return done


@idempotent("planMeasure", "MEASURE")
async def plan_measure(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """DoD officers plan a measure against findings and models they can see; DoD owns it."""
    check_remit(principal, "MEASURE", "planMeasure", None)
    row = measure_fields(values)
    if row.get("evidence"):
        raise bad_input("input.evidence", "evidence comes with verification, not with the plan")
    row.update(await check_sharing(con, principal, values))
    row.update(owner_agency_id=principal.agency_id, created_by=principal.id, state="PLANNED")
    created = await insert_row(con, "cyber_measures", row)
    await link_measure(con, principal, created["id"], values)
    return await record_created(con, principal, "MEASURE", created, "PLANNED", values)


async def update_measure(
    con: asyncpg.Connection, principal: Principal, measure_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    row = await lock_in_remit(con, principal, "MEASURE", measure_id, "updateMeasure")
    check_version(row, expected_version)
    changes = changed(row, measure_fields(values))
    if "tlp" in values:
        changes.update(changed(row, await check_sharing(con, principal, values)))
    if row["state"] == "VERIFIED" and "evidence" in changes and not changes["evidence"]:
        raise bad_input("input.evidence", "a VERIFIED measure keeps its evidence")
    links = await link_measure(con, principal, measure_id, values)
    if changes or links:
        await record_update(
            con,
            principal,
            "MEASURE",
            row,
            changes,
            values,
            names=[*changes, *links],
            before=sharing_before(row) if "tlp" in values else None,
        )
    return measure_id


async def transition_measure(
    con: asyncpg.Connection,
    principal: Principal,
    measure_id: int,
    to: str,
    expected_version: int,
    reason: str | None,
    evidence: str | None,
) -> int:
    row = await lock_in_remit(con, principal, "MEASURE", measure_id, "transitionMeasure", to=to)

    async def with_evidence(row: dict[str, Any]) -> dict[str, Any]:
        given = text(evidence, "input.evidence", max_length=20000, multiline=True)
        if to == "VERIFIED" and not (given or row["evidence"]):
            raise bad_input("input.evidence", "VERIFIED needs evidence of the measure's effect")
        return {"evidence": given} if given is not None else {}

    return await move_state(
        con,
        principal,
        row,
        kind="MEASURE",
        to=to,
        expected_version=expected_version,
        reason=reason,
        prepare=with_evidence,
    )
