"""Frontier models. Their confidential fields are nulled in SQL for those who may not see them."""

from __future__ import annotations

from typing import Any

from hub.access import Params, model_confidential_visible
from hub.auth import Principal
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders

CONFIDENTIAL_COLUMNS = ("training_compute_flop", "capability_details", "planned_release_on")


def model_columns(principal: Principal, p: Params) -> str:
    hidden = ", ".join(f"case when conf.ok then t.{c} end as {c}" for c in CONFIDENTIAL_COLUMNS)
    return (
        "t.id, t.lab_id, t.name, t.model_version, t.modality, t.description, t.capabilities, t.release_status,"
        f" t.announced_on, t.created_at, t.updated_at, t.version, conf.ok as confidential_visible, {hidden}"
    )


def model_confidential_lateral(principal: Principal, p: Params) -> str:
    # evaluated once per row for all the confidential columns
    return f"cross join lateral (select {model_confidential_visible('t', principal, p)} as ok) conf"


MODEL = Entity(
    kind="MODEL",
    table="frontier_models",
    columns=model_columns,
    lateral=model_confidential_lateral,
    orders={
        **standard_orders("t.name"),
        "RELEASE_STATUS": OrderField("t.release_status", "text"),
    },
    default_order="NAME",
)

MODELS_BY_LAB = Relation(MODEL, parent="t.lab_id", order="t.name")
MODELS_BY_MEASURE = Relation(
    MODEL, parent="j.measure_id", join="join measure_models j on j.model_id = t.id", order="t.name"
)


def where_models(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.release_status", f.get("release_status"))
    w.any_of("t.modality", f.get("modality"))
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))
    outcomes = f.get("coverage_outcome")
    if outcomes is not None:
        w.add(
            "exists (select 1 from coverage_decisions d where d.model_id = t.id and d.state = 'DECIDED'"
            f" and d.outcome = any({w.p(list(outcomes))}::text[]))"
        )
