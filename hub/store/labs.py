"""Labs."""

from __future__ import annotations

from typing import Any

from hub.store.base import Entity, OrderField, Where, standard_orders

LAB = Entity(
    kind="LAB",
    table="labs",
    orders={**standard_orders("t.name"), "PARTICIPATION": OrderField("t.participation", "text")},
    default_order="NAME",
)


def where_labs(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.participation", f.get("participation"))
    w.any_of("t.country", f.get("countries"))
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))
