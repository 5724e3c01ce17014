"""The read schema: connections, filters, ordering, cursors, relations in both directions, policy, dashboard."""

from __future__ import annotations

from tests.conftest import Api


async def test_paging_with_cursors_visits_every_record_once(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    seen: list[str] = []
    after = None
    total = None
    while True:
        data = await demo_api.data(
            """query($after: String) { models(first: 97, after: $after, orderBy: {field: NAME, direction: DESC}) {
                 totalCount pageInfo { hasNextPage endCursor } edges { node { id name } } } }""",
            {"after": after},
            token=token,
        )
        connection = data["models"]
        total = connection["totalCount"]
        seen.extend(e["node"]["id"] for e in connection["edges"])
        names = [e["node"]["name"] for e in connection["edges"]]
        assert names == sorted(names, reverse=True)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert total is not None and total >= 300
    assert len(seen) == len(set(seen)) == total


async def test_filters_narrow_and_agree_with_the_records(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    data = await demo_api.data(
        """{ all: findings { totalCount }
             critical: findings(filter: {severity: [CRITICAL], sectors: [ENERGY]}, first: 500) {
               totalCount edges { node { cvss { severity baseScore } sectors } } }
             kev: findings(filter: {knownExploited: true}) { totalCount }
             notKev: findings(filter: {knownExploited: false}) { totalCount }
             top: findings(first: 5, orderBy: {field: BASE_SCORE, direction: DESC}) {
               edges { node { cvss { baseScore } } } }
           }""",
        token=token,
    )
    assert 0 < data["critical"]["totalCount"] < data["all"]["totalCount"]
    for edge in data["critical"]["edges"]:
        assert edge["node"]["cvss"]["severity"] == "CRITICAL" and edge["node"]["cvss"]["baseScore"] >= 9
        assert "ENERGY" in edge["node"]["sectors"]
    assert data["kev"]["totalCount"] + data["notKev"]["totalCount"] == data["all"]["totalCount"]
    scores = [e["node"]["cvss"]["baseScore"] for e in data["top"]["edges"]]
    assert scores == sorted(scores, reverse=True)


async def test_text_search_finds_claude_mythos_preview(demo_api: Api) -> None:
    token = await demo_api.token(agency="NIST", role="ANALYST")
    data = await demo_api.data(
        """{ models(filter: {search: "mythos prev"}) { edges { node { id name lab { name }
              findings(first: 5) { model { name } } } } } }""",
        token=token,
    )
    names = [(e["node"]["name"], e["node"]["lab"]["name"]) for e in data["models"]["edges"]]
    assert ("Claude Mythos Preview", "Anthropic") in names


async def test_relations_navigate_both_ways(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="OFFICER")
    data = await demo_api.data(
        # explicit sizes keep the cost (HUB_MAX_COST) near what the answer holds: a finding has a few measures
        """{ findings(first: 200, filter: {tlp: [GREEN, CLEAR]}) { edges { node { id
              model { id findings(first: 100) { id } lab { id } }
              lab { id findings(first: 100) { id } }
              measures(first: 20) { id findings(first: 20) { id } }
              engagements(first: 20) { id findings(first: 20) { id } sector } } } } }""",
        token=token,
    )
    checked = 0
    for edge in data["findings"]["edges"]:
        node = edge["node"]
        if node["model"]:
            assert node["model"]["lab"]["id"] == node["lab"]["id"]
        for measure in node["measures"]:
            assert node["id"] in {f["id"] for f in measure["findings"]}
            checked += 1
        for engagement in node["engagements"]:
            assert node["id"] in {f["id"] for f in engagement["findings"]}
            checked += 1
    assert checked > 0


async def test_sectors_policy_and_dashboard(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="OFFICER")
    data = await demo_api.data(
        """{ sectors { sector label engagements { totalCount } }
             policy { number effectiveOn orderDate standardDueDays standardDueOn requiredSignoffs previewLeadTimeDays }
             dashboard { asOf counts { kind state count } dueSoon { kind daysLeft overdue entity { id } }
                         overdue { kind daysLeft overdue } } }""",
        token=token,
    )
    assert len(data["sectors"]) == 16
    assert sum(s["engagements"]["totalCount"] for s in data["sectors"]) > 0
    assert data["policy"] == {
        "number": 2,
        "effectiveOn": "2026-06-02",
        "orderDate": "2026-06-02",
        "standardDueDays": 30,
        "standardDueOn": "2026-07-02",
        "requiredSignoffs": ["CISA", "NIST"],
        "previewLeadTimeDays": 30,
    }
    dashboard = data["dashboard"]
    assert dashboard["dueSoon"] and dashboard["overdue"]
    assert all(0 <= d["daysLeft"] <= 7 and not d["overdue"] for d in dashboard["dueSoon"])
    assert all(d["daysLeft"] < 0 and d["overdue"] for d in dashboard["overdue"])
    assert all(d["entity"] is not None for d in dashboard["dueSoon"])
    kinds = {c["kind"] for c in dashboard["counts"]}
    assert {"MODEL", "AGREEMENT", "STANDARD", "DECISION", "FINDING", "MEASURE", "ENGAGEMENT", "LAB"} <= kinds


async def test_me_says_who_you_are(demo_api: Api) -> None:
    token = await demo_api.token(lab="Anthropic", role="LAB_LIAISON", name="Ada Liaison")
    data = await demo_api.data("{ me { name role agency { code } lab { name } } }", token=token)
    assert data["me"] == {"name": "Ada Liaison", "role": "LAB_LIAISON", "agency": None, "lab": {"name": "Anthropic"}}


async def test_history_and_events_follow_the_records(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="OFFICER")
    data = await demo_api.data(
        """{ events(first: 5) { totalCount edges { cursor node { id entityKind action entity { id } } } }
             findings(first: 3, filter: {state: [REMEDIATED]}) {
               edges { node { id history { action fromState toState entityId } } } } }""",
        token=token,
    )
    assert data["events"]["totalCount"] > 1000
    for edge in data["findings"]["edges"]:
        history = edge["node"]["history"]
        assert history and history[-1]["toState"] == "REMEDIATED"
        assert all(h["entityId"] == edge["node"]["id"] for h in history)
