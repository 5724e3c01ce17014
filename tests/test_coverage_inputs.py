"""The inputs of a coverage screening as records of their own (hub/store/evidence.py): compute estimates, the
evaluation register and its results, designations. Exact stored values, hostile input refused naming the field with
nothing written, the events, who may write, and who sees what (the rule of hub/access.py, input_visible)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hub import db
from schema.common import from_global_id, to_global_id
from tests.conftest import Api
from tests.writes import write_snapshot


def mutation(name: str, input_type: str, record: str, fields: str, errors: str = "field code message") -> str:
    """An operation sending $input to mutation `name`, selecting `fields` of its `record` and its errors."""
    selection = f"{record} {{ {fields} }} errors {{ {errors} }}"
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} }} }}"


ESTIMATE_FIELDS = """id version method preTrainingLow preTrainingHigh postTrainingLow postTrainingHigh totalLow
  totalHigh methodNote asOf model { id } lab { name } authorAgency { code } history { action }"""
REPORT = mutation("reportComputeEstimate", "ReportComputeEstimateInput", "computeEstimate", ESTIMATE_FIELDS)
REGISTER = mutation(
    "registerEvaluationSuite",
    "RegisterEvaluationSuiteInput",
    "evaluationSuite",
    "id name suiteVersion capabilityArea scoreUnit description ownerAgency { code }",
)
RESULT_FIELDS = """id method score scoreUnit ranOn modelVersion evidenceRef evidenceSha256 model { id }
  suite { id name } runByAgency { code } history { action }"""
RECORD = mutation("recordEvaluationResult", "RecordEvaluationResultInput", "evaluationResult", RESULT_FIELDS)
DESIGNATION_FIELDS = (
    "id version state reason withdrawnAt availableTransitions agency { code } model { id } history { action }"
)
DESIGNATE = mutation("designateModel", "DesignateModelInput", "designation", DESIGNATION_FIELDS)
WITHDRAW = mutation(
    "withdrawDesignation",
    "WithdrawDesignationInput",
    "designation",
    DESIGNATION_FIELDS,
    "field code message currentVersion allowed",
)
REGISTER_MODEL = """mutation($input: RegisterModelInput!) { registerModel(input: $input) {
  model { id } errors { field code message } } }"""


async def new_model(api: Api, lab: str, name: str) -> str:
    """A model of `lab`, in development, registered by its liaison: no agreement, no decision on it."""
    liaison = await api.token(lab=lab, role="LAB_LIAISON")
    con = await db.connect(api.url)
    try:
        lab_id = await con.fetchval("select id from labs where name = $1", lab)
    finally:
        await con.close()
    done = await api.data(
        REGISTER_MODEL,
        {"input": {"labId": to_global_id("Lab", lab_id), "name": name, "modality": "TEXT"}},
        token=liaison,
    )
    assert done["registerModel"]["errors"] == [], done
    return str(done["registerModel"]["model"]["id"])


async def stored(api: Api, sql: str, *args: Any) -> dict[str, Any]:
    con = await db.connect(api.url)
    try:
        row = await con.fetchrow(sql, *args)
        assert row is not None, sql
        return dict(row)
    finally:
        await con.close()


async def events_of(api: Api, kind: str, pk: int) -> list[tuple[str, str | None, str | None]]:
    con = await db.connect(api.url)
    try:
        rows = await con.fetch(
            "select action, to_state, reason from events where entity_kind = $1 and entity_id = $2 order by id",
            kind,
            pk,
        )
        return [(r["action"], r["to_state"], r["reason"]) for r in rows]
    finally:
        await con.close()


def pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def payload(api: Api, mutation: str, input: dict[str, Any], token: str) -> dict[str, Any]:
    data = await api.data(mutation, {"input": input}, token=token)
    return dict(next(iter(data.values())))


def refused(result: dict[str, Any]) -> tuple[str, str]:
    assert len(result["errors"]) == 1, result
    error = result["errors"][0]
    assert error["field"] in error["message"], error
    return error["field"], error["code"]


# ------------------------------------------------------------------------------------------------ compute


async def test_a_lab_reports_compute_and_an_agency_estimates_it_stored_exactly_in_flop(api: Api) -> None:
    model = await new_model(api, "Anthropic", "Inputs probe compute (fictional)")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    nist = await api.token(agency="NIST", role="ANALYST")

    # 1e26 petaFLOP/s-days: 10^26 x 10^15 x 86400 FLOP, exactly
    lab = await payload(api, REPORT, {"modelId": model, "preTraining": {"low": "1e26"}, "unit": "PFLOP_S_DAY"}, liaison)
    assert lab["errors"] == [], lab
    estimate = lab["computeEstimate"]
    assert estimate["method"] == "LAB_REPORTED" and estimate["authorAgency"] is None
    assert estimate["lab"] == {"name": "Anthropic"} and estimate["model"] == {"id": model}
    assert estimate["preTrainingLow"] == estimate["preTrainingHigh"] == "8.64E45"
    # post-training not reported: the total's low end is pre-training's, its high end unknown
    assert estimate["postTrainingLow"] is None and estimate["postTrainingHigh"] is None
    assert estimate["totalLow"] == "8.64E45" and estimate["totalHigh"] is None
    today = (await stored(api, "select current_date as today"))["today"]
    assert estimate["methodNote"] is None and estimate["asOf"] == today.isoformat()
    assert estimate["history"] == [{"action": "REPORTED"}]
    row = await stored(api, "select * from compute_estimates where id = $1", pk(estimate["id"]))
    assert row["pre_training_low"] == row["pre_training_high"] == Decimal(10) ** 26 * 10**15 * 86400
    assert row["method"] == "LAB_REPORTED" and row["author_agency_id"] is None and row["post_training_low"] is None

    # a range in PFLOP_S_DAY, and a figure written with a power of ten
    ranged = await payload(
        api,
        REPORT,
        {
            "modelId": model,
            "preTraining": {"low": "1.2e6", "high": "1.5e6"},
            "postTraining": {"low": "10^4"},
            "unit": "PFLOP_S_DAY",
            "asOf": "2026-01-15",
        },
        liaison,
    )
    assert ranged["errors"] == [], ranged
    estimate = ranged["computeEstimate"]
    assert (estimate["preTrainingLow"], estimate["preTrainingHigh"]) == ("1.0368E26", "1.296E26")
    assert (estimate["postTrainingLow"], estimate["postTrainingHigh"]) == (
        "864000000000000000000000",
        "864000000000000000000000",
    )
    assert (estimate["totalLow"], estimate["totalHigh"]) == ("1.04544E26", "1.30464E26")
    assert estimate["asOf"] == "2026-01-15"

    # an agency estimates, saying how: AGENCY_ESTIMATED, its agency the author
    note = "Scaled from disclosed cluster size and training duration (fictional)"
    agency = await payload(
        api,
        REPORT,
        {
            "modelId": model,
            "preTraining": {"low": "100000000000000000000000000"},
            "postTraining": {"low": "1e24", "high": "3e24"},
            "methodNote": note,
            "idempotencyKey": "nist-estimate-1",
        },
        nist,
    )
    assert agency["errors"] == [], agency
    estimate = agency["computeEstimate"]
    assert estimate["method"] == "AGENCY_ESTIMATED" and estimate["authorAgency"] == {"code": "NIST"}
    assert (estimate["preTrainingLow"], estimate["preTrainingHigh"]) == ("1E26", "1E26")
    assert (estimate["totalLow"], estimate["totalHigh"]) == ("1.01E26", "1.03E26")
    assert estimate["methodNote"] == note
    row = await stored(api, "select * from compute_estimates where id = $1", pk(estimate["id"]))
    assert row["author_agency_id"] is not None and row["post_training_high"] == Decimal("3e24")
    assert await events_of(api, "COMPUTE_ESTIMATE", pk(estimate["id"])) == [("REPORTED", None, None)]
    # a retry with the same key and input gets the same estimate, and writes nothing
    before = await write_snapshot(api.url)
    again = await payload(
        api,
        REPORT,
        {
            "modelId": model,
            "preTraining": {"low": "1e26"},
            "postTraining": {"low": "1e24", "high": "3e24"},
            "methodNote": note,
            "idempotencyKey": "nist-estimate-1",
        },
        nist,
    )
    assert again["computeEstimate"]["id"] == estimate["id"], again
    assert await write_snapshot(api.url) == before

    # every digit kept, beyond the 28 of Decimal's default context
    digits = "1234567890123456789012345678901234567"
    long = await payload(api, REPORT, {"modelId": model, "preTraining": {"low": digits}, "unit": "GFLOP"}, liaison)
    row = await stored(api, "select * from compute_estimates where id = $1", pk(long["computeEstimate"]["id"]))
    assert row["pre_training_low"] == Decimal(digits + "000000000")
    assert long["computeEstimate"]["totalLow"] == "1.234567890123456789012345678901234567E45"

    # the lists: by model, by method, nested on the model, newest of the four last
    listed = await api.data(
        """query($m: [ID!]) { computeEstimates(filter: {modelIds: $m}) { totalCount nodes { id method } }
             agency: computeEstimates(filter: {modelIds: $m, method: [AGENCY_ESTIMATED]}) { totalCount }
             models(filter: {search: "Inputs probe compute"}) { nodes { computeEstimates { id } } } }""",
        {"m": [model]},
        token=liaison,
    )
    assert listed["computeEstimates"]["totalCount"] == 4 and listed["agency"]["totalCount"] == 1
    ids = [n["id"] for n in listed["computeEstimates"]["nodes"]]
    assert ids[-2:] == [estimate["id"], long["computeEstimate"]["id"]]
    assert [e["id"] for e in listed["models"]["nodes"][0]["computeEstimates"]] == ids


async def test_hostile_compute_estimates_are_refused_naming_the_field_and_write_nothing(api: Api) -> None:
    model = await new_model(api, "Anthropic", "Inputs probe hostile (fictional)")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    other = await api.token(lab="OpenAI", role="LAB_LIAISON")
    nist = await api.token(agency="NIST", role="ANALYST")
    viewer = await api.token(agency="EPA", role="VIEWER")
    public = await stored(
        api,
        """select m.id from frontier_models m join labs l on l.id = m.lab_id
            where l.name = 'Anthropic' and m.release_status = 'GENERALLY_AVAILABLE' order by m.id limit 1""",
    )
    public_model = str(to_global_id("FrontierModel", public["id"]))
    before = await write_snapshot(api.url)
    good = {"modelId": model, "preTraining": {"low": "1e25"}}
    noted = {**good, "methodNote": "from the cluster's size (fictional)"}

    # a Float, a negative, a text that is no decimal: refused by the scalar Decimal, before anything runs
    for low in (1.5e25, 1e25, "-1", "1e", "NaN", "Infinity"):
        body = await api.request_error(REPORT, {"input": {**good, "preTraining": {"low": low}}}, token=liaison)
        assert "preTraining" in body["errors"][0]["message"], body
    literal = await api.post(
        "mutation($m: ID!) { reportComputeEstimate(input: {modelId: $m, preTraining: {low: 1e25}}) { __typename } }",
        {"m": model},
        token=liaison,
    )
    assert literal.status_code == 400 and "Decimal" in literal.text, literal.text

    cases = [
        (
            {**good, "preTraining": {"low": "2e25", "high": "1e25"}},
            liaison,
            ("input.preTraining.high", "BAD_USER_INPUT"),
        ),
        (
            {**good, "postTraining": {"low": "5", "high": "4"}},
            liaison,
            ("input.postTraining.high", "BAD_USER_INPUT"),
        ),
        ({**good, "asOf": (date.today() + timedelta(days=2)).isoformat()}, liaison, ("input.asOf", "BAD_USER_INPUT")),
        ({**good, "methodNote": "a\x1bb"}, liaison, ("input.methodNote", "BAD_USER_INPUT")),
        # an agency's estimate says how it was made
        (good, nist, ("input.methodNote", "BAD_USER_INPUT")),
        ({**good, "methodNote": "   "}, nist, ("input.methodNote", "BAD_USER_INPUT")),
        # another lab's model in development reads as missing
        (good, other, ("input.modelId", "NOT_FOUND")),
        ({**noted, "modelId": str(to_global_id("FrontierModel", 10**9))}, nist, ("input.modelId", "NOT_FOUND")),
        ({**noted, "modelId": str(to_global_id("Lab", 1))}, nist, ("input.modelId", "BAD_USER_INPUT")),
    ]
    for input, token, expected in cases:
        assert refused(await payload(api, REPORT, input, token)) == expected, input
    # outside the remit: a viewer; another lab's liaison on a model it may see (a released one)
    for input, token in ((good, viewer), ({**good, "modelId": public_model}, other)):
        body = await api.query(REPORT, {"input": input}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert body["data"] is None or body["data"]["reportComputeEstimate"] is None, body
    assert await write_snapshot(api.url) == before


# ------------------------------------------------------------------------------------------------ evaluations


async def test_suites_are_registered_once_and_results_are_stored_in_the_suite_s_unit(api: Api) -> None:
    model = await new_model(api, "Anthropic", "Inputs probe evals (fictional)")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="ANALYST")
    suite_input = {
        "name": "Cyber range capture-the-flag (fictional)",
        "suiteVersion": "2026.1",
        "capabilityArea": "CYBER_OFFENSE",
        "scoreUnit": "PERCENT",
        "description": "Fictional suite for the tests",
    }
    registered = await payload(api, REGISTER, suite_input, cisa)
    assert registered["errors"] == [], registered
    suite = registered["evaluationSuite"]
    assert suite["ownerAgency"] == {"code": "CISA"} and suite["scoreUnit"] == "PERCENT"
    assert await events_of(api, "EVAL_SUITE", pk(suite["id"])) == [("REGISTERED", None, None)]
    points = (
        await payload(api, REGISTER, {**suite_input, "suiteVersion": "2026.1-points", "scoreUnit": "POINTS"}, cisa)
    )["evaluationSuite"]

    nist = await api.token(agency="NIST", role="OFFICER")
    before = await write_snapshot(api.url)
    # the same name and version again: CONFLICT naming the version, even from another agency
    assert refused(await payload(api, REGISTER, suite_input, nist)) == ("input.suiteVersion", "CONFLICT")
    assert refused(await payload(api, REGISTER, {**suite_input, "name": " "}, cisa)) == ("input.name", "BAD_USER_INPUT")
    body = await api.query(REGISTER, {"input": {**suite_input, "suiteVersion": "x"}}, token=liaison)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    assert await write_snapshot(api.url) == before

    sha = "AB" * 32
    good = {
        "modelId": model,
        "suiteId": suite["id"],
        "score": "0.625",
        "unit": "FRACTION",
        "ranOn": "2026-02-01",
        "modelVersion": "2026-02 checkpoint",
        "evidenceRef": "lab report LR-17 (fictional)",
        "evidenceSha256": sha,
    }
    lab = await payload(api, RECORD, good, liaison)
    assert lab["errors"] == [], lab
    result = lab["evaluationResult"]
    # 0.625 as a fraction is 62.5 percent, the suite's unit; the digest lowercased
    assert (result["score"], result["scoreUnit"]) == ("62.5", "PERCENT")
    assert result["method"] == "LAB_REPORTED" and result["runByAgency"] is None
    assert result["evidenceSha256"] == sha.lower() and result["suite"]["id"] == suite["id"]
    assert result["ranOn"] == "2026-02-01" and result["history"] == [{"action": "RECORDED"}]
    row = await stored(api, "select * from evaluation_results where id = $1", pk(result["id"]))
    assert row["score"] == Decimal("62.5") and row["evidence_sha256"] == "ab" * 32 and row["run_by_agency_id"] is None

    agency = await payload(api, RECORD, {**good, "score": "87.5", "unit": None, "evidenceSha256": None}, cisa)
    assert agency["errors"] == [], agency
    result2 = agency["evaluationResult"]
    assert (result2["score"], result2["method"], result2["runByAgency"]) == (
        "87.5",
        "AGENCY_ESTIMATED",
        {"code": "CISA"},
    )
    on_points = await payload(api, RECORD, {**good, "suiteId": points["id"], "score": "1234.5", "unit": "POINTS"}, cisa)
    assert on_points["evaluationResult"]["score"] == "1234.5" and on_points["evaluationResult"]["scoreUnit"] == "POINTS"

    other = await api.token(lab="OpenAI", role="LAB_LIAISON")
    before = await write_snapshot(api.url)
    future = (date.today() + timedelta(days=1)).isoformat()
    cases = [
        ({**good, "score": "100.5", "unit": "PERCENT"}, ("input.score", "BAD_USER_INPUT")),
        ({**good, "score": "1.2"}, ("input.score", "BAD_USER_INPUT")),
        # points do not convert to or from percent
        ({**good, "suiteId": points["id"], "unit": "PERCENT"}, ("input.unit", "BAD_USER_INPUT")),
        ({**good, "unit": "POINTS"}, ("input.unit", "BAD_USER_INPUT")),
        ({**good, "evidenceSha256": "xyz"}, ("input.evidenceSha256", "BAD_USER_INPUT")),
        ({**good, "evidenceSha256": "g" * 64}, ("input.evidenceSha256", "BAD_USER_INPUT")),
        ({**good, "evidenceSha256": "a" * 65}, ("input.evidenceSha256", "BAD_USER_INPUT")),
        ({**good, "ranOn": future}, ("input.ranOn", "BAD_USER_INPUT")),
        ({**good, "modelVersion": ""}, ("input.modelVersion", "BAD_USER_INPUT")),
        ({**good, "evidenceRef": "x" * 501}, ("input.evidenceRef", "BAD_USER_INPUT")),
        ({**good, "suiteId": model}, ("input.suiteId", "BAD_USER_INPUT")),
    ]
    for input, expected in cases:
        assert refused(await payload(api, RECORD, input, liaison)) == expected, input
    body = await api.request_error(RECORD, {"input": {**good, "score": 62.5}}, token=liaison)
    assert "score" in body["errors"][0]["message"], body
    assert refused(await payload(api, RECORD, good, other)) == ("input.modelId", "NOT_FOUND")
    assert await write_snapshot(api.url) == before

    listed = await api.data(
        """query($s: [ID!], $m: [ID!]) {
             evaluationResults(filter: {suiteIds: $s}) { totalCount nodes { id } }
             lab: evaluationResults(filter: {modelIds: $m, method: [LAB_REPORTED]}) { totalCount }
             evaluationSuites(filter: {search: "capture flag", capabilityArea: [CYBER_OFFENSE]}) {
               totalCount nodes { id results { id } } }
             models(filter: {search: "Inputs probe evals"}) { nodes { evaluationResults { id } } } }""",
        {"s": [suite["id"]], "m": [model]},
        token=liaison,
    )
    assert listed["evaluationResults"]["totalCount"] == 2 and listed["lab"]["totalCount"] == 1
    assert listed["evaluationSuites"]["totalCount"] == 2
    assert listed["evaluationSuites"]["nodes"][0]["results"] == [{"id": result["id"]}, {"id": result2["id"]}]
    assert [r["id"] for r in listed["models"]["nodes"][0]["evaluationResults"]] == [
        result["id"],
        result2["id"],
        on_points["evaluationResult"]["id"],
    ]
    # the agency that ran one sees that one only (no agreement on the model, no request for a determination)
    theirs = await api.data(
        "query($s: [ID!]) { evaluationResults(filter: {suiteIds: $s}) { nodes { id } } }",
        {"s": [suite["id"]]},
        token=cisa,
    )
    assert theirs["evaluationResults"]["nodes"] == [{"id": result2["id"]}]


# ------------------------------------------------------------------------------------------------ designations


async def test_an_agency_designates_a_model_once_and_its_officers_withdraw_it(api: Api) -> None:
    model = await new_model(api, "Anthropic", "Inputs probe designation (fictional)")
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    analyst = await api.token(agency="CISA", role="ANALYST")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    other = await api.token(lab="OpenAI", role="LAB_LIAISON")

    done = await payload(api, DESIGNATE, {"modelId": model, "reason": "Frontier cyber capability (fictional)"}, cisa)
    assert done["errors"] == [], done
    designation = done["designation"]
    assert designation["state"] == "IN_FORCE" and designation["agency"] == {"code": "CISA"}
    assert designation["availableTransitions"] == ["WITHDRAWN"] and designation["withdrawnAt"] is None
    assert await events_of(api, "DESIGNATION", pk(designation["id"])) == [("DESIGNATED", "IN_FORCE", None)]

    before = await write_snapshot(api.url)
    # one in force per model and agency
    assert refused(await payload(api, DESIGNATE, {"modelId": model, "reason": "again"}, cisa)) == (
        "input.modelId",
        "CONFLICT",
    )
    assert refused(await payload(api, DESIGNATE, {"modelId": model, "reason": ""}, nist)) == (
        "input.reason",
        "BAD_USER_INPUT",
    )
    for token in (analyst, liaison):
        body = await api.query(DESIGNATE, {"input": {"modelId": model, "reason": "x"}}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    # another agency's officers see it and may not withdraw it
    seen = await api.data(
        "query($id: ID!) { node(id: $id) { ... on ModelDesignation { availableTransitions } } }",
        {"id": designation["id"]},
        token=nist,
    )
    assert seen["node"] == {"availableTransitions": []}
    withdraw = {"id": designation["id"], "expectedVersion": designation["version"], "reason": "superseded"}
    body = await api.query(WITHDRAW, {"input": withdraw}, token=nist)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    stale = await payload(api, WITHDRAW, {**withdraw, "expectedVersion": 99}, cisa)
    assert refused(stale) == ("input.expectedVersion", "STALE_VERSION") and stale["errors"][0]["currentVersion"] == 1
    assert refused(await payload(api, WITHDRAW, {**withdraw, "reason": " "}, cisa)) == (
        "input.reason",
        "BAD_USER_INPUT",
    )
    # the other lab does not see the designation: NOT_FOUND, as a missing one
    assert refused(await payload(api, WITHDRAW, withdraw, other)) == ("input.id", "NOT_FOUND")
    assert await write_snapshot(api.url) == before

    # another agency may designate the same model
    assert (await payload(api, DESIGNATE, {"modelId": model, "reason": "also NIST"}, nist))["errors"] == []

    withdrawn = await payload(api, WITHDRAW, withdraw, cisa)
    assert withdrawn["errors"] == [], withdrawn
    assert withdrawn["designation"]["state"] == "WITHDRAWN" and withdrawn["designation"]["withdrawnAt"] is not None
    assert withdrawn["designation"]["availableTransitions"] == []
    assert await events_of(api, "DESIGNATION", pk(designation["id"])) == [
        ("DESIGNATED", "IN_FORCE", None),
        ("WITHDRAWN", "WITHDRAWN", "superseded"),
    ]
    again = await payload(api, WITHDRAW, {**withdraw, "expectedVersion": withdrawn["designation"]["version"]}, cisa)
    assert refused(again) == ("input.id", "INVALID_TRANSITION")
    # withdrawn, the agency may designate the model anew
    assert (await payload(api, DESIGNATE, {"modelId": model, "reason": "anew"}, cisa))["errors"] == []

    # every agency principal and the model's lab see them; another lab does not
    query = """query($m: [ID!]) { designations(filter: {modelIds: $m}) { totalCount }
                 inForce: designations(filter: {modelIds: $m, state: [IN_FORCE]}) { totalCount } }"""
    viewer = await api.token(agency="EPA", role="VIEWER")
    for token, counts in ((viewer, (3, 2)), (liaison, (3, 2)), (other, (0, 0))):
        data = await api.data(query, {"m": [model]}, token=token)
        assert (data["designations"]["totalCount"], data["inForce"]["totalCount"]) == counts


# ------------------------------------------------------------------------------------------------ who sees what


SIGHT = """query($m: [ID!]) { computeEstimates(filter: {modelIds: $m}) { totalCount }
  evaluationResults(filter: {modelIds: $m}) { totalCount } }"""


async def sight(api: Api, model: str, token: str) -> tuple[int, int]:
    data = await api.data(SIGHT, {"m": [model]}, token=token)
    return data["computeEstimates"]["totalCount"], data["evaluationResults"]["totalCount"]


async def test_the_officers_of_the_signing_agencies_see_a_lab_s_inputs_while_it_asks_for_a_determination(
    api: Api,
) -> None:
    """A lab's inputs: the lab; the officers and admins of the agencies whose sign-off the standard needs, from the
    lab's request for a determination until it withdraws it; never the analysts of those agencies, nor others."""
    model = await new_model(api, "Anthropic", "Inputs probe sight (fictional)")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa_analyst = await api.token(agency="CISA", role="ANALYST")
    suite = (
        await payload(
            api,
            REGISTER,
            {
                "name": "Sight probe suite (fictional)",
                "suiteVersion": "1",
                "capabilityArea": "GENERAL",
                "scoreUnit": "POINTS",
            },
            cisa_analyst,
        )
    )["evaluationSuite"]
    assert (await payload(api, REPORT, {"modelId": model, "preTraining": {"low": "1e25"}}, liaison))["errors"] == []
    result = {
        "modelId": model,
        "suiteId": suite["id"],
        "score": "10",
        "ranOn": "2026-01-01",
        "modelVersion": "v1",
        "evidenceRef": "ref",
    }
    assert (await payload(api, RECORD, result, liaison))["errors"] == []
    con = await db.connect(api.url)
    try:
        signers = list(await con.fetchval("select required_signoffs from coverage_standards where state = 'ADOPTED'"))
    finally:
        await con.close()
    outsider = next(code for code in ("EPA", "HHS", "TREASURY") if code not in signers)
    officers = {code: await api.token(agency=code, role="OFFICER") for code in signers}
    others = {
        "analyst": await api.token(agency=signers[0], role="ANALYST"),
        "outside officer": await api.token(agency=outsider, role="OFFICER"),
        "other lab": await api.token(lab="OpenAI", role="LAB_LIAISON"),
    }

    assert await sight(api, model, liaison) == (1, 1)
    for token in [*officers.values(), *others.values()]:
        assert await sight(api, model, token) == (0, 0)

    requested = await api.data(
        """mutation($m: ID!) { requestCoverageDetermination(input: {modelId: $m}) {
             decision { id version } errors { field code message } } }""",
        {"m": model},
        token=liaison,
    )
    decision = requested["requestCoverageDetermination"]
    assert decision["errors"] == [], decision
    for token in officers.values():
        assert await sight(api, model, token) == (1, 1)
    for token in others.values():
        assert await sight(api, model, token) == (0, 0)

    withdrawn = await api.data(
        """mutation($i: WithdrawCoverageRequestInput!) { withdrawCoverageRequest(input: $i) {
             errors { field code message } } }""",
        {"i": {"id": decision["decision"]["id"], "expectedVersion": decision["decision"]["version"]}},
        token=liaison,
    )
    assert withdrawn["withdrawCoverageRequest"]["errors"] == [], withdrawn
    for token in officers.values():
        assert await sight(api, model, token) == (0, 0)
    assert await sight(api, model, liaison) == (1, 1)


async def test_the_inputs_read_the_same_through_the_compiler_and_the_resolvers(api: Api) -> None:
    """A read of ids and relations compiles; with a Decimal field it goes to the resolvers: the same records."""
    model = await new_model(api, "Anthropic", "Inputs probe paths (fictional)")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="OFFICER")
    suite = (
        await payload(
            api,
            REGISTER,
            {
                "name": "Paths probe suite (fictional)",
                "suiteVersion": "1",
                "capabilityArea": "CBRN",
                "scoreUnit": "PERCENT",
            },
            cisa,
        )
    )["evaluationSuite"]
    assert (await payload(api, REPORT, {"modelId": model, "preTraining": {"low": "2e25"}}, liaison))["errors"] == []
    record = {"modelId": model, "suiteId": suite["id"], "score": "5", "ranOn": "2026-01-01", "modelVersion": "v1"}
    assert (await payload(api, RECORD, {**record, "evidenceRef": "r"}, liaison))["errors"] == []
    assert (await payload(api, DESIGNATE, {"modelId": model, "reason": "r"}, cisa))["errors"] == []
    shape = """{ models(first: 5, filter: {search: "Inputs probe paths"}) { nodes { id
      computeEstimates(first: 5) { id lab { name } model { id } authorAgency { code } %s }
      evaluationResults(first: 5) {
        id suite { id ownerAgency { code } results(first: 5) { id } } runByAgency { code } %s }
      designations(first: 5) { id agency { code } model { id } %s } } }
      computeEstimates(first: 5, orderBy: {field: AS_OF, direction: DESC}) { totalCount edges { cursor node { id } } }
      evaluationSuites(first: 5, orderBy: {field: NAME}) { totalCount nodes { id } }
      evaluationResults(first: 5, orderBy: {field: RAN_ON}) { totalCount nodes { id } }
      designations(first: 5, orderBy: {field: STATE}) { totalCount nodes { id } } }"""
    for token in (liaison, cisa):
        plain = await api.query(shape % ("", "", ""), token=token)
        assert plain["extensions"].get("compiled") is True, plain
        full = await api.query(shape % ("totalLow method", "score scoreUnit", "state reason"), token=token)
        assert "compiled" not in full["extensions"] and "errors" not in full, full
        assert len(full["data"]["models"]["nodes"]) == 1, full
        nodes = full["data"]["models"]["nodes"][0]
        for key, extra in (
            ("computeEstimates", ("totalLow", "method")),
            ("evaluationResults", ("score", "scoreUnit")),
            ("designations", ("state", "reason")),
        ):
            for item in nodes[key]:
                for name in extra:
                    item.pop(name)
        assert full["data"] == plain["data"]
        # the lab sees its estimate; CISA, with no agreement and no request for a determination, does not
        estimates = [e["lab"] for e in nodes["computeEstimates"]]
        assert estimates == ([{"name": "Anthropic"}] if token == liaison else []), nodes
        assert [d["agency"] for d in nodes["designations"]] == [{"code": "CISA"}]
