"""Nested connections (`<name>Connection` beside each related list): the same records as the list, filtered and
ordered with the root connection's inputs, paged forwards and backwards, counted under the visibility rule, with
the root field's errors, in a number of statements that does not grow with the rows."""

from __future__ import annotations

from typing import Any

from hub.cost import operation_cost
from schema import schema
from tests.conftest import Api

MODELS = """query($first: Int!) {
  models(first: $first) { nodes {
    id name
    findings(first: 500) { id }
    findingsConnection(first: 500) { totalCount nodes { id } pageInfo { hasNextPage hasPreviousPage } }
    measuresConnection(first: 500) { totalCount nodes { id } }
    coverageDecisionsConnection(first: 500) { totalCount nodes { id } }
  } }
}"""

PAGE = """query($id: ID!, $first: Int, $after: String, $last: Int, $before: String, $order: FindingOrder) {
  node(id: $id) { ... on FrontierModel {
    findingsConnection(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
      totalCount
      edges { cursor node { id } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  } }
}"""

ROOT_COUNT = """query($model: ID!) { findings(filter: {modelIds: [$model]}, first: 500) { totalCount nodes { id } } }"""


async def busiest_model(api: Api, token: str) -> tuple[str, list[str]]:
    """The model with the most findings the principal may see, and their ids in creation order."""
    data = await api.data("{ models(first: 500) { nodes { id findings(first: 200) { id } } } }", token=token)
    best = max(data["models"]["nodes"], key=lambda n: len(n["findings"]))
    return best["id"], [f["id"] for f in best["findings"]]


async def test_a_nested_connection_holds_the_lists_records_and_counts_them(demo_api: Api) -> None:
    for who in ({"agency": "CISA", "role": "ANALYST"}, {"agency": "EPA", "role": "VIEWER"}):
        token = await demo_api.token(**who)
        data = await demo_api.data(MODELS, {"first": 100}, token=token)
        nodes = data["models"]["nodes"]
        assert any(n["findings"] for n in nodes)
        for node in nodes:
            connection = node["findingsConnection"]
            assert [f["id"] for f in connection["nodes"]] == [f["id"] for f in node["findings"]]
            assert connection["totalCount"] == len(node["findings"])
            assert connection["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": False}
            assert node["measuresConnection"]["totalCount"] == len(node["measuresConnection"]["nodes"])


async def test_nested_connections_count_only_what_the_principal_may_see(demo_api: Api) -> None:
    cisa = await demo_api.token(agency="CISA", role="ANALYST")
    model, _ = await busiest_model(demo_api, cisa)
    seen = {}
    for who in (
        {"agency": "CISA", "role": "ANALYST"},
        {"agency": "EPA", "role": "VIEWER"},
        {"lab": "Anthropic", "role": "LAB_LIAISON"},
        {"lab": "OpenAI", "role": "LAB_LIAISON"},
    ):
        token = await demo_api.token(**who)
        root = (await demo_api.data(ROOT_COUNT, {"model": model}, token=token))["findings"]
        body = await demo_api.query(PAGE, {"id": model, "first": 500}, token=token)
        node = body["data"]["node"]
        if node is None:  # the principal may not see the model itself
            seen[str(who)] = None
            continue
        nested = node["findingsConnection"]
        # the root connection applies the visibility rule: the nested one under the model must agree with it
        assert nested["totalCount"] == root["totalCount"], who
        assert sorted(e["node"]["id"] for e in nested["edges"]) == sorted(n["id"] for n in root["nodes"]), who
        seen[str(who)] = nested["totalCount"]
    counts = [c for c in seen.values() if c is not None]
    assert len(set(counts)) > 1, f"principals of different sight should see different counts: {seen}"


async def test_paging_forwards_and_backwards_over_a_nested_connection(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    model, ids = await busiest_model(demo_api, token)
    assert len(ids) >= 5
    forwards: list[str] = []
    after = None
    while True:
        page = (await demo_api.data(PAGE, {"id": model, "first": 2, "after": after}, token=token))["node"][
            "findingsConnection"
        ]
        forwards += [e["node"]["id"] for e in page["edges"]]
        assert page["totalCount"] == len(ids)
        assert page["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert forwards == ids
    backwards: list[str] = []
    before = None
    while True:
        page = (await demo_api.data(PAGE, {"id": model, "last": 2, "before": before}, token=token))["node"][
            "findingsConnection"
        ]
        got = [e["node"]["id"] for e in page["edges"]]
        assert len(got) <= 2
        backwards = got + backwards
        assert page["pageInfo"]["hasNextPage"] == (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert backwards == ids
    # a range: after the first and before the last
    first = await demo_api.data(PAGE, {"id": model, "first": 1}, token=token)
    last = await demo_api.data(PAGE, {"id": model, "last": 1}, token=token)
    between = await demo_api.data(
        PAGE,
        {
            "id": model,
            "first": 500,
            "after": first["node"]["findingsConnection"]["pageInfo"]["endCursor"],
            "before": last["node"]["findingsConnection"]["pageInfo"]["startCursor"],
        },
        token=token,
    )
    assert [e["node"]["id"] for e in between["node"]["findingsConnection"]["edges"]] == ids[1:-1]
    # ordered otherwise, descending: the same records, the last page first
    ordered = await demo_api.data(
        PAGE, {"id": model, "last": 3, "order": {"field": "CREATED_AT", "direction": "DESC"}}, token=token
    )
    assert [e["node"]["id"] for e in ordered["node"]["findingsConnection"]["edges"]] == list(reversed(ids))[-3:]


async def test_root_connections_page_backwards_too(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    query = """query($model: ID!, $first: Int, $last: Int, $before: String) {
      findings(filter: {modelIds: [$model]}, first: $first, last: $last, before: $before) {
        edges { node { id } } pageInfo { hasNextPage hasPreviousPage startCursor }
      }
    }"""
    model, _ = await busiest_model(demo_api, token)
    every = [
        e["node"]["id"]
        for e in (await demo_api.data(query, {"model": model, "first": 500}, token=token))["findings"]["edges"]
    ]
    assert 4 <= len(every) < 500
    tail = (await demo_api.data(query, {"model": model, "last": 2}, token=token))["findings"]
    assert [e["node"]["id"] for e in tail["edges"]] == every[-2:]
    assert tail["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": tail["pageInfo"]["startCursor"],
    }
    before = (
        await demo_api.data(query, {"model": model, "last": 2, "before": tail["pageInfo"]["startCursor"]}, token=token)
    )["findings"]
    assert [e["node"]["id"] for e in before["edges"]] == every[-4:-2]
    assert before["pageInfo"]["hasNextPage"] is True


async def test_a_nested_connection_filters_as_the_root_connection_does(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    query = """query($filter: FindingFilter) {
      models(first: 500) { nodes {
        id
        findingsConnection(filter: $filter, first: 500) { totalCount nodes { id } }
      } }
    }"""
    root = """query($filter: FindingFilter) { findings(filter: $filter, first: 500) { totalCount nodes { id } } }"""
    for filter in ({"severity": ["HIGH", "CRITICAL"]}, {"state": ["REPORTED"]}, {"tlp": ["CLEAR", "GREEN"]}):
        nested = (await demo_api.data(query, {"filter": filter}, token=token))["models"]["nodes"]
        busiest = sorted(nested, key=lambda n: -n["findingsConnection"]["totalCount"])[:4]
        assert busiest[0]["findingsConnection"]["totalCount"] > 0, filter
        for node in busiest:
            flat = await demo_api.data(root, {"filter": {**filter, "modelIds": [node["id"]]}}, token=token)
            got = [n["id"] for n in node["findingsConnection"]["nodes"]]
            assert got == [n["id"] for n in flat["findings"]["nodes"]], (filter, node["id"])
            assert node["findingsConnection"]["totalCount"] == flat["findings"]["totalCount"] == len(got)


async def error_of(api: Api, token: str, arguments: str) -> dict[str, Any]:
    body = await api.query(
        "query($id: ID!) { node(id: $id) { ... on FrontierModel { findingsConnection(" + arguments + ") { totalCount }"
        " } } }",
        {"id": (await busiest_model(api, token))[0]},
        token=token,
    )
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


async def test_bad_arguments_of_a_nested_connection_name_their_argument(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    cases = {
        'after: "not-a-cursor"': "after",
        'before: "not-a-cursor"': "before",
        "first: 2, last: 2": "last",
        "first: 501": "first",
        "last: -1": "last",
        'filter: {modelIds: ["bm90LWFuLWlk"]}': "filter.modelIds",
        'filter: {search: "!!"}': "filter.search",
    }
    for arguments, field in cases.items():
        error = await error_of(demo_api, token, arguments)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (arguments, error)
        assert error["extensions"]["field"] == field, (arguments, error)
        assert error["path"][-1] == "findingsConnection", error


NESTED = """query($first: Int!) {
  models(first: $first) { nodes {
    name
    findingsConnection(first: 5, filter: {severity: [HIGH, CRITICAL]}) {
      totalCount
      nodes { title measuresConnection(first: 3) { totalCount nodes { title } } }
    }
    agreementsConnection(last: 2) { totalCount edges { cursor node { state } } }
  } }
}"""


async def test_statements_of_nested_connections_do_not_grow_with_the_rows(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    small = await demo_api.query(NESTED, {"first": 5}, token=token)
    large = await demo_api.query(NESTED, {"first": 300}, token=token)
    assert "errors" not in small and "errors" not in large, large.get("errors")
    nodes = large["data"]["models"]["nodes"]
    assert sum(len(n["findingsConnection"]["nodes"]) for n in nodes) > 20
    assert small["extensions"]["sqlStatements"] == large["extensions"]["sqlStatements"]


def cost(query: str) -> int:
    from graphql import parse

    document = parse(query)
    return operation_cost(schema._schema, document, document.definitions[0])  # type: ignore[arg-type]


def test_a_nested_connection_costs_like_a_root_one() -> None:
    root = cost("{ findings(first: 10) { edges { node { title } } } }")
    assert root == cost("{ findings(last: 10) { edges { node { title } } } }")
    nested = cost("{ models(first: 1) { nodes { findingsConnection(first: 10) { edges { node { title } } } } } }")
    assert nested == cost(
        "{ models(first: 1) { nodes { findingsConnection(last: 10) { edges { node { title } } } } } }"
    )
    # `models` and its `nodes` (1 each) above the connection's own cost, for the one model
    assert nested == 1 + 1 + root
    # without first or last, a connection holds 50
    assert cost("{ findings { nodes { title } } }") == cost("{ findings(first: 50) { nodes { title } } }")
