"""`hub serve` at both ends of its life, as a real process. Starting: it holds its port before it touches the
database, so a second hub on a busy port (or a second demo on a data folder already serving one) stops at once with
one line and changes nothing. Stopping: on SIGTERM or Ctrl-C, with one worker or several, every open subscription
gets `complete` for each of its operations before its socket closes with 1012 (service restart)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hub import db
from hub.auth import authenticate, create_principal_with_token
from hub.events import EventHub, SubscriptionClosed
from tests.conftest import scratch_folder
from tests.live import HUB, GraphQLWs, Served, database_url, free_port, last_cursor, serve

STATUS = "subscription($since: String) { statusChanged(since: $since) { cursor action } }"
# graphql-transport-ws has no close code of its own for a server going away: uvicorn's "service restart"
SHUTDOWN_CLOSE_CODE = 1012
QUIET = {"HUB_SCHEDULER": "off"}


@contextmanager
def running(folder: Path, workers: int) -> Iterator[Served]:
    """`hub serve --demo` with `workers` workers, for a test that stops it itself."""
    hub = serve(folder, env={**QUIET, "HUB_WORKERS": str(workers)})
    try:
        yield next(hub)
    finally:
        hub.close()


def press(hub: Served, how: str) -> None:
    """Stop the hub as an operator does: SIGTERM to its process, or Ctrl-C (SIGINT to its whole process group)."""
    if how == "SIGTERM":
        hub.proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(hub.proc.pid, signal.SIGINT)


def a_token(hub: Served) -> str:
    return next(iter(hub.tokens().values()))


# ------------------------------------------------------------------------------------------------------- stopping


@pytest.fixture(scope="module")
def shutdown_folder() -> Iterator[Path]:
    """One data folder for the stopping tests' hubs, one after the other (the demo loads once)."""
    with scratch_folder("hub-test-shutdown-") as folder:
        yield folder


@dataclass
class Recorded:
    """Every frame one WebSocket received, in order, its close frame last as {"type": "close", "code": ...}."""

    client: GraphQLWs
    operations: list[str]
    frames: list[dict[str, Any]] = field(default_factory=list)

    async def record(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                self.frames.append(json.loads(await self.client.ws.recv()))
        except ConnectionClosed as closed:
            self.frames.append({"type": "close", "code": closed.rcvd.code if closed.rcvd else None})


async def subscribed(hub: Served, token: str, since: str, operations: int) -> Recorded:
    """A raw graphql-transport-ws connection with `operations` subscriptions, each live: each has had its first event
    (the newest one, replayed after `since`)."""
    client = await GraphQLWs.open(hub.url, token)
    await client.acked()
    ids = [await client.subscribe(STATUS, {"since": since}) for _ in range(operations)]
    recorded = Recorded(client, ids)
    for _ in ids:
        recorded.frames.append(await client.receive())
    assert sorted(f["id"] for f in recorded.frames if f["type"] == "next") == sorted(ids), recorded.frames
    return recorded


@pytest.mark.parametrize(("how", "workers"), [("SIGTERM", 2), ("Ctrl-C", 1), ("Ctrl-C", 2)])
async def test_every_open_subscription_gets_complete_before_its_socket_closes(
    shutdown_folder: Path, how: str, workers: int
) -> None:
    with running(shutdown_folder, workers) as hub:
        token = a_token(hub)
        newest = await asyncio.to_thread(last_cursor, hub, token)
        since = str(int(newest) - 1)
        # several connections, so that each worker holds some; two subscriptions on each
        connections = [await subscribed(hub, token, since, operations=2) for _ in range(4)]
        recorders = [asyncio.create_task(c.record()) for c in connections]
        signalled = time.monotonic()
        press(hub, how)
        await asyncio.wait_for(asyncio.gather(*recorders), 30)
        closed_after = time.monotonic() - signalled
        exit_code = await asyncio.to_thread(hub.proc.wait, 30)

    for connection in connections:
        after_signal = connection.frames[len(connection.operations) :]
        # one `complete` for each operation, then the close frame: nothing else, nothing after
        assert sorted(f.get("id") for f in after_signal[:-1]) == sorted(connection.operations), connection.frames
        assert {f["type"] for f in after_signal[:-1]} == {"complete"}, connection.frames
        assert after_signal[-1] == {"type": "close", "code": SHUTDOWN_CLOSE_CODE}, connection.frames
    assert exit_code == 0, "\n".join(hub.output[-20:])
    print(
        f"\nshutdown ({how}, {workers} worker(s)): {len(connections)} connections, frames after the signal:",
        json.dumps(connections[0].frames[len(connections[0].operations) :]),
        f"all closed {closed_after:.2f} s after the signal",
    )


async def test_the_gql_client_ends_its_loop_without_an_exception_on_sigterm(shutdown_folder: Path) -> None:
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    ended: list[str] = []

    async def follow(hub: Served, token: str, since: str, live: asyncio.Event) -> list[dict[str, Any]]:
        # the client of docs/live.md
        transport = WebsocketsTransport(
            url=hub.url.replace("http", "ws", 1) + "/graphql",
            init_payload={"authorization": f"Bearer {token}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        received = []
        async with Client(transport=transport) as session:
            query = gql(f'subscription {{ statusChanged(since: "{since}") {{ cursor action }} }}')
            async for result in session.subscribe(query):
                received.append(result["statusChanged"])
                live.set()
            ended.append("loop")
        ended.append("client")
        return received

    with running(shutdown_folder, workers=2) as hub:
        token = a_token(hub)
        newest = await asyncio.to_thread(last_cursor, hub, token)
        lives = [asyncio.Event() for _ in range(3)]
        followers = [asyncio.create_task(follow(hub, token, str(int(newest) - 1), live)) for live in lives]
        await asyncio.wait_for(asyncio.gather(*(live.wait() for live in lives)), 30)
        hub.proc.send_signal(signal.SIGTERM)
        # an exception in a follower (TransportConnectionFailed, say) fails the test here
        received = await asyncio.wait_for(asyncio.gather(*followers), 30)
        assert await asyncio.to_thread(hub.proc.wait, 30) == 0
    assert sorted(ended) == ["client"] * len(lives) + ["loop"] * len(lives)
    assert all([event["cursor"] for event in events] == [newest] for events in received), received


# ------------------------------------------------------------------------------------------------------- starting


@pytest.fixture(scope="module")
def demo_hub() -> Iterator[Served]:
    with scratch_folder("hub-test-startup-") as folder:
        yield from serve(folder, env=QUIET)


async def counts(hub: Served) -> dict[str, Any]:
    """What a start could have changed: the principals, the tokens, the demo tokens still active."""
    con = await asyncpg.connect(database_url(hub.data_dir))
    try:
        row = await con.fetchrow(
            """select (select count(*) from principals) as principals, (select count(*) from api_tokens) as tokens,
                      (select max(id) from api_tokens) as newest_token,
                      (select count(*) from api_tokens where is_demo and revoked_at is null) as active_demo_tokens"""
        )
        return dict(row)
    finally:
        await con.close()


def second_hub(data_dir: Path, port: int) -> tuple[subprocess.CompletedProcess[str], float]:
    """`hub serve --demo` on `port` and `data_dir`, expected to stop by itself; what it did and how long it took."""
    env = {**os.environ, **QUIET, "HUB_DATA_DIR": str(data_dir), "HUB_PORT": str(port)}
    env.pop("HUB_DATABASE_URL", None)
    started = time.monotonic()
    done = subprocess.run([*HUB, "serve", "--demo"], env=env, capture_output=True, text=True, timeout=60)
    return done, time.monotonic() - started


def answers_with_its_tokens(hub: Served) -> None:
    """Every demo token the hub printed still works."""
    tokens = hub.tokens()
    assert tokens
    for who, token in tokens.items():
        response = httpx.post(
            hub.url + "/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200 and response.json()["data"]["me"]["name"], (who, response.text)


async def test_a_second_hub_on_a_busy_port_stops_before_it_touches_the_database(demo_hub: Served) -> None:
    port = int(demo_hub.url.rsplit(":", 1)[1])
    before = await counts(demo_hub)
    done, took = await asyncio.to_thread(second_hub, demo_hub.data_dir, port)
    assert done.returncode == 1, done
    assert done.stdout == "", done.stdout
    assert done.stderr.splitlines() == [
        f"hub serve: 127.0.0.1:{port} is already in use (another hub?); choose another with --port or HUB_PORT"
    ]
    assert took < 10
    assert await counts(demo_hub) == before
    answers_with_its_tokens(demo_hub)

    # on a data folder of its own it does not even make the folder: nothing was started
    with scratch_folder("hub-test-busy-") as scratch:
        fresh = scratch / "never made"
        done, _ = await asyncio.to_thread(second_hub, fresh, port)
        assert done.returncode == 1 and "already in use" in done.stderr, done
        assert not fresh.exists()
    print(f"\nbusy port: the second hub exited {done.returncode} after {took:.2f} s; rows before and after: {before}")


async def test_a_second_demo_on_the_same_data_folder_is_refused_and_the_first_keeps_its_tokens(
    demo_hub: Served,
) -> None:
    before = await counts(demo_hub)
    port = free_port()
    done, took = await asyncio.to_thread(second_hub, demo_hub.data_dir, port)
    assert done.returncode == 1, done
    assert done.stdout == "", done.stdout
    [line] = done.stderr.splitlines()
    assert line.startswith(f"hub serve: another hub serves the demo on {demo_hub.data_dir} (pid {demo_hub.proc.pid})")
    assert took < 10
    assert await counts(demo_hub) == before
    answers_with_its_tokens(demo_hub)
    # and it let go of the port it had taken
    with pytest.raises(httpx.ConnectError):
        await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/healthz", timeout=2)


async def test_a_replay_in_progress_ends_at_shutdown_with_nothing_after_it(
    fresh_url: str, connection: asyncpg.Connection
) -> None:
    """A subscription still replaying when the hub stops ends where it is (it need not replay the rest within the
    grace period), and no live event follows a replay cut short: the client's last cursor stays right."""
    _, token = await create_principal_with_token(connection, agency_code="CISA", role="OFFICER", name="replaying")
    principal = await authenticate(connection, token)
    assert principal is not None
    pool = await db.create_pool(fresh_url, max_size=2, app_role=False)
    events = EventHub(fresh_url, pool)
    try:
        await events.start()
        async with events.subscribe(principal, since=0) as stream:
            first = await anext(stream)
            assert await connection.fetchval("select count(*) from events where id > $1", first["id"]) > 1
            next(iter(events.subscribers)).offer({**first, "id": 10**9})  # a live event, queued meanwhile
            assert events.closing_subscriptions() == {asyncio.current_task()}
            with pytest.raises(SubscriptionClosed, match="shutting down"):
                await anext(stream)
    finally:
        await events.stop()
        await pool.close()
