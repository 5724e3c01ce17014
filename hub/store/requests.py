"""Early-access requests: an agency asks a lab for early access to a model, the lab answers (docs/design.md, "Early
access").

An officer or admin of an agency asks (requestEarlyAccess), for its own agency and any others it names; the model's
lab, ENGAGED or PARTICIPATING, answers (answerEarlyAccessRequest): ACCEPT creates the agreement ACTIVE for the
agencies on the request, the requesting agency joined at creation (it consented by asking); COUNTER_PROPOSE
creates a PROPOSED agreement with the lab's terms, linked to the request, which the requesting agency accepts with
acceptEarlyAccess (the request ACCEPTED in the same transaction) or declines with withdrawEarlyAccessRequest (the
proposal TERMINATED, the request WITHDRAWN); DECLINE, with an optional reason. The lab decides; nothing here holds
a release.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.access import visible
from hub.auth import Principal
from hub.kinds import KINDS, sql_list
from hub.participation import check_taking_part, lock_for_lab
from hub.remits import Facts
from hub.store.agreements import (
    MAX_AGENCIES,
    TERMS_DECLINED,
    access_kinds,
    agreement_terms,
    create_agreement,
    decline_terms,
    party_row,
)
from hub.store.base import Entity, OrderField, Relation, Where, standard_orders
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
    text,
    transition,
    write_unique,
)

REQUEST = Entity(
    kind="REQUEST",
    orders={
        "CREATED_AT": standard_orders("t.id")["CREATED_AT"],
        "UPDATED_AT": standard_orders("t.id")["UPDATED_AT"],
        "STATE": OrderField("t.state", "text"),
    },
    default_order="CREATED_AT",
)

REQUESTS_BY_MODEL = Relation(REQUEST, parent="t.model_id", order="t.created_at")
REQUESTS_BY_LAB = Relation(REQUEST, parent="t.lab_id", order="t.created_at")

# Requests awaiting the lab's answer or the agency's word on the lab's terms (hub/kinds.py, REQUEST's subset
# "open"): one per model and requesting agency. A lab's leaving the program closes them to WITHDRAWN
# (hub/participation.py, CLOSED_WHEN_THE_LAB_LEAVES).
OPEN_STATES = KINDS["REQUEST"].subset("open")

# The lab's answers and the state each moves the request to.
ANSWERS = {"ACCEPT": "ACCEPTED", "COUNTER_PROPOSE": "COUNTER_PROPOSED", "DECLINE": "DECLINED"}
MAX_LEAD_TIME_DAYS = 3650


def where_requests(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.state", f.get("state"))
    w.any_of("t.model_id", f.get("model_ids"), "bigint")
    w.any_of("t.lab_id", f.get("lab_ids"), "bigint")
    w.any_of("t.requesting_agency_id", f.get("requesting_agency_ids"), "bigint")
    w.overlaps("t.agency_ids", f.get("agency_ids"), "bigint")
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))


def early_access_status(w: Where) -> str:
    """Where model `t` stands for the principal's early access (docs/design.md, "Early access"): for an agency, over
    the requests and agreements it is on; for a lab, over those on its own models (it sees no others, so another
    lab's model reads NOT_ASKED). ANSWERED when the lab answered such a request or such an agreement exists, else
    ASKED when such a request exists, else NOT_ASKED."""
    # "the requests and agreements it is on" is the visibility rule of each (hub/access.py), read from there
    on_request = visible("REQUEST", "ea_r", w.principal, w.p)
    on_agreement = visible("AGREEMENT", "ea_g", w.principal, w.p)
    requests = f"from early_access_requests ea_r where ea_r.model_id = t.id and {on_request}"
    answered = (
        f"exists (select 1 {requests} and ea_r.answer is not null)"
        f" or exists (select 1 from early_access_agreements ea_g where ea_g.model_id = t.id and {on_agreement})"
    )
    return f"(case when {answered} then 'ANSWERED' when exists (select 1 {requests}) then 'ASKED' else 'NOT_ASKED' end)"


# ------------------------------------------------------------------------------------------------ writes


@idempotent("requestEarlyAccess", "REQUEST")
async def request_early_access(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """An officer or admin of an agency asks the model's lab for early access, for its own agency (always on the
    request) and the other agencies it names."""
    check_remit(principal, "REQUEST", "requestEarlyAccess", None)
    model_id = values["model_id"]
    await exists_visible(con, principal, "MODEL", [model_id], field="input.modelId")
    model = await con.fetchrow(
        "select lab_id, name, model_version, release_status from frontier_models where id = $1", model_id
    )
    check_remit(
        principal, "REQUEST", "requestEarlyAccess", Facts(lab_id=model["lab_id"], owner_agency_id=principal.agency_id)
    )
    if model["release_status"] == "DEPRECATED":
        raise bad_input(
            "input.modelId",
            f"{model['name']} is DEPRECATED: its lab has retired it, so there is nothing ahead of release to preview",
        )
    await check_taking_part(con, model["lab_id"], field="input.modelId", doing="asked for early access")

    named = list(values.get("agency_ids") or [])
    agency_ids = list(dict.fromkeys([principal.agency_id, *named]))
    if len(agency_ids) > MAX_AGENCIES:
        raise bad_input("input.agencyIds", f"name at most {MAX_AGENCIES} agencies with yours (got {len(agency_ids)})")
    await exists_visible(con, principal, "AGENCY", named, field="input.agencyIds")
    kinds = access_kinds(values)
    lead_time = values.get("lead_time_days")
    if lead_time is None:
        lead_time = await con.fetchval("select preview_lead_time_days from policy where id = 1")
    if not 0 <= lead_time <= MAX_LEAD_TIME_DAYS:
        raise bad_input("input.leadTimeDays", f"must be between 0 and {MAX_LEAD_TIME_DAYS} days (got {lead_time})")
    message = text(values.get("message"), "input.message", max_length=5000, multiline=True)

    already = await con.fetchval(
        f"""select state from early_access_requests where model_id = $1 and requesting_agency_id = $2
              and state in {sql_list(OPEN_STATES)}""",
        model_id,
        principal.agency_id,
    )
    conflict = (
        f"{principal.agency_code} has a request on this model awaiting an answer or its word on the lab's terms "
        f"({already or 'OPEN'}): withdraw it first, or wait for the answer"
    )
    if already is not None:
        raise Rejected(ErrorCode.CONFLICT, f"input.modelId: {conflict}", field="input.modelId")

    async def insert() -> dict[str, Any]:
        return await insert_row(
            con,
            "early_access_requests",
            {
                "model_id": model_id,
                "lab_id": model["lab_id"],
                "requesting_agency_id": principal.agency_id,
                "agency_ids": agency_ids,
                "state": "OPEN",
                "access_kinds": kinds,
                "lead_time_days": lead_time,
                "message": message,
                "created_by": principal.id,
            },
        )

    created = await write_unique(con, insert, field="input.modelId", message=conflict)
    codes = await con.fetch("select code from agencies where id = any($1::bigint[]) order by code", agency_ids)
    await record_event(
        con,
        principal,
        kind="REQUEST",
        entity_id=created["id"],
        action="REQUESTED",
        to_state="OPEN",
        details={"agencies": [r["code"] for r in codes], "leadTimeDays": lead_time, "accessKinds": kinds},
    )
    return int(created["id"])


async def answer_early_access_request(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """The lab's liaisons answer an OPEN request: ACCEPT (the agreement ACTIVE from accessStart for the agencies on
    the request, the requesting agency joined), COUNTER_PROPOSE (a PROPOSED agreement with the lab's terms, for the
    requesting agency to accept or decline) or DECLINE (with an optional reason)."""
    answer = values.get("answer")
    if answer not in ANSWERS:
        raise bad_input("input.answer", f"must be one of {', '.join(ANSWERS)}")
    target = ANSWERS[answer]
    request_id = values["id"]
    # the lab's row before the request's (hub/participation.py, the lock order a lab's leaving takes)
    row = await lock_for_lab(
        con, principal, "REQUEST", request_id, "answerEarlyAccessRequest", to=target, doing="answered"
    )
    check_version(row, values["expected_version"])
    if row["state"] != "OPEN":
        check_transition("REQUEST", row["state"], target, field="input.id")
        raise Rejected(
            ErrorCode.INVALID_TRANSITION,
            f"input.id: the lab answers an OPEN request; this one is {row['state']} (withdraw the counter-proposal "
            "to answer again)",
            field="input.id",
            allowed=[],
        )
    reason = reason_text(values.get("reason"))
    now = await con.fetchval("select now()")
    answered = {"answer": answer, "answer_reason": reason, "answered_at": now, "answered_by": principal.id}
    details: dict[str, Any] = {}
    if answer in ("ACCEPT", "COUNTER_PROPOSE"):
        terms = await agreement_terms(
            con, {**values, "access_kinds": values.get("access_kinds") or list(row["access_kinds"])}
        )
        # the agreement is measured against the lead time the agency asked for (docs/design.md, "Early access")
        terms["lead_time_asked_days"] = row["lead_time_days"]
        agreement_id = await create_agreement(
            con,
            principal,
            model_id=row["model_id"],
            lab_id=row["lab_id"],
            agency_ids=list(row["agency_ids"]),
            terms=terms,
            state="ACTIVE" if answer == "ACCEPT" else "PROPOSED",
            request_id=request_id,
            # the requesting agency consented by asking: it has joined an agreement the lab accepted
            joined=(row["requesting_agency_id"], row["created_by"]) if answer == "ACCEPT" else None,
            action="AGREED" if answer == "ACCEPT" else "COUNTER_PROPOSED",
        )
        details["agreementId"] = agreement_id
    await transition(
        con,
        principal,
        "REQUEST",
        row,
        target,
        action=target,
        reason=reason,
        field="input.answer",
        changes=answered,
        details=details,
    )
    return int(request_id)


async def withdraw_early_access_request(
    con: asyncpg.Connection, principal: Principal, request_id: int, expected_version: int, reason: str | None
) -> int:
    """An officer or admin of the requesting agency withdraws its request. Withdrawing a COUNTER_PROPOSED request
    declines the lab's terms: the proposed agreement is TERMINATED ("the requesting agency declined the lab's
    terms"), in the same transaction."""
    row = await lock_in_remit(con, principal, "REQUEST", request_id, "withdrawEarlyAccessRequest", to="WITHDRAWN")
    check_version(row, expected_version)
    checked = reason_text(reason)
    if row["state"] == "COUNTER_PROPOSED":
        agreement = await con.fetchrow(
            "select * from early_access_agreements where request_id = $1 and state = 'PROPOSED' for update",
            request_id,
        )
        if agreement is not None:
            party = await party_row(con, agreement["id"], row["requesting_agency_id"], "input.id")
            await decline_terms(con, principal, dict(agreement), party, row, checked or TERMS_DECLINED)
            return request_id
    await transition(con, principal, "REQUEST", row, "WITHDRAWN", action="WITHDRAWN", reason=checked, field="input.id")
    return request_id
