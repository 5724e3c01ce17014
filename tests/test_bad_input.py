"""Bad input gets a GraphQL error or HTTP 400 naming the problem; never a 500, never a stack trace."""

from __future__ import annotations

import pytest

from schema.common import to_global_id
from tests.conftest import Api


async def error_of(api: Api, query: str, variables: dict | None = None) -> dict:
    token = await api.token(agency="CISA", role="ANALYST")
    response = await api.post(query, variables, token=token)
    assert response.status_code in (200, 400), response.text
    body = response.json()
    assert body.get("errors"), body
    text = response.text
    assert "Traceback" not in text and "asyncpg" not in text and "select " not in text.lower()
    return body["errors"][0]


@pytest.mark.parametrize(
    ("query", "variables", "needle", "code"),
    [
        ("{ models { nosuchfield } }", None, "nosuchfield", "GRAPHQL_VALIDATION_FAILED"),
        ('{ models(first: "ten") { totalCount } }', None, "Int", "GRAPHQL_VALIDATION_FAILED"),
        ("{ models(first: 501) { totalCount } }", None, "at most 500", "BAD_USER_INPUT"),
        ("{ models(first: -1) { totalCount } }", None, "0 or more", "BAD_USER_INPUT"),
        ("{ labs { edges { node { models(first: 9999) { name } } } } }", None, "first", "BAD_USER_INPUT"),
        ('{ models(after: "garbage") { totalCount } }', None, "cursor", "BAD_USER_INPUT"),
        ("{ findings(filter: {state: [NOPE]}) { totalCount } }", None, "NOPE", "GRAPHQL_VALIDATION_FAILED"),
        (
            "query($s: [FindingState!]) { findings(filter: {state: $s}) { totalCount } }",
            {"s": ["NOPE"]},
            "NOPE",
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ('{ node(id: "not-an-id") { id } }', None, "not a valid id", "BAD_USER_INPUT"),
        ('{ findings(filter: {labIds: ["bm9wZTox"]}) { totalCount } }', None, "labIds", "BAD_USER_INPUT"),
        ('{ findings(filter: {search: "!!!"}) { totalCount } }', None, "search", "BAD_USER_INPUT"),
        ("{ dashboard(horizonDays: 9999) { asOf } }", None, "horizonDays", "BAD_USER_INPUT"),
    ],
)
async def test_graphql_errors_name_the_problem(
    demo_api: Api, query: str, variables: dict | None, needle: str, code: str
) -> None:
    error = await error_of(demo_api, query, variables)
    assert needle.lower() in error["message"].lower()
    assert error["extensions"]["code"] == code


async def test_an_id_of_another_type_is_refused_in_a_filter(demo_api: Api) -> None:
    error = await error_of(
        demo_api,
        "query($ids: [ID!]) { models(filter: {labIds: $ids}) { totalCount } }",
        {"ids": [to_global_id("Finding", 1)]},
    )
    assert "expected an id of a Lab" in error["message"]
    assert error["extensions"]["field"] == "filter.labIds"


async def test_a_cursor_of_another_ordering_is_refused(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    data = await demo_api.data("{ models(first: 1) { pageInfo { endCursor } } }", token=token)
    cursor = data["models"]["pageInfo"]["endCursor"]
    error = await error_of(
        demo_api, "query($c: String) { models(after: $c, orderBy: {field: CREATED_AT}) { totalCount } }", {"c": cursor}
    )
    assert "ordering" in error["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b'{"query": 5}', "application/json", 400, "query must be"),
        (b'{"query": "{ me { name } }", "variables": [1]}', "application/json", 400, "variables must be"),
        (b'{"query": "{ me { name "}', "application/json", 400, "Syntax Error"),
        (b"query { me { name } }", "text/plain", 415, "Content-Type"),
    ],
)
async def test_malformed_requests_get_4xx_with_a_message(
    demo_api: Api, body: bytes, content_type: str, status: int, needle: str
) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.client.post(
        "/graphql", content=body, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type}
    )
    assert response.status_code == status
    assert needle in response.json()["errors"][0]["message"]


async def test_no_token_or_a_bad_token_gets_401_and_no_data(demo_api: Api) -> None:
    for token in (None, "fh_not-a-real-token", "x" * 500):
        response = await demo_api.post("{ findings { totalCount } }", token=token)
        assert response.status_code == 401
        body = response.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
