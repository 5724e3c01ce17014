"""CISA's infrastructure engagements and their milestones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.kinds import KINDS
from hub.store.base import (
    Entity,
    OrderField,
    Relation,
    Session,
    Where,
    rows_of_visible_parents,
    standard_orders,
    through,
)
from hub.store.sharing import check_sharing, sharing_before
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    changed,
    check_remit,
    check_version,
    exists_visible,
    idempotent,
    insert_row,
    lock_in_remit,
    move_state,
    record_created,
    record_event,
    record_update,
    replace_links,
    text,
    update_row,
)

ENGAGEMENT = Entity(
    kind="ENGAGEMENT",
    orders={
        **standard_orders("t.title"),
        "STATE": OrderField("t.state", "text"),
        "SECTOR": OrderField("t.sector", "text"),
    },
    default_order="CREATED_AT",
)

ENGAGEMENTS_BY_LAB = Relation(ENGAGEMENT, parent="t.lab_id", order="t.created_at")
ENGAGEMENTS_BY_OWNER_AGENCY = Relation(ENGAGEMENT, parent="t.owner_agency_id", order="t.created_at")
ENGAGEMENTS_BY_FINDING = through(ENGAGEMENT, "engagement_findings", "engagement_id", "finding_id", order="t.created_at")


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
    sql = "select m.* from engagement_milestones m join infrastructure_engagements t on t.id = m.engagement_id"
    return await rows_of_visible_parents(
        db, engagement_ids, "ENGAGEMENT", sql, "m.engagement_id", then="m.due_on nulls last, m.id"
    )


# ------------------------------------------------------------------------------------------------ writes


def engagement_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked descriptive columns of an opening or an update (only the keys present)."""
    fields: dict[str, Any] = {}
    if "title" in values:
        fields["title"] = text(values["title"], "input.title", required=True, max_length=300)
    if "summary" in values:
        fields["summary"] = text(values["summary"], "input.summary", max_length=20000, multiline=True)
    if "counterparty" in values:
        fields["counterparty"] = text(values["counterparty"], "input.counterparty", required=True, max_length=300)
    for key in ("sector", "kind"):
        if key in values:
            fields[key] = values[key]
    return fields


async def replace_findings(
    con: asyncpg.Connection, principal: Principal, engagement_id: int, finding_ids: list[int] | None
) -> bool:
    """Set the engagement's findings when the input names them; True when that changed them."""
    return await replace_links(
        con,
        principal,
        table="engagement_findings",
        owner_column="engagement_id",
        owner_id=engagement_id,
        target_column="finding_id",
        target_kind="FINDING",
        ids=finding_ids,
        field="input.findingIds",
    )


def check_milestone(values: dict[str, Any], field: str) -> dict[str, Any]:
    title = text(values.get("title"), f"{field}.title", required=True, max_length=300)
    due_on, completed_on = values.get("due_on"), values.get("completed_on")
    return {"title": title, "due_on": due_on, "completed_on": completed_on}


@idempotent("openEngagement", "ENGAGEMENT")
async def open_engagement(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """CISA officers open an engagement with a lab for a sector's counterparty; CISA owns it."""
    check_remit(principal, "ENGAGEMENT", "openEngagement", None)
    row = engagement_fields(values)
    await exists_visible(con, principal, "LAB", [values["lab_id"]], field="input.labId")
    milestones = values.get("milestones") or []
    if len(milestones) > 50:
        raise bad_input("input.milestones", "at most 50 milestones")
    checked = [check_milestone(m, f"input.milestones[{i}]") for i, m in enumerate(milestones)]
    row.update(await check_sharing(con, principal, values))
    row.update(lab_id=values["lab_id"], owner_agency_id=principal.agency_id, created_by=principal.id, state="PROPOSED")
    created = await insert_row(con, "infrastructure_engagements", row)
    await replace_findings(con, principal, created["id"], values.get("finding_ids"))
    for milestone in checked:
        await insert_row(con, "engagement_milestones", {"engagement_id": created["id"], **milestone})
    return await record_created(con, principal, "ENGAGEMENT", created, "OPENED", values)


async def update_engagement(
    con: asyncpg.Connection, principal: Principal, engagement_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    row = await lock_in_remit(con, principal, "ENGAGEMENT", engagement_id, "updateEngagement")
    check_version(row, expected_version)
    changes = changed(row, engagement_fields(values))
    if "tlp" in values:
        changes.update(changed(row, await check_sharing(con, principal, values)))
    findings_changed = await replace_findings(con, principal, engagement_id, values.get("finding_ids"))
    if changes or findings_changed:
        await record_update(
            con,
            principal,
            "ENGAGEMENT",
            row,
            changes,
            values,
            names=[*changes, *(["finding_ids"] if findings_changed else [])],
            before=sharing_before(row) if "tlp" in values else None,
        )
    return engagement_id


async def _milestone_event(
    con: asyncpg.Connection, principal: Principal, engagement_id: int, action: str, milestone: Any, **details: Any
) -> int:
    """A milestone's change: the engagement's version moves (a client holding it learns of the change), with its
    event naming the milestone."""
    await update_row(con, "ENGAGEMENT", engagement_id, {})
    await record_event(
        con,
        principal,
        kind="ENGAGEMENT",
        entity_id=engagement_id,
        action=action,
        details={"title": milestone["title"], **details},
    )
    return engagement_id


async def add_engagement_milestone(
    con: asyncpg.Connection, principal: Principal, engagement_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    row = await lock_in_remit(con, principal, "ENGAGEMENT", engagement_id, "addEngagementMilestone")
    check_version(row, expected_version)
    if row["state"] in KINDS["ENGAGEMENT"].final:
        raise bad_input("input.id", f"a {row['state']} engagement takes no new milestones")
    count = await con.fetchval("select count(*) from engagement_milestones where engagement_id = $1", engagement_id)
    if count >= 100:
        raise bad_input("input.title", "an engagement holds at most 100 milestones")
    milestone = check_milestone(values, "input")
    await insert_row(con, "engagement_milestones", {"engagement_id": engagement_id, **milestone})
    return await _milestone_event(
        con, principal, engagement_id, "MILESTONE_ADDED", milestone, dueOn=milestone["due_on"]
    )


async def complete_engagement_milestone(
    con: asyncpg.Connection,
    principal: Principal,
    engagement_id: int,
    expected_version: int,
    milestone_id: int,
    completed_on: Any,
) -> int:
    row = await lock_in_remit(con, principal, "ENGAGEMENT", engagement_id, "completeEngagementMilestone")
    check_version(row, expected_version)
    milestone = await con.fetchrow(
        "select * from engagement_milestones where id = $1 and engagement_id = $2", milestone_id, engagement_id
    )
    if milestone is None:
        raise Rejected(
            ErrorCode.NOT_FOUND, "input.milestoneId: no such milestone on this engagement", field="input.milestoneId"
        )
    if milestone["completed_on"] is not None:
        raise bad_input("input.milestoneId", f"completed already, on {milestone['completed_on']}")
    await con.execute("update engagement_milestones set completed_on = $1 where id = $2", completed_on, milestone_id)
    return await _milestone_event(
        con, principal, engagement_id, "MILESTONE_COMPLETED", milestone, completedOn=completed_on
    )


async def transition_engagement(
    con: asyncpg.Connection,
    principal: Principal,
    engagement_id: int,
    to: str,
    expected_version: int,
    reason: str | None,
) -> int:
    """CISA's officers move an engagement; the lab may decline or withdraw at any time (it is voluntary)."""
    row = await lock_in_remit(con, principal, "ENGAGEMENT", engagement_id, "transitionEngagement", to=to)
    return await move_state(
        con,
        principal,
        row,
        kind="ENGAGEMENT",
        to=to,
        expected_version=expected_version,
        reason=reason,
    )
