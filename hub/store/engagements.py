"""CISA's infrastructure engagements, their milestones, and the critical-infrastructure counterparts they name.

CISA proposes, the lab accepts (docs/workflows.md, "Infrastructure engagements"): an engagement is opened only with a
lab that takes part in the program, and becomes ACTIVE only once its lab has accepted it and its counterpart's
consent is recorded as given (the ENGAGEMENT gates of hub/kinds.py, which `transition` checks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.access import visible
from hub.auth import Principal
from hub.kinds import KINDS
from hub.participation import check_taking_part, lock_for_lab
from hub.remits import Facts
from hub.store.base import (
    Entity,
    OrderField,
    Relation,
    Session,
    UserInputError,
    Where,
    rows_of_visible_parents,
    search_query,
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
    reason_text,
    record_created,
    record_event,
    record_update,
    replace_links,
    text,
    transition,
    update_row,
)

# What a counterpart is (docs/workflows.md, "Infrastructure engagements"): the GraphQL enum
# InfrastructureCounterpartKind and the CHECK constraint of sql/015 list the same values.
COUNTERPART_KINDS = {
    "ELECTRIC_UTILITY": "an electric utility or cooperative, municipal or investor-owned",
    "NATURAL_GAS_UTILITY": "a natural gas distributor",
    "WATER_UTILITY": "a drinking water or wastewater utility, district or rural water association",
    "RURAL_HOSPITAL": "a rural or critical access hospital",
    "HOSPITAL": "any other hospital or hospital network",
    "HEALTH_CENTER": "a community health center or clinic",
    "STATE_OR_LOCAL_GOVERNMENT": "a state, county, city or town government office (an election office, say)",
    "TRIBAL_GOVERNMENT": "a tribal government",
    "SCHOOL_DISTRICT": "a school district or public college",
    "EMERGENCY_SERVICES": "a 911 dispatch center, fire district or emergency medical service",
    "COMMUNICATIONS_PROVIDER": "a broadband cooperative, small carrier or other communications provider",
    "FINANCIAL_INSTITUTION": "a community bank or credit union",
    "TRANSPORTATION_OPERATOR": "an airport, port, transit agency or railroad",
    "MANUFACTURER": "a manufacturer or supplier",
    "OTHER": "anything else (the counterparts migrated from free text start here)",
}

# the moves that advance an engagement: only for a lab that takes part in the program (hub/participation.py)
ADVANCING_STATES = ("SCOPING", "ACTIVE")

ENGAGEMENT = Entity(
    kind="ENGAGEMENT",
    orders={
        **standard_orders("t.title"),
        "STATE": OrderField("t.state", "text"),
        "SECTOR": OrderField("t.sector", "text"),
    },
    default_order="CREATED_AT",
)

COUNTERPART = Entity(
    kind="COUNTERPART",
    orders={
        **standard_orders("t.name"),
        "SECTOR": OrderField("t.sector", "text"),
        "KIND": OrderField("t.kind", "text"),
    },
    default_order="CREATED_AT",
)

ENGAGEMENTS_BY_LAB = Relation(ENGAGEMENT, parent="t.lab_id", order="t.created_at")
ENGAGEMENTS_BY_COUNTERPART = Relation(ENGAGEMENT, parent="t.counterpart_id", order="t.created_at")
ENGAGEMENTS_BY_OWNER_AGENCY = Relation(ENGAGEMENT, parent="t.owner_agency_id", order="t.created_at")
ENGAGEMENTS_BY_FINDING = through(ENGAGEMENT, "engagement_findings", "engagement_id", "finding_id", order="t.created_at")


def where_engagements(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.kind", f.get("kind"))
    w.any_of("t.sector", f.get("sectors"))
    w.any_of("t.tlp", f.get("tlp"))
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
    w.any_of("t.counterpart_id", f.get("counterpart_ids"), "bigint")
    search_engagements(w, f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))


def search_engagements(w: Where, text: str | None) -> None:
    """Words that start words of the engagement's title or of its counterpart's name or region (the counterpart
    under its own visibility rule, which every principal who sees the engagement meets)."""
    if text is None:
        return
    query = search_query(text)
    if query is None:
        raise UserInputError("search needs at least one letter or digit", field="filter.search")
    q = w.p(query)
    counterpart = KINDS["COUNTERPART"].table
    w.add(
        f"(t.search @@ to_tsquery('simple', {q}) or exists (select 1 from {counterpart} s_c"
        f" where s_c.id = t.counterpart_id and s_c.search @@ to_tsquery('simple', {q})"
        f" and {visible('COUNTERPART', 's_c', w.principal, w.p)}))"
    )


def where_counterparts(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.kind", f.get("kind"))
    w.any_of("t.sector", f.get("sectors"))
    w.search(f.get("search"))


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
    """CISA officers propose an engagement to a lab that takes part in the program, for a registered counterpart;
    CISA owns it. It starts PROPOSED, with neither the lab's acceptance nor the counterpart's consent."""
    check_remit(principal, "ENGAGEMENT", "openEngagement", None)
    row = engagement_fields(values)
    await exists_visible(con, principal, "LAB", [values["lab_id"]], field="input.labId")
    await check_taking_part(con, values["lab_id"], field="input.labId", doing="proposed as an engagement")
    await exists_visible(con, principal, "COUNTERPART", [values["counterpart_id"]], field="input.counterpartId")
    row["counterpart_id"] = values["counterpart_id"]
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
    """CISA's officers move an engagement, to ACTIVE only once the lab accepted and the counterpart's consent is
    recorded as given (the gates, checked by `transition`); the lab may decline or withdraw at any time (it is
    voluntary). Nothing advances for a lab that no longer takes part in the program."""
    if to in ADVANCING_STATES:
        # the lab's row before the engagement's (hub/participation.py, the lock order a lab's leaving takes)
        row = await lock_for_lab(
            con, principal, "ENGAGEMENT", engagement_id, "transitionEngagement", to=to, doing="started in an engagement"
        )
    else:
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


async def accept_engagement(
    con: asyncpg.Connection, principal: Principal, engagement_id: int, expected_version: int, reason: str | None
) -> int:
    """The lab's liaisons accept an engagement CISA proposed (opt in): recorded once, with who and when; the
    engagement may become ACTIVE only after it. Declining stays a move (transitionEngagement to DECLINED)."""
    # the lab's row before the engagement's (hub/participation.py, the lock order a lab's leaving takes)
    row = await lock_for_lab(con, principal, "ENGAGEMENT", engagement_id, "acceptEngagement", doing="accepted")
    check_version(row, expected_version)
    if row["state"] in KINDS["ENGAGEMENT"].final:
        raise bad_input("input.id", f"a {row['state']} engagement cannot be accepted")
    if row["lab_accepted_at"] is not None:
        raise bad_input("input.id", f"the lab accepted this engagement already, on {row['lab_accepted_at']:%Y-%m-%d}")
    checked = reason_text(reason)
    now = await con.fetchval("select now()")
    await update_row(con, "ENGAGEMENT", engagement_id, {"lab_accepted_at": now, "lab_accepted_by": principal.id})
    await record_event(
        con, principal, kind="ENGAGEMENT", entity_id=engagement_id, action="LAB_ACCEPTED", reason=checked
    )
    return engagement_id


async def record_counterpart_consent(
    con: asyncpg.Connection,
    principal: Principal,
    engagement_id: int,
    expected_version: int,
    values: dict[str, Any],
) -> int:
    """CISA's officers record whether the engagement's counterpart consented to it (given: with a reference to where
    the consent is kept), with who recorded it and when; recorded again, the newest stands. A consent recorded as
    not given pauses an ACTIVE engagement in the same transaction."""
    row = await lock_in_remit(con, principal, "ENGAGEMENT", engagement_id, "recordCounterpartConsent")
    check_version(row, expected_version)
    if row["state"] in KINDS["ENGAGEMENT"].final:
        raise bad_input("input.id", f"a {row['state']} engagement takes no consent")
    consented = bool(values["consented"])
    ref = text(values.get("consent_ref"), "input.consentRef", required=consented, max_length=300)
    checked = reason_text(values.get("reason"))
    now = await con.fetchval("select now()")
    updated = await update_row(
        con,
        "ENGAGEMENT",
        engagement_id,
        {
            "counterpart_consent": consented,
            "counterpart_consent_ref": ref,
            "counterpart_consent_recorded_at": now,
            "counterpart_consent_recorded_by": principal.id,
        },
    )
    await record_event(
        con,
        principal,
        kind="ENGAGEMENT",
        entity_id=engagement_id,
        action="COUNTERPART_CONSENT_RECORDED",
        reason=checked,
        details={"consented": consented, "consentRef": ref},
    )
    if not consented and row["state"] == "ACTIVE":
        await transition(
            con,
            principal,
            "ENGAGEMENT",
            updated,
            "PAUSED",
            reason="the counterpart's consent is recorded as not given",
        )
    return engagement_id


# ------------------------------------------------------------------------------------------------ counterparts


def counterpart_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked columns of a registration or an update (only the keys present)."""
    fields: dict[str, Any] = {}
    if "name" in values:
        fields["name"] = text(values["name"], "input.name", required=True, max_length=300)
    if "kind" in values:
        if values["kind"] not in COUNTERPART_KINDS:
            raise bad_input("input.kind", f"must be one of {', '.join(COUNTERPART_KINDS)}")
        fields["kind"] = values["kind"]
    if "sector" in values:
        fields["sector"] = values["sector"]
    if "region" in values:
        fields["region"] = text(values["region"], "input.region", max_length=100)
    if "contact_ref" in values:
        fields["contact_ref"] = text(values["contact_ref"], "input.contactRef", max_length=300)
    return fields


@idempotent("registerInfrastructureCounterpart", "COUNTERPART")
async def register_counterpart(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """CISA officers register a critical-infrastructure counterpart (a utility, a rural hospital); CISA owns it."""
    check_remit(principal, "COUNTERPART", "registerInfrastructureCounterpart", None)
    row = counterpart_fields(values)
    check_remit(
        principal, "COUNTERPART", "registerInfrastructureCounterpart", Facts(owner_agency_id=principal.agency_id)
    )
    created = await insert_row(
        con,
        KINDS["COUNTERPART"].table,
        {**row, "owner_agency_id": principal.agency_id, "created_by": principal.id or None},
    )
    await record_event(
        con,
        principal,
        kind="COUNTERPART",
        entity_id=created["id"],
        action="REGISTERED",
        reason=reason_text(values.get("reason")),
        details={"kind": created["kind"], "sector": created["sector"]},
    )
    return int(created["id"])


async def update_counterpart(
    con: asyncpg.Connection, principal: Principal, counterpart_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    row = await lock_in_remit(con, principal, "COUNTERPART", counterpart_id, "updateInfrastructureCounterpart")
    check_version(row, expected_version)
    changes = changed(row, counterpart_fields(values))
    if changes:
        await record_update(con, principal, "COUNTERPART", row, changes, values, names=list(changes))
    return counterpart_id
