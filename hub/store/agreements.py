"""Early-access agreements and the agencies party to them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access import Params, visible
from hub.store.base import Entity, OrderField, Relation, Session, Where, standard_orders

AGREEMENT = Entity(
    kind="AGREEMENT",
    table="early_access_agreements",
    orders={
        "CREATED_AT": standard_orders("t.id")["CREATED_AT"],
        "UPDATED_AT": standard_orders("t.id")["UPDATED_AT"],
        "ACCESS_START": OrderField("t.access_start", "timestamptz"),
        "ACCESS_END": OrderField("t.access_end", "timestamptz"),
        "STATE": OrderField("t.state", "text"),
    },
    default_order="ACCESS_END",
)

AGREEMENTS_BY_MODEL = Relation(AGREEMENT, parent="t.model_id", order="t.access_start")
AGREEMENTS_BY_LAB = Relation(AGREEMENT, parent="t.lab_id", order="t.access_start")
AGREEMENTS_BY_AGENCY = Relation(
    AGREEMENT,
    parent="j.agency_id",
    join="join agreement_agencies j on j.agreement_id = t.id",
    order="t.access_start",
)


def where_agreements(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.overlaps("t.access_kinds", f.get("access_kinds"))
    agencies = f.get("agency_ids")
    if agencies is not None:
        w.add(
            "exists (select 1 from agreement_agencies fa where fa.agreement_id = t.id"
            f" and fa.agency_id = any({w.p(list(agencies))}::bigint[]))"
        )
    w.at_least("t.access_end", f.get("access_end_from"))
    w.before("t.access_end", f.get("access_end_before"))
    w.at_least("t.access_start", f.get("access_start_from"))
    w.before("t.access_start", f.get("access_start_before"))


async def parties_by_agreement(db: Session, agreement_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """The agencies named on each agreement (with acceptance), for agreements the principal may see."""
    p = Params()
    rule = visible("AGREEMENT", "g", db.principal, p)
    rows = await db.fetch(
        f"""select aa.agreement_id, aa.agency_id, aa.accepted_at
              from agreement_agencies aa join early_access_agreements g on g.id = aa.agreement_id
             where aa.agreement_id = any({p(list(agreement_ids))}::bigint[]) and {rule}
             order by aa.agreement_id, aa.agency_id""",
        *p.values,
    )
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        grouped.setdefault(r["agreement_id"], []).append(dict(r))
    return [grouped.get(i, []) for i in agreement_ids]
