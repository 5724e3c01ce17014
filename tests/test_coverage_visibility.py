"""Who sees a kept screening (docs/design.md, "Who sees what"): the model's lab, the officers and admins of the
agencies the standard names, and the agency whose write made it; every other agency principal sees the decision
(its outcome, its proposal) but not the screening, on every read path: nested from the decision (compiled and
through the resolvers), node and nodes, the decision's screenings list, and the dry run and live screening, which
read only the inputs the principal may see."""

from __future__ import annotations

from typing import Any

from hub import db
from schema.common import to_global_id
from tests.conftest import Api

COMPILED = """query($id: ID!) { node(id: $id) { ... on CoverageDecision {
  id outcome proposedOutcome screening { id proposedOutcome } latestScreening { id } } } }"""
# `signatures` only the resolvers give: the same question through the other path
RESOLVED = """query($id: ID!) { node(id: $id) { ... on CoverageDecision {
  id outcome proposedOutcome screening { id proposedOutcome criteria { result inputs { id } } }
  latestScreening { id } screenings { id } signatures { round } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id ... on CoverageScreening { proposedOutcome model { id } } } }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id } }"""


async def a_decided_decision(api: Api) -> dict[str, Any]:
    con = await db.connect(api.url)
    try:
        row = await con.fetchrow(
            """select d.id, d.screening_id, m.lab_id, l.name as lab, s.screened_by_agency_id
                 from coverage_decisions d join frontier_models m on m.id = d.model_id join labs l on l.id = m.lab_id
                 join coverage_screenings s on s.id = d.screening_id
                where d.state = 'DECIDED' order by d.id limit 1"""
        )
        other = await con.fetchval("select name from labs where id <> $1 order by id limit 1", row["lab_id"])
        screener = await con.fetchval("select code from agencies where id = $1", row["screened_by_agency_id"])
    finally:
        await con.close()
    assert row is not None
    return {**dict(row), "other_lab": other, "screener": screener}


async def test_a_kept_screening_is_seen_by_the_lab_the_signing_officers_and_the_screener_only(api: Api) -> None:
    d = await a_decided_decision(api)
    decision = to_global_id("CoverageDecision", d["id"])
    screening = to_global_id("CoverageScreening", d["screening_id"])
    sees = {
        "CISA officer": (await api.token(agency="CISA", role="OFFICER"), True),
        "NIST officer": (await api.token(agency="NIST", role="OFFICER"), True),
        "NIST admin": (await api.token(agency="NIST", role="ADMIN"), True),
        "EPA officer": (await api.token(agency="EPA", role="OFFICER"), False),
        "DOD analyst": (await api.token(agency="DOD", role="ANALYST"), False),
        "the lab": (await api.token(lab=d["lab"], role="LAB_LIAISON"), True),
    }
    # a signing agency's viewer sees it only when its agency made the screening (the demo's screener is CISA)
    viewer_sees = d["screener"] == "NIST"
    sees["NIST viewer"] = (await api.token(agency="NIST", role="VIEWER"), viewer_sees)
    for who, (token, expected) in sees.items():
        compiled = await api.query(COMPILED, {"id": decision}, token=token)
        resolved = await api.query(RESOLVED, {"id": decision}, token=token)
        assert compiled.get("extensions", {}).get("compiled") is True, who
        assert resolved.get("extensions", {}).get("compiled") is not True, who
        for body in (compiled, resolved):
            node = body["data"]["node"]
            assert node is not None and node["outcome"] is not None, who  # the decision: every agency, and the lab
            assert (node["screening"] is not None) == expected, (who, node)
            assert (node["latestScreening"] is not None) == expected, (who, node)
        assert (len(resolved["data"]["node"]["screenings"]) > 0) == expected, who
        assert ((await api.data(NODE, {"id": screening}, token=token))["node"] is not None) == expected, who
        nodes = (await api.data(NODES, {"ids": [screening]}, token=token))["nodes"]
        assert nodes == ([{"id": screening}] if expected else [None]), (who, nodes)
    # another lab sees neither the decision nor its screening
    other = await api.token(lab=d["other_lab"], role="LAB_LIAISON")
    assert (await api.data(COMPILED, {"id": decision}, token=other))["node"] is None
    assert (await api.data(NODE, {"id": screening}, token=other))["node"] is None


async def test_a_screening_reads_only_the_inputs_its_principal_may_see(api: Api) -> None:
    """An EPA officer (not a signing agency, no agreement) screening a model that CISA's officer sees inputs of:
    EPA's screening names no input EPA may not read, and the inputs CISA's names are all readable by CISA."""
    query = """query($m: ID!) { coverageScreening(modelId: $m) { proposedOutcome criteria { inputs { id } } } }"""
    read = """query($ids: [ID!]!) { nodes(ids: $ids) { id } }"""
    con = await db.connect(api.url)
    try:
        model = await con.fetchval(
            """select d.model_id from coverage_decisions d join compute_estimates e on e.model_id = d.model_id
                where d.state = 'DECIDED' order by d.id limit 1"""
        )
    finally:
        await con.close()
    for agency, role in (("CISA", "OFFICER"), ("EPA", "OFFICER"), ("DOD", "ANALYST")):
        token = await api.token(agency=agency, role=role)
        screening = (await api.data(query, {"m": to_global_id("FrontierModel", model)}, token=token))[
            "coverageScreening"
        ]
        ids = [i["id"] for c in screening["criteria"] for i in c["inputs"]]
        if ids:
            nodes = (await api.data(read, {"ids": ids}, token=token))["nodes"]
            assert all(n is not None for n in nodes), (agency, ids, nodes)
        if agency == "CISA":
            assert ids, "the signing officer sees the submitted model's inputs"
