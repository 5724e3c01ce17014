"""Who sees what (docs/design.md, "Who sees what"), on every read path: list, totalCount, node, nodes, nested, history,
events and dashboard counts. An invisible record reads exactly like a missing one.

Every test here runs four times: through the SQL compiler and through the resolvers, each with both lines of defence
and with the store's own filter removed, so that PostgreSQL's row-level security alone must give the same answers
(tests/rls.py)."""

from __future__ import annotations

from typing import Any

import pytest

from schema.common import to_global_id
from tests.conftest import Api
from tests.probes import SEES_FINDING, SEES_LAB_FINDING, SEES_MEASURE, TLPS, World, add_agreement, build_world
from tests.rls import remove_store_filter


@pytest.fixture(autouse=True, params=["compiled", "compiled rls-only", "resolvers", "resolvers rls-only"])
def defence(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both read paths (the SQL compiler and the resolvers), each with both lines of defence and with row-level
    security alone."""
    if "rls-only" in request.param:
        remove_store_filter(monkeypatch)
    if request.param.startswith("resolvers"):
        monkeypatch.setenv("HUB_SQL_COMPILER", "off")  # read by the api fixture's settings, made after this one
    return str(request.param)


@pytest.fixture
async def world(api: Api) -> World:
    return await build_world(api)


ROOTS = {
    "finding": ("findings", "Finding"),
    "measure": ("measures", "CyberMeasure"),
    "engagement": ("engagements", "InfrastructureEngagement"),
}


@pytest.mark.parametrize("kind", list(ROOTS))
async def test_tlp_rule_on_list_count_node_nodes_and_history(world: World, kind: str) -> None:
    root, type_name = ROOTS[kind]
    rule = SEES_MEASURE if kind == "measure" else SEES_FINDING
    gids = {tlp: to_global_id(type_name, world.ids[(kind, tlp)]) for tlp in TLPS}
    for who, token in world.tokens.items():
        expected = {tlp for tlp in TLPS if who in rule[tlp]}
        data = await world.api.data(
            f"""query($ids: [ID!]!) {{
                  {root}(filter: {{search: "visprobe"}}, first: 20) {{ totalCount edges {{ node {{ title }} }} }}
                  nodes(ids: $ids) {{ id }}
                }}""",
            {"ids": list(gids.values())},
            token=token,
        )
        listed = {e["node"]["title"].split()[-1] for e in data[root]["edges"]}
        assert listed == expected, (who, kind)
        assert data[root]["totalCount"] == len(expected), (who, kind)
        by_nodes = {tlp for tlp, node in zip(TLPS, data["nodes"], strict=True) if node is not None}
        assert by_nodes == expected, (who, kind)
        for tlp in TLPS:
            one = await world.api.data(
                "query($id: ID!) { node(id: $id) { id } events(filter: {entityId: $id}) { totalCount } }",
                {"id": gids[tlp]},
                token=token,
            )
            assert (one["node"] is not None) == (tlp in expected), (who, kind, tlp)
            assert one["events"]["totalCount"] == (1 if tlp in expected else 0), (who, kind, tlp)


async def test_tlp_rule_on_nested_paths(world: World) -> None:
    """From each parent: lab.findings, lab.engagements, agency.ownedFindings, finding.measures, finding.engagements,
    measure.findings, engagement.findings. Each probe of a TLP level links the finding with the measure and the
    engagement of that level: under a parent shows exactly the linked probe the principal may see, no more, no less."""
    lab_id = to_global_id("Lab", world.ids["lab"])
    owner_id = to_global_id("Agency", world.ids["agency"]["TREASURY"])
    query = """query($lab: ID!, $owner: ID!) {
      lab: node(id: $lab) { ... on Lab { findings(first: 500) { title } engagements(first: 500) { title } } }
      owner: node(id: $owner) { ... on Agency {
        ownedFindings(first: 500) { title } ownedMeasures(first: 500) { title } } }
      findings(filter: {search: "visprobe"}) { edges { node {
        title measures { title } engagements { title } } } }
      measures(filter: {search: "visprobe"}) { edges { node { title findings { title } } } }
      engagements(filter: {search: "visprobe"}) { edges { node { title findings { title } } } }
    }"""

    def probes(items: list[dict[str, Any]], prefix: str) -> set[str]:
        return {i["title"].split()[-1] for i in items if i["title"].startswith(f"visprobe {prefix}")}

    for who, token in world.tokens.items():
        data = await world.api.data(query, {"lab": lab_id, "owner": owner_id}, token=token)
        sees_finding = {t for t in TLPS if who in SEES_FINDING[t]}
        sees_measure = {t for t in TLPS if who in SEES_MEASURE[t]}
        assert probes(data["lab"]["findings"], "finding") == sees_finding, who
        assert probes(data["lab"]["engagements"], "engagement") == sees_finding, who
        assert probes(data["owner"]["ownedFindings"], "finding") == sees_finding, who
        assert probes(data["owner"]["ownedMeasures"], "measure") == sees_measure, who
        # the parents themselves: each visible probe once, so that none of the checks below is skipped
        for root, prefix, sees in (
            ("findings", "finding", sees_finding),
            ("measures", "measure", sees_measure),
            ("engagements", "engagement", sees_finding),
        ):
            parents = [edge["node"]["title"] for edge in data[root]["edges"]]
            assert sorted(parents) == sorted(f"visprobe {prefix} {tlp}" for tlp in sees), (who, root)
        for edge in data["findings"]["edges"]:
            tlp = edge["node"]["title"].split()[-1]
            assert probes(edge["node"]["measures"], "measure") == {tlp} & sees_measure, (who, tlp)
            assert probes(edge["node"]["engagements"], "engagement") == {tlp} & sees_finding, (who, tlp)
        for edge in data["measures"]["edges"] + data["engagements"]["edges"]:
            tlp = edge["node"]["title"].split()[-1]
            assert probes(edge["node"]["findings"], "finding") == {tlp} & sees_finding, (who, edge["node"]["title"])


async def test_findings_a_lab_owns_on_every_read_path(world: World) -> None:
    """The findings Anthropic owns (tests/probes.py, SEES_LAB_FINDING): the lab in the owning agency's place, on the
    list and its totalCount, node, nodes, history, and nested under the lab, the model, and the measure and the
    engagement of their level, for each principal."""
    gids = {tlp: to_global_id("Finding", world.ids[("labfinding", tlp)]) for tlp in TLPS}
    query = """query($ids: [ID!]!, $lab: ID!, $model: ID!) {
      findings(filter: {search: "labprobe"}, first: 20) { totalCount edges { node { title ownerAgency { code }
                                                                                ownerLab { name } } } }
      nodes(ids: $ids) { id }
      lab: node(id: $lab) { ... on Lab { findings(first: 500) { title } } }
      model: node(id: $model) { ... on FrontierModel { findings(first: 50) { title } } }
      measures(filter: {search: "visprobe"}) { edges { node { title findings { title } } } }
      engagements(filter: {search: "visprobe"}) { edges { node { title findings { title } } } }
    }"""
    variables = {
        "ids": list(gids.values()),
        "lab": to_global_id("Lab", world.ids["lab"]),
        "model": to_global_id("FrontierModel", world.ids["model"]),
    }

    def probes(items: list[dict[str, Any]]) -> set[str]:
        return {i["title"].split()[-1] for i in items if i["title"].startswith("labprobe finding")}

    for who, token in world.tokens.items():
        expected = {tlp for tlp in TLPS if who in SEES_LAB_FINDING[tlp]}
        data = await world.api.data(query, variables, token=token)
        edges = data["findings"]["edges"]
        assert probes([e["node"] for e in edges]) == expected, who
        assert data["findings"]["totalCount"] == len(expected), who
        assert all(e["node"]["ownerAgency"] is None and e["node"]["ownerLab"] == {"name": "Anthropic"} for e in edges)
        assert {tlp for tlp, node in zip(TLPS, data["nodes"], strict=True) if node is not None} == expected, who
        assert probes(data["lab"]["findings"]) == expected, who
        # the model in development: every agency and its lab see it, other labs do not (nor its findings there)
        if data["model"] is not None:
            assert probes(data["model"]["findings"]) == expected, who
        else:
            assert who == "other_lab"
        for edge in data["measures"]["edges"] + data["engagements"]["edges"]:
            tlp = edge["node"]["title"].split()[-1]
            assert probes(edge["node"]["findings"]) == {tlp} & expected, (who, edge["node"]["title"])
        for tlp in TLPS:
            one = await world.api.data(
                "query($id: ID!) { node(id: $id) { id } events(filter: {entityId: $id}) { totalCount } }",
                {"id": gids[tlp]},
                token=token,
            )
            assert (one["node"] is not None) == (tlp in expected), (who, tlp)
            assert one["events"]["totalCount"] == (1 if tlp in expected else 0), (who, tlp)


async def test_dashboard_counts_match_what_each_principal_can_list(world: World) -> None:
    for who, token in world.tokens.items():
        data = await world.api.data(
            """{ dashboard { counts { kind state count } }
                 findings { totalCount } measures { totalCount } engagements { totalCount } models { totalCount }
                 agreements { totalCount } coverageDecisions { totalCount } coverageStandards { totalCount } }""",
            token=token,
        )
        by_kind: dict[str, int] = {}
        for row in data["dashboard"]["counts"]:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["count"]
        for kind, root in (
            ("FINDING", "findings"),
            ("MEASURE", "measures"),
            ("ENGAGEMENT", "engagements"),
            ("MODEL", "models"),
            ("AGREEMENT", "agreements"),
            ("DECISION", "coverageDecisions"),
            ("STANDARD", "coverageStandards"),
        ):
            assert by_kind.get(kind, 0) == data[root]["totalCount"], (who, kind)


async def test_models_of_a_lab_in_development_are_hidden_from_other_labs(world: World) -> None:
    model = to_global_id("FrontierModel", world.ids["model"])
    for who, token in world.tokens.items():
        data = await world.api.data(
            """query($id: ID!) { node(id: $id) { id }
                 models(filter: {search: "visibility probe"}) { totalCount } }""",
            {"id": model},
            token=token,
        )
        visible = who != "other_lab"
        assert (data["node"] is not None) == visible, who
        assert data["models"]["totalCount"] == (1 if visible else 0), who


async def test_confidential_model_fields_only_for_the_lab_and_active_agreement_parties(world: World) -> None:
    from hub import db

    con = await db.connect(world.api.url)
    try:
        await add_agreement(con, world)
    finally:
        await con.close()
    model = to_global_id("FrontierModel", world.ids["model"])
    query = """query($id: ID!) { node(id: $id) { ... on FrontierModel {
        confidentialVisible trainingComputeFlop capabilityDetails plannedReleaseOn plannedGeneralAvailabilityOn
        agreements { id parties { agency { code } } } } } }"""
    # NIST accepted the ACTIVE agreement; EPA is named but has not accepted; CISA is not party
    sees = {"lab": True, "shared": True, "outside": False, "owner": False, "recipient": False}
    for who, expected in sees.items():
        node = (await world.api.data(query, {"id": model}, token=world.tokens[who]))["node"]
        assert node["confidentialVisible"] is expected, who
        assert (node["trainingComputeFlop"] == 3e25) is expected, who
        assert (node["capabilityDetails"] == "secret details") is expected, who
        assert (node["plannedReleaseOn"] == "2027-01-01") is expected, who
        assert (node["plannedGeneralAvailabilityOn"] == "2027-02-01") is expected, who
        if not expected:
            assert node["trainingComputeFlop"] is None and node["plannedReleaseOn"] is None
            assert node["plannedGeneralAvailabilityOn"] is None
        # the agreement is visible to the lab and to the agencies named on it (NIST, EPA) only
        assert (len(node["agreements"]) == 1) is (who in ("lab", "shared", "outside")), who


async def owner_ids(url: str, type_name: str, sql: str) -> set[str]:
    """The global ids of the rows `sql` selects, read as the tables' owner (no visibility rule applying)."""
    from hub import db

    con = await db.connect(url)
    try:
        return {to_global_id(type_name, r["id"]) for r in await con.fetch(sql)}
    finally:
        await con.close()


async def test_unaccepted_standards_are_hidden_from_labs(demo_api: Api) -> None:
    lab = await demo_api.token(lab="Anthropic", role="LAB_LIAISON")
    officer = await demo_api.token(agency="NIST", role="OFFICER")
    query = "{ coverageStandards(first: 50) { totalCount edges { node { id state } } } }"
    published = await owner_ids(
        demo_api.url, "CoverageStandard", "select id from coverage_standards where state in ('ADOPTED', 'SUPERSEDED')"
    )
    every = await owner_ids(demo_api.url, "CoverageStandard", "select id from coverage_standards")
    assert published and every - published  # the demo has both kinds
    for token, expected in ((lab, published), (officer, every)):
        standards = (await demo_api.data(query, token=token))["coverageStandards"]
        assert {e["node"]["id"] for e in standards["edges"]} == expected
        assert standards["totalCount"] == len(expected)


async def test_decisions_of_other_labs_are_hidden_from_a_lab(demo_api: Api) -> None:
    token = await demo_api.token(lab="OpenAI", role="LAB_LIAISON")
    data = await demo_api.data(
        "{ coverageDecisions(first: 500) { totalCount edges { node { id model { lab { name } } } } } }", token=token
    )
    own = await owner_ids(
        demo_api.url,
        "CoverageDecision",
        """select d.id from coverage_decisions d join frontier_models m on m.id = d.model_id
             join labs l on l.id = m.lab_id where l.name = 'OpenAI'""",
    )
    assert own  # the demo has decisions on OpenAI's models
    edges = data["coverageDecisions"]["edges"]
    assert {e["node"]["id"] for e in edges} == own
    assert {e["node"]["model"]["lab"]["name"] for e in edges} == {"OpenAI"}
    assert data["coverageDecisions"]["totalCount"] == len(own)
