"""Coverage standards, their sign-offs, and coverage decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access import Params, visible
from hub.store.base import Entity, OrderField, Relation, Session, Where, standard_orders

STANDARD = Entity(
    kind="STANDARD",
    table="coverage_standards",
    orders={
        **standard_orders("t.title"),
        "DUE_ON": OrderField("t.due_on", "date"),
        "VERSION": OrderField("t.standard_version", "text"),
    },
    default_order="CREATED_AT",
)

DECISION = Entity(
    kind="DECISION",
    table="coverage_decisions",
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
    labs = f.get("lab_ids")
    if labs is not None:
        w.add(
            "exists (select 1 from frontier_models fm where fm.id = t.model_id"
            f" and fm.lab_id = any({w.p(list(labs))}::bigint[]))"
        )
    w.at_least("t.decided_at", f.get("decided_from"))
    w.before("t.decided_at", f.get("decided_before"))


async def signoffs_by_standard(db: Session, standard_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each standard's sign-offs (agency and time), for standards the principal may see."""
    p = Params()
    rule = visible("STANDARD", "s", db.principal, p)
    rows = await db.fetch(
        f"""select so.standard_id, so.agency_id, so.signed_at
              from coverage_signoffs so join coverage_standards s on s.id = so.standard_id
             where so.standard_id = any({p(list(standard_ids))}::bigint[]) and {rule}
             order by so.standard_id, so.signed_at""",
        *p.values,
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r["standard_id"], []).append(dict(r))
    return [grouped.get(i, []) for i in standard_ids]
