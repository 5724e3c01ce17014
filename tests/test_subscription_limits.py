"""The limits that protect the server from subscribers, and a shutdown that completes subscriptions; over a real
WebSocket against a `hub serve` with small limits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator

import asyncpg
import pytest

from tests.conftest import scratch_folder
from tests.live import HUB, GraphQLWs, Served, create_token, database_url, serve

STATUS = "subscription { statusChanged { cursor action entityKind } }"
LIMITS = {
    "HUB_SCHEDULER": "off",
    "HUB_WS_INIT_TIMEOUT_SECONDS": "1",
    "HUB_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": "2",
    "HUB_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "3",
    "HUB_WS_QUEUE_LIMIT": "50",
    "HUB_EVENTS_POLL_SECONDS": "0.5",
}


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-limits-") as data_dir:
        yield from serve(data_dir, env=LIMITS, demo=False)


@pytest.fixture(scope="module")
def token(served: Served) -> str:
    return create_token(served.data_dir, "--agency", "CISA", "--role", "VIEWER", "--name", "limits")


async def test_no_connection_init_in_time_closes_with_4408(served: Served) -> None:
    client = await GraphQLWs.open(served.url, None, init=False)
    assert await client.close_code(seconds=10) == 4408


async def test_subscribing_before_the_ack_closes_with_4401(served: Served) -> None:
    client = await GraphQLWs.open(served.url, None, init=False)
    await client.subscribe(STATUS)
    assert await client.close_code() == 4401


async def test_a_reused_operation_id_closes_with_4409(served: Served, token: str) -> None:
    client = await GraphQLWs.open(served.url, token)
    await client.acked()
    await client.ws.send(json.dumps({"id": "same", "type": "subscribe", "payload": {"query": STATUS}}))
    await client.ws.send(json.dumps({"id": "same", "type": "subscribe", "payload": {"query": STATUS}}))
    assert await client.close_code() == 4409


async def test_a_second_connection_init_closes_with_4429_and_junk_with_4400(served: Served, token: str) -> None:
    client = await GraphQLWs.open(served.url, token)
    await client.acked()
    await client.ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert await client.close_code() == 4429
    junk = await GraphQLWs.open(served.url, token, init=False)
    await junk.ws.send(json.dumps({"type": "connection_init", "payload": "not an object"}))
    assert await junk.close_code() == 4400


async def live(served: Served, client: GraphQLWs, count: int) -> None:
    """Wait until `count` subscriptions of `client` are registered with the hub: events are written until each of
    them has received one (a subscription counts toward the per-principal cap once its resolver has run, some time
    after its subscribe message was taken; one registered after an event's position does not get that event)."""
    received: set[str] = set()
    for _ in range(30):
        con = await asyncpg.connect(database_url(served.data_dir))
        try:
            await con.execute("insert into events (entity_kind, entity_id, action) values ('LAB', 1, 'PROBED')")
        finally:
            await con.close()
        with contextlib.suppress(TimeoutError):
            while len(received) < count:
                received.add((await client.receive(seconds=1))["id"])
        if len(received) == count:
            return
    raise AssertionError(f"only {len(received)} of {count} subscriptions received events")


async def test_subscriptions_are_capped_per_connection_and_per_principal(served: Served, token: str) -> None:
    first = await GraphQLWs.open(served.url, token)
    second = await GraphQLWs.open(served.url, token)
    try:
        await first.acked()
        await first.subscribe(STATUS)
        await first.subscribe(STATUS)
        await first.subscribe(STATUS)  # the third on one connection
        refused = await first.receive()
        assert refused["type"] == "error" and "limit" in refused["payload"][0]["message"].lower()
        # the two are live before the principal's next ones are counted
        await live(served, first, 2)

        await second.acked()
        await second.subscribe(STATUS)  # the principal's third: allowed
        await second.subscribe(STATUS)  # the fourth: over the per-principal cap
        over = await second.receive()
        assert over["type"] in ("error", "next"), over
        errors = over["payload"] if over["type"] == "error" else over["payload"]["errors"]
        assert "per principal" in errors[0]["message"]
    finally:
        # closed whatever happened: the sockets' subscriptions would count against this principal's cap in the
        # module's other tests
        await first.close()
        await second.close()


async def test_a_client_that_does_not_read_is_dropped_not_buffered(served: Served, token: str) -> None:
    # the client library stops reading after one unread message, so the server's socket buffers fill up
    lazy = await GraphQLWs.open(served.url, token, max_queue=1)
    await lazy.acked()
    await lazy.subscribe(STATUS)
    await asyncio.sleep(0.5)
    con = await asyncpg.connect(database_url(served.data_dir))
    try:
        await con.execute(
            """insert into events (entity_kind, entity_id, action, reason)
               select 'LAB', 1, 'BULK', repeat('x', 1500) from generate_series(1, 20000)"""
        )
    finally:
        await con.close()
    await asyncio.sleep(5)
    assert await lazy.close_code(seconds=60) == 1008


async def test_sigterm_completes_open_subscriptions_before_exit(token: str) -> None:
    with scratch_folder("hub-test-shutdown-") as folder:
        running = serve(folder, env={"HUB_SCHEDULER": "off"}, demo=False)
        server = next(running)
        try:
            made = await asyncio.to_thread(
                create_token, folder, "--agency", "NIST", "--role", "VIEWER", "--name", "bye"
            )
            client = await GraphQLWs.open(server.url, made)
            await client.acked()
            operation = await client.subscribe(STATUS)
            await asyncio.sleep(0.5)
            server.proc.send_signal(signal.SIGTERM)
            message = await client.receive(seconds=20)
            assert message == {"id": operation, "type": "complete"}
            await asyncio.to_thread(server.proc.wait, 30)
        finally:
            running.close()


async def test_a_revoked_token_closes_its_open_subscriptions_with_4403() -> None:
    with scratch_folder("hub-test-revoke-") as folder:
        running = serve(folder, env={"HUB_SCHEDULER": "off", "HUB_WS_TOKEN_RECHECK_SECONDS": "0.5"}, demo=False)
        server = next(running)
        try:
            made = await asyncio.to_thread(
                create_token, folder, "--agency", "NIST", "--role", "VIEWER", "--name", "soon revoked"
            )
            client = await GraphQLWs.open(server.url, made)
            await client.acked()
            await client.subscribe(STATUS)
            await asyncio.sleep(0.5)
            env = {**os.environ, "HUB_DATA_DIR": str(folder)}
            env.pop("HUB_DATABASE_URL", None)
            listed = await asyncio.to_thread(
                subprocess.run, [*HUB, "token", "list"], env=env, capture_output=True, text=True, check=True
            )
            token_id = next(line.split()[0] for line in listed.stdout.splitlines() if line.endswith("soon revoked"))
            await asyncio.to_thread(
                subprocess.run, [*HUB, "token", "revoke", token_id], env=env, capture_output=True, check=True
            )
            assert await client.close_code(seconds=10) == 4403
        finally:
            running.close()


async def test_pages_of_other_origins_may_not_open_a_socket(served: Served, token: str) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        await GraphQLWs.open(served.url, token, origin="https://elsewhere.example")
    assert refused.value.response.status_code == 403
    same = await GraphQLWs.open(served.url, token, origin=served.url)
    await same.acked()
    await same.close()
