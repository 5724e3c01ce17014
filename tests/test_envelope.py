"""Every answer of /graphql is one JSON envelope: `errors[]` with a message, `extensions.code` and
`extensions.requestId` (and `locations` where the document has them), the X-Request-Id header, never a 500; the
operation to run is chosen as the GraphQL spec says; the media type follows Accept (docs/frontends.md, "Errors")."""

from __future__ import annotations

import hashlib
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Api

GRAPHQL_RESPONSE = "application/graphql-response+json"


def envelope(response: httpx.Response, status: int, code: str) -> list[dict[str, Any]]:
    """The errors of an answer that must be `status` in the envelope, the first with `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(("application/json", GRAPHQL_RESPONSE)), response.headers
    request_id = response.headers["x-request-id"]
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert errors and errors[0]["extensions"]["code"] == code, errors
    for error in errors:
        assert isinstance(error["message"], str) and error["message"]
        assert error["extensions"]["requestId"] == request_id
        assert error["extensions"]["code"] != "INTERNAL"
    return errors


async def raw(
    api: Api, method: str, content: bytes | None, *, token: str | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return await api.client.request(method, "/graphql", content=content, headers=sent)


async def test_an_unknown_operation_name_is_a_validation_error_naming_it(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.client.post(
        "/graphql",
        json={"query": "query A { me { name } }", "operationName": "Z"},
        headers={"Authorization": f"Bearer {token}"},
    )
    [error] = envelope(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "'Z'" in error["message"] and "A" in error["message"]
    assert "data" not in response.json()


async def test_several_operations_need_an_operation_name(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    document = "query A { me { name } } query B { policy { version } }"
    response = await demo_api.post(document, token=token)
    [error] = envelope(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "2 operations" in error["message"] and "operationName" in error["message"]
    chosen = await demo_api.client.post(
        "/graphql", json={"query": document, "operationName": "B"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert chosen.status_code == 200 and set(chosen.json()["data"]) == {"policy"}
    only_fragments = await demo_api.post("fragment F on Query { me { name } }", token=token)
    envelope(only_fragments, 400, "GRAPHQL_VALIDATION_FAILED")


@pytest.mark.parametrize("length", [300, 400, 540])
async def test_a_long_chain_of_fragments_is_refused_clearly(demo_api: Api, length: int) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length))
    response = await demo_api.post(
        f"query {{ ...F0 }} {chain} fragment F{length} on Query {{ me {{ name }} }}", token=token
    )
    [error] = envelope(response, 400, "QUERY_TOO_COMPLEX")
    assert "fragments" in error["message"]


async def test_a_short_chain_of_fragments_runs(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(20))
    response = await demo_api.post(f"query {{ ...F0 }} {chain} fragment F20 on Query {{ me {{ name }} }}", token=token)
    assert response.status_code == 200 and response.json()["data"]["me"]["name"], response.text


async def test_a_parse_error_has_locations_and_the_parser_s_message(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.post("{ me {\n name ", token=token)
    [error] = envelope(response, 400, "GRAPHQL_PARSE_FAILED")
    assert error["message"].startswith("Syntax Error: ")
    assert error["locations"] == [{"line": 2, "column": 7}]


async def test_validation_errors_have_locations(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.post("{ me { name }\n  nope }", token=token)
    [error] = envelope(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert error["locations"] == [{"line": 2, "column": 3}] and "nope" in error["message"]


@pytest.mark.parametrize(
    ("method", "body", "headers", "status", "code", "needle"),
    [
        ("POST", b"[" + b'{"query": "{ me { name } }"}' + b"]", {}, 400, "BAD_REQUEST", "batching is not supported"),
        ("POST", b'"{ me { name } }"', {}, 400, "BAD_REQUEST", "JSON object"),
        ("POST", b"{not json", {}, 400, "BAD_REQUEST", "not valid JSON"),
        ("POST", b'{"query": "{ me { name } }"}', {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", ""),
        (
            "POST",
            b'{"query": "{ me { name } }"}',
            {"Content-Type": "application/json; charset=latin-1"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "UTF-8",
        ),
        ("POST", b'{"query": "{ me { name } }", "extensions": 3}', {}, 400, "BAD_REQUEST", "extensions"),
        ("PUT", b'{"query": "{ me { name } }"}', {}, 405, "METHOD_NOT_ALLOWED", "PUT"),
        ("DELETE", None, {}, 405, "METHOD_NOT_ALLOWED", "DELETE"),
        ("GET", None, {"Accept": "application/json"}, 400, "BAD_REQUEST", "query"),
        ("POST", b'{"query": "subscription { statusChanged { cursor } }"}', {}, 405, "METHOD_NOT_ALLOWED", "WebSocket"),
    ],
)
async def test_requests_refused_before_parsing_are_in_the_envelope(
    demo_api: Api, method: str, body: bytes | None, headers: dict[str, str], status: int, code: str, needle: str
) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    [error] = envelope(await raw(demo_api, method, body, token=token, headers=headers), status, code)
    assert needle in error["message"]


async def test_an_oversized_body_is_payload_too_large_whether_declared_or_not(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    big = b'{"query": "{ me { name } }", "variables": {"x": "' + b"x" * 1_100_000 + b'"}}'
    [error] = envelope(await raw(demo_api, "POST", big, token=token), 413, "PAYLOAD_TOO_LARGE")
    assert "HUB_MAX_BODY_BYTES" in error["message"]

    async def chunks():  # no Content-Length: the body is read no further than the limit
        for _ in range(40):
            yield b"x" * 50_000

    streamed = await demo_api.client.post(
        "/graphql",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    envelope(streamed, 413, "PAYLOAD_TOO_LARGE")


async def test_the_client_s_request_id_is_kept_only_when_it_is_a_plain_token(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    mine = await raw(demo_api, "POST", b"{", token=token, headers={"X-Request-Id": "trace-42.a:b"})
    assert mine.headers["x-request-id"] == "trace-42.a:b"
    assert mine.json()["errors"][0]["extensions"]["requestId"] == "trace-42.a:b"
    odd = await raw(demo_api, "POST", b"{", token=token, headers={"X-Request-Id": "x" * 500})
    assert len(odd.headers["x-request-id"]) == 32 and odd.headers["x-request-id"] != "x" * 500


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("*/*", "application/json"),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.2, application/json;q=0.9", "application/json"),
        ("text/html", "application/json"),
    ],
)
async def test_the_answer_s_media_type_follows_accept(demo_api: Api, accept: str | None, media_type: str) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    headers = {"Accept": accept} if accept else {}
    ok = await raw(demo_api, "POST", b'{"query": "{ me { name } }"}', token=token, headers=headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith(media_type), ok.headers
    refused = await raw(demo_api, "POST", b"[]", token=token, headers=headers)
    assert refused.status_code == 400 and refused.headers["content-type"].startswith(media_type)


async def test_a_variable_that_does_not_coerce_is_a_400_without_data(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    response = await demo_api.post("query($n: Int) { models(first: $n) { totalCount } }", {"n": "ten"}, token=token)
    envelope(response, 400, "GRAPHQL_VALIDATION_FAILED")
    assert "data" not in response.json()


async def test_an_invalid_token_is_refused_even_for_introspection(demo_api: Api) -> None:
    introspection = b'{"query": "{ __schema { queryType { name } } }"}'
    anonymous = await raw(demo_api, "POST", introspection, token=None)
    assert anonymous.status_code == 200 and anonymous.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    for bad in ("fh_not-a-real-token", "x" * 300):
        envelope(await raw(demo_api, "POST", introspection, token=bad), 401, "UNAUTHENTICATED")
    basic = await raw(demo_api, "POST", introspection, token=None, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    envelope(basic, 401, "UNAUTHENTICATED")


async def test_expired_and_revoked_tokens_are_refused_even_for_introspection(api: Api) -> None:
    expired, revoked = (
        await api.token(agency="EPA", role="ANALYST", name="soon expired"),
        await api.token(agency="EPA", role="ANALYST", name="soon revoked"),
    )
    con = await asyncpg.connect(api.url)
    try:
        await con.execute(
            """update api_tokens set expires_at = now() - interval '1 minute'
                where principal_id = (select id from principals where name = 'soon expired')"""
        )
        await con.execute(
            """update api_tokens set revoked_at = now()
                where principal_id = (select id from principals where name = 'soon revoked')"""
        )
    finally:
        await con.close()
    for token in (expired, revoked):
        envelope(await raw(api, "POST", b'{"query": "{ __typename }"}', token=token), 401, "UNAUTHENTICATED")


async def persisted_count(url: str) -> int:
    con = await asyncpg.connect(url)
    try:
        return int(await con.fetchval("select count(*) from persisted_queries"))
    finally:
        await con.close()


async def test_persisted_queries_are_kept_only_for_a_known_principal_and_a_valid_document(api: Api) -> None:
    token = await api.token(agency="CISA", role="ANALYST")

    def apq(query: str) -> bytes:
        digest = hashlib.sha256(query.encode()).hexdigest()
        return (
            b'{"query": '
            + httpx.Request("POST", "/", json=query).content
            + b', "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "'
            + digest.encode()
            + b'"}}}'
        )

    before = await persisted_count(api.url)
    envelope(await raw(api, "POST", apq("{ me { name } }"), token=None), 401, "UNAUTHENTICATED")
    envelope(await raw(api, "POST", apq("{ me { name } }"), token="fh_bogus"), 401, "UNAUTHENTICATED")
    envelope(await raw(api, "POST", apq("{ me { nope } }"), token=token), 400, "GRAPHQL_VALIDATION_FAILED")
    envelope(await raw(api, "POST", apq("{ me { "), token=token), 400, "GRAPHQL_PARSE_FAILED")
    assert await persisted_count(api.url) == before, "a refused request stored its text"
    kept = await raw(api, "POST", apq("{ me { name } }"), token=token)
    assert kept.status_code == 200 and kept.json()["data"]["me"]["name"]
    assert await persisted_count(api.url) == before + 1


async def test_a_field_error_beside_a_running_statement_is_answered_and_leaves_the_connection_clean(
    demo_api: Api,
) -> None:
    # `labs(after: "fuzz")` fails at once (a bad cursor) while the `me` branches' loaders still run their
    # statements: the answer used to be INTERNAL ("another operation is in progress" when the snapshot committed)
    token = await demo_api.token(agency="CISA", role="ANALYST")
    query = """{ a: me { agency { ownedFindings(first: 5) { measures { id } } } }
                 b: me { agency { ownedFindings(first: 5) { id } } }
                 labs(first: 1, after: "fuzz") { totalCount } }"""
    for _ in range(12):
        response = await demo_api.post(query, token=token)
        assert response.status_code == 200, response.text
        codes = {e["extensions"]["code"] for e in response.json()["errors"]}
        assert codes == {"BAD_USER_INPUT"}, response.text
    assert (await demo_api.data("{ me { name } }", token=token))["me"]["name"]


async def test_variables_nested_too_deeply_are_refused_before_they_are_read(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="ANALYST")
    nested: Any = "x"
    for _ in range(300):
        nested = [nested]
    response = await demo_api.post("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": nested}, token=token)
    [error] = envelope(response, 400, "QUERY_TOO_COMPLEX")
    assert "variables nest deeper than 32" in error["message"]
