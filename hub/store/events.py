"""Events: the outbox and audit trail, read under the visibility of the records they are about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hub.access import Params, visible
from hub.store.base import Entity, OrderField, Session, Where, check_first

EVENT = Entity(
    kind="EVENT",
    columns=(
        "t.id, t.at, t.actor_principal_id, t.actor_agency_id, t.actor_lab_id, t.entity_kind, t.entity_id,"
        " t.action, t.from_state, t.to_state, t.reason, t.details"
    ),
    orders={"ID": OrderField("t.id", "bigint")},
    default_order="ID",
)


def where_events(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.entity_kind", f.get("kinds"))
    w.any_of("t.action", f.get("actions"))
    w.any_of("t.actor_agency_id", f.get("actor_agency_ids"), "bigint")
    w.at_least("t.at", f.get("at_from"))
    w.before("t.at", f.get("at_before"))
    entity = f.get("entity")
    if entity is not None:
        kind, entity_id = entity
        w.add(f"t.entity_kind = {w.p(kind)} and t.entity_id = {w.p(entity_id)}")


async def history(db: Session, keys: Sequence[tuple[str, int]], *, limit: int) -> list[list[dict[str, Any]]]:
    """The events of each (kind, id), oldest first (at most `limit` each), aligned to `keys`."""
    check_first(limit)
    p = Params()
    kinds = p([k for k, _ in keys])
    ids = p([i for _, i in keys])
    rule = visible("EVENT", "t", db.principal, p)
    rows = await db.fetch(
        f"""select * from (
                select {EVENT.columns}, row_number() over (partition by t.entity_kind, t.entity_id order by t.id) rn
                  from events t
                  join unnest({kinds}::text[], {ids}::bigint[]) k(kind, id)
                    on t.entity_kind = k.kind and t.entity_id = k.id
                 where {rule}) x
             where rn <= {p(limit)} order by id""",
        *p.values,
    )
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        row = dict(r)
        row.pop("rn")
        grouped.setdefault((row["entity_kind"], row["entity_id"]), []).append(row)
    return [grouped.get(k, []) for k in keys]
