"""Findings: vulnerabilities that frontier models create or find."""

from __future__ import annotations

from typing import Any

from hub.store.base import Entity, OrderField, Relation, Where, standard_orders

FINDING = Entity(
    kind="FINDING",
    table="findings",
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
FINDINGS_BY_MEASURE = Relation(
    FINDING, parent="j.measure_id", join="join measure_findings j on j.finding_id = t.id", order="t.created_at"
)
FINDINGS_BY_ENGAGEMENT = Relation(
    FINDING,
    parent="j.engagement_id",
    join="join engagement_findings j on j.finding_id = t.id",
    order="t.created_at",
)


def where_findings(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.cvss_severity", f.get("severity"))
    w.any_of("t.tlp", f.get("tlp"))
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
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
