"""The number of SQL statements of a query depends on its depth, not on how many records it returns."""

from __future__ import annotations

from tests.conftest import Api

NESTED = """query($first: Int!) {
  models(first: $first) {
    totalCount
    edges { node {
      name releaseStatus trainingComputeFlop
      lab { name participation models(first: 3) { name } }
      coverageDecisions { state outcome standard { standardVersion } decidedBy { code } }
      agreements { state parties { agency { code } } }
      findings(first: 20) { title cvss { severity } measures { title } engagements { title milestones { title } } }
      measures { title }
      history { action actorAgency { code } }
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
