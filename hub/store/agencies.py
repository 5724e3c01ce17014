"""Agencies and the program policy."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.auth import Principal
from hub.store.base import Entity, OrderField, Session, Where, standard_orders
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    changed,
    check_remit,
    check_version,
    reason_text,
    record_event,
    record_facts,
    text_list,
    update_row,
)

AGENCY = Entity(
    kind="AGENCY",
    orders={**standard_orders("t.name"), "CODE": OrderField("t.code", "text")},
    default_order="CODE",
)


def where_agencies(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.code", f.get("codes"))
    w.search(f.get("search"))


async def get_policy(db: Session) -> dict[str, Any]:
    """The policy in force (the one row of `policy`)."""
    row = await db.fetchrow("select * from policy where id = 1")
    if row is None:
        raise RuntimeError("the policy row is missing: run `hub migrate` and `hub demo`, or seed the policy")
    return dict(row)


# ------------------------------------------------------------------------------------------------ writes

POLICY = Entity(kind="POLICY", orders={}, default_order="CREATED_AT")


async def update_policy(
    con: asyncpg.Connection, principal: Principal, expected_version: int, values: dict[str, Any]
) -> int:
    """Admins of the standard-setting agencies (those in the policy's required sign-offs) change the policy.

    Records already written keep the policy of their time: agreements their window cap, standards their due date and
    required sign-offs.
    """
    row = dict(await con.fetchrow("select * from policy where id = 1 for update") or {})
    check_remit(principal, "POLICY", "updatePolicy", await record_facts(con, "POLICY", 1))
    check_version(row, expected_version)
    changes: dict[str, Any] = {}
    if values.get("order_date") is not None:
        changes["order_date"] = values["order_date"]
    for key, field in (
        ("standard_due_days", "input.standardDueDays"),
        ("preview_window_max_days", "input.previewWindowMaxDays"),
    ):
        if values.get(key) is not None:
            if not 1 <= values[key] <= 365:
                raise bad_input(field, f"must be between 1 and 365, not {values[key]}")
            changes[key] = values[key]
    if values.get("required_signoffs") is not None:
        codes = text_list(values["required_signoffs"], "input.requiredSignoffs", max_items=20, max_length=16) or []
        codes = [c.upper() for c in codes]
        if not codes:
            raise bad_input("input.requiredSignoffs", "at least one agency must sign a standard")
        known = {r[0] for r in await con.fetch("select code from agencies where code = any($1::text[])", codes)}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise Rejected(
                ErrorCode.NOT_FOUND,
                f"input.requiredSignoffs: no agency {', '.join(unknown)}",
                field="input.requiredSignoffs",
            )
        changes["required_signoffs"] = codes
    changes = changed(row, changes)
    if changes:
        await update_row(con, "POLICY", 1, changes)
        await record_event(
            con,
            principal,
            kind="POLICY",
            entity_id=1,
            action="UPDATED",
            reason=reason_text(values.get("reason")),
            details={k: {"from": row[k], "to": v} for k, v in changes.items()},
        )
    return 1
