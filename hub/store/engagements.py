"""CISA's infrastructure engagements and their milestones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access import Params, visible
from hub.store.base import Entity, OrderField, Relation, Session, Where, standard_orders

ENGAGEMENT = Entity(
    kind="ENGAGEMENT",
    table="infrastructure_engagements",
    orders={
        **standard_orders("t.title"),
        "STATE": OrderField("t.state", "text"),
        "SECTOR": OrderField("t.sector", "text"),
    },
    default_order="CREATED_AT",
)

ENGAGEMENTS_BY_LAB = Relation(ENGAGEMENT, parent="t.lab_id", order="t.created_at")
ENGAGEMENTS_BY_OWNER_AGENCY = Relation(ENGAGEMENT, parent="t.owner_agency_id", order="t.created_at")
ENGAGEMENTS_BY_FINDING = Relation(
    ENGAGEMENT,
    parent="j.finding_id",
    join="join engagement_findings j on j.engagement_id = t.id",
    order="t.created_at",
)


def where_engagements(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.kind", f.get("kind"))
    w.any_of("t.sector", f.get("sectors"))
    w.any_of("t.tlp", f.get("tlp"))
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))


async def milestones_by_engagement(db: Session, engagement_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """Each engagement's milestones in due order, for engagements the principal may see."""
    p = Params()
    rule = visible("ENGAGEMENT", "t", db.principal, p)
    rows = await db.fetch(
        f"""select m.* from engagement_milestones m join infrastructure_engagements t on t.id = m.engagement_id
             where m.engagement_id = any({p(list(engagement_ids))}::bigint[]) and {rule}
             order by m.engagement_id, m.due_on nulls last, m.id""",
        *p.values,
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r["engagement_id"], []).append(dict(r))
    return [grouped.get(i, []) for i in engagement_ids]
