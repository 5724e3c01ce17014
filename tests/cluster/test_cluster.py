"""The hub deployed beyond one machine (docs/operators.md, "Beyond one machine"), on one machine: Debian's
PostgreSQL 15 primary and a streaming replica, PgBouncer in transaction mode, three `hub serve` nodes and HAProxy
(tests/cluster/topology.py). Clients talk to HAProxy over real HTTP and WebSockets, as users would.

`make test-cluster` runs these (not `make test`)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx

from tests.cluster.clients import READ_FROM_HEADER, Attempt, Client, Subscriber
from tests.cluster.topology import Node, Topology

CLIENTS = 12


def requests_answered(node: Node) -> float:
    """hub_requests_total of one node, every operation and outcome."""
    text = httpx.get(node.url + "/metrics", timeout=5).text
    return sum(float(m.group(1)) for m in re.finditer(r"^hub_requests_total\{[^}]*\} (\S+)$", text, re.MULTILINE))


async def stored_titles(topology: Topology, titles: list[str]) -> list[str]:
    """The titles of the findings the primary holds among `titles`, one per row (duplicates show twice)."""
    return list(
        await topology.primary.fetchval(
            "select coalesce(array_agg(title), '{}') from findings where title = any($1)", titles
        )  # fmt: skip
    )


def failures(attempts: list[Attempt]) -> list[Attempt]:
    return [a for a in attempts if a.status != 200]


async def test_mixed_reads_and_writes_from_many_clients(topology: Topology) -> None:
    """Many clients, reads and writes through HAProxy: every request answered without error, each write stored once,
    and every node took part."""
    before = {node.name: requests_answered(node) for node in topology.nodes}
    titles: list[str] = []

    async def one_client(number: int) -> list[Attempt]:
        async with Client(topology.url, topology.token) as client:
            for step in range(24):
                if step % 4 == number % 4:
                    title = f"mixed {number}-{step}"
                    titles.append(title)
                    await client.write(title)
                else:
                    await client.read(step)
            return client.attempts

    attempts = [a for done in await asyncio.gather(*(one_client(n) for n in range(CLIENTS))) for a in done]
    assert len(attempts) == CLIENTS * 24 and not failures(attempts), failures(attempts)[:5]
    assert sorted(await stored_titles(topology, titles)) == sorted(titles)
    after = {node.name: requests_answered(node) for node in topology.nodes}
    assert all(after[name] > before[name] for name in before), (before, after)


async def test_read_your_writes_for_every_client_that_sends_its_token(topology: Topology) -> None:
    """Each client writes, then reads its write back through HAProxy (any node) with the answer's consistency token:
    it always sees it. Differential: with the replica's replay paused, the same read without the token is answered by
    the replica and misses the write, with it the primary answers and has it."""

    async def one_client(number: int) -> list[str | None]:
        answered = []
        async with Client(topology.url, topology.token) as client:
            for step in range(10):
                finding, token = await client.write(f"ryw {number}-{step}")
                assert token, "a mutation's answer carries Hub-Consistency-Token"
                seen, read_from = await client.read_back(finding, consistency=token)
                assert seen, f"client {number} did not read its own write {finding} (token {token}, from {read_from})"
                answered.append(read_from)
        return answered

    sources = [s for done in await asyncio.gather(*(one_client(n) for n in range(CLIENTS))) for s in done]
    assert len(sources) == CLIENTS * 10
    # the replica answered (part of) them: else the test would only show that the primary is current
    assert "replica" in sources, sources

    await topology.standby.fetchval("select pg_wal_replay_pause()")
    try:
        async with Client(topology.url, topology.token) as client:
            finding, token = await client.write("ryw while the replica is paused")
            stale, stale_from = await client.read_back(finding)
            assert (stale, stale_from) == (False, "replica"), "without its token the client reads the lagging replica"
            started = time.monotonic()
            seen, read_from = await client.read_back(finding, consistency=token)
            waited = time.monotonic() - started
            assert (seen, read_from) == (True, "primary")
            # the bounded wait (HUB_CONSISTENCY_WAIT_SECONDS, 0.5 s in tests/cluster/conftest.py), then the primary
            assert waited < 5, waited
    finally:
        await topology.standby.fetchval("select pg_wal_replay_resume()")
    await topology.replica_caught_up()
    async with Client(topology.url, topology.token) as client:
        seen, read_from = await client.read_back(finding, consistency=token)
        assert (seen, read_from) == (True, "replica")


async def test_a_subscription_on_one_node_receives_writes_made_through_the_others(topology: Topology) -> None:
    first, *others = topology.nodes
    async with Client(topology.url, topology.token) as client:
        since = await client.last_cursor()
    subscriber = Subscriber(topology.token, since)
    following = asyncio.create_task(subscriber.once(first.url))
    try:
        await asyncio.wait_for(subscriber.connected.wait(), 15)
        written = []
        for node in others:
            async with Client(node.url, topology.token) as client:
                for step in range(5):
                    finding, _ = await client.write(f"via {node.name} {step}")
                    written.append(finding)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(subscriber.events) < len(written):  # noqa: ASYNC110 - a bounded wait
            await asyncio.sleep(0.05)
    finally:
        following.cancel()
    assert [e["entityId"] for e in subscriber.events if e["action"] == "REPORTED"] == written
    assert subscriber.connections == [first.url]


async def test_a_node_killed_under_load(topology: Topology) -> None:
    """SIGKILL one node while clients read and write through HAProxy and a subscriber follows on that node: clients
    carry on through the others (retrying what was in flight, writes with their idempotency key), each write is
    stored once, and the subscription resumes from its cursor on another node with nothing lost or repeated."""
    victim = topology.nodes[0]
    async with Client(topology.url, topology.token) as client:
        since = await client.last_cursor()
    subscriber = Subscriber(topology.token, since)
    following = asyncio.create_task(subscriber.run(victim.url, topology.url))
    await asyncio.wait_for(subscriber.connected.wait(), 15)
    written: dict[str, str] = {}  # title: finding id
    stop_at = time.monotonic() + 8

    async def one_client(number: int) -> list[Attempt]:
        async with Client(topology.url, topology.token) as client:
            step = 0
            while time.monotonic() < stop_at:
                if step % 3 == 0:
                    title = f"kill {number}-{step}"
                    written[title], _ = await client.write(title, retries=50)
                else:
                    await client.read(step, retries=50)
                step += 1
            return client.attempts

    async def kill_soon() -> float:
        await asyncio.sleep(2)
        at = time.monotonic()
        await asyncio.to_thread(victim.kill)
        return at

    try:
        killed_at, *per_client = await asyncio.gather(kill_soon(), *(one_client(n) for n in range(CLIENTS)))
        attempts = [a for done in per_client for a in done]
        failed = failures(attempts)
        # only requests in flight at the kill or sent in the moments after it failed (and were retried): HAProxy
        # stops sending to the node after two failed health checks (0.5 s apart), and sends to another node a
        # request it could not deliver
        assert all(a.started + a.seconds >= killed_at and a.started < killed_at + 5 for a in failed), [
            (round(a.started - killed_at, 2), round(a.seconds, 2), a.status, a.error) for a in failed
        ]
        assert sorted(await stored_titles(topology, list(written))) == sorted(written)
        deadline = time.monotonic() + 30
        wanted = set(written.values())
        while time.monotonic() < deadline and not wanted <= {e["entityId"] for e in subscriber.events}:  # noqa: ASYNC110 - a bounded wait
            await asyncio.sleep(0.1)
    finally:
        following.cancel()
    received = [e["entityId"] for e in subscriber.events if e["action"] == "REPORTED"]
    assert wanted <= set(received), f"lost: {wanted - set(received)}"
    cursors = [int(e["cursor"]) for e in subscriber.events]
    assert cursors == sorted(set(cursors)), "no event twice, none out of order"
    assert subscriber.connections[0] == victim.url and len(subscriber.connections) >= 2, subscriber.connections
    assert topology.balancer_states()[victim.name].startswith("DOWN")
    # the node comes back and HAProxy sends to it again
    await asyncio.to_thread(topology.restart_node, victim)
    deadline = time.monotonic() + 20
    served = requests_answered(victim)
    async with Client(topology.url, topology.token) as client:
        while requests_answered(victim) <= served and time.monotonic() < deadline:
            await client.read(0)
    assert requests_answered(victim) > served


async def test_the_replica_stopped_and_restarted_while_reads_carry_on(topology: Topology) -> None:
    """Readers through HAProxy while the replica stops and starts again: no read fails, the primary answers while
    the replica is away, and the replica answers again once it is back."""
    phases: dict[str, list[str | None]] = {"before": [], "stopped": [], "after": []}
    phase = "before"
    done = False

    async def reader(number: int) -> list[Attempt]:
        async with Client(topology.url, topology.token) as client:
            step = 0
            while not done:
                response = await client.read(step + number)
                phases[phase].append(response.headers.get(READ_FROM_HEADER))
                step += 1
            return client.attempts

    async def fault() -> None:
        nonlocal phase, done
        await asyncio.sleep(1)
        await asyncio.to_thread(topology.standby.stop, "fast")
        phase = "stopped"
        await asyncio.sleep(3)
        await asyncio.to_thread(topology.standby.start)
        phase = "after"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and phases["after"].count("replica") < 10:  # noqa: ASYNC110 - a bounded wait
            await asyncio.sleep(0.1)
        done = True

    _, *per_client = await asyncio.gather(fault(), *(reader(n) for n in range(6)))
    attempts: list[Any] = [a for made in per_client for a in made]
    assert not failures(attempts), failures(attempts)[:5]
    assert "replica" in phases["before"], phases["before"][:20]
    assert phases["stopped"] and "replica" not in phases["stopped"][len(phases["stopped"]) // 2 :]
    assert phases["after"].count("replica") >= 10, phases["after"][-20:]
