"""`hub serve` at the end of its life, as a real process: on SIGTERM or Ctrl-C, with one worker or several, every
open subscription gets `complete` for each of its operations before its socket closes with 1012 (service restart)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import db
from hub.auth import authenticate, create_principal_with_token
from hub.events import EventHub, SubscriptionClosed
from tests.conftest import scratch_folder
from tests.live import GraphQLWs, Served, last_cursor, serve

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
