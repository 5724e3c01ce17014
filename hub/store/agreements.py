"""Early-access agreements and the agencies party to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.participation import check_taking_part
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
    reason_text,
    record_event,
    record_facts,
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
AGREEMENTS_BY_REQUEST = Relation(AGREEMENT, parent="t.request_id", order="t.created_at")
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
    """The agencies named on each agreement (when each joined and left), for agreements the principal may see."""
    sql = """select aa.agreement_id, aa.agency_id, aa.accepted_at, aa.left_at, aa.left_reason
               from agreement_agencies aa join early_access_agreements t on t.id = aa.agreement_id"""
    return await rows_of_visible_parents(db, agreement_ids, "AGREEMENT", sql, "aa.agreement_id", then="aa.agency_id")


# ------------------------------------------------------------------------------------------------ writes

ACCESS_KINDS = ("API", "WEIGHTS", "SANDBOX")
PROTECTIONS = ("CONFIDENTIALITY", "CYBERSECURITY", "INSIDER_RISK", "INTELLECTUAL_PROPERTY", "USE", "NONDISCLOSURE")
MAX_AGENCIES = 20

# The reasons the hub writes when an agreement ends as a consequence (docs/design.md, "Early access").
NO_AGENCY_LEFT = "no agency is left on the agreement"
TERMS_DECLINED = "the requesting agency declined the lab's terms"
COUNTER_WITHDRAWN = "the lab withdrew its counter-proposal"
TERMS_ACCEPTED = "the requesting agency accepted the lab's terms"


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise bad_input(field, "must include a time zone offset (e.g. 2026-07-01T14:00:00Z)")
    return value


def access_kinds(values: dict[str, Any]) -> list[str]:
    kinds = list(dict.fromkeys(values.get("access_kinds") or []))
    if not kinds:
        raise bad_input("input.accessKinds", f"name at least one of {', '.join(ACCESS_KINDS)}")
    if any(k not in ACCESS_KINDS for k in kinds):
        raise bad_input("input.accessKinds", f"each must be one of {', '.join(ACCESS_KINDS)}")
    return kinds


async def agreement_terms(con: asyncpg.Connection, values: dict[str, Any]) -> dict[str, Any]:
    """The checked terms of an offer or of a lab's answer to a request: access kinds, window, protections, the lab's
    consent reference and notes. The window lasts as long as the lab chooses: no cap (docs/design.md, "Early
    access")."""
    kinds = access_kinds(values)
    protections = list(dict.fromkeys(values.get("protections") or []))
    if any(k not in PROTECTIONS for k in protections):
        raise bad_input("input.protections", f"each must be one of {', '.join(PROTECTIONS)}")
    if values.get("access_start") is None:
        raise bad_input("input.accessStart", "is required")
    if values.get("access_end") is None:
        raise bad_input("input.accessEnd", "is required")
    start = _aware(values["access_start"], "input.accessStart")
    end = _aware(values["access_end"], "input.accessEnd")
    if end <= start:
        raise bad_input("input.accessEnd", "must be after input.accessStart")
    now = await con.fetchval("select now()")
    if end <= now:
        raise bad_input("input.accessEnd", "must be in the future")
    return {
        "access_kinds": kinds,
        "access_start": start,
        "access_end": end,
        "protections": protections,
        "lab_consent_ref": text(values.get("lab_consent_ref"), "input.labConsentRef", max_length=200),
        "notes": text(values.get("notes"), "input.notes", max_length=5000, multiline=True),
    }


async def create_agreement(
    con: asyncpg.Connection,
    principal: Principal,
    *,
    model_id: int,
    lab_id: int,
    agency_ids: list[int],
    terms: dict[str, Any],
    state: str = "PROPOSED",
    request_id: int | None = None,
    joined: tuple[int, int | None] | None = None,
    action: str = "OFFERED",
) -> int:
    """Insert an agreement on `model_id` naming `agency_ids`, in `state`, with its event `action`. `joined`: an
    agency (id, and the principal who joined for it) counted as having accepted at creation: the requesting agency
    of a request the lab accepted (it consented by asking)."""
    created = await insert_row(
        con,
        "early_access_agreements",
        {
            "model_id": model_id,
            "lab_id": lab_id,
            "state": state,
            **terms,
            "request_id": request_id,
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
    details: dict[str, Any] = {}
    if joined is not None:
        await con.execute(
            """update agreement_agencies set accepted_at = now(), accepted_by = $3
                where agreement_id = $1 and agency_id = $2""",
            agreement_id,
            joined[0],
            joined[1],
        )
        details["joined"] = await con.fetchval("select code from agencies where id = $1", joined[0])
    codes = await con.fetch("select code from agencies where id = any($1::bigint[]) order by code", agency_ids)
    if request_id is not None:
        details["requestId"] = request_id
    await record_event(
        con,
        principal,
        kind="AGREEMENT",
        entity_id=agreement_id,
        action=action,
        to_state=state,
        details={"agencies": [r["code"] for r in codes], **details},
    )
    return agreement_id


@idempotent("offerEarlyAccess", "AGREEMENT")
async def offer_early_access(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """A lab's liaisons offer named agencies preview access to one of the lab's models, unasked, for as long as the
    lab chooses; never a hold on the release. The lab must have chosen to take part (hub/participation.py)."""
    check_remit(principal, "AGREEMENT", "offerEarlyAccess", None)
    model_id = values["model_id"]
    await exists_visible(con, principal, "MODEL", [model_id], field="input.modelId")
    lab_id = await con.fetchval("select lab_id from frontier_models where id = $1", model_id)
    check_remit(principal, "AGREEMENT", "offerEarlyAccess", Facts(lab_id=lab_id))
    await check_taking_part(con, lab_id, field="input.modelId", doing="offered")

    agency_ids = list(dict.fromkeys(values.get("agency_ids") or []))
    if not 1 <= len(agency_ids) <= MAX_AGENCIES:
        raise bad_input("input.agencyIds", f"name between 1 and {MAX_AGENCIES} agencies (got {len(agency_ids)})")
    await exists_visible(con, principal, "AGENCY", agency_ids, field="input.agencyIds")
    terms = await agreement_terms(con, values)
    return await create_agreement(con, principal, model_id=model_id, lab_id=lab_id, agency_ids=agency_ids, terms=terms)


async def _linked_request(con: asyncpg.Connection, agreement: dict[str, Any]) -> dict[str, Any] | None:
    """The request the agreement answers, locked, when it still awaits the agency's word on the lab's terms (a
    PROPOSED agreement whose request is COUNTER_PROPOSED); None otherwise."""
    if agreement["request_id"] is None or agreement["state"] != "PROPOSED":
        return None
    row = await con.fetchrow("select * from early_access_requests where id = $1 for update", agreement["request_id"])
    if row is None or row["state"] != "COUNTER_PROPOSED":
        return None
    return dict(row)


async def party_row(con: asyncpg.Connection, agreement_id: int, agency_id: int | None, field: str) -> dict[str, Any]:
    party = await con.fetchrow(
        """select aa.*, a.code from agreement_agencies aa join agencies a on a.id = aa.agency_id
            where aa.agreement_id = $1 and aa.agency_id = $2 for update of aa""",
        agreement_id,
        agency_id,
    )
    if party is None:
        raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no such agency on this agreement", field=field)
    if party["left_at"] is not None:
        raise bad_input(field, f"{party['code']} left this agreement at {party['left_at'].isoformat()}")
    return dict(party)


async def accept_early_access(
    con: asyncpg.Connection, principal: Principal, agreement_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer or admin of an agency named on the agreement accepts it for that agency (it joins). The first
    acceptance makes a PROPOSED agreement ACTIVE; later ones are recorded without a change of state.

    A counter-proposal (the lab's terms in answer to a request) is the requesting agency's to accept first: its
    acceptance makes the agreement ACTIVE and the request ACCEPTED, in this transaction; the other agencies named
    join after."""
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
    party = await party_row(con, agreement_id, principal.agency_id, "input.id")
    if party["accepted_at"] is not None:
        raise bad_input(
            "input.id", f"{principal.agency_code} accepted this agreement at {party['accepted_at'].isoformat()}"
        )
    request = await _linked_request(con, row)
    if request is not None and request["requesting_agency_id"] != principal.agency_id:
        asker = await con.fetchval("select code from agencies where id = $1", request["requesting_agency_id"])
        raise bad_input(
            "input.id",
            f"these are the lab's terms in answer to {asker}'s request: {asker} accepts them first, then the other "
            "agencies named join",
        )
    await con.execute(
        """update agreement_agencies set accepted_at = now(), accepted_by = $3
            where agreement_id = $1 and agency_id = $2""",
        agreement_id,
        principal.agency_id,
        principal.id,
    )
    details = {"agency": principal.agency_code}
    if request is not None:
        await transition(
            con,
            principal,
            "REQUEST",
            request,
            "ACCEPTED",
            action="ACCEPTED",
            reason=TERMS_ACCEPTED,
            field="input.id",
            details={"agreementId": agreement_id},
        )
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
    """The lab withdraws its offer or its running agreement, for every agency on it, at any time: the program is
    voluntary. Withdrawing a counter-proposal puts its request back to OPEN, awaiting the lab's answer again."""
    row = await lock_in_remit(con, principal, "AGREEMENT", agreement_id, "withdrawEarlyAccess")
    check_version(row, expected_version)
    request = await _linked_request(con, row)
    await transition(
        con, principal, "AGREEMENT", row, "WITHDRAWN_BY_LAB", action="WITHDRAWN", reason=reason, field="input.id"
    )
    if request is not None:
        check_remit(principal, "REQUEST", "withdrawEarlyAccess", await record_facts(con, "REQUEST", request["id"]))
        await transition(
            con,
            principal,
            "REQUEST",
            request,
            "OPEN",
            action="COUNTER_PROPOSAL_WITHDRAWN",
            reason=COUNTER_WITHDRAWN,
            field="input.id",
            changes={"answer": None, "answer_reason": None, "answered_at": None, "answered_by": None},
            details={"agreementId": agreement_id},
        )
    return agreement_id


async def _leave(
    con: asyncpg.Connection,
    principal: Principal,
    row: dict[str, Any],
    party: dict[str, Any],
    reason: str,
    *,
    action: str,
    end_reason: str = NO_AGENCY_LEFT,
) -> None:
    """Record that `party`'s agency left the agreement `row` (event `action`); the agreement goes on for the others,
    and is TERMINATED when no agency is left on it."""
    agreement_id = row["id"]
    await con.execute(
        """update agreement_agencies set left_at = now(), left_by = $3, left_reason = $4
            where agreement_id = $1 and agency_id = $2""",
        agreement_id,
        party["agency_id"],
        principal.id,
        reason,
    )
    await record_event(
        con,
        principal,
        kind="AGREEMENT",
        entity_id=agreement_id,
        action=action,
        reason=reason,
        details={"agency": party["code"]},
    )
    remaining = await con.fetchval(
        "select count(*) from agreement_agencies where agreement_id = $1 and left_at is null", agreement_id
    )
    if remaining == 0 or end_reason != NO_AGENCY_LEFT:
        await transition(
            con, principal, "AGREEMENT", row, "TERMINATED", action="TERMINATED", reason=end_reason, field="input.id"
        )
    else:
        await update_row(con, "AGREEMENT", agreement_id, {})


async def terminate_early_access(
    con: asyncpg.Connection, principal: Principal, agreement_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer or admin of an agency named on the agreement ends it for that agency, with a reason: the agency
    leaves (AGENCY_LEFT); the agreement goes on for the others and is TERMINATED when no agency is left. The
    requesting agency leaving a counter-proposal declines the lab's terms: the proposal is TERMINATED and the
    request WITHDRAWN (as withdrawEarlyAccessRequest does)."""
    row = await lock_in_remit(con, principal, "AGREEMENT", agreement_id, "terminateEarlyAccess")
    check_version(row, expected_version)
    # a final agreement has nobody left to leave it
    check_transition("AGREEMENT", row["state"], "TERMINATED", field="input.id")
    checked = reason_text(reason, required=True)
    assert checked is not None
    party = await party_row(con, agreement_id, principal.agency_id, "input.id")
    request = await _linked_request(con, row)
    if request is not None and request["requesting_agency_id"] == principal.agency_id:
        await decline_terms(con, principal, row, party, request, checked)
        return agreement_id
    await _leave(con, principal, row, party, checked, action="AGENCY_LEFT")
    return agreement_id


async def decline_terms(
    con: asyncpg.Connection,
    principal: Principal,
    agreement: dict[str, Any],
    party: dict[str, Any],
    request: dict[str, Any],
    reason: str,
) -> None:
    """The requesting agency declines the lab's counter-proposal: it leaves the proposed agreement, which is
    TERMINATED (TERMS_DECLINED), and its request is WITHDRAWN, in one transaction."""
    await _leave(con, principal, agreement, party, reason, action="AGENCY_LEFT", end_reason=TERMS_DECLINED)
    await transition(
        con,
        principal,
        "REQUEST",
        request,
        "WITHDRAWN",
        action="WITHDRAWN",
        reason=reason,
        field="input.id",
        details={"agreementId": agreement["id"], "declined": "COUNTER_PROPOSAL"},
    )


async def remove_early_access_agency(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """The lab's liaisons remove one agency from the agreement, with a reason (AGENCY_REMOVED); the agreement goes on
    for the others and is TERMINATED when no agency is left."""
    agreement_id = values["id"]
    row = await lock_in_remit(con, principal, "AGREEMENT", agreement_id, "removeEarlyAccessAgency")
    check_version(row, values["expected_version"])
    check_transition("AGREEMENT", row["state"], "TERMINATED", field="input.id")
    checked = reason_text(values.get("reason"), required=True)
    assert checked is not None
    party = await party_row(con, agreement_id, values["agency_id"], "input.agencyId")
    request = await _linked_request(con, row)
    if request is not None and request["requesting_agency_id"] == party["agency_id"]:
        raise bad_input(
            "input.agencyId",
            f"these are your terms in answer to {party['code']}'s request: withdraw the counter-proposal "
            "(withdrawEarlyAccess) instead",
        )
    await _leave(con, principal, row, party, checked, action="AGENCY_REMOVED")
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
