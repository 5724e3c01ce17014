"""Findings: vulnerabilities that frontier models create or find."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.participation import check_taking_part
from hub.remits import Facts
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders, through
from hub.store.sharing import check_sharing, sharing_before
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    changed,
    check_remit,
    check_version,
    exists_visible,
    idempotent,
    insert_row,
    lock_in_remit,
    move_state,
    reason_text,
    record_created,
    record_event,
    record_update,
    text,
    text_list,
    update_row,
)

FINDING = Entity(
    kind="FINDING",
    orders={
        **standard_orders("t.title"),
        "BASE_SCORE": OrderField("coalesce(t.cvss_base_score, -1)", "numeric"),
        "KEV_DUE_DATE": OrderField("coalesce(t.kev_due_date, 'infinity'::date)", "date"),
        "STATE": OrderField("t.state", "text"),
    },
    default_order="CREATED_AT",
)

FINDINGS_BY_MODEL = Relation(FINDING, parent="t.model_id", order="t.created_at")
FINDINGS_BY_LAB = Relation(FINDING, parent="t.lab_id", order="t.created_at")
FINDINGS_BY_OWNER_AGENCY = Relation(FINDING, parent="t.owner_agency_id", order="t.created_at")
FINDINGS_BY_MEASURE = through(FINDING, "measure_findings", "finding_id", "measure_id", order="t.created_at")
FINDINGS_BY_ENGAGEMENT = through(FINDING, "engagement_findings", "finding_id", "engagement_id", order="t.created_at")


def where_findings(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.cvss_severity", f.get("severity"))
    w.any_of("t.tlp", f.get("tlp"))
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
    w.any_of("t.owner_lab_id", f.get("owner_lab_ids"), "bigint")
    w.any_of("t.cve_id", f.get("cve_ids"))
    w.overlaps("t.sectors", f.get("sectors"))
    w.at_least("t.cvss_base_score", f.get("min_base_score"))
    if f.get("known_exploited") is not None:
        w.add("t.kev_date_added is not null" if f["known_exploited"] else "t.kev_date_added is null")
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))
    w.at_least("t.kev_due_date", f.get("kev_due_from"))
    w.before("t.kev_due_date", f.get("kev_due_before"))


# ------------------------------------------------------------------------------------------------ writes

SEVERITY_BANDS = (("NONE", 0.0), ("LOW", 0.1), ("MEDIUM", 4.0), ("HIGH", 7.0), ("CRITICAL", 9.0))
CVE = r"CVE-\d{4}-\d{4,}"
CWE = r"CWE-\d{1,6}"
# who found what a lab reports: the lab itself or its model (an agency's finding is the agency's to report)
LAB_DISCOVERERS = ("LAB", "MODEL")


def severity_for(score: float) -> str:
    """The CVSS qualitative rating of a base score (v3.1 and v4.0 share the bands)."""
    band = "NONE"
    for name, floor in SEVERITY_BANDS:
        if score >= floor:
            band = name
    return band


def check_cvss(cvss: dict[str, Any] | None) -> dict[str, Any]:
    """The finding columns for a CVSS input {version, vector, baseScore, severity}, checked."""
    if cvss is None:
        return {"cvss_version": None, "cvss_vector": None, "cvss_base_score": None, "cvss_severity": None}
    version = cvss.get("version") or "3.1"
    if version not in ("3.1", "4.0"):
        raise bad_input("input.cvss.version", f"must be 3.1 or 4.0, not {version!r}")
    score = cvss["base_score"]
    if not 0 <= score <= 10 or round(score, 1) != score:
        raise bad_input("input.cvss.baseScore", f"must be between 0.0 and 10.0 with one decimal, not {score}")
    expected = severity_for(score)
    severity = cvss.get("severity") or expected
    if severity != expected:
        raise bad_input("input.cvss.severity", f"a base score of {score} is {expected}, not {severity}")
    vector = text(cvss.get("vector"), "input.cvss.vector", max_length=200)
    if vector is not None and not vector.startswith(f"CVSS:{version}/"):
        raise bad_input("input.cvss.vector", f"must start with CVSS:{version}/")
    return {
        "cvss_version": version,
        "cvss_vector": vector,
        "cvss_base_score": Decimal(str(score)),
        "cvss_severity": severity,
    }


def check_cve(value: str | None, field: str = "input.cveId") -> str | None:
    cve = text(value, field, max_length=30)
    if cve is None:
        return None
    cve = cve.upper()
    if not re.fullmatch(CVE, cve):
        raise bad_input(field, f"{cve!r} is not a CVE id (CVE-YYYY-NNNN...)")
    return cve


def finding_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked descriptive columns of a report or an update (only the keys present)."""
    fields: dict[str, Any] = {}
    if "title" in values:
        fields["title"] = text(values["title"], "input.title", required=True, max_length=300)
    if "description" in values:
        fields["description"] = text(values["description"], "input.description", max_length=20000, multiline=True)
    if "cve_id" in values:
        fields["cve_id"] = check_cve(values["cve_id"])
    if "cvss" in values:
        fields.update(check_cvss(values["cvss"]))
    if "cwes" in values:
        fields["cwes"] = text_list(values["cwes"], "input.cwes", max_items=20, pattern=CWE, hint=" (CWE-NNN)") or []
    for key, column, limit in (
        ("affected_vendor", "affected_vendor", 200),
        ("affected_product", "affected_product", 200),
        ("affected_versions", "affected_versions", 500),
    ):
        if key in values:
            fields[column] = text(values[key], f"input.affected.{key.removeprefix('affected_')}", max_length=limit)
    if "sectors" in values:
        sectors = values["sectors"] or []
        fields["sectors"] = list(dict.fromkeys(sectors))
    return fields


@idempotent("reportFinding", "FINDING")
async def report_finding(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """Any agency officer or analyst who can see the model reports a finding on it, and their agency owns it; or a
    lab's liaison reports one about the lab's own model, found by the lab or the model, and the lab owns it
    (docs/design.md, "Who sees what": the lab in the owning agency's place) while the lab takes part."""
    check_remit(principal, "FINDING", "reportFinding", None)
    row: dict[str, Any] = finding_fields(values)
    model_id = values.get("model_id")
    lab_id = None
    if model_id is not None:
        await exists_visible(con, principal, "MODEL", [model_id], field="input.modelId")
        lab_id = await con.fetchval("select lab_id from frontier_models where id = $1", model_id)
    # a liaison's report names a model of its own lab (known now): the remit again, with the record's lab
    check_remit(principal, "FINDING", "reportFinding", Facts(lab_id=lab_id))
    discovered_by = values["discovered_by"]
    if principal.is_lab:
        if discovered_by not in LAB_DISCOVERERS:
            raise bad_input(
                "input.discoveredBy",
                f"a lab reports what it found (LAB) or what its model found (MODEL), not {discovered_by}",
            )
        if discovered_by == "LAB" and values.get("discovered_by_lab_id") in (None, principal.lab_id):
            values = {**values, "discovered_by_lab_id": principal.lab_id}
        elif values.get("discovered_by_lab_id") is not None:
            raise bad_input("input.discoveredByLabId", "a lab reports what it or its model found: your lab or none")
        assert lab_id is not None
        await check_taking_part(con, lab_id, field="input.modelId", doing="reported")
    if discovered_by == "MODEL" and model_id is None:
        raise bad_input("input.modelId", "a finding discovered by a model names the model")
    discovered_lab = values.get("discovered_by_lab_id")
    if discovered_by == "LAB":
        if discovered_lab is None:
            raise bad_input("input.discoveredByLabId", "a finding discovered by a lab names the lab")
        if not await con.fetchval("select exists (select 1 from labs where id = $1)", discovered_lab):
            raise Rejected(ErrorCode.NOT_FOUND, "input.discoveredByLabId: no such lab", field="input.discoveredByLabId")
    elif discovered_lab is not None:
        raise bad_input("input.discoveredByLabId", "only with discoveredBy: LAB")
    if discovered_by == "KEV_CATALOGUE":
        # the catalogue's attribution goes with the catalogue's entry, which the KEV data writes (the demo, an
        # import), never a report
        raise bad_input(
            "input.discoveredBy",
            "KEV_CATALOGUE attributes a finding to CISA's KEV catalogue, with the catalogue's entry; a report names "
            "who found it: MODEL, AGENCY or LAB",
        )
    row.update(await check_sharing(con, principal, values))
    row.update(
        model_id=model_id,
        lab_id=lab_id,
        discovered_by_kind=discovered_by,
        discovered_by_agency_id=principal.agency_id if discovered_by == "AGENCY" else None,
        discovered_by_lab_id=discovered_lab,
        owner_agency_id=principal.agency_id,
        owner_lab_id=principal.lab_id,
        created_by=principal.id,
    )
    created = await insert_row(con, "findings", row)
    return await record_created(con, principal, "FINDING", created, "REPORTED", values)


async def update_finding(
    con: asyncpg.Connection, principal: Principal, finding_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    row = await lock_in_remit(con, principal, "FINDING", finding_id, "updateFinding")
    check_version(row, expected_version)
    changes = changed(row, finding_fields(values))
    if changes:
        await record_update(con, principal, "FINDING", row, changes, values, names=list(changes))
    return finding_id


async def transition_finding(
    con: asyncpg.Connection,
    principal: Principal,
    finding_id: int,
    to: str,
    expected_version: int,
    reason: str | None,
    duplicate_of_id: int | None,
) -> int:
    row = await lock_in_remit(con, principal, "FINDING", finding_id, "transitionFinding", to=to)

    async def duplicate(row: dict[str, Any]) -> dict[str, Any]:
        if to != "DUPLICATE":
            if duplicate_of_id is not None:
                raise bad_input("input.duplicateOfId", "only with to: DUPLICATE")
            return {}
        if duplicate_of_id is None:
            raise bad_input("input.duplicateOfId", "DUPLICATE names the finding it duplicates")
        if duplicate_of_id == finding_id:
            raise bad_input("input.duplicateOfId", "a finding cannot duplicate itself")
        await exists_visible(con, principal, "FINDING", [duplicate_of_id], field="input.duplicateOfId")
        return {"duplicate_of_id": duplicate_of_id}

    return await move_state(
        con,
        principal,
        row,
        kind="FINDING",
        to=to,
        expected_version=expected_version,
        reason=reason,
        prepare=duplicate,
    )


async def share_finding(
    con: asyncpg.Connection, principal: Principal, finding_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    """Set TLP, shareWith and RED recipients: the owning agency's officers and admins, or the owning lab's
    liaisons."""
    row = await lock_in_remit(con, principal, "FINDING", finding_id, "shareFinding")
    check_version(row, expected_version)
    changes = changed(row, await check_sharing(con, principal, values))
    if changes:
        await update_row(con, "FINDING", finding_id, changes)
        await record_event(
            con,
            principal,
            kind="FINDING",
            entity_id=finding_id,
            action="SHARED",
            reason=reason_text(values.get("reason")),
            details={
                "tlp": {"from": row["tlp"], "to": changes.get("tlp", row["tlp"])},
                "changed": sorted(changes),
                **sharing_before(row),
            },
        )
    return finding_id


async def take_over_finding(
    con: asyncpg.Connection, principal: Principal, finding_id: int, expected_version: int, reason: str | None
) -> int:
    """An agency's analyst, officer or admin who can see a finding a lab owns takes it over: their agency owns it
    from then on (the lab no longer writes it), and the lab stays on its shareWith, so that an AMBER finding stays
    visible to it (docs/design.md, "Who sees what"). The event keeps the sharing as it was, so that a lab that saw
    it only as its owner's shareWith partner and no longer may gets its ACCESS_REVOKED."""
    row = await lock_in_remit(con, principal, "FINDING", finding_id, "takeOverFinding")
    check_version(row, expected_version)
    why = reason_text(reason, required=True)
    owner_lab = row["owner_lab_id"]
    share_labs = list(row["share_lab_ids"])
    changes: dict[str, Any] = {
        "owner_agency_id": principal.agency_id,
        "owner_lab_id": None,
        "share_lab_ids": share_labs if owner_lab in share_labs else [*share_labs, owner_lab],
    }
    await update_row(con, "FINDING", finding_id, changes)
    await record_event(
        con,
        principal,
        kind="FINDING",
        entity_id=finding_id,
        action="TAKEN_OVER",
        reason=why,
        details={
            "fromLab": await con.fetchval("select name from labs where id = $1", owner_lab),
            "toAgency": principal.agency_code,
            **sharing_before(row),
        },
    )
    return finding_id
