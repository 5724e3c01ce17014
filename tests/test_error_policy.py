"""One error policy over HTTP and WebSocket (hub/errors.py): an unexpected failure reaches the client as INTERNAL
with the request id, never its own words, and the log keeps its trace under that id; a statement PostgreSQL
cancels is TIMEOUT on both. The hub runs in uvicorn on a real port, so the WebSocket is a real one."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from hub.app import create_app
from hub.settings import Settings
from hub.store import agencies as agency_store
from schema import events as event_schema
from tests.conftest import Api
from tests.live import GraphQLWs, free_port

SECRET = "secret detail: select * from principals"


@dataclasses.dataclass
class Running:
    url: str
    api: Api


async def running(url: str, api: Api, **changes: Any) -> AsyncIterator[Running]:
    settings = dataclasses.replace(Settings.from_env().with_(database_url=url), scheduler_enabled=False, **changes)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, database_url=url), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", api)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def hub(demo_url: str, demo_api: Api) -> AsyncIterator[Running]:
    async for served in running(demo_url, demo_api):
        yield served


def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(SECRET)


def assert_internal(error: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    assert error["extensions"]["code"] == "INTERNAL", error
    assert SECRET not in error["message"] and "RuntimeError" not in error["message"]
    request_id = error["extensions"]["requestId"]
    logged = [r for r in caplog.records if r.name == "hub.errors" and request_id in r.getMessage()]
    assert logged and logged[0].exc_info and SECRET in str(logged[0].exc_info[1]), "the trace was not logged"


async def test_an_unexpected_error_is_internal_over_http_and_websocket(
    hub: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hub.errors")
    token = await hub.api.token(agency="CISA", role="ANALYST")
    monkeypatch.setattr(agency_store, "get_policy", broken)
    query = "{ me { name } policy { version } }"

    async with httpx.AsyncClient() as http:
        over_http = await http.post(
            hub.url + "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
        )
    body = over_http.json()
    assert over_http.status_code == 200 and body["data"] is None, body  # policy is not null: the error nulls Query
    assert body["errors"][0]["extensions"]["requestId"] == over_http.headers["x-request-id"]
    assert_internal(body["errors"][0], caplog)

    client = await GraphQLWs.open(hub.url, token)
    await client.acked()
    await client.subscribe(query)
    message = await client.receive()
    assert message["type"] == "next", message
    [error] = message["payload"]["errors"]
    assert error["path"] == ["policy"]
    assert_internal(error, caplog)
    assert (await client.receive())["type"] == "complete"
    await client.close()


async def test_a_subscription_that_fails_while_streaming_gets_internal(
    hub: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="hub.errors")
    token = await hub.api.token(agency="CISA", role="OFFICER")
    monkeypatch.setattr(event_schema.Event, "from_row", classmethod(broken))
    client = await GraphQLWs.open(hub.url, token)
    await client.acked()
    # replaying from the first event: the first one it streams fails
    await client.subscribe('subscription { statusChanged(since: "0") { cursor } }')
    message = await client.receive()
    assert message["type"] == "next", message
    assert_internal(message["payload"]["errors"][0], caplog)
    await client.close()


async def test_a_statement_timeout_is_timeout_over_websocket(demo_url: str, demo_api: Api) -> None:
    async for hub in running(demo_url, demo_api, statement_timeout_ms=1):
        token = await hub.api.token(agency="CISA", role="ANALYST")
        client = await GraphQLWs.open(hub.url, token)
        await client.acked()
        await client.subscribe("{ findings(first: 500) { totalCount edges { node { title history { action } } } } }")
        message = await client.receive()
        assert message["type"] == "next", message
        codes = {e["extensions"]["code"] for e in message["payload"]["errors"]}
        assert codes == {"TIMEOUT"}, message
        assert all(e["extensions"]["requestId"] for e in message["payload"]["errors"])
        assert "canceling statement" not in str(message)
        await client.close()


async def test_websocket_operations_are_read_as_over_http(hub: Running) -> None:
    token = await hub.api.token(agency="CISA", role="ANALYST")
    client = await GraphQLWs.open(hub.url, token)
    await client.acked()
    for payload, code, needle in (
        ({"query": "query A { me { name } }", "operationName": "Z"}, "GRAPHQL_VALIDATION_FAILED", "'Z'"),
        ({"query": "query A { me { name } } query B { me { role } }"}, "GRAPHQL_VALIDATION_FAILED", "operationName"),
        ({"query": "{ me { name "}, "GRAPHQL_PARSE_FAILED", "Syntax Error"),
    ):
        await client.ws.send(json.dumps({"id": code + needle, "type": "subscribe", "payload": payload}))
        message = await client.receive()
        assert message["type"] == "error" and message["id"] == code + needle, message
        [error] = message["payload"]
        assert error["extensions"]["code"] == code and needle in error["message"], error
        assert error["extensions"]["requestId"]
    # the socket stays open for the next operation
    await client.subscribe("{ me { name } }")
    assert (await client.next_data())["me"]["name"]
    await client.close()


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"id": "1", "type": "subscribe", "payload": "{ me { name } }"}),
        json.dumps({"id": "1", "type": "subscribe"}),
        json.dumps({"id": 1, "type": "subscribe", "payload": {"query": "{ me { name } }"}}),
        '{"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }", "variables": {"v": '
        + "[" * 2000
        + "]" * 2000
        + "}}}",
    ],
)
async def test_a_malformed_subscribe_message_closes_the_socket_with_4400(hub: Running, frame: str) -> None:
    token = await hub.api.token(agency="CISA", role="ANALYST")
    client = await GraphQLWs.open(hub.url, token)
    await client.acked()
    await client.ws.send(frame)
    assert await client.close_code() == 4400
