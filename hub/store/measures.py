"""DoD cyber measures."""

from __future__ import annotations

from typing import Any

from hub.store.base import Entity, OrderField, Relation, Where, standard_orders

MEASURE = Entity(
    kind="MEASURE",
    table="cyber_measures",
    orders={**standard_orders("t.title"), "STATE": OrderField("t.state", "text")},
    default_order="CREATED_AT",
)

MEASURES_BY_FINDING = Relation(
    MEASURE, parent="j.finding_id", join="join measure_findings j on j.measure_id = t.id", order="t.created_at"
)
MEASURES_BY_MODEL = Relation(
    MEASURE, parent="j.model_id", join="join measure_models j on j.measure_id = t.id", order="t.created_at"
)
MEASURES_BY_OWNER_AGENCY = Relation(MEASURE, parent="t.owner_agency_id", order="t.created_at")


def where_measures(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.kind", f.get("kind"))
    w.any_of("t.tlp", f.get("tlp"))
    w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
    for key, table, column in (
        ("finding_ids", "measure_findings", "finding_id"),
        ("model_ids", "measure_models", "model_id"),
    ):
        ids = f.get(key)
        if ids is not None:
            w.add(
                f"exists (select 1 from {table} fj where fj.measure_id = t.id"
                f" and fj.{column} = any({w.p(list(ids))}::bigint[]))"
            )
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))
