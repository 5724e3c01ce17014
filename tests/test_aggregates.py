"""Aggregates (docs/analysts.md, "Aggregates"): every figure against counting the visible records one by one."""

from __future__ import annotations

from tests.conftest import Api

EVERY_KIND = """{
  findings(first: 1) { totalCount aggregate { count min { cvssBaseScore daysToMitigationAvailable }
    avg { cvssBaseScore } groups(by: [SECTOR, SEVERITY, REPORTED_MONTH]) {
      key { sector severity reportedMonth lab { name } } count avg { cvssBaseScore } } } }
  models(first: 1) { aggregate { count sum { trainingComputeFlop }
    groups(by: [LAB, PLANNED_RELEASE_MONTH]) { key { labId lab { name } plannedReleaseMonth } count } } }
  agreements(first: 1) { aggregate { count avg { leadTimeAskedDays leadTimeGivenDays }
    groups(by: [STATE, ACCESS_START_WEEK]) { key { state accessStartWeek } count } } }
  engagements(first: 1) { aggregate { count
    groups(by: [SECTOR, COUNTERPART_KIND]) { key { sector counterpartKind } count } } }
  measures(first: 1) { aggregate { count groups(by: [STATE, OWNER_COMPONENT]) { key { state ownerComponent } count } } }
  coverageDecisions(first: 1) { aggregate { count
    groups(by: [OUTCOME, STANDARD, DECIDED_MONTH]) { key { outcome standard { id } decidedMonth } count } } }
}"""


async def test_every_kind_answers_its_aggregates(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    data = await demo_api.data(EVERY_KIND, token=token)
    assert data["findings"]["totalCount"] == data["findings"]["aggregate"]["count"] > 0
    for root in ("models", "agreements", "engagements", "measures", "coverageDecisions"):
        aggregate = data[root]["aggregate"]
        assert aggregate["count"] == sum(g["count"] for g in aggregate["groups"]) > 0, root
