"""`make bench-cluster`: the deployment of docs/operators.md ("Beyond one machine") on this machine under load.

    .venv/bin/python -m bench.cluster [--clients 16] [--duration 15] [--quick]

It builds the topology of tests/cluster/topology.py (Debian's PostgreSQL 15 primary and a streaming replica,
PgBouncer in transaction mode in front of each, three `hub serve` nodes of one worker, HAProxy in front of them), then
measures through HAProxy, with closed-loop clients in this process:

1. the read mix (tests/cluster/clients.py READS) with the replica answering reads: requests/s, p50 and p99;
2. the replica's lag while clients write (reportFinding) as fast as they can: bytes of WAL not yet replayed and
   pg_stat_replication.replay_lag, sampled every 0.1 s;
3. the faults of tests/cluster/test_cluster.py, timed: a node SIGKILLed under a read and write load (how long clients
   saw failures, how many attempts failed, how long the node took to serve again after a restart), and the replica
   stopped under reads (failed reads, the time from its restart to the first read it answers again);
4. the read mix again after a rolling restart of the nodes without HUB_REPLICA_DATABASE_URL (the primary answers).

Figures go to stdout and bench/results/cluster.json; docs/operators.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import time
from collections import Counter
from typing import Any

import httpx

from bench.harness import RESULTS
from tests.cluster.clients import Attempt, Client, percentile
from tests.cluster.topology import Topology


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def read_mix(topology: Topology, clients: int, seconds: float, warmup: float) -> dict[str, Any]:
    """Closed-loop reads through HAProxy; the figures of the window after the warm-up."""
    start = time.monotonic() + warmup
    end = start + seconds

    async def one(number: int) -> list[Attempt]:
        async with Client(topology.url, topology.token) as client:
            step = number
            while time.monotonic() < end:
                await client.read(step)
                step += 1
            return client.attempts

    attempts = [a for made in await asyncio.gather(*(one(n) for n in range(clients))) for a in made]
    counted = [a for a in attempts if a.started >= start and a.started + a.seconds <= end]
    latencies = [a.seconds * 1000 for a in counted]
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(counted),
        "requests_per_second": round(len(counted) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "errors": sum(1 for a in attempts if a.status != 200),
        "answered_by": dict(Counter(a.read_from or "unknown" for a in counted)),
    }


async def replica_lag(topology: Topology, writers: int, seconds: float) -> dict[str, Any]:
    """Writers through HAProxy for `seconds`; the replica's lag sampled meanwhile."""
    end = time.monotonic() + seconds
    lag_bytes: list[float] = []
    lag_seconds: list[float] = []

    async def sample() -> None:
        while time.monotonic() < end:
            lag_bytes.append(await topology.replica_lag_bytes())
            # PostgreSQL's own measure: from the primary's flush of recent WAL to the replica's report of having
            # replayed it (null while nothing is waiting)
            replayed = await topology.primary.fetchval(
                "select coalesce(max(extract(epoch from replay_lag)), 0)::float8 from pg_stat_replication"
            )
            lag_seconds.append(float(replayed))
            await asyncio.sleep(0.1)

    async def one() -> int:
        done = 0
        async with Client(topology.url, topology.token) as client:
            while time.monotonic() < end:
                await client.write()
                done += 1
        return done

    sampler = asyncio.create_task(sample())
    written = sum(await asyncio.gather(*(one() for _ in range(writers))))
    await sampler
    return {
        "writers": writers,
        "seconds": seconds,
        "writes_per_second": round(written / seconds, 1),
        "lag_bytes_p50": percentile(lag_bytes, 0.5),
        "lag_bytes_p99": percentile(lag_bytes, 0.99),
        "lag_bytes_max": max(lag_bytes),
        "lag_ms_p50": round(percentile(lag_seconds, 0.5) * 1000, 1),
        "lag_ms_p99": round(percentile(lag_seconds, 0.99) * 1000, 1),
        "lag_ms_max": round(max(lag_seconds) * 1000, 1),
    }


async def node_killed(topology: Topology, clients: int, seconds: float) -> dict[str, Any]:
    """A node SIGKILLed 2 s into a read/write load that retries what fails (writes with their idempotency key)."""
    victim = topology.nodes[0]
    end = time.monotonic() + seconds

    async def one(number: int) -> list[Attempt]:
        async with Client(topology.url, topology.token) as client:
            step = 0
            while time.monotonic() < end:
                if step % 3 == 0:
                    await client.write(retries=50)
                else:
                    await client.read(step + number, retries=50)
                step += 1
            return client.attempts

    marked: dict[str, float] = {}

    async def kill() -> float:
        await asyncio.sleep(2)
        at = time.monotonic()
        await asyncio.to_thread(victim.kill)
        marked["down"] = await asyncio.to_thread(topology.wait_balancer, victim, "DOWN")
        return at

    killed_at, *made = await asyncio.gather(kill(), *(one(n) for n in range(clients)))
    attempts = [a for m in made for a in m]
    failed = [a for a in attempts if a.status != 200]
    after = [a for a in attempts if a.started > killed_at]
    restart_at = time.monotonic()
    restarted = await asyncio.to_thread(topology.restart_node, victim)
    await asyncio.to_thread(topology.wait_balancer, victim, "UP")
    return {
        "clients": clients,
        "attempts": len(attempts),
        "failed_attempts": len(failed),
        "failed_statuses": dict(Counter(str(a.status) for a in failed)),
        # from the kill to the end of the last failed attempt: how long clients saw failures (then retried)
        "failures_for_seconds": round(max((a.started + a.seconds for a in failed), default=killed_at) - killed_at, 2),
        "p99_ms_after_kill": round(percentile([a.seconds * 1000 for a in after], 0.99), 1),
        "balancer_marks_down_after_seconds": round(marked["down"], 2),
        "restart_to_ready_seconds": round(restarted, 2),
        "restart_to_balancer_up_seconds": round(time.monotonic() - restart_at, 2),
    }


async def replica_stopped(topology: Topology, clients: int) -> dict[str, Any]:
    """Reads while the replica stops (fast) and starts again 3 s later."""
    done = False
    events: dict[str, float] = {}

    async def one(number: int) -> list[Attempt]:
        async with Client(topology.url, topology.token) as client:
            step = number
            while not done:
                with contextlib.suppress(AssertionError, httpx.TransportError):  # counted from the attempts below
                    await client.read(step)
                step += 1
            return client.attempts

    async def fault() -> None:
        nonlocal done
        await asyncio.sleep(1)
        events["stop"] = time.monotonic()
        await asyncio.to_thread(topology.standby.stop, "fast")
        events["stopped"] = time.monotonic()
        await asyncio.sleep(3)
        await asyncio.to_thread(topology.standby.start)
        events["started"] = time.monotonic()
        await asyncio.sleep(15)
        done = True

    _, *made = await asyncio.gather(fault(), *(one(n) for n in range(clients)))
    attempts = [a for m in made for a in m]
    back = [a.started + a.seconds for a in attempts if a.read_from == "replica" and a.started > events["started"]]
    during = [a.seconds * 1000 for a in attempts if events["stop"] <= a.started <= events["started"]]
    return {
        "clients": clients,
        "reads": len(attempts),
        "failed_reads": sum(1 for a in attempts if a.status != 200),
        "p99_ms_while_stopped": round(percentile(during, 0.99), 1),
        "replica_answers_again_after_seconds": round(min(back) - events["started"], 2) if back else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients of the read mix")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writers while the lag is sampled")
    parser.add_argument("--duration", type=float, default=15, help="seconds of each measured window")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup = 3, 1
    topology = Topology()
    say("building the topology (PostgreSQL 15 primary and replica, PgBouncer, three hubs, HAProxy)")
    started = time.monotonic()
    topology.start()
    results: dict[str, Any] = {"topology_start_seconds": round(time.monotonic() - started, 1)}
    try:
        say("read mix with the replica")
        results["reads_with_replica"] = asyncio.run(read_mix(topology, args.clients, args.duration, args.warmup))
        say("replica lag under writes")
        results["replica_lag"] = asyncio.run(replica_lag(topology, args.writers, args.duration))
        say("fault: a node SIGKILLed under load")
        results["node_killed"] = asyncio.run(node_killed(topology, args.clients // 2, max(args.duration, 8)))
        say("fault: the replica stopped and restarted under reads")
        results["replica_stopped"] = asyncio.run(replica_stopped(topology, args.clients // 2))
        say("read mix without the replica (rolling restart of the nodes)")
        topology.reconfigure_nodes(replica=False)
        results["reads_without_replica"] = asyncio.run(read_mix(topology, args.clients, args.duration, args.warmup))
    finally:
        topology.stop()
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
