"""Early-access requests as workflows (docs/workflows.md, "Early access: an agency asks, the lab answers"): an agency
asks, the lab answers each of three ways, a counter-proposal accepted and declined, an agency leaving an agreement
the others keep, the lab removing one; who sees a request on every read path; covered models not yet asked about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub import db
from tests.conftest import Api
from tests.test_workflow_labs_models_agreements import (
    agency_id,
    lab_id,
    mutate,
    new_model,
    refused,
    sql,
)

ERRORS = "errors { field code message }"
HISTORY = "history { action fromState toState reason actorAgency { code } actorLab { name } }"
REQUEST_FIELDS = (
    "id version state accessKinds leadTimeDays message answer answerReason answeredAt"
    " requestingAgency { code } agencies { code } model { id } lab { name }"
    " agreements { id version state accessStart accessEnd parties { agency { code } joinedAt leftAt } }"
)
REQUEST = f"""mutation($input: RequestEarlyAccessInput!) {{ requestEarlyAccess(input: $input) {{
  request {{ {REQUEST_FIELDS} {HISTORY} }} {ERRORS} }} }}"""
ANSWER = f"""mutation($input: AnswerEarlyAccessRequestInput!) {{ answerEarlyAccessRequest(input: $input) {{
  request {{ {REQUEST_FIELDS} {HISTORY} }} {ERRORS} }} }}"""
WITHDRAW_REQUEST = f"""mutation($input: WithdrawEarlyAccessRequestInput!) {{
  withdrawEarlyAccessRequest(input: $input) {{
  request {{ {REQUEST_FIELDS} {HISTORY} }} {ERRORS} }} }}"""
AGREEMENT = (
    "id version state request { id state } parties { agency { code } acceptedAt joinedAt leftAt leftReason }"
    f" {HISTORY}"
)
ACCEPT = f"""mutation($input: AcceptEarlyAccessInput!) {{ acceptEarlyAccess(input: $input) {{
  agreement {{ {AGREEMENT} }} {ERRORS} }} }}"""
WITHDRAW = f"""mutation($input: WithdrawEarlyAccessInput!) {{ withdrawEarlyAccess(input: $input) {{
  agreement {{ {AGREEMENT} }} {ERRORS} }} }}"""
TERMINATE = f"""mutation($input: TerminateEarlyAccessInput!) {{ terminateEarlyAccess(input: $input) {{
  agreement {{ {AGREEMENT} }} {ERRORS} }} }}"""
REMOVE = f"""mutation($input: RemoveEarlyAccessAgencyInput!) {{ removeEarlyAccessAgency(input: $input) {{
  agreement {{ {AGREEMENT} }} {ERRORS} }} }}"""
OFFER = f"""mutation($input: OfferEarlyAccessInput!) {{ offerEarlyAccess(input: $input) {{
  agreement {{ id }} {ERRORS} }} }}"""
CONFIDENTIAL = "query($id: ID!) { node(id: $id) { ... on FrontierModel { trainingComputeFlop } } }"


def terms(start_in_days: float = 1, days: float = 45) -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=start_in_days)
    return {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=days)).isoformat()}


async def ask(api: Api, token: str, model: str, *codes: str, **fields: Any) -> dict[str, Any]:
    values = {"modelId": model, "agencyIds": [await agency_id(api, c) for c in codes], "accessKinds": ["API"]}
    return await mutate(api, REQUEST, {**values, **fields}, token)


async def setup(api: Api) -> dict[str, Any]:
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, liaison, name="Claude Request Model", trainingComputeFlop=3e26)
    return {
        "liaison": liaison,
        "model": model["id"],
        "cisa": await api.token(agency="CISA", role="OFFICER"),
        "nist": await api.token(agency="NIST", role="ADMIN"),
        "dod": await api.token(agency="DOD", role="OFFICER"),
    }


async def test_an_agency_asks_and_the_lab_accepts(api: Api) -> None:
    s = await setup(api)
    asked = await ask(api, s["cisa"], s["model"], "NIST", message="Fictional test request.")
    assert asked["errors"] == [], asked
    request = asked["request"]
    # the asking agency is always on the request; the lead time is the policy's when not given
    assert request["state"] == "OPEN" and request["requestingAgency"] == {"code": "CISA"}
    assert sorted(a["code"] for a in request["agencies"]) == ["CISA", "NIST"]
    assert request["leadTimeDays"] == 30 and request["answer"] is None and request["agreements"] == []
    assert [(h["action"], h["toState"], h["actorAgency"]) for h in request["history"]] == [
        ("REQUESTED", "OPEN", {"code": "CISA"})
    ]
    # one open request per model and requesting agency
    again = await ask(api, s["cisa"], s["model"])
    assert again["errors"][0]["code"] == "CONFLICT" and again["errors"][0]["field"] == "input.modelId"
    # an analyst does not ask; a liaison does not ask; NIST may ask on its own
    for token in (await api.token(agency="CISA", role="ANALYST"), s["liaison"]):
        assert (await refused(api, REQUEST, {"modelId": s["model"], "accessKinds": ["API"]}, token))["extensions"][
            "code"
        ] == "FORBIDDEN"

    ident = {"id": request["id"], "expectedVersion": 1}
    # only the model's lab answers; an agency not on the request does not see it
    assert (await refused(api, ANSWER, {**ident, "answer": "DECLINE"}, s["cisa"]))["extensions"]["code"] == "FORBIDDEN"
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    hidden = await mutate(api, ANSWER, {**ident, "answer": "DECLINE"}, openai)
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    missing_window = await mutate(api, ANSWER, {**ident, "answer": "ACCEPT"}, s["liaison"])
    assert missing_window["errors"][0]["field"] == "input.accessStart"

    accepted = await mutate(
        api, ANSWER, {**ident, "answer": "ACCEPT", "labConsentRef": "LAB-1", **terms(days=400)}, s["liaison"]
    )
    assert accepted["errors"] == [], accepted
    request = accepted["request"]
    assert (request["state"], request["answer"], request["version"]) == ("ACCEPTED", "ACCEPT", 2)
    (agreement,) = request["agreements"]
    # ACTIVE at once, for the agencies on the request; the asking agency joined (it consented by asking)
    assert agreement["state"] == "ACTIVE"
    parties = {p["agency"]["code"]: p for p in agreement["parties"]}
    assert parties["CISA"]["joinedAt"] is not None and parties["NIST"]["joinedAt"] is None
    assert (await api.data(CONFIDENTIAL, {"id": s["model"]}, token=s["cisa"]))["node"]["trainingComputeFlop"] == 3e26
    assert (await api.data(CONFIDENTIAL, {"id": s["model"]}, token=s["nist"]))["node"]["trainingComputeFlop"] is None
    assert request["history"][-1]["action"] == "ACCEPTED" and request["history"][-1]["actorLab"] == {
        "name": "Anthropic"
    }
    # NIST joins with acceptEarlyAccess
    joined = await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": agreement["version"]}, s["nist"])
    assert joined["errors"] == [] and joined["agreement"]["request"]["state"] == "ACCEPTED"
    # an answered request is final
    late = await mutate(api, ANSWER, {"id": request["id"], "expectedVersion": 2, "answer": "DECLINE"}, s["liaison"])
    assert late["errors"][0]["code"] == "INVALID_TRANSITION"
    # the agency may ask again once its request is answered
    assert (await ask(api, s["cisa"], s["model"]))["errors"] == []


async def test_the_lab_declines_with_a_reason_and_the_agency_withdraws(api: Api) -> None:
    s = await setup(api)
    request = (await ask(api, s["dod"], s["model"], leadTimeDays=90))["request"]
    assert request["leadTimeDays"] == 90
    declined = await mutate(
        api,
        ANSWER,
        {"id": request["id"], "expectedVersion": 1, "answer": "DECLINE", "reason": "no preview capacity"},
        s["liaison"],
    )
    assert declined["errors"] == []
    assert (declined["request"]["state"], declined["request"]["answerReason"]) == ("DECLINED", "no preview capacity")
    assert declined["request"]["agreements"] == []
    assert declined["request"]["history"][-1]["reason"] == "no preview capacity"

    again = (await ask(api, s["dod"], s["model"]))["request"]
    # only the requesting agency's officers withdraw
    assert (await refused(api, WITHDRAW_REQUEST, {"id": again["id"], "expectedVersion": 1}, s["liaison"]))[
        "extensions"
    ]["code"] == "FORBIDDEN"
    withdrawn = await mutate(
        api, WITHDRAW_REQUEST, {"id": again["id"], "expectedVersion": 1, "reason": "plans changed"}, s["dod"]
    )
    assert withdrawn["errors"] == [] and withdrawn["request"]["state"] == "WITHDRAWN"


async def test_a_counter_proposal_accepted_withdrawn_and_declined(api: Api) -> None:
    s = await setup(api)
    request = (await ask(api, s["cisa"], s["model"], "NIST"))["request"]
    countered = await mutate(
        api,
        ANSWER,
        {"id": request["id"], "expectedVersion": 1, "answer": "COUNTER_PROPOSE", "accessKinds": ["SANDBOX"], **terms()},
        s["liaison"],
    )
    assert countered["errors"] == [] and countered["request"]["state"] == "COUNTER_PROPOSED"
    (proposal,) = countered["request"]["agreements"]
    assert proposal["state"] == "PROPOSED"
    assert all(p["joinedAt"] is None for p in proposal["parties"])
    # a second open request for the model by CISA is still refused
    assert (await ask(api, s["cisa"], s["model"]))["errors"][0]["code"] == "CONFLICT"
    # the lab's terms answer CISA: NIST cannot accept them first
    early = await mutate(api, ACCEPT, {"id": proposal["id"], "expectedVersion": 1}, s["nist"])
    assert early["errors"][0]["code"] == "BAD_USER_INPUT" and "CISA" in early["errors"][0]["message"]

    # the lab withdraws its counter-proposal: the request is OPEN again, awaiting an answer
    withdrawn = await mutate(api, WITHDRAW, {"id": proposal["id"], "expectedVersion": 1}, s["liaison"])
    assert withdrawn["errors"] == [] and withdrawn["agreement"]["state"] == "WITHDRAWN_BY_LAB"
    assert withdrawn["agreement"]["request"]["state"] == "OPEN"
    # and proposes again; CISA accepts: the agreement ACTIVE and the request ACCEPTED in one transaction
    countered = await mutate(
        api, ANSWER, {"id": request["id"], "expectedVersion": 3, "answer": "COUNTER_PROPOSE", **terms()}, s["liaison"]
    )
    assert countered["errors"] == [], countered
    proposal = next(a for a in countered["request"]["agreements"] if a["state"] == "PROPOSED")
    accepted = await mutate(api, ACCEPT, {"id": proposal["id"], "expectedVersion": 1}, s["cisa"])
    assert accepted["errors"] == [] and accepted["agreement"]["state"] == "ACTIVE"
    assert accepted["agreement"]["request"]["state"] == "ACCEPTED"
    events = await sql(
        api, "select action, from_state, to_state, reason from events where entity_kind = 'REQUEST' order by id"
    )
    assert events[-1] == {
        "action": "ACCEPTED",
        "from_state": "COUNTER_PROPOSED",
        "to_state": "ACCEPTED",
        "reason": "the requesting agency accepted the lab's terms",
    }

    # another request, countered, then declined by the agency: the proposal TERMINATED, the request WITHDRAWN
    other = (await ask(api, s["dod"], s["model"]))["request"]
    countered = await mutate(
        api, ANSWER, {"id": other["id"], "expectedVersion": 1, "answer": "COUNTER_PROPOSE", **terms()}, s["liaison"]
    )
    declined = await mutate(api, WITHDRAW_REQUEST, {"id": other["id"], "expectedVersion": 2}, s["dod"])
    assert declined["errors"] == [] and declined["request"]["state"] == "WITHDRAWN"
    (proposal,) = declined["request"]["agreements"]
    assert proposal["state"] == "TERMINATED"
    reasons = await sql(
        api,
        "select action, reason from events where entity_kind = 'AGREEMENT' and entity_id = $1 order by id",
        int(await db_id(api, proposal["id"])),
    )
    assert reasons[-1] == {"action": "TERMINATED", "reason": "the requesting agency declined the lab's terms"}


async def db_id(api: Api, global_id: str) -> int:
    from schema.common import from_global_id

    return from_global_id(global_id)[1]


async def test_refusals_the_lab_has_not_chosen_and_a_deprecated_model(api: Api) -> None:
    s = await setup(api)
    model_pk = await db_id(api, s["model"])
    pending = (await ask(api, s["dod"], s["model"]))["request"]["id"]
    con = await db.connect(api.url)
    try:
        await con.execute(
            "update labs set participation = 'WITHDRAWN' where id = (select lab_id from frontier_models where id = $1)",
            model_pk,
        )
        refused_ = await ask(api, s["cisa"], s["model"])
        assert refused_["errors"][0]["code"] == "LAB_NOT_PARTICIPATING"
        # nor does the lab offer, or answer, while it does not take part
        offered = await mutate(
            api,
            OFFER,
            {"modelId": s["model"], "agencyIds": [await agency_id(api, "CISA")], "accessKinds": ["API"], **terms()},
            s["liaison"],
        )
        assert offered["errors"][0]["code"] == "LAB_NOT_PARTICIPATING"
        assert offered["errors"][0]["field"] == "input.modelId"
        answered = await mutate(api, ANSWER, {"id": pending, "expectedVersion": 1, "answer": "DECLINE"}, s["liaison"])
        assert answered["errors"][0]["code"] == "LAB_NOT_PARTICIPATING"
        await con.execute("update labs set participation = 'PARTICIPATING' where name = 'Anthropic'")
        await con.execute("update frontier_models set release_status = 'DEPRECATED' where id = $1", model_pk)
    finally:
        await con.close()
    deprecated = await ask(api, s["cisa"], s["model"])
    assert deprecated["errors"][0]["field"] == "input.modelId" and "DEPRECATED" in deprecated["errors"][0]["message"]


async def test_one_agency_leaving_keeps_the_agreement_for_the_others(api: Api) -> None:
    s = await setup(api)
    request = (await ask(api, s["cisa"], s["model"], "NIST", "DOD"))["request"]
    answered = await mutate(
        api, ANSWER, {"id": request["id"], "expectedVersion": 1, "answer": "ACCEPT", **terms()}, s["liaison"]
    )
    (agreement,) = answered["request"]["agreements"]
    for token in (s["nist"], s["dod"]):
        version = (
            await sql(
                api, "select version from early_access_agreements where id = $1", await db_id(api, agreement["id"])
            )
        )[0]["version"]
        assert (await mutate(api, ACCEPT, {"id": agreement["id"], "expectedVersion": version}, token))["errors"] == []
    assert (await api.data(CONFIDENTIAL, {"id": s["model"]}, token=s["nist"]))["node"]["trainingComputeFlop"] == 3e26

    # NIST leaves: ACTIVE for CISA and DOD; NIST still sees the agreement, no longer the confidential data
    left = await mutate(api, TERMINATE, {"id": agreement["id"], "expectedVersion": 3, "reason": "done"}, s["nist"])
    assert left["errors"] == [] and left["agreement"]["state"] == "ACTIVE"
    parties = {p["agency"]["code"]: p for p in left["agreement"]["parties"]}
    assert parties["NIST"]["leftAt"] is not None and parties["NIST"]["leftReason"] == "done"
    assert parties["CISA"]["leftAt"] is None
    assert left["agreement"]["history"][-1]["action"] == "AGENCY_LEFT"
    assert (await api.data(CONFIDENTIAL, {"id": s["model"]}, token=s["nist"]))["node"]["trainingComputeFlop"] is None
    assert (await api.data(CONFIDENTIAL, {"id": s["model"]}, token=s["cisa"]))["node"]["trainingComputeFlop"] == 3e26
    node = "query($id: ID!) { node(id: $id) { ... on EarlyAccessAgreement { state } } }"
    assert (await api.data(node, {"id": agreement["id"]}, token=s["nist"]))["node"] == {"state": "ACTIVE"}
    twice = await mutate(api, TERMINATE, {"id": agreement["id"], "expectedVersion": 4, "reason": "x"}, s["nist"])
    assert twice["errors"][0]["code"] == "BAD_USER_INPUT" and "NIST left" in twice["errors"][0]["message"]

    # the lab removes DOD; then CISA leaves: no agency is left, the agreement is TERMINATED
    dod = await agency_id(api, "DOD")
    assert (
        await refused(
            api, REMOVE, {"id": agreement["id"], "agencyId": dod, "expectedVersion": 4, "reason": "x"}, s["cisa"]
        )
    )["extensions"]["code"] == "FORBIDDEN"
    removed = await mutate(
        api, REMOVE, {"id": agreement["id"], "agencyId": dod, "expectedVersion": 4, "reason": "scope"}, s["liaison"]
    )
    assert removed["errors"] == [] and removed["agreement"]["state"] == "ACTIVE"
    assert removed["agreement"]["history"][-1]["action"] == "AGENCY_REMOVED"
    ended = await mutate(api, TERMINATE, {"id": agreement["id"], "expectedVersion": 5, "reason": "done"}, s["cisa"])
    assert ended["agreement"]["state"] == "TERMINATED"
    assert ended["agreement"]["history"][-1]["reason"] == "no agency is left on the agreement"


LIST = """query($f: EarlyAccessRequestFilter) { earlyAccessRequests(filter: $f) {
  totalCount edges { node { id state } } } }"""
NESTED = """query($model: ID!, $lab: ID!) {
  model: node(id: $model) { ... on FrontierModel { earlyAccessRequests { id } } }
  lab: node(id: $lab) { ... on Lab { earlyAccessRequests { id } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on EarlyAccessRequest { state } } }"
EVENTS = """query($id: ID!) { events(filter: {entityId: $id}) { totalCount edges { node { action } } } }"""
VIA_AGREEMENT = """query($id: ID!) { node(id: $id) { ... on EarlyAccessAgreement { request { id } } } }"""


async def test_a_request_is_seen_by_the_agencies_on_it_and_the_lab_only(api: Api) -> None:
    s = await setup(api)
    request = (await ask(api, s["cisa"], s["model"], "NIST"))["request"]
    answered = await mutate(
        api, ANSWER, {"id": request["id"], "expectedVersion": 1, "answer": "COUNTER_PROPOSE", **terms()}, s["liaison"]
    )
    (agreement,) = answered["request"]["agreements"]
    mine = {"modelIds": [s["model"]]}
    lab = await lab_id(api, "Anthropic")
    seeing = {"cisa": s["cisa"], "nist": s["nist"], "lab": s["liaison"]}
    blind = {
        "dod": s["dod"],
        "cisa-less DOE admin": await api.token(agency="DOE", role="ADMIN"),
        "openai": await api.token(lab="OpenAI", role="LAB_LIAISON"),
    }
    for who, token in {**seeing, **blind}.items():
        sees = who in seeing
        listed = (await api.data(LIST, {"f": mine}, token=token))["earlyAccessRequests"]
        assert listed["totalCount"] == (1 if sees else 0), who
        assert [e["node"]["id"] for e in listed["edges"]] == ([request["id"]] if sees else []), who
        node = (await api.data(NODE, {"id": request["id"]}, token=token))["node"]
        assert node == ({"id": request["id"], "state": "COUNTER_PROPOSED"} if sees else None), who
        nested = await api.query(NESTED, {"model": s["model"], "lab": lab}, token=token)
        model_requests = (nested["data"]["model"] or {}).get("earlyAccessRequests", [])
        assert [r["id"] for r in model_requests] == ([request["id"]] if sees else []), who
        lab_requests = [r["id"] for r in nested["data"]["lab"]["earlyAccessRequests"]]
        assert (request["id"] in lab_requests) == sees, who
        events = (await api.data(EVENTS, {"id": request["id"]}, token=token))["events"]
        assert events["totalCount"] == (2 if sees else 0), who
        via = (await api.data(VIA_AGREEMENT, {"id": agreement["id"]}, token=token))["node"]
        assert via == ({"request": {"id": request["id"]}} if sees else None), who


STATUS = """query($status: [EarlyAccessStatus!], $outcome: [CoverageOutcome!], $labs: [ID!]) {
  models(filter: {earlyAccessStatus: $status, coverageOutcome: $outcome, labIds: $labs}, first: 500) {
    totalCount edges { node { id } } } }"""


async def test_covered_models_not_yet_asked_about(api: Api) -> None:
    s = await setup(api)
    lab = [await lab_id(api, "Anthropic")]

    async def ids(token: str, status: list[str], outcome: list[str] | None = None) -> set[str]:
        data = await api.data(STATUS, {"status": status, "outcome": outcome, "labs": lab}, token=token)
        return {e["node"]["id"] for e in data["models"]["edges"]}

    assert s["model"] in await ids(s["dod"], ["NOT_ASKED"])
    request = (await ask(api, s["dod"], s["model"], "NIST"))["request"]
    assert s["model"] not in await ids(s["dod"], ["NOT_ASKED"])
    assert s["model"] in await ids(s["dod"], ["ASKED"]) and s["model"] in await ids(s["nist"], ["ASKED"])
    # judged for the caller's agency: CISA is on no request of this model
    assert s["model"] in await ids(s["cisa"], ["NOT_ASKED"])
    await mutate(api, ANSWER, {"id": request["id"], "expectedVersion": 1, "answer": "DECLINE"}, s["liaison"])
    assert s["model"] in await ids(s["dod"], ["ANSWERED"]) and s["model"] not in await ids(s["dod"], ["ASKED"])
    # the statuses split the lab's models: each model has exactly one
    parts = [await ids(s["dod"], [status]) for status in ("NOT_ASKED", "ASKED", "ANSWERED")]
    assert sum(len(p) for p in parts) == len(parts[0] | parts[1] | parts[2])
    assert parts[0] | parts[1] | parts[2] == await ids(s["dod"], ["NOT_ASKED", "ASKED", "ANSWERED"])
    # combined with coverageOutcome: covered models not yet asked about are a subset of both
    covered = await ids(s["cisa"], ["NOT_ASKED"], ["COVERED"])
    assert covered <= await ids(s["cisa"], ["NOT_ASKED"])
    # for a lab, judged over the requests on its own models: DOD's declined request answered it
    assert s["model"] in await ids(s["liaison"], ["ANSWERED"])
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    assert s["model"] not in await ids(openai, ["ANSWERED", "ASKED", "NOT_ASKED"])  # an unreleased model it cannot see


NOT_YET_ASKED = (
    Path(__file__).resolve().parent.parent / "schema" / "operations" / "covered_models_not_yet_asked.graphql"
).read_text()


async def test_the_vetted_list_names_only_models_an_agency_may_ask_about(api: Api) -> None:
    """covered_models_not_yet_asked, as `hub query` sends it (its variables' defaults): labs that take part, models
    not DEPRECATED. The filter labParticipation alone: a lab's models follow its participation."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    data = await api.data(NOT_YET_ASKED, {"first": 500}, token=cisa)
    listed = [e["node"] for e in data["models"]["edges"]]
    assert listed, "the demo has models not yet asked about"
    assert {m["lab"]["participation"] for m in listed} <= {"ENGAGED", "PARTICIPATING"}
    assert "DEPRECATED" not in {m["releaseStatus"] for m in listed}

    by_participation = """query($p: [LabState!]) { models(filter: {labParticipation: $p}, first: 500) {
      totalCount edges { node { lab { participation } } } } }"""
    for states in (["INVITED"], ["DECLINED", "WITHDRAWN"], ["PARTICIPATING"]):
        found = await api.data(by_participation, {"p": states}, token=cisa)
        assert found["models"]["totalCount"] > 0, states
        assert {e["node"]["lab"]["participation"] for e in found["models"]["edges"]} <= set(states)
