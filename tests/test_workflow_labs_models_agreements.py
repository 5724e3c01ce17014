"""Labs, models and early-access agreements as workflows: remits, versions, state machines, events, agreements of
any length the lab chooses, the lab's free hand over its release and participation, time-driven completion, and bad
input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub import db
from hub.store.agreements import complete_due_agreements
from schema.common import from_global_id, to_global_id
from tests.conftest import Api

ERRORS = "errors { field code message currentVersion allowed }"
HISTORY = "history { action fromState toState reason actorAgency { code } actorLab { name } }"
REGISTER_LAB = f"""mutation($input: RegisterLabInput!) {{ registerLab(input: $input) {{
  lab {{ id version name legalName country website participation {HISTORY} }} {ERRORS} }} }}"""
UPDATE_LAB = f"""mutation($input: UpdateLabInput!) {{ updateLab(input: $input) {{
  lab {{ id version name legalName country website {HISTORY} }} {ERRORS} }} }}"""
SET_PARTICIPATION = f"""mutation($input: SetLabParticipationInput!) {{ setLabParticipation(input: $input) {{
  lab {{ id version participation }} {ERRORS} }} }}"""
MODEL_FIELDS = (
    "id version name modelVersion modality description capabilities releaseStatus confidentialVisible"
    " trainingComputeFlop capabilityDetails plannedReleaseOn announcedOn lab { name }"
)
REGISTER_MODEL = f"""mutation($input: RegisterModelInput!) {{ registerModel(input: $input) {{
  model {{ {MODEL_FIELDS} {HISTORY} }} {ERRORS} }} }}"""
UPDATE_MODEL = f"""mutation($input: UpdateModelInput!) {{ updateModel(input: $input) {{
  model {{ {MODEL_FIELDS} }} {ERRORS} }} }}"""
SET_RELEASE = f"""mutation($input: SetModelReleaseStatusInput!) {{ setModelReleaseStatus(input: $input) {{
  model {{ id version releaseStatus {HISTORY} }} {ERRORS} }} }}"""
AGREEMENT_FIELDS = (
    "id version state accessKinds accessStart accessEnd protections labConsentRef notes"
    " model { name } lab { name } parties { agency { code } acceptedAt }"
)
OFFER = f"""mutation($input: OfferEarlyAccessInput!) {{ offerEarlyAccess(input: $input) {{
  agreement {{ {AGREEMENT_FIELDS} {HISTORY} }} {ERRORS} }} }}"""
ACCEPT = f"""mutation($input: AcceptEarlyAccessInput!) {{ acceptEarlyAccess(input: $input) {{
  agreement {{ id version state parties {{ agency {{ code }} acceptedAt }} {HISTORY} }} {ERRORS} }} }}"""
WITHDRAW = f"""mutation($input: WithdrawEarlyAccessInput!) {{ withdrawEarlyAccess(input: $input) {{
  agreement {{ id version state {HISTORY} }} {ERRORS} }} }}"""
TERMINATE = f"""mutation($input: TerminateEarlyAccessInput!) {{ terminateEarlyAccess(input: $input) {{
  agreement {{ id version state {HISTORY} }} {ERRORS} }} }}"""
NODE = "query($id: ID!) { node(id: $id) { id ... on EarlyAccessAgreement { state version accessEnd } } }"

BAD = "BAD_USER_INPUT"
# the tables these mutations write, and the event chain
TABLES = ("labs", "frontier_models", "early_access_agreements", "agreement_agencies", "idempotency_keys")


# ------------------------------------------------------------------------------------------------ helpers


async def sql(api: Api, query: str, *args: Any) -> list[dict[str, Any]]:
    con = await db.connect(api.url)
    try:
        return [dict(r) for r in await con.fetch(query, *args)]
    finally:
        await con.close()


async def snapshot(api: Api) -> dict[str, Any]:
    """Row counts of the written tables and the head of the event chain."""
    counts = {t: (await sql(api, f"select count(*) as n from {t}"))[0]["n"] for t in TABLES}
    head = (await sql(api, "select count(*) as n, max(id) as last from events"))[0]
    counts["events"] = (head["n"], head["last"])
    return counts


async def agency_id(api: Api, code: str) -> str:
    rows = await sql(api, "select id from agencies where code = $1", code)
    return str(to_global_id("Agency", rows[0]["id"]))


async def lab_id(api: Api, name: str) -> str:
    rows = await sql(api, "select id from labs where name = $1", name)
    return str(to_global_id("Lab", rows[0]["id"]))


async def model_id(api: Api, name: str, version: str | None = None) -> str:
    rows = await sql(
        api,
        "select id from frontier_models where name = $1 and ($2::text is null or model_version = $2)",
        name,
        version,
    )
    return str(to_global_id("FrontierModel", rows[0]["id"]))


def pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def mutate(api: Api, query: str, fields: dict[str, Any], token: str) -> dict[str, Any]:
    """The payload of a mutation that must not raise a GraphQL error."""
    data = await api.data(query, {"input": fields}, token=token)
    return dict(next(iter(data.values())))


async def refused(api: Api, query: str, fields: dict[str, Any], token: str) -> dict[str, Any]:
    """The GraphQL error of a mutation that must fail as a whole (FORBIDDEN, a value GraphQL cannot coerce)."""
    body = await api.query(query, {"input": fields}, token=token)
    assert body["data"] is None, body
    return dict(body["errors"][0])


def window(start_in_days: float = 1, days: float = 10) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=start_in_days)
    return {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=days)).isoformat()}


async def new_model(api: Api, liaison: str, name: str = "Claude Test Model", **fields: Any) -> dict[str, Any]:
    result = await mutate(
        api,
        REGISTER_MODEL,
        {"labId": await lab_id(api, "Anthropic"), "name": name, "modality": "TEXT", **fields},
        liaison,
    )
    assert result["errors"] == [], result
    return dict(result["model"])


async def offer(api: Api, liaison: str, model: str, codes: tuple[str, ...] = ("CISA", "NIST"), **fields: Any) -> Any:
    values = {
        "modelId": model,
        "agencyIds": [await agency_id(api, c) for c in codes],
        "accessKinds": ["API", "SANDBOX"],
        "protections": ["CONFIDENTIALITY", "CYBERSECURITY"],
        "labConsentRef": "LAB-CONSENT-TEST-1",
        **window(),
        **fields,
    }
    return await mutate(api, OFFER, values, liaison)


# ------------------------------------------------------------------------------------------------ labs


async def test_register_update_and_participation_of_a_lab(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    registered = await mutate(
        api,
        REGISTER_LAB,
        {
            "name": "  Aurora Test Lab ",
            "legalName": "Aurora Test Lab Inc.",
            "country": "us",
            "website": "https://a.test",
        },
        cisa,
    )
    assert registered["errors"] == []
    lab = registered["lab"]
    assert (lab["name"], lab["country"], lab["participation"], lab["version"]) == (
        "Aurora Test Lab",
        "US",
        "INVITED",
        1,
    )
    assert lab["history"] == [
        {
            "action": "REGISTERED",
            "fromState": None,
            "toState": "INVITED",
            "reason": None,
            "actorAgency": {"code": "CISA"},
            "actorLab": None,
        }
    ]

    # names are unique regardless of case
    duplicate = await mutate(api, REGISTER_LAB, {"name": "ANTHROPIC", "country": "US"}, cisa)
    assert duplicate["lab"] is None
    assert duplicate["errors"][0]["code"] == "CONFLICT" and duplicate["errors"][0]["field"] == "input.name"

    # only CISA and NIST officers invite labs
    for token in (
        await api.token(agency="DOD", role="OFFICER"),
        await api.token(agency="CISA", role="ANALYST"),
        await api.token(lab="Anthropic", role="LAB_LIAISON"),
    ):
        error = await refused(api, REGISTER_LAB, {"name": "Nope Lab", "country": "US"}, token)
        assert error["extensions"]["code"] == "FORBIDDEN"

    nist = await api.token(agency="NIST", role="OFFICER")
    updated = await mutate(
        api,
        UPDATE_LAB,
        {"id": lab["id"], "expectedVersion": 1, "legalName": "Aurora Labs PBC", "reason": "renamed"},
        nist,
    )
    assert updated["errors"] == [] and updated["lab"]["version"] == 2
    assert updated["lab"]["legalName"] == "Aurora Labs PBC" and updated["lab"]["website"] == "https://a.test"
    assert [h["action"] for h in updated["lab"]["history"]] == ["REGISTERED", "UPDATED"]
    assert updated["lab"]["history"][-1]["reason"] == "renamed"

    stale = await mutate(api, UPDATE_LAB, {"id": lab["id"], "expectedVersion": 1, "website": None}, nist)
    assert stale["errors"][0]["code"] == "STALE_VERSION" and stale["errors"][0]["currentVersion"] == 2
    rename = await mutate(api, UPDATE_LAB, {"id": lab["id"], "expectedVersion": 2, "name": "openai"}, nist)
    assert rename["errors"][0]["code"] == "CONFLICT" and rename["errors"][0]["field"] == "input.name"

    # another lab's liaison may not touch it
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    error = await refused(api, UPDATE_LAB, {"id": lab["id"], "expectedVersion": 2, "website": None}, openai)
    assert error["extensions"]["code"] == "FORBIDDEN"

    # the lab's own liaison updates it and moves it through the machine, and may withdraw at any time
    liaison = await api.token(lab="Aurora Test Lab", role="LAB_LIAISON")
    own = await mutate(
        api, UPDATE_LAB, {"id": lab["id"], "expectedVersion": 2, "website": "https://aurora.test/"}, liaison
    )
    assert own["errors"] == [] and own["lab"]["website"] == "https://aurora.test/"
    version = own["lab"]["version"]
    for to in ("ENGAGED", "PARTICIPATING"):
        moved = await mutate(api, SET_PARTICIPATION, {"id": lab["id"], "to": to, "expectedVersion": version}, liaison)
        assert moved["errors"] == [] and moved["lab"]["participation"] == to
        version = moved["lab"]["version"]
    illegal = await mutate(
        api, SET_PARTICIPATION, {"id": lab["id"], "to": "ENGAGED", "expectedVersion": version}, liaison
    )
    assert illegal["errors"][0]["code"] == "INVALID_TRANSITION" and illegal["errors"][0]["allowed"] == ["WITHDRAWN"]
    assert "PARTICIPATING" in illegal["errors"][0]["message"] and "WITHDRAWN" in illegal["errors"][0]["message"]

    # CISA and NIST may only invite again: not move the lab along
    error = await refused(
        api, SET_PARTICIPATION, {"id": lab["id"], "to": "WITHDRAWN", "expectedVersion": version}, cisa
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    withdrawn = await mutate(
        api,
        SET_PARTICIPATION,
        {"id": lab["id"], "to": "WITHDRAWN", "expectedVersion": version, "reason": "no longer taking part"},
        liaison,
    )
    assert withdrawn["lab"]["participation"] == "WITHDRAWN"
    invited = await mutate(
        api,
        SET_PARTICIPATION,
        {"id": lab["id"], "to": "INVITED", "expectedVersion": withdrawn["lab"]["version"]},
        cisa,
    )
    assert invited["errors"] == [] and invited["lab"]["participation"] == "INVITED"
    declined = await mutate(
        api,
        SET_PARTICIPATION,
        {"id": lab["id"], "to": "DECLINED", "expectedVersion": invited["lab"]["version"]},
        liaison,
    )
    assert declined["lab"]["participation"] == "DECLINED"

    history = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Lab { history { action fromState toState actorLab { name } } } } }",
        {"id": lab["id"]},
        token=cisa,
    )
    moves = [(h["action"], h["fromState"], h["toState"]) for h in history["node"]["history"]]
    assert moves == [
        ("REGISTERED", None, "INVITED"),
        ("UPDATED", None, None),
        ("UPDATED", None, None),
        ("TRANSITIONED", "INVITED", "ENGAGED"),
        ("TRANSITIONED", "ENGAGED", "PARTICIPATING"),
        ("TRANSITIONED", "PARTICIPATING", "WITHDRAWN"),
        ("TRANSITIONED", "WITHDRAWN", "INVITED"),
        ("TRANSITIONED", "INVITED", "DECLINED"),
    ]


# ------------------------------------------------------------------------------------------------ models


async def test_register_and_update_models_within_the_remit(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(
        api,
        anthropic,
        modelVersion="0.1",
        capabilities=["code", "reasoning", "code"],
        trainingComputeFlop=3.2e25,
        capabilityDetails="Finds memory-safety bugs.\nIn C and C++.",
        plannedReleaseOn="2026-09-01",
    )
    assert model["releaseStatus"] == "IN_DEVELOPMENT" and model["version"] == 1
    assert model["capabilities"] == ["code", "reasoning"] and model["lab"]["name"] == "Anthropic"
    assert model["confidentialVisible"] and model["trainingComputeFlop"] == 3.2e25
    assert model["history"][0]["action"] == "REGISTERED" and model["history"][0]["toState"] == "IN_DEVELOPMENT"
    assert model["history"][0]["actorLab"] == {"name": "Anthropic"}

    # the same (lab, name, version) is a conflict; another version is a new model
    again = await mutate(
        api,
        REGISTER_MODEL,
        {
            "labId": await lab_id(api, "Anthropic"),
            "name": "Claude Test Model",
            "modelVersion": "0.1",
            "modality": "TEXT",
        },
        anthropic,
    )
    assert again["errors"][0]["code"] == "CONFLICT" and again["errors"][0]["field"] == "input.name"
    await new_model(api, anthropic, modelVersion="0.2")

    # OpenAI's liaison cannot see Anthropic's model in development: NOT_FOUND, not FORBIDDEN
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    hidden = await mutate(api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 1, "description": "x"}, openai)
    assert hidden["model"] is None and hidden["errors"][0]["code"] == "NOT_FOUND"
    assert hidden["errors"][0]["field"] == "input.id"
    # ... and may not register models for Anthropic, nor update Anthropic's public ones
    error = await refused(
        api, REGISTER_MODEL, {"labId": await lab_id(api, "Anthropic"), "name": "Mine", "modality": "TEXT"}, openai
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    public = await model_id(api, "Claude Opus 4.5")
    error = await refused(api, UPDATE_MODEL, {"id": public, "expectedVersion": 1, "description": "x"}, openai)
    assert error["extensions"]["code"] == "FORBIDDEN"

    # a model is the lab's: no agency registers or changes it (an agency records a publicly released one:
    # tests/test_participation.py)
    cisa = await api.token(agency="CISA", role="OFFICER")
    for token in (
        cisa,
        await api.token(agency="NIST", role="ADMIN"),
        await api.token(agency="DOD", role="OFFICER"),
        await api.token(agency="NIST", role="ANALYST"),
    ):
        error = await refused(
            api, REGISTER_MODEL, {"labId": await lab_id(api, "OpenAI"), "name": "x", "modality": "TEXT"}, token
        )
        assert error["extensions"]["code"] == "FORBIDDEN"
        error = await refused(api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 1, "description": "x"}, token)
        assert error["extensions"]["code"] == "FORBIDDEN"

    updated = await mutate(
        api,
        UPDATE_MODEL,
        {"id": model["id"], "expectedVersion": 1, "description": "A test model.", "modality": "CODE", "reason": "typo"},
        anthropic,
    )
    assert updated["errors"] == [] and updated["model"]["version"] == 2
    assert updated["model"]["modality"] == "CODE" and updated["model"]["description"] == "A test model."
    stale = await mutate(api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 1, "description": "y"}, anthropic)
    assert stale["errors"][0]["code"] == "STALE_VERSION" and stale["errors"][0]["currentVersion"] == 2
    required = await mutate(api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 2, "name": None}, anthropic)
    assert required["errors"][0]["field"] == "input.name"

    changed = await mutate(
        api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 2, "plannedReleaseOn": "2026-10-01"}, anthropic
    )
    assert changed["errors"] == [] and changed["model"]["version"] == 3
    assert changed["model"]["plannedReleaseOn"] == "2026-10-01"
    # the lab writing the same value again changes nothing and records nothing
    same = await mutate(
        api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 3, "plannedReleaseOn": "2026-10-01"}, anthropic
    )
    assert same["errors"] == [] and same["model"]["version"] == 3
    events = await sql(
        api,
        "select action, details from events where entity_kind = 'MODEL' and entity_id = $1 order by id",
        pk(model["id"]),
    )
    assert [e["action"] for e in events] == ["REGISTERED", "UPDATED", "UPDATED"]
    assert events[1]["details"] == {"changed": ["description", "modality"]}
    # an event says which fields changed, never a confidential value
    assert events[2]["details"] == {"changed": ["planned_release_on"]}


async def test_release_status_is_the_labs_alone_even_during_a_preview_window(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="OFFICER")
    mythos = await model_id(api, "Claude Mythos Preview")
    open_windows = await sql(
        api,
        """select id from early_access_agreements
            where model_id = $1 and state = 'ACTIVE' and access_start <= now() and access_end > now()""",
        pk(mythos),
    )
    assert open_windows, "the demo's flagship preview is open now"

    # no agency moves a lab's release, in either direction
    for token in (cisa, await api.token(agency="NIST", role="ADMIN")):
        error = await refused(
            api, SET_RELEASE, {"id": mythos, "to": "GENERALLY_AVAILABLE", "expectedVersion": 1}, token
        )
        assert error["extensions"]["code"] == "FORBIDDEN"

    # an open finding on the model holds nothing up either
    finding = await api.data(
        """mutation($input: ReportFindingInput!) { reportFinding(input: $input) { errors { code } } }""",
        {"input": {"title": "Critical flaw found in the preview", "modelId": mythos, "cvss": {"baseScore": 9.8}}},
        token=await api.token(agency="CISA", role="ANALYST"),
    )
    assert finding["reportFinding"]["errors"] == []

    released = await mutate(
        api,
        SET_RELEASE,
        {"id": mythos, "to": "GENERALLY_AVAILABLE", "expectedVersion": 1, "reason": "launch day"},
        anthropic,
    )
    assert released["errors"] == [] and released["model"]["releaseStatus"] == "GENERALLY_AVAILABLE"
    released_on = (await sql(api, "select (now() at time zone 'UTC')::date::text as d"))[0]["d"]
    last = released["model"]["history"][-1]
    assert (last["action"], last["fromState"], last["toState"], last["reason"]) == (
        "TRANSITIONED",
        "RESTRICTED_PREVIEW",
        "GENERALLY_AVAILABLE",
        "launch day",
    )
    event = (
        await sql(
            api,
            "select details from events where entity_kind = 'MODEL' and entity_id = $1 order by id desc limit 1",
            pk(mythos),
        )
    )[0]
    assert event["details"] == {"generalAvailabilityOn": released_on}
    # each PROPOSED or ACTIVE agreement on the model records the release as a fact, for its parties' eyes only
    recorded = await sql(
        api,
        "select entity_id, reason, details from events where entity_kind = 'AGREEMENT'"
        " and action = 'MODEL_GENERALLY_AVAILABLE' order by entity_id",
    )
    assert {r["id"] for r in open_windows} <= {r["entity_id"] for r in recorded}
    assert all(r["reason"].startswith(f"generally available on {released_on}") for r in recorded)
    assert all(r["details"]["generalAvailabilityOn"] == released_on for r in recorded)
    # the agreement is untouched: a recorded fact, not a violation
    states = await sql(api, "select state from early_access_agreements where id = $1", open_windows[0]["id"])
    assert states == [{"state": "ACTIVE"}]

    illegal = await mutate(api, SET_RELEASE, {"id": mythos, "to": "IN_DEVELOPMENT", "expectedVersion": 2}, anthropic)
    assert illegal["errors"][0]["code"] == "INVALID_TRANSITION"
    assert illegal["errors"][0]["allowed"] == ["DEPRECATED"]
    assert "GENERALLY_AVAILABLE" in illegal["errors"][0]["message"] and "DEPRECATED" in illegal["errors"][0]["message"]
    stale = await mutate(api, SET_RELEASE, {"id": mythos, "to": "DEPRECATED", "expectedVersion": 1}, anthropic)
    assert stale["errors"][0]["code"] == "STALE_VERSION" and stale["errors"][0]["currentVersion"] == 2

    # a release with no agreement records the date on the model and nothing on any agreement
    before = len(await sql(api, "select id from events where action = 'MODEL_GENERALLY_AVAILABLE'"))
    model = await new_model(api, anthropic)
    plain = await mutate(
        api, SET_RELEASE, {"id": model["id"], "to": "GENERALLY_AVAILABLE", "expectedVersion": 1}, anthropic
    )
    assert plain["errors"] == []
    details = await sql(
        api,
        "select details from events where entity_kind = 'MODEL' and entity_id = $1 order by id desc limit 1",
        pk(model["id"]),
    )
    assert details[0]["details"] == {"generalAvailabilityOn": released_on}
    assert len(await sql(api, "select id from events where action = 'MODEL_GENERALLY_AVAILABLE'")) == before


# ------------------------------------------------------------------------------------------------ agreements


async def test_offer_accept_and_terminate_with_history(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic, trainingComputeFlop=1e26)
    offered = await offer(api, anthropic, model["id"], notes="Fictional test offer.\nTwo lines.")
    assert offered["errors"] == []
    agreement = offered["agreement"]
    assert agreement["state"] == "PROPOSED" and agreement["version"] == 1
    assert agreement["accessKinds"] == ["API", "SANDBOX"] and agreement["model"]["name"] == "Claude Test Model"
    assert [(p["agency"]["code"], p["acceptedAt"]) for p in agreement["parties"]] == [("CISA", None), ("NIST", None)]
    assert agreement["history"] == [
        {
            "action": "OFFERED",
            "fromState": None,
            "toState": "PROPOSED",
            "reason": None,
            "actorAgency": None,
            "actorLab": {"name": "Anthropic"},
        }
    ]
    ident = {"id": agreement["id"], "expectedVersion": 1}

    # an agency not named cannot see the agreement: NOT_FOUND (an invisible record reads as a missing one)
    dod = await api.token(agency="DOD", role="OFFICER")
    hidden = await mutate(api, ACCEPT, ident, dod)
    assert hidden["errors"][0]["code"] == "NOT_FOUND" and hidden["errors"][0]["field"] == "input.id"
    # a named agency's analyst and the lab itself see it but may not accept it
    for token in (await api.token(agency="CISA", role="ANALYST"), anthropic):
        error = await refused(api, ACCEPT, ident, token)
        assert error["extensions"]["code"] == "FORBIDDEN"

    # before acceptance CISA does not see the confidential data
    cisa = await api.token(agency="CISA", role="OFFICER")
    confidential = "query($id: ID!) { node(id: $id) { ... on FrontierModel { trainingComputeFlop } } }"
    assert (await api.data(confidential, {"id": model["id"]}, token=cisa))["node"]["trainingComputeFlop"] is None

    accepted = await mutate(api, ACCEPT, {**ident, "reason": "we take part"}, cisa)
    assert accepted["errors"] == []
    assert accepted["agreement"]["state"] == "ACTIVE" and accepted["agreement"]["version"] == 2
    parties = {p["agency"]["code"]: p["acceptedAt"] for p in accepted["agreement"]["parties"]}
    assert parties["CISA"] is not None and parties["NIST"] is None
    last = accepted["agreement"]["history"][-1]
    assert (last["action"], last["fromState"], last["toState"], last["actorAgency"]) == (
        "ACCEPTED",
        "PROPOSED",
        "ACTIVE",
        {"code": "CISA"},
    )
    # party to an ACTIVE agreement now: the confidential data shows
    assert (await api.data(confidential, {"id": model["id"]}, token=cisa))["node"]["trainingComputeFlop"] == 1e26

    twice = await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": 2}, cisa)
    assert twice["errors"][0]["code"] == "BAD_USER_INPUT" and "CISA accepted" in twice["errors"][0]["message"]

    nist = await api.token(agency="NIST", role="ADMIN")
    stale = await mutate(api, ACCEPT, ident, nist)
    assert stale["errors"][0]["code"] == "STALE_VERSION" and stale["errors"][0]["currentVersion"] == 2
    second = await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": 2}, nist)
    assert second["errors"] == []
    assert second["agreement"]["state"] == "ACTIVE" and second["agreement"]["version"] == 3
    last = second["agreement"]["history"][-1]
    assert (last["action"], last["fromState"], last["toState"], last["actorAgency"]) == (
        "ACCEPTED",
        None,
        None,
        {"code": "NIST"},
    )

    # leaving needs a reason, and an officer of a named agency
    no_reason = await mutate(api, TERMINATE, {"id": agreement["id"], "expectedVersion": 3, "reason": "  "}, nist)
    assert no_reason["errors"][0]["field"] == "input.reason"
    missing = await api.request_error(TERMINATE, {"input": {"id": agreement["id"], "expectedVersion": 3}}, token=nist)
    assert "reason" in missing["errors"][0]["message"]
    error = await refused(api, TERMINATE, {"id": agreement["id"], "expectedVersion": 3, "reason": "x"}, anthropic)
    assert error["extensions"]["code"] == "FORBIDDEN"
    # NIST leaves: the agreement goes on for CISA
    left = await mutate(
        api, TERMINATE, {"id": agreement["id"], "expectedVersion": 3, "reason": "our evaluation is done"}, nist
    )
    assert left["errors"] == [] and left["agreement"]["state"] == "ACTIVE" and left["agreement"]["version"] == 4
    last = left["agreement"]["history"][-1]
    assert (last["action"], last["fromState"], last["toState"], last["reason"]) == (
        "AGENCY_LEFT",
        None,
        None,
        "our evaluation is done",
    )
    # CISA leaves too: no agency is left, the agreement is TERMINATED
    ended = await mutate(
        api, TERMINATE, {"id": agreement["id"], "expectedVersion": 4, "reason": "the evaluation is done"}, cisa
    )
    assert ended["errors"] == [] and ended["agreement"]["state"] == "TERMINATED"
    assert [(e["action"], e["toState"], e["reason"]) for e in ended["agreement"]["history"][-2:]] == [
        ("AGENCY_LEFT", None, "the evaluation is done"),
        ("TERMINATED", "TERMINATED", "no agency is left on the agreement"),
    ]
    final = await mutate(api, WITHDRAW, {"id": agreement["id"], "expectedVersion": 5}, anthropic)
    assert final["errors"][0]["code"] == "INVALID_TRANSITION" and final["errors"][0]["allowed"] == []
    assert "TERMINATED" in final["errors"][0]["message"] and "final" in final["errors"][0]["message"]
    late = await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": 5}, await api.token(agency="CISA"))
    assert late["errors"][0]["code"] == "INVALID_TRANSITION"


async def test_only_the_models_lab_offers_access(api: Api) -> None:
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    # a public Anthropic model OpenAI's liaison can see: outside its remit
    error = await refused(api, OFFER, await _offer_input(api, await model_id(api, "Claude Opus 4.5")), openai)
    assert error["extensions"]["code"] == "FORBIDDEN"
    # a preview it cannot see: as if it did not exist
    result = await mutate(api, OFFER, await _offer_input(api, await model_id(api, "Claude Mythos Preview")), openai)
    assert result["errors"][0]["code"] == "NOT_FOUND" and result["errors"][0]["field"] == "input.modelId"
    # agencies do not offer access to a lab's model
    cisa = await api.token(agency="CISA", role="OFFICER")
    error = await refused(api, OFFER, await _offer_input(api, await model_id(api, "Claude Mythos Preview")), cisa)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def _offer_input(api: Api, model: str) -> dict[str, Any]:
    return {"modelId": model, "agencyIds": [await agency_id(api, "CISA")], "accessKinds": ["API"], **window()}


async def test_the_lab_withdraws_at_any_time(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="OFFICER")
    model = await new_model(api, anthropic)

    proposed = (await offer(api, anthropic, model["id"]))["agreement"]
    error = await refused(api, WITHDRAW, {"id": proposed["id"], "expectedVersion": 1}, cisa)
    assert error["extensions"]["code"] == "FORBIDDEN"
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    hidden = await mutate(api, WITHDRAW, {"id": proposed["id"], "expectedVersion": 1}, openai)
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    withdrawn = await mutate(
        api, WITHDRAW, {"id": proposed["id"], "expectedVersion": 1, "reason": "changed our plans"}, anthropic
    )
    assert withdrawn["errors"] == [] and withdrawn["agreement"]["state"] == "WITHDRAWN_BY_LAB"
    last = withdrawn["agreement"]["history"][-1]
    assert (last["action"], last["fromState"], last["toState"], last["reason"]) == (
        "WITHDRAWN",
        "PROPOSED",
        "WITHDRAWN_BY_LAB",
        "changed our plans",
    )

    active = (await offer(api, anthropic, model["id"]))["agreement"]
    assert (await mutate(api, ACCEPT, {"id": active["id"], "expectedVersion": 1}, cisa))["errors"] == []
    withdrawn = await mutate(api, WITHDRAW, {"id": active["id"], "expectedVersion": 2}, anthropic)
    assert withdrawn["errors"] == [] and withdrawn["agreement"]["state"] == "WITHDRAWN_BY_LAB"
    assert withdrawn["agreement"]["history"][-1]["fromState"] == "ACTIVE"


async def test_an_agreement_lasts_as_long_as_the_lab_chooses(api: Api) -> None:
    """No cap on what a lab gives: a 45-day and a 400-day offer are accepted; a window must still end after it starts
    and in the future."""
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic)
    before = await snapshot(api)

    backwards = await offer(api, anthropic, model["id"], **window(days=-1))
    assert backwards["errors"][0]["field"] == "input.accessEnd" and "after" in backwards["errors"][0]["message"]
    past = await offer(api, anthropic, model["id"], **window(start_in_days=-20, days=10))
    assert past["errors"][0]["field"] == "input.accessEnd" and "future" in past["errors"][0]["message"]
    naive = await offer(api, anthropic, model["id"], accessStart="2030-01-01T00:00:00", accessEnd="2030-01-02T00:00:00")
    assert naive["errors"][0]["field"] == "input.accessStart"
    assert await snapshot(api) == before

    cisa = await api.token(agency="CISA", role="OFFICER")
    for days in (45, 400):
        offered = await offer(api, anthropic, model["id"], **window(days=days))
        assert offered["errors"] == [], offered
        agreement = offered["agreement"]
        start, end = (datetime.fromisoformat(agreement[k]) for k in ("accessStart", "accessEnd"))
        assert end - start == timedelta(days=days)
        assert "windowCapDays" not in str(agreement["history"])
        accepted = await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": 1}, cisa)
        assert accepted["errors"] == [] and accepted["agreement"]["state"] == "ACTIVE"
    details = await sql(api, "select details from events where entity_kind = 'AGREEMENT' and action = 'OFFERED'")
    assert details and not any("windowCapDays" in d["details"] for d in details[-2:])


async def test_no_acceptance_after_the_window_ends(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic)
    agreement = (await offer(api, anthropic, model["id"]))["agreement"]
    # the clock moves past accessEnd before anyone accepted
    await sql(
        api,
        """update early_access_agreements set access_start = now() - interval '10 days',
                  access_end = now() - interval '1 hour' where id = $1 returning id""",
        pk(agreement["id"]),
    )
    before = await snapshot(api)
    late = await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": 1}, await api.token(agency="NIST"))
    assert late["errors"][0]["code"] == "BAD_USER_INPUT" and "ended" in late["errors"][0]["message"]
    assert late["errors"][0]["field"] == "input.id"
    assert await snapshot(api) == before


async def test_due_agreements_complete_once(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="OFFICER")
    model = await new_model(api, anthropic)
    agreement = (await offer(api, anthropic, model["id"], **window(start_in_days=0.5, days=5)))["agreement"]
    await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": 1}, cisa)
    proposed = (await offer(api, anthropic, model["id"], **window(start_in_days=0.5, days=5)))["agreement"]
    access_end = datetime.fromisoformat(agreement["accessEnd"])

    con = await db.connect(api.url)
    try:
        due_before = {
            r["id"]
            for r in await con.fetch(
                "select id from early_access_agreements where state = 'ACTIVE' and access_end <= $1", access_end
            )
        }
        later = await con.fetchval(
            "select count(*) from early_access_agreements where state = 'ACTIVE' and access_end > $1", access_end
        )
        async with con.transaction():
            completed = await complete_due_agreements(con, now=access_end)
        assert set(completed) == due_before and pk(agreement["id"]) in completed
        async with con.transaction():
            assert await complete_due_agreements(con, now=access_end) == []
        assert later == await con.fetchval(
            "select count(*) from early_access_agreements where state = 'ACTIVE' and access_end > $1", access_end
        )
        events = await con.fetch(
            """select entity_id, actor_principal_id, actor_agency_id, action, from_state, to_state, reason
                 from events where entity_kind = 'AGREEMENT' and action = 'COMPLETED'
                  and entity_id = any($1::bigint[])""",
            completed,
        )
    finally:
        await con.close()
    assert sorted(e["entity_id"] for e in events) == sorted(completed)  # one event each
    assert {(e["actor_principal_id"], e["actor_agency_id"], e["from_state"], e["to_state"]) for e in events} == {
        (None, None, "ACTIVE", "COMPLETED")
    }
    assert {e["reason"] for e in events} == {"the preview window reached accessEnd"}
    node = await api.data(NODE, {"id": agreement["id"]}, token=cisa)
    assert node["node"]["state"] == "COMPLETED" and node["node"]["version"] == 3
    # a proposal nobody accepted is not completed
    assert (await api.data(NODE, {"id": proposed["id"]}, token=cisa))["node"]["state"] == "PROPOSED"


# ------------------------------------------------------------------------------------------------ idempotency


async def test_idempotency_keys_return_the_first_result(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    lab_input = {"name": "Retry Lab", "country": "GB", "idempotencyKey": "lab-run-1"}
    first = await mutate(api, REGISTER_LAB, lab_input, cisa)
    second = await mutate(api, REGISTER_LAB, lab_input, cisa)
    assert first["errors"] == second["errors"] == [] and first["lab"]["id"] == second["lab"]["id"]
    assert len(await sql(api, "select id from labs where name = 'Retry Lab'")) == 1

    model_input = {"labId": await lab_id(api, "Anthropic"), "name": "Retry Model", "modality": "TEXT"}
    first = await mutate(api, REGISTER_MODEL, {**model_input, "idempotencyKey": "model-run-1"}, anthropic)
    second = await mutate(api, REGISTER_MODEL, {**model_input, "idempotencyKey": "model-run-1"}, anthropic)
    assert first["errors"] == second["errors"] == [] and first["model"]["id"] == second["model"]["id"]

    before = await snapshot(api)
    # one window for both tries: a retry sends the same input (window() reads the clock, which may tick between)
    same_window = window()
    first = await offer(api, anthropic, first["model"]["id"], idempotencyKey="offer-run-1", **same_window)
    after_first = await snapshot(api)
    second = await offer(api, anthropic, second["model"]["id"], idempotencyKey="offer-run-1", **same_window)
    assert first["errors"] == second["errors"] == [] and first["agreement"]["id"] == second["agreement"]["id"]
    assert after_first["early_access_agreements"] == before["early_access_agreements"] + 1
    assert await snapshot(api) == after_first

    # a key belongs to one mutation
    reused = await mutate(
        api, REGISTER_MODEL, {**model_input, "name": "Other", "idempotencyKey": "offer-run-1"}, anthropic
    )
    assert reused["errors"][0]["field"] == "input.idempotencyKey"


# ------------------------------------------------------------------------------------------------ bad input


async def test_hostile_input_is_refused_and_changes_nothing(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic)
    agreement = (await offer(api, anthropic, model["id"]))["agreement"]
    anthropic_lab = await lab_id(api, "Anthropic")
    huge = "x" * 10_000
    agencies = [await agency_id(api, "CISA")]
    offer_ok = {"modelId": model["id"], "agencyIds": agencies, "accessKinds": ["API"], **window()}
    unknown_agreement = str(to_global_id("EarlyAccessAgreement", 10**9))
    before = await snapshot(api)

    # (mutation, input, token, the field at fault, the code) for errors reported in the payload
    payload_cases: list[tuple[str, dict[str, Any], str, str, str]] = [
        (REGISTER_LAB, {"name": huge, "country": "US"}, cisa, "input.name", "BAD_USER_INPUT"),
        (REGISTER_LAB, {"name": "bad\x00name", "country": "US"}, cisa, "input.name", "BAD_USER_INPUT"),
        (REGISTER_LAB, {"name": "tab\tname", "country": "US"}, cisa, "input.name", "BAD_USER_INPUT"),
        (REGISTER_LAB, {"name": "   ", "country": "US"}, cisa, "input.name", "BAD_USER_INPUT"),
        (REGISTER_LAB, {"name": "Lab X", "country": "USA"}, cisa, "input.country", "BAD_USER_INPUT"),
        (REGISTER_LAB, {"name": "Lab X", "country": "ZZ"}, cisa, "input.country", "BAD_USER_INPUT"),
        (
            REGISTER_LAB,
            {"name": "Lab X", "country": "US", "legalName": huge},
            cisa,
            "input.legalName",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_LAB,
            {"name": "Lab X", "country": "US", "website": "javascript:alert(1)"},
            cisa,
            "input.website",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_LAB,
            {"name": "Lab X", "country": "US", "website": "http://[::1"},
            cisa,
            "input.website",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_LAB,
            {"name": "Lab X", "country": "US", "idempotencyKey": "k" * 201},
            cisa,
            "input.idempotencyKey",
            "BAD_USER_INPUT",
        ),
        (
            UPDATE_LAB,
            {"id": anthropic_lab, "expectedVersion": 1, "country": "U\x01"},
            anthropic,
            "input.country",
            "BAD_USER_INPUT",
        ),
        (UPDATE_LAB, {"id": str(to_global_id("Lab", 10**9)), "expectedVersion": 1}, cisa, "input.id", "NOT_FOUND"),
        (
            SET_PARTICIPATION,
            {"id": anthropic_lab, "to": "WITHDRAWN", "expectedVersion": 1, "reason": huge},
            anthropic,
            "input.reason",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_MODEL,
            {"labId": str(to_global_id("Lab", 10**9)), "name": "m", "modality": "TEXT"},
            anthropic,
            "input.labId",
            "NOT_FOUND",
        ),
        (
            REGISTER_MODEL,
            {"labId": anthropic_lab, "name": "m", "modality": "TEXT", "trainingComputeFlop": -1},
            anthropic,
            "input.trainingComputeFlop",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_MODEL,
            {"labId": anthropic_lab, "name": "m", "modality": "TEXT", "description": huge},
            anthropic,
            "input.description",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_MODEL,
            {"labId": anthropic_lab, "name": "m", "modality": "TEXT", "capabilities": ["ok", "bell\x07"]},
            anthropic,
            "input.capabilities[1]",
            "BAD_USER_INPUT",
        ),
        (
            REGISTER_MODEL,
            {"labId": anthropic_lab, "name": "m", "modality": "TEXT", "capabilities": [str(i) for i in range(51)]},
            anthropic,
            "input.capabilities",
            "BAD_USER_INPUT",
        ),
        (
            UPDATE_MODEL,
            {"id": model["id"], "expectedVersion": 1, "capabilityDetails": huge + huge},
            anthropic,
            "input.capabilityDetails",
            "BAD_USER_INPUT",
        ),
        (
            UPDATE_MODEL,
            {"id": model["id"], "expectedVersion": 1, "modality": None},
            anthropic,
            "input.modality",
            "BAD_USER_INPUT",
        ),
        (
            UPDATE_MODEL,
            {"id": model["id"], "expectedVersion": 7, "name": "n"},
            anthropic,
            "input.expectedVersion",
            "STALE_VERSION",
        ),
        (
            SET_RELEASE,
            {"id": model["id"], "to": "DEPRECATED", "expectedVersion": 1, "reason": "a\x1bb"},
            anthropic,
            "input.reason",
            "BAD_USER_INPUT",
        ),
        (OFFER, {**offer_ok, "agencyIds": []}, anthropic, "input.agencyIds", "BAD_USER_INPUT"),
        (
            OFFER,
            {**offer_ok, "agencyIds": [str(to_global_id("Agency", 1000 + i)) for i in range(21)]},
            anthropic,
            "input.agencyIds",
            "BAD_USER_INPUT",
        ),
        (
            OFFER,
            {**offer_ok, "agencyIds": [*agencies, str(to_global_id("Agency", 10**9))]},
            anthropic,
            "input.agencyIds",
            "NOT_FOUND",
        ),
        (OFFER, {**offer_ok, "accessKinds": []}, anthropic, "input.accessKinds", "BAD_USER_INPUT"),
        (OFFER, {**offer_ok, "notes": huge}, anthropic, "input.notes", "BAD_USER_INPUT"),
        (OFFER, {**offer_ok, "labConsentRef": "ref\r\n"}, anthropic, "input.labConsentRef", "BAD_USER_INPUT"),
        (
            OFFER,
            {**offer_ok, "modelId": str(to_global_id("FrontierModel", 10**9))},
            anthropic,
            "input.modelId",
            "NOT_FOUND",
        ),
        (ACCEPT, {"id": unknown_agreement, "expectedVersion": 1}, cisa, "input.id", "NOT_FOUND"),
        (ACCEPT, {"id": agreement["id"], "expectedVersion": 1, "reason": huge}, cisa, "input.reason", "BAD_USER_INPUT"),
        (WITHDRAW, {"id": agreement["id"], "expectedVersion": 2}, anthropic, "input.expectedVersion", "STALE_VERSION"),
        (
            TERMINATE,
            {"id": agreement["id"], "expectedVersion": 1, "reason": huge},
            cisa,
            "input.reason",
            "BAD_USER_INPUT",
        ),
    ]
    # ids of another type and malformed ids are payload errors too, naming the field
    payload_cases += [
        (UPDATE_LAB, {"id": await agency_id(api, "CISA"), "expectedVersion": 1}, cisa, "input.id", BAD),
        (UPDATE_MODEL, {"id": anthropic_lab, "expectedVersion": 1}, cisa, "input.id", BAD),
        (REGISTER_MODEL, {"labId": model["id"], "name": "m", "modality": "TEXT"}, cisa, "input.labId", BAD),
        (OFFER, {**offer_ok, "modelId": anthropic_lab}, anthropic, "input.modelId", BAD),
        (OFFER, {**offer_ok, "agencyIds": [anthropic_lab]}, anthropic, "input.agencyIds", BAD),
        (ACCEPT, {"id": "'; drop table labs; --", "expectedVersion": 1}, cisa, "input.id", BAD),
        (TERMINATE, {"id": model["id"], "expectedVersion": 1, "reason": "x"}, cisa, "input.id", BAD),
    ]
    for query, fields, token, field, code in payload_cases:
        result = await mutate(api, query, fields, token)
        assert result.get("lab", result.get("model", result.get("agreement"))) is None, (fields, result)
        assert result["errors"] and result["errors"][0]["field"] == field, (fields, result["errors"])
        assert result["errors"][0]["code"] == code, (fields, result["errors"])
        assert field in result["errors"][0]["message"]

    # values of the wrong type (GraphQL's own coercion) fail the whole request
    for query, fields in (
        (ACCEPT, {"id": agreement["id"], "expectedVersion": "one"}),
        (OFFER, {**offer_ok, "accessKinds": ["EVERYTHING"]}),
        (OFFER, {**offer_ok, "accessStart": "next tuesday"}),
        (REGISTER_MODEL, {"labId": anthropic_lab, "name": "m", "modality": "TEXT", "trainingComputeFlop": "lots"}),
        (REGISTER_LAB, {"name": "Lab X"}),
    ):
        await api.request_error(query, {"input": fields}, token=cisa)

    assert await snapshot(api) == before

    # SQL metacharacters are data, stored verbatim
    nasty = "Robert'); drop table labs; -- $1 \\ \" %"
    stored = await mutate(api, REGISTER_LAB, {"name": nasty, "country": "US", "legalName": "O'Brien & Sons"}, cisa)
    assert stored["errors"] == [] and stored["lab"]["name"] == nasty
    assert stored["lab"]["legalName"] == "O'Brien & Sons"
    described = await mutate(
        api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 1, "description": nasty + "\nline two"}, anthropic
    )
    assert described["model"]["description"] == nasty + "\nline two"
