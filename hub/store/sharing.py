"""Writes shared by the records that carry TLP, an owning agency and shareWith (findings, measures, engagements)."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.access import SHARING_SNAPSHOT
from hub.auth import Principal
from hub.workflow import ErrorCode, Rejected, bad_input


async def check_sharing(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> dict[str, Any]:
    """tlp, shareWith agencies and labs, RED recipients: every id must exist."""
    share_agencies = list(dict.fromkeys(values.get("share_agency_ids") or []))
    share_labs = list(dict.fromkeys(values.get("share_lab_ids") or []))
    recipients = list(dict.fromkeys(values.get("recipient_principal_ids") or []))
    for field, table, ids in (
        ("input.shareWithAgencyIds", "agencies", share_agencies),
        ("input.shareWithLabIds", "labs", share_labs),
        ("input.recipientIds", "principals", recipients),
    ):
        if len(ids) > 100:
            raise bad_input(field, "at most 100 ids")
        if ids:
            found = await con.fetchval(f"select count(*) from {table} where id = any($1::bigint[])", ids)
            if found != len(ids):
                raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no such record", field=field)
    tlp = values["tlp"]
    if tlp == "RED" and not recipients:
        raise bad_input("input.recipientIds", "TLP:RED needs at least one named recipient")
    return {
        "tlp": tlp,
        "share_agency_ids": share_agencies,
        "share_lab_ids": share_labs,
        "recipient_principal_ids": recipients,
    }


# the columns hub.access.was_visible_before reads back from the snapshot, so that it judges with the same TLP rule
SNAPSHOT_COLUMNS = tuple(SHARING_SNAPSHOT)


def sharing_before(row: dict[str, Any]) -> dict[str, Any]:
    """Who could see a TLP record before a change of its sharing: kept in the change's event (`details.before`), so
    that a subscriber who loses sight of the record learns it (ACCESS_REVOKED), live or on replay, judged by the same
    rule in SQL (hub.access.was_visible_before). Never shown to clients."""
    return {"before": {column: row.get(column) for column in SNAPSHOT_COLUMNS}}
