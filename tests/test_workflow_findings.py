"""Findings as a workflow: report, update, move through the disclosure states, share; remits, versions, events."""

from __future__ import annotations

from typing import Any

from hub import db
from schema.common import to_global_id
from tests.conftest import Api

REPORT = """mutation($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id version state title tlp cveId cvss { baseScore severity } sectors ownerAgency { code }
            lab { name } history { action toState actorAgency { code } } }
  errors { field code message currentVersion allowed } } }"""
TRANSITION = """mutation($input: TransitionFindingInput!) { transitionFinding(input: $input) {
  finding { id version state duplicateOf { id } } errors { field code message currentVersion allowed } } }"""
SHARE = """mutation($input: ShareFindingInput!) { shareFinding(input: $input) {
  finding { id version tlp shareWith { __typename ... on Agency { code } } } errors { field code message } } }"""
UPDATE = """mutation($input: UpdateFindingInput!) { updateFinding(input: $input) {
  finding { id version title cvss { baseScore severity } } errors { field code message currentVersion } } }"""


async def a_model(api: Api, token: str, lab: str = "Anthropic") -> str:
    data = await api.data(
        "query($s: String) { models(first: 1, filter: {search: $s}) { edges { node { id lab { name } } } } }",
        {"s": "Claude Mythos Preview" if lab == "Anthropic" else lab},
        token=token,
    )
    return str(data["models"]["edges"][0]["node"]["id"])


async def report(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    body = await api.data(REPORT, {"input": fields}, token=token)
    return dict(body["reportFinding"])


async def test_report_update_transition_share_with_history(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ANALYST")
    model = await a_model(api, cisa)
    result = await report(
        api,
        cisa,
        title="Heap overflow found by the model",
        modelId=model,
        discoveredBy="MODEL",
        cveId="cve-2026-12345",
        cvss={"baseScore": 9.8, "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
        sectors=["ENERGY", "HEALTHCARE_AND_PUBLIC_HEALTH"],
        tlp="AMBER_STRICT",
    )
    assert result["errors"] == []
    finding = result["finding"]
    assert finding["state"] == "REPORTED" and finding["version"] == 1 and finding["cveId"] == "CVE-2026-12345"
    assert finding["cvss"] == {"baseScore": 9.8, "severity": "CRITICAL"}
    assert finding["ownerAgency"]["code"] == "CISA" and finding["lab"]["name"] == "Anthropic"
    assert finding["history"] == [{"action": "REPORTED", "toState": "REPORTED", "actorAgency": {"code": "CISA"}}]

    moved = (
        await api.data(
            TRANSITION,
            {"input": {"id": finding["id"], "to": "TRIAGED", "expectedVersion": 1, "reason": "looks real"}},
            token=cisa,
        )
    )["transitionFinding"]
    assert moved["errors"] == [] and moved["finding"]["state"] == "TRIAGED" and moved["finding"]["version"] == 2

    illegal = (
        await api.data(
            TRANSITION, {"input": {"id": finding["id"], "to": "REMEDIATED", "expectedVersion": 2}}, token=cisa
        )
    )["transitionFinding"]
    assert illegal["finding"] is None
    assert illegal["errors"][0]["code"] == "INVALID_TRANSITION"
    assert "TRIAGED" in illegal["errors"][0]["message"]
    assert illegal["errors"][0]["allowed"] == ["VALIDATED", "DUPLICATE", "REJECTED"]

    stale = (await api.data(UPDATE, {"input": {"id": finding["id"], "expectedVersion": 1, "title": "x"}}, token=cisa))[
        "updateFinding"
    ]
    assert stale["errors"][0]["code"] == "STALE_VERSION" and stale["errors"][0]["currentVersion"] == 2

    # the analyst may not change sharing; the owning agency's officer may
    nist = await api.token(agency="NIST", role="ANALYST")
    nist_id = to_global_id("Agency", 2)
    share = {"id": finding["id"], "expectedVersion": 2, "tlp": "AMBER", "shareWithAgencyIds": [nist_id]}
    refused = await api.query(SHARE, {"input": share}, token=cisa)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused["data"] is None
    invisible = await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": finding["id"]}, token=nist)
    assert invisible["node"] is None
    officer = await api.token(agency="CISA", role="OFFICER")
    shared = (await api.data(SHARE, {"input": share}, token=officer))["shareFinding"]
    assert shared["errors"] == [] and shared["finding"]["tlp"] == "AMBER"
    assert shared["finding"]["shareWith"] == [{"__typename": "Agency", "code": "NIST"}]
    visible = await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": finding["id"]}, token=nist)
    assert visible["node"] is not None

    history = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Finding { history { action fromState toState reason } } } }",
        {"id": finding["id"]},
        token=officer,
    )
    actions = [h["action"] for h in history["node"]["history"]]
    assert actions == ["REPORTED", "TRANSITIONED", "SHARED"]


async def test_viewers_and_other_labs_do_not_report_findings(api: Api) -> None:
    """A viewer reports nothing; a liaison reports only about its own lab's model (tests/test_lab_findings.py):
    not about another lab's model it can see (FORBIDDEN), nor about one it cannot (NOT_FOUND, as if missing)."""
    cisa = await api.token(agency="CISA", role="ANALYST")
    model = await a_model(api, cisa)
    viewer = await api.token(agency="EPA", role="VIEWER")
    refused = await api.query(REPORT, {"input": {"title": "x", "modelId": model}}, token=viewer)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused["data"] is None
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    seen = await api.data("query($id: ID!) { node(id: $id) { id } }", {"id": model}, token=openai)
    answer = await api.query(REPORT, {"input": {"title": "x", "modelId": model, "discoveredBy": "LAB"}}, token=openai)
    if seen["node"] is not None:
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN" and answer["data"] is None
    else:
        payload = answer["data"]["reportFinding"]
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("input.modelId", "NOT_FOUND")]
    # the liaison of the model's own lab may
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    await set_taking_part(api.url, "Anthropic")
    own = await report(api, anthropic, title="found by the lab", modelId=model, discoveredBy="LAB", tlp="GREEN")
    assert own["errors"] == [] and own["finding"]["ownerAgency"] is None


async def set_taking_part(url: str, lab: str) -> None:
    con = await db.connect(url)
    try:
        await con.execute("update labs set participation = 'PARTICIPATING' where name = $1", lab)
    finally:
        await con.close()


async def test_validation_names_the_field(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ANALYST")
    cases = [
        ({"title": ""}, "input.title"),
        ({"title": "x" * 301}, "input.title"),
        ({"title": "bad\x00byte"}, "input.title"),
        ({"title": "t", "cveId": "CVE-12"}, "input.cveId"),
        ({"title": "t", "cvss": {"baseScore": 11}}, "input.cvss.baseScore"),
        ({"title": "t", "cvss": {"baseScore": 5.0, "severity": "CRITICAL"}}, "input.cvss.severity"),
        ({"title": "t", "cvss": {"baseScore": 5.0, "vector": "CVSS:4.0/AV:N"}}, "input.cvss.vector"),
        ({"title": "t", "cwes": ["79"]}, "input.cwes[0]"),
        ({"title": "t", "tlp": "RED"}, "input.recipientIds"),
        ({"title": "t", "discoveredBy": "MODEL"}, "input.modelId"),
        ({"title": "t", "modelId": to_global_id("FrontierModel", 10**9)}, "input.modelId"),
    ]
    for fields, field in cases:
        result = (await api.data(REPORT, {"input": fields}, token=cisa))["reportFinding"]
        assert result["finding"] is None, fields
        assert result["errors"][0]["field"] == field, (fields, result["errors"])
    sql_text = "'; drop table findings; --"
    stored = (await api.data(REPORT, {"input": {"title": sql_text}}, token=cisa))["reportFinding"]
    assert stored["finding"]["title"] == sql_text


async def test_idempotency_key_returns_the_first_result(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ANALYST")
    first = await report(api, cisa, title="retried", idempotencyKey="script-run-42")
    second = await report(api, cisa, title="retried", idempotencyKey="script-run-42")
    assert first["finding"]["id"] == second["finding"]["id"]
    count = await api.data('{ findings(filter: {search: "retried"}) { totalCount } }', token=cisa)
    assert count["findings"]["totalCount"] == 1


async def test_dashboard_reflects_writes_at_once(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ANALYST")
    query = "{ dashboard { counts { kind state count } } }"

    async def finding_counts() -> dict[str, int]:
        data = await api.data(query, token=cisa)
        return {c["state"]: c["count"] for c in data["dashboard"]["counts"] if c["kind"] == "FINDING"}

    before = await finding_counts()
    created = await report(api, cisa, title="dashboard probe", tlp="GREEN")
    after_report = await finding_counts()
    assert after_report["REPORTED"] == before["REPORTED"] + 1
    moved = (
        await api.data(
            TRANSITION, {"input": {"id": created["finding"]["id"], "to": "TRIAGED", "expectedVersion": 1}}, token=cisa
        )
    )["transitionFinding"]
    assert moved["errors"] == []
    after_move = await finding_counts()
    assert after_move["REPORTED"] == before["REPORTED"]
    assert after_move["TRIAGED"] == before["TRIAGED"] + 1
