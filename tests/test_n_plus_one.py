"""The number of SQL statements of a query depends on its depth, not on how many records it returns."""

from __future__ import annotations

from tests.conftest import Api

# Every nested list names its size: with the defaults (100 a list) this query would cost 15 million at 300 models,
# far over HUB_MAX_COST (docs/security.md); these sizes keep it under 250,000.
NESTED = """query($first: Int!) {
  models(first: $first) {
    totalCount
    edges { node {
      name releaseStatus trainingComputeFlop
      lab { name participation models(first: 3) { name } }
      coverageDecisions(first: 5) { state outcome standard { standardVersion } decidedBy { code } }
      agreements(first: 5) { state parties { agency { code } } }
      findings(first: 10) {
        title cvss { severity } measures(first: 3) { title } engagements(first: 2) { title milestones { title } }
      }
      measures(first: 5) { title }
      history(first: 10) { action actorAgency { code } }
    } }
  }
}"""


async def test_statements_are_equal_for_10_and_300_models(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    small = await demo_api.query(NESTED, {"first": 10}, token=token)
    large = await demo_api.query(NESTED, {"first": 300}, token=token)
    assert "errors" not in small and "errors" not in large
    assert len(small["data"]["models"]["edges"]) == 10
    assert len(large["data"]["models"]["edges"]) == 300
    # the larger page really reaches every relation
    nodes = [e["node"] for e in large["data"]["models"]["edges"]]
    assert sum(len(n["findings"]) for n in nodes) > 100
    assert any(n["agreements"] for n in nodes) and any(n["coverageDecisions"] for n in nodes)
    assert small["extensions"]["sqlStatements"] == large["extensions"]["sqlStatements"]
    assert large["extensions"]["sqlStatements"] <= 20


# Nested connections through the resolvers (`history` keeps the compiler out): one statement per nested connection
# and level for the pages of every parent, one grouped statement for their totalCounts.
NESTED_CONNECTIONS = """query($first: Int!) {
  models(first: $first) {
    nodes {
      name history(first: 1) { action }
      findingsConnection(
        first: 5, filter: {severity: [HIGH, CRITICAL]}, orderBy: {field: BASE_SCORE, direction: DESC}
      ) {
        totalCount
        edges { cursor node { title measuresConnection(last: 2) { totalCount nodes { title } } } }
      }
      coverageDecisionsConnection(first: 3) { totalCount nodes { state } }
    }
  }
}"""


async def test_nested_connections_run_the_same_statements_for_10_and_300_models(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    small = await demo_api.query(NESTED_CONNECTIONS, {"first": 10}, token=token)
    large = await demo_api.query(NESTED_CONNECTIONS, {"first": 300}, token=token)
    assert "errors" not in small and "errors" not in large, large.get("errors")
    assert not large["extensions"].get("compiled")
    nodes = large["data"]["models"]["nodes"]
    assert sum(len(n["findingsConnection"]["edges"]) for n in nodes) > 20
    assert any(n["coverageDecisionsConnection"]["totalCount"] for n in nodes)
    assert small["extensions"]["sqlStatements"] == large["extensions"]["sqlStatements"]
    # the models' page, their history, and a page and a count for each of the three nested connections
    assert large["extensions"]["sqlStatements"] <= 10
