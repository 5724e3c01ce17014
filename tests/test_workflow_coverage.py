"""Coverage as a workflow: standards drafted with typed criteria, submitted, signed by every required agency,
adopted (superseding the old standard, keeping every decided outcome standing and carrying undecided requests over);
determinations requested (and screened), assessed, decided by one named agency and concurred by the other,
reconsidered, withdrawn. Remits, versions, events, idempotency keys, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import date
from typing import Any

from hub import db
from schema.common import from_global_id, to_global_id
from tests.conftest import Api

ERRORS = "errors { field code message currentVersion allowed }"
CRITERION = "position metric computeScope unit operator threshold writtenAs source designatingAgencies description"
STANDARD = f"""id version state standardVersion title summary requiredSignoffs dueOn adoptedAt ownerAgency {{ code }}
  signoffs {{ agency {{ code }} }} supersededBy {{ id }} combine untypedCriteria criteria {{ {CRITERION} }}"""
DECISION = """id version state outcome rationale requestNote decidedAt decidedBy { code } proposedOutcome isOverride
  overrideReason pendingOutcome pendingRationale signatureRound latestScreening { proposedOutcome trigger }
  standard { id standardVersion } model { id releaseStatus version coverageOutcome lab { name } }"""

STANDARD_MUTATIONS = {
    "draftCoverageStandard": "DraftCoverageStandardInput",
    "submitCoverageStandard": "SubmitCoverageStandardInput",
    "signCoverageStandard": "SignCoverageStandardInput",
    "withdrawCoverageStandard": "WithdrawCoverageStandardInput",
}
DECISION_MUTATIONS = {
    "requestCoverageDetermination": "RequestCoverageDeterminationInput",
    "startCoverageAssessment": "StartCoverageAssessmentInput",
    "decideCoverage": "DecideCoverageInput",
    "concurCoverageDecision": "ConcurCoverageDecisionInput",
    "objectToCoverageDecision": "ObjectToCoverageDecisionInput",
    "rescreenCoverage": "RescreenCoverageInput",
    "requestCoverageReconsideration": "RequestCoverageReconsiderationInput",
    "withdrawCoverageRequest": "WithdrawCoverageRequestInput",
}
# the states of a decision that is neither withdrawn nor superseded: open, awaiting signatures, or decided
LIVE = ["REQUESTED", "UNDER_ASSESSMENT", "AWAITING_CONCURRENCE", "DECIDED", "RECONSIDERATION_REQUESTED"]
BAD = "BAD_USER_INPUT"
NOT_EVALUABLE = "CRITERION_NOT_EVALUABLE"
COMPUTE = {
    "metric": "TRAINING_COMPUTE",
    "computeScope": "TOTAL",
    "threshold": "10^26",
    "unit": "FLOP",
    "description": "Training compute at or above 10^26 operations",
}
DESIGNATED = {
    "metric": "DESIGNATION",
    "threshold": "1",
    "unit": "DESIGNATIONS",
    "designatingAgencies": ["CISA", "NIST"],
    "description": "Designated by CISA or NIST",
}
CRITERIA = [COMPUTE, DESIGNATED]
# CRITERIA as the hub gives them back: thresholds exact, in the stored unit, defaults filled in
STORED_CRITERIA = [
    {
        "position": 0,
        "metric": "TRAINING_COMPUTE",
        "computeScope": "TOTAL",
        "unit": "FLOP",
        "operator": "GTE",
        "threshold": "1E26",
        "writtenAs": ">= 1E26 FLOP",
        "source": "HIGHER_OF_TWO",
        "designatingAgencies": [],
        "description": COMPUTE["description"],
    },
    {
        "position": 1,
        "metric": "DESIGNATION",
        "computeScope": None,
        "unit": "DESIGNATIONS",
        "operator": "GTE",
        "threshold": "1",
        "writtenAs": ">= 1 DESIGNATIONS",
        "source": "HIGHER_OF_TWO",
        "designatingAgencies": ["CISA", "NIST"],
        "description": DESIGNATED["description"],
    },
]


def operation(name: str) -> str:
    if name in STANDARD_MUTATIONS:
        input_type, record, fields = STANDARD_MUTATIONS[name], "standard", STANDARD
    else:
        input_type, record, fields = DECISION_MUTATIONS[name], "decision", DECISION
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {record} {{ {fields} }} {ERRORS} }} }}"


async def call(api: Api, name: str, token: str, **fields: Any) -> dict[str, Any]:
    """The payload of a mutation that raised no GraphQL error."""
    return dict((await api.data(operation(name), {"input": fields}, token=token))[name])


async def ok(api: Api, name: str, token: str, **fields: Any) -> dict[str, Any]:
    """The record a mutation that must succeed wrote."""
    payload = await call(api, name, token, **fields)
    assert payload["errors"] == [], payload["errors"]
    record = payload["standard"] if name in STANDARD_MUTATIONS else payload["decision"]
    return dict(record)


async def user_error(api: Api, name: str, token: str, **fields: Any) -> dict[str, Any]:
    """The one error in the payload of a mutation that must be rejected."""
    payload = await call(api, name, token, **fields)
    assert payload["standard" if name in STANDARD_MUTATIONS else "decision"] is None, payload
    assert len(payload["errors"]) == 1, payload["errors"]
    return dict(payload["errors"][0])


async def graphql_error(api: Api, name: str, token: str, **fields: Any) -> dict[str, Any]:
    """The GraphQL error of a mutation refused outright (FORBIDDEN, a value GraphQL cannot coerce)."""
    body = await api.query(operation(name), {"input": fields}, token=token)
    assert body.get("data") is None, body
    text = str(body)
    assert "Traceback" not in text and "asyncpg" not in text
    return dict(body["errors"][0])


async def standards(api: Api, token: str) -> dict[str, dict[str, Any]]:
    """Every standard the token may see, by version."""
    data = await api.data(f"{{ coverageStandards(first: 100) {{ nodes {{ {STANDARD} }} }} }}", token=token)
    return {s["standardVersion"]: s for s in data["coverageStandards"]["nodes"]}


async def decisions(
    api: Api, token: str, standard_id: str | None, states: list[str] | None = None, **filters: Any
) -> list[dict[str, Any]]:
    data = await api.data(
        f"""query($f: CoverageDecisionFilter) {{ coverageDecisions(first: 500, filter: $f) {{
              totalCount nodes {{ {DECISION} }} }} }}""",
        {"f": {"standardIds": None if standard_id is None else [standard_id], "state": states, **filters}},
        token=token,
    )
    nodes = data["coverageDecisions"]["nodes"]
    assert data["coverageDecisions"]["totalCount"] == len(nodes)
    return list(nodes)


async def history(api: Api, token: str, record_id: str) -> list[dict[str, Any]]:
    data = await api.data(
        """query($id: ID!) { node(id: $id) { ... on CoverageStandard { history { ...h } }
                                              ... on CoverageDecision { history { ...h } } } }
           fragment h on Event { action fromState toState reason actorAgency { code } actorLab { name } }""",
        {"id": record_id},
        token=token,
    )
    return list(data["node"]["history"])


async def proposal(api: Api, token: str, model_id: str, standard_id: str | None = None) -> str:
    """What a screening of the model under the standard (the adopted one by default) proposes now."""
    data = await api.data(
        "query($m: ID!, $s: ID) { coverageScreening(modelId: $m, standardId: $s) { proposedOutcome } }",
        {"m": model_id, "s": standard_id},
        token=token,
    )
    return str(data["coverageScreening"]["proposedOutcome"])


def other_than(outcome: str) -> str:
    """An outcome that overrides `outcome`."""
    return "NOT_COVERED" if outcome == "COVERED" else "COVERED"


async def sql(api: Api, query: str, *args: Any) -> Any:
    con = await db.connect(api.url)
    try:
        return await con.fetch(query, *args)
    finally:
        await con.close()


async def taking_part(api: Api, models: Iterable[str]) -> set[str]:
    """The models (global ids) whose labs take part in the program: ENGAGED or PARTICIPATING."""
    rows = await sql(
        api,
        """select m.id from frontier_models m join labs l on l.id = m.lab_id
            where m.id = any($1::bigint[]) and l.participation in ('ENGAGED', 'PARTICIPATING')""",
        [from_global_id(m)[1] for m in models],
    )
    return {str(to_global_id("FrontierModel", r["id"])) for r in rows}


async def new_model(api: Api, lab: str, name: str, release_status: str = "IN_DEVELOPMENT") -> str:
    """A model of `lab` with no coverage request yet."""
    rows = await sql(
        api,
        """insert into frontier_models (lab_id, name, modality, release_status)
           select id, $2, 'TEXT', $3 from labs where name = $1 returning id""",
        lab,
        name,
        release_status,
    )
    return str(to_global_id("FrontierModel", rows[0]["id"]))


async def snapshot(api: Api) -> tuple[Any, ...]:
    """Row counts and version sums of the coverage tables (screenings and signatures included), and the event
    chain's length and head."""
    rows = await sql(
        api,
        """select (select count(*) from coverage_standards), (select sum(version) from coverage_standards),
                  (select count(*) from coverage_signoffs), (select count(*) from coverage_criteria),
                  (select count(*) from coverage_decisions), (select sum(version) from coverage_decisions),
                  (select count(*) from coverage_screenings), (select count(*) from coverage_decision_signatures),
                  (select count(*) from idempotency_keys), (select sum(version) from frontier_models),
                  (select count(*) from events), (select max(id) from events)""",
    )
    return tuple(rows[0])


async def draft(api: Api, token: str, version: str, **fields: Any) -> dict[str, Any]:
    return await ok(
        api,
        "draftCoverageStandard",
        token,
        standardVersion=version,
        title=fields.pop("title", f"Coverage standard {version}"),
        criteria=fields.pop("criteria", CRITERIA),
        **fields,
    )


# ------------------------------------------------------------------------------------------------ standards


async def test_the_last_signature_adopts_keeps_decided_outcomes_standing_and_carries_requests_over(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    drafted = await draft(api, cisa, "1.3", summary="Adds agentic\ncyber evaluations.", combine="ANY_OF")
    assert drafted["state"] == "DRAFT" and drafted["version"] == 1
    assert drafted["requiredSignoffs"] == ["CISA", "NIST"] and drafted["dueOn"] == "2026-07-02"
    assert drafted["ownerAgency"] == {"code": "CISA"} and drafted["signoffs"] == []
    assert drafted["criteria"] == STORED_CRITERIA
    assert drafted["combine"] == "ANY_OF" and drafted["untypedCriteria"] == []
    assert drafted["summary"] == "Adds agentic\ncyber evaluations."
    new_id = drafted["id"]

    submitted = await ok(api, "submitCoverageStandard", nist, id=new_id, expectedVersion=1, reason="ready")
    assert submitted["state"] == "IN_REVIEW" and submitted["version"] == 2

    old = (await standards(api, cisa))["1.0"]
    assert old["state"] == "ADOPTED"
    live_before = await decisions(api, cisa, old["id"], LIVE)
    assert {"REQUESTED", "UNDER_ASSESSMENT", "DECIDED", "RECONSIDERATION_REQUESTED"} <= {
        d["state"] for d in live_before
    }
    standing = [d for d in live_before if d["outcome"] is not None]
    undecided = [d for d in live_before if d["outcome"] is None]
    assert standing and undecided
    assert {d["state"] for d in undecided} <= {"REQUESTED", "UNDER_ASSESSMENT", "AWAITING_CONCURRENCE"}
    models = {d["model"]["id"] for d in live_before}
    final_before = await decisions(api, cisa, old["id"], ["WITHDRAWN", "SUPERSEDED"])

    signed = await ok(api, "signCoverageStandard", cisa, id=new_id, expectedVersion=2, reason="CISA agrees")
    assert signed["state"] == "IN_REVIEW" and signed["adoptedAt"] is None and signed["version"] == 3
    assert [s["agency"]["code"] for s in signed["signoffs"]] == ["CISA"]
    assert (await standards(api, cisa))["1.0"]["state"] == "ADOPTED"

    twice = await user_error(api, "signCoverageStandard", cisa, id=new_id, expectedVersion=3)
    assert twice["code"] == "BAD_USER_INPUT" and twice["field"] == "input.id" and "CISA" in twice["message"]
    stale = await user_error(api, "signCoverageStandard", nist, id=new_id, expectedVersion=2)
    assert stale["code"] == "STALE_VERSION" and stale["currentVersion"] == 3

    events_before = (await sql(api, "select count(*) from events"))[0][0]
    adopted = await ok(api, "signCoverageStandard", nist, id=new_id, expectedVersion=3, reason="NIST agrees")
    assert adopted["state"] == "ADOPTED" and adopted["adoptedAt"] is not None and adopted["version"] == 4
    assert [s["agency"]["code"] for s in adopted["signoffs"]] == ["CISA", "NIST"]

    after = await standards(api, cisa)
    assert after["1.0"]["state"] == "SUPERSEDED" and after["1.0"]["supersededBy"] == {"id": new_id}
    assert after["1.0"]["adoptedAt"] == old["adoptedAt"]
    assert [v for v, s in after.items() if s["state"] == "ADOPTED"] == ["1.3"]
    assert after["0.9"]["state"] == "SUPERSEDED" and after["1.1"]["state"] == "IN_REVIEW"

    # every decided outcome under 1.0 stands as it was: same state, version and outcome
    kept = {d["id"]: d for d in await decisions(api, cisa, old["id"], LIVE)}
    assert set(kept) == {d["id"] for d in standing}
    for before in standing:
        assert kept[before["id"]] == before
    # every undecided request under 1.0 is superseded (and carried over); withdrawn ones stay as they were
    superseded = {d["id"]: d for d in await decisions(api, cisa, old["id"], ["SUPERSEDED"])}
    assert set(superseded) == {d["id"] for d in undecided} | {
        d["id"] for d in final_before if d["state"] == "SUPERSEDED"
    }
    assert await decisions(api, cisa, old["id"], ["WITHDRAWN"]) == [
        d for d in final_before if d["state"] == "WITHDRAWN"
    ]
    for before in undecided:
        assert superseded[before["id"]]["version"] == before["version"] + 1
        assert superseded[before["id"]]["outcome"] is None

    # each model with a live decision under 1.0 has one request under 1.3, screened at adoption, if its lab takes
    # part: nothing is requested for a lab that does not (docs/design.md, "Participation")
    carried = await decisions(api, cisa, new_id)
    assert sorted(d["model"]["id"] for d in carried) == sorted(await taking_part(api, models))
    assert len(carried) < len(models), "the demo has live decisions on models of labs that do not take part"
    for d in carried:
        assert (d["state"], d["version"], d["outcome"]) == ("REQUESTED", 1, None)
        assert d["latestScreening"]["trigger"] == "ADOPTION" and d["latestScreening"]["proposedOutcome"]
        assert "carried over to standard 1.3" in d["requestNote"]

    # each change has its event, by the last signer, in the same transaction: the signature, the old standard
    # superseded, the new one adopted, each undecided request superseded, each carried-over request screened
    events_after = (await sql(api, "select count(*) from events"))[0][0]
    assert events_after - events_before == 1 + 1 + 1 + len(undecided) + len(carried)
    new_history = await history(api, cisa, new_id)
    assert [(h["action"], h["fromState"], h["toState"]) for h in new_history] == [
        ("DRAFTED", None, "DRAFT"),
        ("SUBMITTED", "DRAFT", "IN_REVIEW"),
        ("SIGNED", None, None),
        ("SIGNED", None, None),
        ("ADOPTED", "IN_REVIEW", "ADOPTED"),
    ]
    assert [h["actorAgency"]["code"] for h in new_history] == ["CISA", "NIST", "CISA", "NIST", "NIST"]
    assert new_history[2]["reason"] == "CISA agrees"
    old_last = (await history(api, cisa, old["id"]))[-1]
    assert (old_last["action"], old_last["fromState"], old_last["toState"]) == ("SUPERSEDED", "ADOPTED", "SUPERSEDED")
    assert old_last["actorAgency"] == {"code": "NIST"} and "1.3" in old_last["reason"]
    carried_models = {d["model"]["id"] for d in carried}
    for before in undecided[:5]:
        last = (await history(api, cisa, before["id"]))[-1]
        assert (last["action"], last["fromState"], last["toState"]) == ("SUPERSEDED", before["state"], "SUPERSEDED")
        assert last["actorAgency"] == {"code": "NIST"}
        said = "carried over" if before["model"]["id"] in carried_models else "does not take part in the program"
        assert said in last["reason"], last
    for before in standing[:5]:
        last = (await history(api, cisa, before["id"]))[-1]
        assert last["action"] != "SUPERSEDED"
    for d in carried[:5]:
        steps = await history(api, cisa, d["id"])
        assert [(h["action"], h["fromState"], h["toState"]) for h in steps] == [("RESCREENED", None, "REQUESTED")]
        assert steps[0]["actorAgency"] == {"code": "NIST"} and "1.3 adopted" in steps[0]["reason"]

    # labs see the standard now that it is adopted, and only their own decisions
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    seen = await standards(api, liaison)
    assert set(seen) == {"0.9", "1.0", "1.3"}
    theirs = await decisions(api, liaison, old["id"])
    assert theirs and {d["model"]["id"] for d in theirs} <= {d["model"]["id"] for d in live_before + final_before}
    assert {d["model"]["lab"]["name"] for d in theirs} == {"Anthropic"}
    carried_theirs = await decisions(api, liaison, new_id)
    assert carried_theirs and {d["model"]["lab"]["name"] for d in carried_theirs} == {"Anthropic"}


async def test_policy_in_force_when_drafted_decides_who_signs(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    dod = await api.token(agency="DOD", role="OFFICER")
    earlier = await draft(api, cisa, "3.0")
    await sql(api, "update policy set required_signoffs = '{CISA,NIST,DOD}', standard_due_days = 60")
    later = await draft(api, nist, "2.1")
    assert earlier["requiredSignoffs"] == ["CISA", "NIST"] and earlier["dueOn"] == "2026-07-02"
    assert later["requiredSignoffs"] == ["CISA", "NIST", "DOD"] and later["dueOn"] == "2026-08-01"
    assert later["ownerAgency"] == {"code": "NIST"}
    for record in (earlier, later):
        await ok(api, "submitCoverageStandard", cisa, id=record["id"], expectedVersion=1)

    # DoD signs the later draft only; CISA and NIST alone do not adopt it
    refused = await graphql_error(api, "signCoverageStandard", dod, id=earlier["id"], expectedVersion=2)
    assert refused["extensions"]["code"] == "FORBIDDEN" and "CISA, NIST" in refused["message"]
    version = 2
    for token in (cisa, nist):
        signed = await ok(api, "signCoverageStandard", token, id=later["id"], expectedVersion=version)
        version = signed["version"]
        assert signed["state"] == "IN_REVIEW"
    adopted = await ok(api, "signCoverageStandard", dod, id=later["id"], expectedVersion=version)
    assert adopted["state"] == "ADOPTED"
    assert [s["agency"]["code"] for s in adopted["signoffs"]] == ["CISA", "NIST", "DOD"]

    # the earlier draft still needs only CISA and NIST, and supersedes 2.1 when they have signed
    signed = await ok(api, "signCoverageStandard", nist, id=earlier["id"], expectedVersion=2)
    readopted = await ok(api, "signCoverageStandard", cisa, id=earlier["id"], expectedVersion=signed["version"])
    assert readopted["state"] == "ADOPTED"
    after = await standards(api, cisa)
    assert after["2.1"]["state"] == "SUPERSEDED" and after["2.1"]["supersededBy"] == {"id": earlier["id"]}


async def test_standard_remits(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    fields = {"standardVersion": "9.9", "title": "t", "criteria": CRITERIA}
    for token in (
        await api.token(agency="CISA", role="ANALYST"),
        await api.token(agency="NIST", role="VIEWER"),
        await api.token(agency="DOD", role="OFFICER"),
        await api.token(agency="NSA", role="ADMIN"),
        await api.token(lab="Anthropic", role="LAB_LIAISON"),
    ):
        before = await snapshot(api)
        refused = await graphql_error(api, "draftCoverageStandard", token, **fields)
        assert refused["extensions"]["code"] == "FORBIDDEN"
        assert await snapshot(api) == before
    admin = await draft(api, await api.token(agency="NIST", role="ADMIN"), "9.9")
    assert admin["ownerAgency"] == {"code": "NIST"}

    demo = await standards(api, cisa)
    draft_1_2, review_1_1, adopted_1_0 = demo["1.2"], demo["1.1"], demo["1.0"]
    assert [s["agency"]["code"] for s in review_1_1["signoffs"]] == ["NIST"]
    # a standard in review is invisible to labs: NOT_FOUND; to other agencies' officers it is FORBIDDEN
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    hidden = await user_error(api, "signCoverageStandard", liaison, id=review_1_1["id"], expectedVersion=1)
    assert hidden["code"] == "NOT_FOUND" and hidden["field"] == "input.id"
    for name in ("submitCoverageStandard", "withdrawCoverageStandard"):
        refused = await graphql_error(
            api, name, await api.token(agency="DOD", role="OFFICER"), id=draft_1_2["id"], expectedVersion=1
        )
        assert refused["extensions"]["code"] == "FORBIDDEN"
    analyst = await graphql_error(
        api,
        "signCoverageStandard",
        await api.token(agency="CISA", role="ANALYST"),
        id=review_1_1["id"],
        expectedVersion=review_1_1["version"],
    )
    assert analyst["extensions"]["code"] == "FORBIDDEN"

    # the state machine, naming the current state and the allowed next ones
    illegal = await user_error(
        api, "withdrawCoverageStandard", cisa, id=adopted_1_0["id"], expectedVersion=adopted_1_0["version"]
    )
    assert illegal["code"] == "INVALID_TRANSITION" and illegal["field"] == "input.id"
    assert "ADOPTED" in illegal["message"] and illegal["allowed"] == ["SUPERSEDED"]
    not_in_review = await user_error(api, "signCoverageStandard", cisa, id=draft_1_2["id"], expectedVersion=1)
    assert not_in_review["code"] == "INVALID_TRANSITION" and "DRAFT" in not_in_review["message"]
    assert not_in_review["allowed"] == ["IN_REVIEW", "WITHDRAWN"]
    resubmit = await user_error(
        api, "submitCoverageStandard", cisa, id=review_1_1["id"], expectedVersion=review_1_1["version"]
    )
    assert resubmit["code"] == "INVALID_TRANSITION" and resubmit["allowed"] == ["ADOPTED", "DRAFT", "WITHDRAWN"]

    # withdrawing a draft and a standard in review
    for record in (draft_1_2, review_1_1):
        withdrawn = await ok(
            api, "withdrawCoverageStandard", cisa, id=record["id"], expectedVersion=record["version"], reason="moot"
        )
        assert withdrawn["state"] == "WITHDRAWN" and withdrawn["version"] == record["version"] + 1
        last = (await history(api, cisa, record["id"]))[-1]
        assert (last["action"], last["toState"], last["reason"]) == ("WITHDRAWN", "WITHDRAWN", "moot")
    final = await user_error(
        api, "submitCoverageStandard", cisa, id=draft_1_2["id"], expectedVersion=draft_1_2["version"] + 1
    )
    assert final["code"] == "INVALID_TRANSITION" and final["allowed"] == [] and "final" in final["message"]

    # a standard version is unique: a change is a new version
    conflict = await user_error(api, "draftCoverageStandard", cisa, standardVersion="1.0", title="t", criteria=CRITERIA)
    assert conflict["code"] == "CONFLICT" and conflict["field"] == "input.standardVersion"


# ------------------------------------------------------------------------------------------------ decisions


async def test_request_screen_assess_decide_concur_and_withdraw(api: Api) -> None:
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    model = await new_model(api, "Anthropic", "Test model for coverage", "RESTRICTED_PREVIEW")
    adopted = (await standards(api, cisa))["1.0"]

    requested = await ok(
        api, "requestCoverageDetermination", liaison, modelId=model, note="Does 1.0 cover it?", idempotencyKey="k1"
    )
    assert requested["state"] == "REQUESTED" and requested["standard"]["id"] == adopted["id"]
    assert requested["requestNote"] == "Does 1.0 cover it?" and requested["outcome"] is None
    # every request is screened, and the screening kept
    assert requested["latestScreening"]["trigger"] == "REQUESTED"
    proposed = requested["latestScreening"]["proposedOutcome"]
    assert proposed == await proposal(api, cisa, model)
    decision = requested["id"]
    again = await user_error(api, "requestCoverageDetermination", liaison, modelId=model)
    assert again["code"] == "CONFLICT" and again["field"] == "input.modelId" and "REQUESTED" in again["message"]

    # officers of the agencies the standard names start, decide, concur: not the lab, an analyst, or another agency
    for token in (
        liaison,
        await api.token(agency="CISA", role="ANALYST"),
        await api.token(agency="DOD", role="OFFICER"),
    ):
        refused = await graphql_error(api, "startCoverageAssessment", token, id=decision, expectedVersion=1)
        assert refused["extensions"]["code"] == "FORBIDDEN"
    early = await user_error(
        api, "decideCoverage", cisa, id=decision, expectedVersion=1, outcome=proposed, rationale="r"
    )
    assert early["code"] == "INVALID_TRANSITION" and "REQUESTED" in early["message"]
    assert early["allowed"] == ["UNDER_ASSESSMENT", "WITHDRAWN", "SUPERSEDED"]
    not_awaiting = await user_error(api, "concurCoverageDecision", nist, id=decision, expectedVersion=1)
    assert not_awaiting["code"] == "INVALID_TRANSITION" and not_awaiting["field"] == "input.id"

    started = await ok(api, "startCoverageAssessment", cisa, id=decision, expectedVersion=1, reason="on it")
    assert started["state"] == "UNDER_ASSESSMENT" and started["version"] == 2
    stale = await user_error(
        api, "decideCoverage", nist, id=decision, expectedVersion=1, outcome=proposed, rationale="r"
    )
    assert stale["code"] == "STALE_VERSION" and stale["currentVersion"] == 2
    for token in (liaison, await api.token(agency="DOD", role="OFFICER")):
        refused = await graphql_error(
            api, "decideCoverage", token, id=decision, expectedVersion=2, outcome=proposed, rationale="r"
        )
        assert refused["extensions"]["code"] == "FORBIDDEN"

    # NIST decides, signing for NIST: the decision awaits CISA's concurrence, and nothing is in effect yet
    signed = await ok(
        api, "decideCoverage", nist, id=decision, expectedVersion=2, outcome=proposed, rationale="Per the screening."
    )
    assert signed["state"] == "AWAITING_CONCURRENCE" and signed["version"] == 3
    assert signed["pendingOutcome"] == proposed and signed["pendingRationale"] == "Per the screening."
    assert signed["outcome"] is None and signed["decidedAt"] is None and signed["signatureRound"] == 1
    assert signed["latestScreening"]["trigger"] == "DECIDED"
    assert signed["model"]["coverageOutcome"] is None
    again_nist = await user_error(api, "concurCoverageDecision", nist, id=decision, expectedVersion=3)
    assert (
        again_nist["code"] == "ALREADY_SIGNED" and again_nist["field"] == "input.id" and "NIST" in again_nist["message"]
    )
    dod = await graphql_error(api, "concurCoverageDecision", await api.token(agency="DOD", role="OFFICER"), id=decision,
                              expectedVersion=3)  # fmt: skip
    assert dod["extensions"]["code"] == "FORBIDDEN"
    lab_concurs = await graphql_error(api, "concurCoverageDecision", liaison, id=decision, expectedVersion=3)
    assert lab_concurs["extensions"]["code"] == "FORBIDDEN"

    decided = await ok(api, "concurCoverageDecision", cisa, id=decision, expectedVersion=3, reason="CISA concurs")
    assert decided["state"] == "DECIDED" and decided["outcome"] == proposed and decided["version"] == 4
    assert decided["rationale"] == "Per the screening." and decided["decidedBy"] == {"code": "NIST"}
    assert decided["decidedAt"] is not None and decided["pendingOutcome"] is None
    assert decided["proposedOutcome"] == proposed and decided["isOverride"] is False
    assert decided["overrideReason"] is None
    # COVERED makes the model eligible for an invitation, nothing more: its release status and record are untouched
    assert decided["model"] == {
        "id": model,
        "releaseStatus": "RESTRICTED_PREVIEW",
        "version": 1,
        "coverageOutcome": proposed,
        "lab": {"name": "Anthropic"},
    }

    cannot_withdraw = await user_error(api, "withdrawCoverageRequest", liaison, id=decision, expectedVersion=4)
    assert cannot_withdraw["code"] == "INVALID_TRANSITION" and "DECIDED" in cannot_withdraw["message"]
    assert cannot_withdraw["allowed"] == ["RECONSIDERATION_REQUESTED", "SUPERSEDED"]
    no_evidence = await user_error(
        api, "requestCoverageReconsideration", liaison, id=decision, expectedVersion=4, reason="New evals.", evidence=[]
    )
    assert no_evidence["code"] == "BAD_USER_INPUT" and no_evidence["field"] == "input.evidence"
    officer_asks = await graphql_error(
        api, "requestCoverageReconsideration", cisa, id=decision, expectedVersion=4, reason="x", evidence=[]
    )
    assert officer_asks["extensions"]["code"] == "FORBIDDEN"

    steps = await history(api, liaison, decision)
    assert [(h["action"], h["fromState"], h["toState"]) for h in steps] == [
        ("REQUESTED", None, "REQUESTED"),
        ("ASSESSMENT_STARTED", "REQUESTED", "UNDER_ASSESSMENT"),
        ("SIGNED", "UNDER_ASSESSMENT", "AWAITING_CONCURRENCE"),
        ("CONCURRED", None, None),
        ("DECIDED", "AWAITING_CONCURRENCE", "DECIDED"),
    ]
    assert steps[0]["actorLab"] == {"name": "Anthropic"} and steps[3]["reason"] == "CISA concurs"
    assert [h["actorAgency"] for h in steps] == [None, {"code": "CISA"}, {"code": "NIST"}, {"code": "CISA"},
                                                 {"code": "CISA"}]  # fmt: skip

    # a decided request is not open: the lab may ask again, and withdraw that request; an officer asks on the
    # lab's behalf, and the lab withdraws that one too, even under assessment
    second = await ok(api, "requestCoverageDetermination", liaison, modelId=model, standardId=adopted["id"])
    withdrawn = await ok(api, "withdrawCoverageRequest", liaison, id=second["id"], expectedVersion=1, reason="later")
    assert withdrawn["state"] == "WITHDRAWN"
    other = await new_model(api, "Anthropic", "Another test model")
    on_behalf = await ok(api, "requestCoverageDetermination", cisa, modelId=other, note="on the lab's behalf")
    refused = await graphql_error(api, "withdrawCoverageRequest", cisa, id=on_behalf["id"], expectedVersion=1)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    await ok(api, "startCoverageAssessment", nist, id=on_behalf["id"], expectedVersion=1)
    gone = await ok(api, "withdrawCoverageRequest", liaison, id=on_behalf["id"], expectedVersion=2)
    assert gone["state"] == "WITHDRAWN"
    final = await user_error(api, "startCoverageAssessment", cisa, id=on_behalf["id"], expectedVersion=3)
    assert final["code"] == "INVALID_TRANSITION" and final["allowed"] == []


async def test_a_reconsideration_is_decided_again_cisa_deciding_and_nist_concurring(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    adopted = (await standards(api, cisa))["1.0"]
    asked = (await decisions(api, cisa, adopted["id"], ["RECONSIDERATION_REQUESTED"]))[0]
    standing = asked["outcome"]
    assert standing is not None and asked["model"]["coverageOutcome"] == standing
    proposed = await proposal(api, cisa, asked["model"]["id"])
    # the outcome in effect stands while CISA's decision awaits NIST
    signed = await ok(api, "decideCoverage", cisa, id=asked["id"], expectedVersion=asked["version"], outcome=proposed,
                      rationale="Reconsidered.")  # fmt: skip
    assert signed["state"] == "AWAITING_CONCURRENCE" and signed["outcome"] == standing
    assert signed["pendingOutcome"] == proposed and signed["model"]["coverageOutcome"] == standing
    redecided = await ok(api, "concurCoverageDecision", nist, id=asked["id"], expectedVersion=signed["version"])
    assert redecided["state"] == "DECIDED" and redecided["outcome"] == proposed
    assert redecided["decidedBy"] == {"code": "CISA"} and redecided["model"]["coverageOutcome"] == proposed
    assert redecided["model"]["releaseStatus"] == asked["model"]["releaseStatus"]
    steps = await history(api, cisa, asked["id"])
    assert [(h["action"], h["fromState"], h["toState"]) for h in steps[-3:]] == [
        ("SIGNED", "RECONSIDERATION_REQUESTED", "AWAITING_CONCURRENCE"),
        ("CONCURRED", None, None),
        ("DECIDED", "AWAITING_CONCURRENCE", "DECIDED"),
    ]
    assert [h["actorAgency"] for h in steps[-3:]] == [{"code": "CISA"}, {"code": "NIST"}, {"code": "NIST"}]


async def test_labs_request_only_for_their_own_models(api: Api) -> None:
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    unreleased = await new_model(api, "Anthropic", "Unreleased test model")
    released = await new_model(api, "Anthropic", "Released test model", "GENERALLY_AVAILABLE")
    before = await snapshot(api)
    # another lab's unreleased model is invisible to OpenAI: NOT_FOUND; a released one is visible: FORBIDDEN
    hidden = await user_error(api, "requestCoverageDetermination", openai, modelId=unreleased)
    assert hidden["code"] == "NOT_FOUND" and hidden["field"] == "input.modelId"
    refused = await graphql_error(api, "requestCoverageDetermination", openai, modelId=released)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    for token in (await api.token(agency="DOD", role="OFFICER"), await api.token(agency="NIST", role="ANALYST")):
        refused = await graphql_error(api, "requestCoverageDetermination", token, modelId=released)
        assert refused["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot(api) == before

    # decisions on another lab's models are invisible: NOT_FOUND, not FORBIDDEN
    cisa = await api.token(agency="CISA", role="OFFICER")
    mine = await ok(api, "requestCoverageDetermination", anthropic, modelId=released)
    for name, extra in (("withdrawCoverageRequest", {}), ("requestCoverageReconsideration", {"evidence": []})):
        invisible = await user_error(api, name, openai, id=mine["id"], expectedVersion=1, reason="x", **extra)
        assert invisible["code"] == "NOT_FOUND" and invisible["field"] == "input.id"
    # the new remits: an officer of an agency the standard does not name neither rescreens nor concurs nor objects
    dod = await api.token(agency="DOD", role="OFFICER")
    for name, extra in (("rescreenCoverage", {}), ("concurCoverageDecision", {}), ("objectToCoverageDecision",
                                                                                     {"reason": "no"})):  # fmt: skip
        refused = await graphql_error(api, name, dod, id=mine["id"], expectedVersion=1, **extra)
        assert refused["extensions"]["code"] == "FORBIDDEN"

    # requests are made under the adopted standard: a draft is invisible to labs, and not adoptable by officers
    demo = await standards(api, cisa)
    draft_hidden = await user_error(
        api, "requestCoverageDetermination", anthropic, modelId=unreleased, standardId=demo["1.2"]["id"]
    )
    assert draft_hidden["code"] == "NOT_FOUND" and draft_hidden["field"] == "input.standardId"
    for version in ("0.9", "1.2"):
        wrong = await user_error(
            api, "requestCoverageDetermination", cisa, modelId=unreleased, standardId=demo[version]["id"]
        )
        assert wrong["code"] == "BAD_USER_INPUT" and wrong["field"] == "input.standardId"
        assert demo[version]["state"] in wrong["message"]
    await sql(api, "update coverage_standards set state = 'SUPERSEDED' where state = 'ADOPTED'")
    none = await user_error(api, "requestCoverageDetermination", anthropic, modelId=unreleased)
    assert none["code"] == "BAD_USER_INPUT" and none["field"] == "input.standardId" and "adopted" in none["message"]


async def test_concurrent_requests_for_one_model_open_one(api: Api) -> None:
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, "Anthropic", "Raced test model")
    payloads = await asyncio.gather(
        *(call(api, "requestCoverageDetermination", liaison, modelId=model, note=f"try {n}") for n in range(10))
    )
    accepted = [p for p in payloads if p["errors"] == []]
    assert len(accepted) == 1
    assert all(p["errors"][0]["code"] == "CONFLICT" for p in payloads if p["errors"])


async def test_concurrent_signatures_never_lose_one(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    drafted = await draft(api, cisa, "3.0")
    await ok(api, "submitCoverageStandard", cisa, id=drafted["id"], expectedVersion=1)
    payloads = await asyncio.gather(
        *(call(api, "signCoverageStandard", token, id=drafted["id"], expectedVersion=2) for token in (cisa, nist))
    )
    assert sorted(p["errors"][0]["code"] if p["errors"] else "OK" for p in payloads) == ["OK", "STALE_VERSION"]
    rows = await sql(
        api,
        "select count(*) from coverage_signoffs s join coverage_standards c on c.id = s.standard_id"
        " where c.standard_version = '3.0'",
    )
    assert rows[0][0] == 1
    signed = await history(api, cisa, drafted["id"])
    assert [h["action"] for h in signed] == ["DRAFTED", "SUBMITTED", "SIGNED"]


# ------------------------------------------------------------------------------------- idempotency and bad input


async def test_idempotency_keys_return_the_first_result(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    first = await draft(api, cisa, "4.0", idempotencyKey="run-7")
    second = await draft(api, cisa, "4.0", idempotencyKey="run-7")
    assert first["id"] == second["id"]
    assert len([v for v in await standards(api, cisa) if v == "4.0"]) == 1

    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, "Anthropic", "Idempotent test model")
    one = await ok(api, "requestCoverageDetermination", liaison, modelId=model, idempotencyKey="req-1")
    two = await ok(api, "requestCoverageDetermination", liaison, modelId=model, idempotencyKey="req-1")
    assert one["id"] == two["id"]
    before = await snapshot(api)
    reused = await user_error(api, "requestCoverageDetermination", cisa, modelId=model, idempotencyKey="run-7")
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED" and reused["field"] == "input.idempotencyKey"
    assert await snapshot(api) == before


async def test_hostile_input_is_refused_naming_the_field_and_changes_nothing(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    demo = await standards(api, cisa)
    review = demo["1.1"]
    assessing = (await decisions(api, cisa, demo["1.0"]["id"], ["UNDER_ASSESSMENT"]))[0]
    decided = (await decisions(api, cisa, demo["1.0"]["id"], ["DECIDED"]))[0]
    decided_lab = await api.token(lab=decided["model"]["lab"]["name"], role="LAB_LIAISON")
    model = await new_model(api, "Anthropic", "Hostile input test model")
    long = "x" * 10_000
    sqlish = "'; drop table coverage_standards; --"
    good = {"standardVersion": "5.0", "title": "t", "criteria": CRITERIA}
    proposed = await proposal(api, cisa, assessing["model"]["id"])
    assess = {"id": assessing["id"], "expectedVersion": assessing["version"], "outcome": proposed}
    reconsider = {"id": decided["id"], "expectedVersion": decided["version"], "reason": "New evals."}
    cases: list[tuple[str, str, dict[str, Any], str, str]] = [
        ("draftCoverageStandard", cisa, {**good, "title": long}, "input.title", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "title": "a\x00b"}, "input.title", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "title": "two\nlines"}, "input.title", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "title": "   "}, "input.title", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "standardVersion": "v" * 51}, "input.standardVersion", BAD),
        ("draftCoverageStandard", cisa, {**good, "standardVersion": "1.0"}, "input.standardVersion", "CONFLICT"),
        ("draftCoverageStandard", cisa, {**good, "summary": long + "x"}, "input.summary", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "summary": "bell\x07"}, "input.summary", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "criteria": []}, "input.criteria", "BAD_USER_INPUT"),
        ("draftCoverageStandard", cisa, {**good, "criteria": CRITERIA * 26}, "input.criteria", "BAD_USER_INPUT"),
        (
            "draftCoverageStandard",
            cisa,
            {**good, "criteria": [{**DESIGNATED, "description": "a\x00b"}]},
            "input.criteria[0].description",
            "BAD_USER_INPUT",
        ),
        (
            "draftCoverageStandard",
            cisa,
            {**good, "criteria": [DESIGNATED, {**COMPUTE, "description": "x" * 2001}]},
            "input.criteria[1].description",
            "BAD_USER_INPUT",
        ),
        (
            "draftCoverageStandard",
            cisa,
            {**good, "criteria": [DESIGNATED, {k: v for k, v in COMPUTE.items() if k != "computeScope"}]},
            "input.criteria[1].computeScope",
            NOT_EVALUABLE,
        ),
        ("draftCoverageStandard", cisa, {**good, "idempotencyKey": "k" * 201}, "input.idempotencyKey", BAD),
        ("submitCoverageStandard", cisa, {"id": to_global_id("CoverageStandard", 10**9), "expectedVersion": 1},
         "input.id", "NOT_FOUND"),
        ("signCoverageStandard", cisa, {"id": review["id"], "expectedVersion": review["version"], "reason": "r" * 2001},
         "input.reason", "BAD_USER_INPUT"),
        ("signCoverageStandard", cisa, {"id": review["id"], "expectedVersion": 99}, "input.expectedVersion",
         "STALE_VERSION"),
        ("requestCoverageDetermination", liaison, {"modelId": to_global_id("FrontierModel", 10**9)}, "input.modelId",
         "NOT_FOUND"),
        ("requestCoverageDetermination", liaison, {"modelId": model, "note": long}, "input.note", "BAD_USER_INPUT"),
        ("requestCoverageDetermination", liaison, {"modelId": model, "note": "nul\x00"}, "input.note",
         "BAD_USER_INPUT"),
        ("requestCoverageDetermination", liaison,
         {"modelId": model, "standardId": to_global_id("CoverageStandard", 10**9)}, "input.standardId", "NOT_FOUND"),
        ("decideCoverage", cisa, {**assess, "rationale": long + "x"}, "input.rationale", "BAD_USER_INPUT"),
        ("decideCoverage", cisa, {**assess, "rationale": ""}, "input.rationale", "BAD_USER_INPUT"),
        ("decideCoverage", cisa, {**assess, "rationale": "esc\x1b[31m"}, "input.rationale", "BAD_USER_INPUT"),
        ("decideCoverage", cisa, {**assess, "rationale": "r", "overrideReason": "bell\x07"}, "input.overrideReason",
         "BAD_USER_INPUT"),
        ("decideCoverage", cisa, {**assess, "rationale": "r", "overrideReason": long + "x"}, "input.overrideReason",
         "BAD_USER_INPUT"),
        # an overrideReason when the outcome is the proposal: there is nothing to override
        ("decideCoverage", cisa, {**assess, "rationale": "r", "overrideReason": "because"}, "input.overrideReason",
         "BAD_USER_INPUT"),
        # an outcome other than the proposal without a reason
        ("decideCoverage", cisa, {**assess, "outcome": other_than(proposed), "rationale": "r"}, "input.overrideReason",
         "OVERRIDE_REASON_REQUIRED"),
        ("requestCoverageReconsideration", decided_lab, {**reconsider, "evidence": []}, "input.evidence",
         "BAD_USER_INPUT"),
        ("requestCoverageReconsideration", decided_lab, {**reconsider, "evidence": ["not-an-id"]}, "input.evidence[0]",
         "BAD_USER_INPUT"),
        ("requestCoverageReconsideration", decided_lab, {**reconsider, "evidence": [decided["model"]["id"]]},
         "input.evidence[0]", "BAD_USER_INPUT"),
        ("concurCoverageDecision", cisa, {"id": assessing["id"], "expectedVersion": assessing["version"]}, "input.id",
         "INVALID_TRANSITION"),
        ("objectToCoverageDecision", cisa, {"id": decided["id"], "expectedVersion": decided["version"], "reason": "no"},
         "input.id", "INVALID_TRANSITION"),
        ("rescreenCoverage", cisa, {"id": to_global_id("CoverageDecision", 10**9), "expectedVersion": 1}, "input.id",
         "NOT_FOUND"),
        ("rescreenCoverage", cisa, {"id": assessing["id"], "expectedVersion": 99}, "input.expectedVersion",
         "STALE_VERSION"),
        ("withdrawCoverageRequest", liaison,
         {"id": to_global_id("CoverageDecision", 10**9), "expectedVersion": 1}, "input.id", "NOT_FOUND"),
    ]  # fmt: skip
    # ids that are not ids, or ids of another type, are payload errors naming the field too
    cases += [
        ("submitCoverageStandard", cisa, {"id": "not-an-id", "expectedVersion": 1}, "input.id", BAD),
        ("signCoverageStandard", cisa, {"id": assessing["id"], "expectedVersion": 1}, "input.id", BAD),
        ("withdrawCoverageStandard", cisa, {"id": sqlish, "expectedVersion": 1}, "input.id", BAD),
        ("requestCoverageDetermination", liaison, {"modelId": review["id"]}, "input.modelId", BAD),
        ("requestCoverageDetermination", liaison, {"modelId": model, "standardId": model}, "input.standardId", BAD),
        ("startCoverageAssessment", cisa, {"id": to_global_id("Lab", 1), "expectedVersion": 1}, "input.id", BAD),
        ("decideCoverage", cisa, {"id": review["id"], "expectedVersion": 1, "outcome": "COVERED", "rationale": "r"},
         "input.id", BAD),
    ]  # fmt: skip
    before = await snapshot(api)
    for name, token, fields, field, code in cases:
        error = await user_error(api, name, token, **fields)
        assert (error["field"], error["code"]) == (field, code), (name, fields.keys(), error)
        assert field in error["message"] and len(error["message"]) < 300
    # values of the wrong type never reach a resolver: GraphQL's coercion refuses the whole request (a 400)
    for fields in ({**assess, "rationale": "r", "outcome": "APPROVED"}, {**assess, "rationale": 5}):
        refused = await api.post(operation("decideCoverage"), {"input": fields}, token=cisa)
        assert refused.status_code == 400 and refused.json()["errors"] and "data" not in refused.json()
    # a threshold is an exact decimal written as a string: a Float, a negative or a word is refused by the scalar
    for threshold in (1e26, -1, "-1", "lots", "NaN", "1e999"):
        criteria = [{**COMPUTE, "threshold": threshold}]
        body = await api.request_error(operation("draftCoverageStandard"), {"input": {**good, "criteria": criteria}},
                                       token=cisa)  # fmt: skip
        assert "threshold" in body["errors"][0]["message"], (threshold, body)
    # the old free criteria are gone from the input
    old = [{"kind": "DESIGNATION", "description": "Designated jointly by CISA and NIST"}]
    await api.request_error(operation("draftCoverageStandard"), {"input": {**good, "criteria": old}}, token=cisa)
    refused = await api.post(operation("decideCoverage"), {"input": {"id": assessing["id"], "outcome": "COVERED"}},
                             token=cisa)  # fmt: skip
    assert refused.status_code == 400 and "expectedVersion" in refused.json()["errors"][0]["message"]
    assert await snapshot(api) == before

    # the longest allowed texts and SQL metacharacters are stored verbatim
    stored = await draft(
        api, cisa, "5.0", title=sqlish, summary=long, criteria=[{**DESIGNATED, "description": "a\tb; --"}]
    )
    assert stored["title"] == sqlish and stored["summary"] == long
    assert stored["criteria"] == [{**STORED_CRITERIA[1], "position": 0, "description": "a\tb; --"}]
    prefix = 'It\'s "covered"; select * from events; --\n'
    rationale = prefix + "y" * (10_000 - len(prefix))
    assert len(rationale) == 10_000
    verdict = await ok(api, "decideCoverage", cisa, **assess, rationale=rationale)
    assert verdict["state"] == "AWAITING_CONCURRENCE" and verdict["pendingRationale"] == rationale
    override = "Override: 'x'; --\n" + "z" * 100
    overriding = await ok(api, "objectToCoverageDecision", await api.token(agency="NIST", role="OFFICER"),
                          id=assessing["id"], expectedVersion=verdict["version"], reason="see again")  # fmt: skip
    overridden = await ok(api, "decideCoverage", cisa, id=assessing["id"], expectedVersion=overriding["version"],
                          outcome=other_than(proposed), rationale=rationale, overrideReason=override)  # fmt: skip
    assert overridden["pendingRationale"] == rationale
    stored_override = await sql(
        api, "select pending_override_reason from coverage_decisions where id = $1", from_global_id(assessing["id"])[1]
    )
    assert stored_override[0][0] == override
    assert (await sql(api, "select count(*) from coverage_standards where title = $1", sqlish))[0][0] == 1


async def test_the_program_date_is_the_policy_order_date(api: Api) -> None:
    """dueOn is the policy's order date plus its standard due days, both read when drafting."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    await sql(api, "update policy set order_date = '2026-09-01', standard_due_days = 10")
    drafted = await draft(api, cisa, "6.0")
    assert date.fromisoformat(drafted["dueOn"]) == date(2026, 9, 11)


async def test_concurrent_drafts_of_one_version_create_one(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    fields = {"standardVersion": "7.0", "title": "raced", "criteria": CRITERIA}
    payloads = await asyncio.gather(
        *(call(api, "draftCoverageStandard", token, **fields) for token in (cisa, nist, cisa, nist))
    )
    assert sum(p["errors"] == [] for p in payloads) == 1
    refused = [p["errors"][0] for p in payloads if p["errors"]]
    assert all((e["code"], e["field"]) == ("CONFLICT", "input.standardVersion") for e in refused)
