"""Early-access agreements and the agencies party to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.remits import Facts
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
from hub.store.labs import reason_text
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    check_remit,
    check_transition,
    check_version,
    exists_visible,
    idempotent,
    insert_row,
    lock_in_remit,
    record_event,
    text,
    transition,
    update_row,
)

AGREEMENT = Entity(
    kind="AGREEMENT",
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
AGREEMENTS_BY_AGENCY = through(AGREEMENT, "agreement_agencies", "agreement_id", "agency_id", order="t.access_start")


def where_agreements(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.overlaps("t.access_kinds", f.get("access_kinds"))
    w.linked("agreement_agencies", "l.agreement_id = t.id", "agency_id", f.get("agency_ids"))
    w.at_least("t.access_end", f.get("access_end_from"))
    w.before("t.access_end", f.get("access_end_before"))
    w.at_least("t.access_start", f.get("access_start_from"))
    w.before("t.access_start", f.get("access_start_before"))


async def parties_by_agreement(db: Session, agreement_ids: Sequence[int]) -> list[list[dict[str, Any]]]:
    """The agencies named on each agreement (with acceptance), for agreements the principal may see."""
    sql = """select aa.agreement_id, aa.agency_id, aa.accepted_at
               from agreement_agencies aa join early_access_agreements t on t.id = aa.agreement_id"""
    return await rows_of_visible_parents(db, agreement_ids, "AGREEMENT", sql, "aa.agreement_id", then="aa.agency_id")


# ------------------------------------------------------------------------------------------------ writes

ACCESS_KINDS = ("API", "WEIGHTS", "SANDBOX")
PROTECTIONS = ("CONFIDENTIALITY", "CYBERSECURITY", "INSIDER_RISK", "INTELLECTUAL_PROPERTY", "USE", "NONDISCLOSURE")
MAX_AGENCIES = 20


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise bad_input(field, "must include a time zone offset (e.g. 2026-07-01T14:00:00Z)")
    return value


def _days(delta: timedelta) -> str:
    days = delta / timedelta(days=1)
    return f"{days:g} days" if days != 1 else "1 day"


@idempotent("offerEarlyAccess", "AGREEMENT")
async def offer_early_access(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """A lab's liaisons offer named agencies preview access to one of the lab's models, within the policy's cap.

    The window is a cap (accessEnd <= accessStart + policy.previewWindowMaxDays), never a hold on the release."""
    check_remit(principal, "AGREEMENT", "offerEarlyAccess", None)
    model_id = values["model_id"]
    await exists_visible(con, principal, "MODEL", [model_id], field="input.modelId")
    lab_id = await con.fetchval("select lab_id from frontier_models where id = $1", model_id)
    check_remit(principal, "AGREEMENT", "offerEarlyAccess", Facts(lab_id=lab_id))

    agency_ids = list(dict.fromkeys(values.get("agency_ids") or []))
    if not 1 <= len(agency_ids) <= MAX_AGENCIES:
        raise bad_input("input.agencyIds", f"name between 1 and {MAX_AGENCIES} agencies (got {len(agency_ids)})")
    await exists_visible(con, principal, "AGENCY", agency_ids, field="input.agencyIds")

    kinds = list(dict.fromkeys(values.get("access_kinds") or []))
    if not kinds:
        raise bad_input("input.accessKinds", f"name at least one of {', '.join(ACCESS_KINDS)}")
    if any(k not in ACCESS_KINDS for k in kinds):
        raise bad_input("input.accessKinds", f"each must be one of {', '.join(ACCESS_KINDS)}")
    protections = list(dict.fromkeys(values.get("protections") or []))
    if any(k not in PROTECTIONS for k in protections):
        raise bad_input("input.protections", f"each must be one of {', '.join(PROTECTIONS)}")

    start = _aware(values["access_start"], "input.accessStart")
    end = _aware(values["access_end"], "input.accessEnd")
    if end <= start:
        raise bad_input("input.accessEnd", "must be after input.accessStart")
    now = await con.fetchval("select now()")
    if end <= now:
        raise bad_input("input.accessEnd", "must be in the future")
    created = await insert_row(
        con,
        "early_access_agreements",
        {
            "model_id": model_id,
            "lab_id": lab_id,
            "state": "PROPOSED",
            "access_kinds": kinds,
            "access_start": start,
            "access_end": end,
            "protections": protections,
            "lab_consent_ref": text(values.get("lab_consent_ref"), "input.labConsentRef", max_length=200),
            "notes": text(values.get("notes"), "input.notes", max_length=5000, multiline=True),
            "created_by": principal.id,
        },
    )
    agreement_id = int(created["id"])
    await con.execute(
        """insert into agreement_agencies (agreement_id, agency_id)
           select $1, unnest($2::bigint[])""",
        agreement_id,
        agency_ids,
    )
    codes = await con.fetch("select code from agencies where id = any($1::bigint[]) order by code", agency_ids)
    await record_event(
        con,
        principal,
        kind="AGREEMENT",
        entity_id=agreement_id,
        action="OFFERED",
        to_state="PROPOSED",
        details={"agencies": [r["code"] for r in codes]},
    )
    return agreement_id


async def accept_early_access(
    con: asyncpg.Connection, principal: Principal, agreement_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer or admin of an agency named on the agreement accepts it for that agency. The first acceptance
    makes a PROPOSED agreement ACTIVE; later ones are recorded without a change of state."""
    # agencies see only the agreements that name them: one not named gets NOT_FOUND here
    row = await lock_in_remit(con, principal, "AGREEMENT", agreement_id, "acceptEarlyAccess")
    check_version(row, expected_version)
    # a later acceptance of an ACTIVE agreement moves nothing; the first moves it (these inputs name no target
    # state, so a refusal names input.id)
    moves = row["state"] != "ACTIVE"
    if moves:
        check_transition("AGREEMENT", row["state"], "ACTIVE", field="input.id")
    checked_reason = reason_text(reason)
    now = await con.fetchval("select now()")
    if row["access_end"] <= now:
        raise bad_input(
            "input.id", f"the preview window ended at {row['access_end'].isoformat()}; it cannot be accepted"
        )
    party = await con.fetchrow(
        "select accepted_at from agreement_agencies where agreement_id = $1 and agency_id = $2 for update",
        agreement_id,
        principal.agency_id,
    )
    if party is None:  # not reachable through the visibility rule; kept as the last word
        raise Rejected(ErrorCode.NOT_FOUND, "input.id: no such record", field="input.id")
    if party["accepted_at"] is not None:
        raise bad_input(
            "input.id", f"{principal.agency_code} accepted this agreement at {party['accepted_at'].isoformat()}"
        )
    await con.execute(
        """update agreement_agencies set accepted_at = now(), accepted_by = $3
            where agreement_id = $1 and agency_id = $2""",
        agreement_id,
        principal.agency_id,
        principal.id,
    )
    details = {"agency": principal.agency_code}
    if moves:
        await transition(
            con, principal, "AGREEMENT", row, "ACTIVE", action="ACCEPTED", reason=checked_reason, details=details
        )
        return agreement_id
    await update_row(con, "AGREEMENT", agreement_id, {})
    await record_event(
        con,
        principal,
        kind="AGREEMENT",
        entity_id=agreement_id,
        action="ACCEPTED",
        reason=checked_reason,
        details=details,
    )
    return agreement_id


async def withdraw_early_access(
    con: asyncpg.Connection, principal: Principal, agreement_id: int, expected_version: int, reason: str | None
) -> int:
    """The lab withdraws its offer or its running agreement, at any time: the program is voluntary."""
    row = await lock_in_remit(con, principal, "AGREEMENT", agreement_id, "withdrawEarlyAccess")
    check_version(row, expected_version)
    await transition(
        con, principal, "AGREEMENT", row, "WITHDRAWN_BY_LAB", action="WITHDRAWN", reason=reason, field="input.id"
    )
    return agreement_id


async def terminate_early_access(
    con: asyncpg.Connection, principal: Principal, agreement_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer or admin of an agency named on the agreement ends it, with a reason."""
    row = await lock_in_remit(con, principal, "AGREEMENT", agreement_id, "terminateEarlyAccess")
    check_version(row, expected_version)
    await transition(
        con,
        principal,
        "AGREEMENT",
        row,
        "TERMINATED",
        action="TERMINATED",
        reason=reason,
        reason_required=True,
        field="input.id",
        details={"agency": principal.agency_code},
    )
    return agreement_id


COMPLETION_REASON = "the preview window reached accessEnd"


async def complete_due_agreements(con: asyncpg.Connection, *, now: datetime) -> list[int]:
    """Complete every ACTIVE agreement whose window has ended by `now`, one event each by the hub itself, through
    the same transition as every other move (the state machine checked).

    Idempotent: a completed agreement is no longer ACTIVE, so a second call completes nothing. Rows another
    transaction holds (an acceptance, a withdrawal) are left for the next call."""
    async with con.transaction():
        due = await con.fetch(
            """select id, state from early_access_agreements
                where state = 'ACTIVE' and access_end <= $1
                order by id
                  for update skip locked""",
            now,
        )
        for row in due:
            await transition(con, None, "AGREEMENT", row, "COMPLETED", action="COMPLETED", reason=COMPLETION_REASON)
    return [int(r["id"]) for r in due]
