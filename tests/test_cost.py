"""The static cost of an operation (hub/cost.py): exact figures for known queries, `first` from literals, variables
and defaults, fragments, the limit (HUB_MAX_COST) refused before any SQL runs, and `extensions.cost` on every
answer. The vetted operations' costs are the table in docs/security.md."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import OperationDefinitionNode, parse

from hub.app import create_app
from hub.cost import ROWS_ESTIMATOR, ROWS_PER_POINT, operation_cost
from hub.persisted import operations_dir
from hub.settings import Settings
from schema import schema
from tests.conftest import Api

DOCS = Path(__file__).resolve().parent.parent / "docs" / "security.md"
DEFAULT_MAX_COST = Settings(database_url=None, data_dir=Path(".")).max_cost


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return operation_cost(schema._schema, document, operation, variables)


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        # findings 1 + edges 1 + 50 x (node 1 + id 1 + title 1)
        ("{ findings(first: 50) { edges { node { id title } } } }", None, 152),
        # a root connection's default page is 50; totalCount and pageInfo are not multiplied
        ("{ findings { totalCount pageInfo { hasNextPage } edges { node { id } } } }", None, 1 + 1 + 2 + 1 + 50 * 2),
        # a nested list's default is 100: labs 1 + edges 1 + 2 x (node 1 + models (1 + 100 x name 1))
        ("{ labs(first: 2) { edges { node { models { name } } } } }", None, 206),
        # and an explicit first replaces it
        ("{ labs(first: 2) { edges { node { models(first: 3) { name } } } } }", None, 2 + 2 * (1 + 1 + 3)),
        # first from a variable, and from the variable's default
        ("query($n: Int!) { findings(first: $n) { edges { node { id } } } }", {"n": 10}, 22),
        ("query($n: Int = 7) { findings(first: $n) { edges { node { id } } } }", None, 16),
        ("query($n: Int = 7) { findings(first: $n) { edges { node { id } } } }", {"n": 3}, 8),
        # a named fragment and an inline fragment cost what the fields cost
        ("query { findings(first: 50) { edges { node { ...F } } } } fragment F on Finding { id title }", None, 152),
        ("{ findings(first: 50) { edges { node { ... on Finding { id title } } } } }", None, 152),
        # one response key selected twice is resolved once; __typename is free
        ("{ me { name } me { name } __typename }", None, 2),
        # nodes(ids:) holds as many items as ids
        ("query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ["a", "b", "c"]}, 4),
        # on an interface, the costliest concrete type counts: a Finding (id, title, measures 1 + 100) over a Lab
        ('{ node(id: "x") { id ... on Finding { title measures { title } } ... on Lab { name } } }', None, 104),
        # the dashboard's `first` sizes its lists
        ("{ dashboard(first: 5) { dueSoon { kind } } }", None, 7),
        # a first over the cap is refused by its resolver (BAD_USER_INPUT); the cost counts the cap
        ("{ findings(first: 100000) { edges { node { id } } } }", None, 1002),
        # a list without a size argument holds DEFAULT_LIST_SIZE (20): signoffs
        ("{ coverageStandards(first: 1) { edges { node { signoffs { signedAt } } } } }", None, 1 + 1 + 1 + 1 + 20),
        # a root mutation field costs 10: reportFinding 10 + finding (1 + id) + errors (1 + 20 x message)
        (
            'mutation { reportFinding(input: {title: "t", tlp: GREEN}) { finding { id } errors { message } } }',
            None,
            10 + 2 + 21,
        ),
        # a subscription costs what one event costs
        ("subscription { statusChanged { cursor action actorAgency { code } } }", None, 1 + 2 + 2),
    ],
)
def test_known_costs(query: str, variables: dict[str, Any] | None, expected: int) -> None:
    assert cost(query, variables) == expected


def test_skip_and_include_are_honoured() -> None:
    query = "query($s: Boolean!) { me { name @skip(if: $s) agency @include(if: $s) { code } } }"
    assert cost(query, {"s": True}) == 1 + 2
    assert cost(query, {"s": False}) == 1 + 1


def test_cost_grows_with_first_down_the_tree() -> None:
    """Multiplied, not added: each level's page multiplies everything below it."""
    query = "query($a: Int!, $b: Int!) { labs(first: $a) { edges { node { models(first: $b) { name } } } } }"
    assert cost(query, {"a": 10, "b": 10}) == 2 + 10 * (1 + 1 + 10)
    assert cost(query, {"a": 100, "b": 100}) == 2 + 100 * (1 + 1 + 100)


def vetted(name: str) -> str:
    return (operations_dir() / f"{name}.graphql").read_text()


def vetted_costs() -> dict[str, tuple[int, int]]:
    """Each vetted operation's cost with its own defaults (10 ids where it takes ids), and at the largest page
    (first: 500, or 500 ids)."""
    costs = {}
    for path in sorted(operations_dir().glob("*.graphql")):
        text = path.read_text()
        typical = {"ids": [f"id{i}" for i in range(10)]} if "$ids" in text else {}
        largest: dict[str, Any] = {"ids": [f"id{i}" for i in range(500)]} if "$ids" in text else {}
        if "$first" in text:
            largest["first"] = 500
        costs[path.stem] = (cost(text, typical), cost(text, largest))
    return costs


def test_every_vetted_operation_fits_the_default_limit_at_any_page_size() -> None:
    for name, (typical, largest) in vetted_costs().items():
        assert typical <= largest <= DEFAULT_MAX_COST, (name, typical, largest)


def test_the_docs_table_of_vetted_costs_is_current() -> None:
    rows = dict(
        (m.group(1), (int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))))
        for m in re.finditer(r"^\| `(\w+)` \| ([\d,]+) \| ([\d,]+) \|", static_table(), re.M)
    )
    assert rows == vetted_costs()


def static_table() -> str:
    text = DOCS.read_text()
    start = text.index("| operation | cost with its defaults |")
    return text[start : text.index("\n\n", start)]


async def test_every_answer_reports_its_cost(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.post("{ findings(first: 50) { edges { node { id title } } } }", token=token)
    assert response.status_code == 200
    report = response.json()["extensions"]["cost"]
    assert report["requested"] == 152 and report["limit"] == DEFAULT_MAX_COST
    budget = report["rateLimit"]
    assert budget["spent"] == 152 and 0 <= budget["remaining"] <= budget["limit"] - 152
    assert int(response.headers["X-RateLimit-Remaining"]) == budget["remaining"]
    variables = {"horizonDays": 7}
    body = (await demo_api.post(vetted("dashboard"), variables, token=token)).json()
    assert "errors" not in body and body["extensions"]["cost"]["requested"] == vetted_costs()["dashboard"][0]


OVER = "{ findings(first: 500) { edges { node { measures(first: 500) { findings(first: 500) { id } } } } } }"


async def test_over_the_limit_is_refused_naming_cost_limit_and_setting(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.post(OVER, token=token)
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    error = body["errors"][0]
    expected = cost(OVER)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == expected and error["extensions"]["maxCost"] == DEFAULT_MAX_COST
    assert str(expected) in error["message"] and str(DEFAULT_MAX_COST) in error["message"]
    assert "HUB_MAX_COST" in error["message"] and "first" in error["message"]


async def test_a_mutation_over_the_limit_writes_nothing(api: Api) -> None:
    """Refused before any SQL: the finding it would have reported is not there, nor its event."""
    token = await api.token(agency="CISA", role="OFFICER")
    heavy = """mutation { reportFinding(input: {title: "costly probe", tlp: GREEN}) { finding {
        measures(first: 500) { findings(first: 500) { measures(first: 500) { id } } } } } }"""
    con = await asyncpg.connect(api.url)
    try:
        events = await con.fetchval("select count(*) from events")
        response = await api.post(heavy, token=token)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert await con.fetchval("select count(*) from findings where title = 'costly probe'") == 0
        assert await con.fetchval("select count(*) from events") == events
    finally:
        await con.close()


async def test_a_fragment_cycle_is_a_validation_error_not_an_endless_cost(demo_api: Api) -> None:
    cyclic = "fragment F on Finding { measures { findings { ...F } } } { findings { edges { node { ...F } } } }"
    token = await demo_api.token(agency="CISA", role="ANALYST")
    body = (await demo_api.post(cyclic, token=token)).json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "F" in body["errors"][0]["message"]


# ------------------------------------------------------------------------------------------------ counting


COUNTED = "query($filter: FindingFilter) { findings(first: 0, filter: $filter) { totalCount } }"


async def analyzed(api: Api) -> None:
    """The planner's statistics of the demo database fresh (as autovacuum would make them, but now), and no
    estimate made before them remembered: the estimates are then the same at every run."""
    con = await asyncpg.connect(api.url)
    try:
        await con.execute("analyze")
    finally:
        await con.close()
    schema._schema.extensions[ROWS_ESTIMATOR].cache.clear()


async def counted(api: Api, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await api.post(query, variables, token=token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    return dict(body)


async def test_counting_is_charged_by_the_planners_estimate_of_the_rows_it_reads(demo_api: Api) -> None:
    """totalCount costs its static cost plus a point per 100 rows the planner expects the visible, filtered row set to
    hold, estimated before it runs: near the true count, and smaller for a narrower filter."""
    token = await demo_api.token(agency="CISA", role="ANALYST")
    await analyzed(demo_api)
    body = await counted(demo_api, token, COUNTED)
    total = body["data"]["findings"]["totalCount"]
    report = body["extensions"]["cost"]
    (scan,) = report["counted"]["passes"]
    assert scan["path"] == "findings.totalCount" and "estimatedGroups" not in scan
    assert total / 3 <= scan["estimatedRows"] <= total * 3, (total, scan)
    points = math.ceil(scan["estimatedRows"] / ROWS_PER_POINT)
    assert report["counted"]["points"] == points
    assert report["requested"] == cost(COUNTED) + points == report["rateLimit"]["spent"]
    narrow = await counted(demo_api, token, COUNTED, {"filter": {"severity": ["CRITICAL"]}})
    (narrow_scan,) = narrow["extensions"]["cost"]["counted"]["passes"]
    assert narrow_scan["estimatedRows"] < scan["estimatedRows"]
    # a filter the resolver refuses is charged nothing and answered with its error
    refused = (await demo_api.post(COUNTED, {"filter": {"search": "!!"}}, token=token)).json()
    assert (
        refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        and "counted" not in refused["extensions"]["cost"]
    )
    # a page without totalCount counts nothing
    plain = await counted(demo_api, token, "{ findings(first: 1) { edges { node { id } } } }")
    assert "counted" not in plain["extensions"]["cost"] and plain["extensions"]["cost"]["requested"] == 4


async def test_counting_over_the_limit_is_refused_before_it_runs(demo_url: str) -> None:
    """With a cost limit under what counting costs, the count is refused naming the rows and the points, and
    nothing is spent."""
    settings = dataclasses.replace(
        Settings.from_env().with_(database_url=demo_url), scheduler_enabled=False, webhooks_enabled=False
    )
    settings = dataclasses.replace(settings, max_cost=cost(COUNTED) + 1)
    app = create_app(settings, database_url=demo_url)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
            api = Api(client, demo_url)
            token = await api.token(agency="CISA", role="ANALYST", name="cost limit analyst")
            response = await api.post(COUNTED, token=token)
            assert response.status_code == 400
            error = response.json()["errors"][0]
            assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
            assert error["extensions"]["cost"] > cost(COUNTED) + 1
            assert "counting or grouping about" in error["message"] and "narrow the filter" in error["message"]
            # the page alone still runs
            ok = await api.post("{ findings(first: 0) { pageInfo { hasNextPage } } }", token=token)
            assert ok.status_code == 200 and "errors" not in ok.json()


def counting_table() -> dict[str, int]:
    """The documented points of counting of each vetted operation that counts, on the demo for a CISA analyst."""
    text = DOCS.read_text()
    table = text[text.index("| operation | counted passes |") :]
    return {
        m.group(1): int(m.group(3).replace(",", ""))
        for m in re.finditer(r"^\| `(\w+)` \| (\d+) \| ([\d,]+) \|", table, re.M)
    }


@pytest.mark.embedded
async def test_the_docs_table_of_what_counting_costs_is_current(demo_api: Api) -> None:
    """Every vetted operation that counts or groups is in the table with the points its counting costs a CISA
    analyst on the demo data (the planner's estimates: within a factor of 2 of the documented figure)."""
    token = await demo_api.token(agency="CISA", role="ANALYST")
    await analyzed(demo_api)
    ids: dict[str, Any] = {"ids": []}
    measured: dict[str, tuple[int, int]] = {}
    for path in sorted(operations_dir().glob("*.graphql")):
        text = path.read_text()
        if text.lstrip("#").lstrip().startswith("subscription") or "\nsubscription " in text:
            continue
        variables: dict[str, Any] = {"ids": ids["ids"]} if "$ids" in text else {}
        for name in ("id", "search", "labIds", "dueBefore", "since"):
            if f"${name}:" in text and f"${name}: " in text and "!" in text.split(f"${name}:")[1].split("\n")[0]:
                variables[name] = {
                    "id": "x",
                    "search": "claude",
                    "labIds": [],
                    "dueBefore": "2030-01-01",
                    "since": "2020-01-01T00:00:00Z",
                }[name]
        body = (await demo_api.post(text, variables, token=token)).json()
        counted = body.get("extensions", {}).get("cost", {}).get("counted")
        if counted:
            measured[path.stem] = (len(counted["passes"]), counted["points"])
    documented = counting_table()
    assert set(documented) == set(measured), sorted(measured.items())
    for name, (passes, points) in measured.items():
        assert documented[name] / 2 <= points <= documented[name] * 2, (name, passes, points, documented[name])


async def test_a_nested_connection_is_charged_the_rows_its_filter_keeps_once_for_all_parents(demo_api: Api) -> None:
    """A nested connection's totalCount and aggregate are estimated over its kind with its own filter, whatever the
    parents' page: the rows under all parents together are at most that many."""
    token = await demo_api.token(agency="CISA", role="ANALYST")
    await analyzed(demo_api)
    nested = """query($filter: FindingFilter, $n: Int) { labs(first: $n) { nodes { name
        findingsConnection(filter: $filter, first: 0) {
          totalCount aggregate { groups(by: [STATE]) { count } } } } } }"""
    critical = {"severity": ["CRITICAL"]}
    body = await counted(demo_api, token, nested, {"filter": critical, "n": 3})
    passes = {p["path"]: p for p in body["extensions"]["cost"]["counted"]["passes"]}
    assert set(passes) == {
        "labs.nodes.findingsConnection.totalCount",
        "labs.nodes.findingsConnection.aggregate.groups",
    }
    root = await counted(demo_api, token, COUNTED, {"filter": critical})
    (root_pass,) = root["extensions"]["cost"]["counted"]["passes"]
    assert passes["labs.nodes.findingsConnection.totalCount"]["estimatedRows"] == root_pass["estimatedRows"]
    wider = await counted(demo_api, token, nested, {"filter": None, "n": 30})
    wide = {p["path"]: p for p in wider["extensions"]["cost"]["counted"]["passes"]}
    assert wide["labs.nodes.findingsConnection.totalCount"]["estimatedRows"] > root_pass["estimatedRows"]
    # the same charge for 30 parents as for 3 (the static cost grows with the page, the counting does not)
    more = await counted(demo_api, token, nested, {"filter": critical, "n": 30})
    assert more["extensions"]["cost"]["counted"] == body["extensions"]["cost"]["counted"]
