"""Agencies and the program policy."""

from __future__ import annotations

from typing import Any

from hub.store.base import Entity, OrderField, Session, Where, standard_orders

AGENCY = Entity(
    kind="AGENCY",
    orders={**standard_orders("t.name"), "CODE": OrderField("t.code", "text")},
    default_order="CODE",
)


def where_agencies(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.code", f.get("codes"))
    w.search(f.get("search"))


async def get_policy(db: Session) -> dict[str, Any]:
    """The policy in force (the one row of `policy`: the copy of the version in effect; hub/store/policy.py)."""
    row = await db.fetchrow("select * from policy where id = 1")
    if row is None:
        raise RuntimeError("the policy row is missing: run `hub migrate` and `hub demo`, or seed the policy")
    return dict(row)
