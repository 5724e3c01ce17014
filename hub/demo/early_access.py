"""Demo early-access requests (docs/design.md, "Early access"): the demo agencies ask the labs "Anthropic" and
"OpenAI" for early access to their models, and the labs' answers, in every state of a request. Fictional demo
records: the texts say so. The models are found at load time (any not DEPRECATED, by id), so nothing here depends
on a model's name."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hub.demo.context import FICTIONAL, DemoContext

# The labs whose models the demo asks about: two of the order's three labs.
LABS = ("Anthropic", "OpenAI")

# One request per row: (lab, requesting agency, other agencies on it, what came of it). What came of it: OPEN,
# ACCEPTED (the lab accepted), COUNTER_PROPOSED (the lab's terms await the agency's word), COUNTER_ACCEPTED (the
# agency accepted the lab's terms: ACCEPTED), DECLINED, WITHDRAWN.
REQUESTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("Anthropic", "CISA", ("NIST",), "OPEN"),
    ("Anthropic", "DOE", (), "OPEN"),
    ("Anthropic", "NIST", ("CISA",), "ACCEPTED"),
    ("Anthropic", "DOD", ("NSA",), "COUNTER_PROPOSED"),
    ("Anthropic", "TREASURY", (), "DECLINED"),
    ("Anthropic", "HHS", (), "WITHDRAWN"),
    ("OpenAI", "CISA", (), "OPEN"),
    ("OpenAI", "NSA", ("DOD",), "OPEN"),
    ("OpenAI", "DOE", ("CISA",), "ACCEPTED"),
    ("OpenAI", "NIST", (), "COUNTER_ACCEPTED"),
    ("OpenAI", "EPA", (), "DECLINED"),
)

MESSAGE = f"{FICTIONAL} We ask for API access ahead of general availability to evaluate the model's cyber capabilities."
DECLINE_REASON = f"{FICTIONAL} The lab's preview capacity for this release is taken."


async def insert_early_access(ctx: DemoContext) -> None:
    """The requests of REQUESTS, each on a model of its lab (round robin over the lab's models that are not
    DEPRECATED), with the agreements the labs' answers created and the events of each step."""
    lead_time = await ctx.con.fetchval("select preview_lead_time_days from policy where id = 1")
    for lab_name in LABS:
        lab = await ctx.con.fetchrow("select id from labs where name = $1", lab_name)
        if lab is None:
            continue
        models = [
            r["id"]
            for r in await ctx.con.fetch(
                "select id from frontier_models where lab_id = $1 and release_status <> 'DEPRECATED' order by id",
                lab["id"],
            )
        ]
        if not models:
            continue
        liaison = ctx.liaisons.get(lab["id"])
        rows = [r for r in REQUESTS if r[0] == lab_name]
        for n, (_, asker, others, outcome) in enumerate(rows):
            await _request(ctx, lab["id"], models[n % len(models)], liaison, asker, others, outcome, lead_time, n)


async def _request(
    ctx: DemoContext,
    lab_id: int,
    model_id: int,
    liaison: int | None,
    asker: str,
    others: tuple[str, ...],
    outcome: str,
    lead_time: int,
    n: int,
) -> None:
    con = ctx.con
    agency_ids = [ctx.agency_ids[asker], *(ctx.agency_ids[code] for code in others)]
    officer = ctx.officers.get(asker)
    asked_at = ctx.at(-20 + n)
    answered = outcome not in ("OPEN", "WITHDRAWN")
    answer = {
        "ACCEPTED": "ACCEPT",
        "COUNTER_PROPOSED": "COUNTER_PROPOSE",
        "COUNTER_ACCEPTED": "COUNTER_PROPOSE",
        "DECLINED": "DECLINE",
    }.get(outcome)
    state = "ACCEPTED" if outcome == "COUNTER_ACCEPTED" else outcome
    answered_at = asked_at + timedelta(days=3) if answered else None
    request_id = await con.fetchval(
        """insert into early_access_requests (model_id, lab_id, requesting_agency_id, agency_ids, state, access_kinds,
                                              lead_time_days, message, answer, answer_reason, answered_at,
                                              answered_by, created_by, created_at, updated_at)
           values ($1, $2, $3, $4, $5, '{API}', $6, $7, $8, $9, $10::timestamptz, $11, $12, $13::timestamptz,
                   coalesce($10::timestamptz, $13::timestamptz))
           returning id""",
        model_id,
        lab_id,
        ctx.agency_ids[asker],
        agency_ids,
        state,
        lead_time,
        MESSAGE,
        answer,
        DECLINE_REASON if outcome == "DECLINED" else None,
        answered_at,
        liaison if answered else None,
        officer,
        asked_at,
    )
    events: list[tuple[Any, ...]] = [(*ctx._actor(officer), "REQUEST", request_id, "REQUESTED", None, "OPEN")]
    if outcome == "WITHDRAWN":
        events.append((*ctx._actor(officer), "REQUEST", request_id, "WITHDRAWN", "OPEN", "WITHDRAWN"))
    elif outcome == "DECLINED":
        events.append((*ctx._actor(liaison), "REQUEST", request_id, "DECLINED", "OPEN", "DECLINED"))
    elif answered:
        assert answered_at is not None
        agreement_state = "PROPOSED" if outcome == "COUNTER_PROPOSED" else "ACTIVE"
        start = ctx.at(-2 if agreement_state == "ACTIVE" else 5)
        agreement_id = await con.fetchval(
            """insert into early_access_agreements (model_id, lab_id, state, access_kinds, access_start, access_end,
                                                    protections, lab_consent_ref, notes, request_id, created_by,
                                                    created_at, updated_at)
               values ($1, $2, $3, '{API}', $4, $5, '{CONFIDENTIALITY,CYBERSECURITY}', $6, $7, $8, $9, $10, $10)
               returning id""",
            model_id,
            lab_id,
            agreement_state,
            start,
            start + timedelta(days=45),
            f"DEMO-CONSENT-{request_id}",
            f"{FICTIONAL} The lab's answer to an agency's request.",
            request_id,
            liaison,
            answered_at,
        )
        joined = agreement_state == "ACTIVE"
        for agency_id in agency_ids:
            asker_joins = joined and agency_id == ctx.agency_ids[asker]
            await con.execute(
                """insert into agreement_agencies (agreement_id, agency_id, accepted_at, accepted_by)
                   values ($1, $2, $3, $4)""",
                agreement_id,
                agency_id,
                answered_at if asker_joins else None,
                officer if asker_joins else None,
            )
        if outcome == "ACCEPTED":
            events.append((*ctx._actor(liaison), "AGREEMENT", agreement_id, "AGREED", None, "ACTIVE"))
            events.append((*ctx._actor(liaison), "REQUEST", request_id, "ACCEPTED", "OPEN", "ACCEPTED"))
        else:
            events.append((*ctx._actor(liaison), "AGREEMENT", agreement_id, "COUNTER_PROPOSED", None, "PROPOSED"))
            events.append((*ctx._actor(liaison), "REQUEST", request_id, "COUNTER_PROPOSED", "OPEN", "COUNTER_PROPOSED"))
        if outcome == "COUNTER_ACCEPTED":
            events.append((*ctx._actor(officer), "AGREEMENT", agreement_id, "ACCEPTED", "PROPOSED", "ACTIVE"))
            events.append((*ctx._actor(officer), "REQUEST", request_id, "ACCEPTED", "COUNTER_PROPOSED", "ACCEPTED"))
    ctx.events.extend(events)
