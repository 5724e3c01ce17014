"""Benchmark: event delivery over statusChanged.

Starts `hub serve` (embedded PostgreSQL, a fresh data folder) as a separate process, opens N WebSocket subscribers
from this process (the load generator), commits events and measures, on one clock:

- delivery latency from commit to receipt (p50, p99) with 1, 100 and 1,000 subscribers on one worker, and with
  1,000 subscribers on 2 workers (`--workers 2`; the kernel spreads connections over the workers);
- fan-out throughput: a burst of 200 events written at once, delivered to 1,000 subscribers on one worker.

    .venv/bin/python bench/subscriptions.py [--out bench/results/subscriptions.json] [--quick]

Writes go straight into the outbox through SQL (an event on a lab, which every principal may see), so that the
figures measure the hub's fan-out, not the mutation path; the hub cannot tell them from a mutation's events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
QUERY = "subscription { statusChanged(kinds: [LAB]) { cursor action entityId } }"
AGENCIES = ("CISA", "NIST", "DOD", "NSA", "TREASURY", "ODNI", "DOE", "HHS", "EPA")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub(data_dir: Path, *args: str) -> str:
    env = {**os.environ, "HUB_DATA_DIR": str(data_dir)}
    env.pop("HUB_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.strip().splitlines()[-1]


@asynccontextmanager
async def running_hub(data_dir: Path, workers: int) -> Any:
    port = free_port()
    env = {
        **os.environ,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_PORT": str(port),
        "HUB_SCHEDULER": "off",
        "HUB_LOG_LEVEL": "warning",
        "HUB_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1000",
        # a burst of a thousand events must fit a subscriber's queue, or the slow-consumer rule drops it
        "HUB_WS_QUEUE_LIMIT": "5000",
        "HUB_POOL_MAX_SIZE": "20",
    }
    env.pop("HUB_DATABASE_URL", None)
    log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "a")  # noqa: SIM115 - closed with the server
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--workers", str(workers)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(url + "/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0 if workers > 1 else 0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: dict[int, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            if message.get("type") == "next":
                cursor = int(message["payload"]["data"]["statusChanged"]["cursor"])
                self.received[cursor] = time.time()


async def open_subscribers(url: str, tokens: list[str], count: int) -> list[Subscriber]:
    async def one(index: int) -> Subscriber:
        ws = await connect(
            url.replace("http", "ws", 1) + "/graphql",
            subprotocols=["graphql-transport-ws"],
            max_queue=None,
            open_timeout=60,
        )
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {tokens[index % len(tokens)]}"}}
            )
        )
        ack = json.loads(await ws.recv())
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
        subscriber = Subscriber(ws)
        subscriber.task = asyncio.create_task(subscriber.read())
        return subscriber

    subscribers = []
    for start in range(0, count, 100):  # open in waves, as browsers would arrive
        subscribers += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 100))))
    await asyncio.sleep(1.0)
    return subscribers


async def close_subscribers(subscribers: list[Subscriber]) -> None:
    for subscriber in subscribers:
        await subscriber.ws.close()
        if subscriber.task:
            subscriber.task.cancel()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def latency(db_url: str, subscribers: list[Subscriber], events: int, spacing: float) -> dict[str, Any]:
    """Commit `events` one at a time; latency = receipt time - commit time, over every (event, subscriber)."""
    con = await asyncpg.connect(db_url)
    committed: dict[int, float] = {}
    try:
        for _ in range(events):
            event_id = await con.fetchval(
                "insert into events (entity_kind, entity_id, action) values ('LAB', 1, 'BENCH') returning id"
            )
            committed[int(event_id)] = time.time()
            await asyncio.sleep(spacing)
    finally:
        await con.close()
    deadline = time.time() + 30
    while time.time() < deadline and any(len(set(committed) & s.received.keys()) < len(committed) for s in subscribers):
        await asyncio.sleep(0.1)
    samples = [(s.received[i] - t) * 1000 for s in subscribers for i, t in committed.items() if i in s.received]
    expected = len(committed) * len(subscribers)
    return {
        "subscribers": len(subscribers),
        "events": len(committed),
        "deliveries": len(samples),
        "lost": expected - len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(percentile(samples, 0.99), 1),
        "max_ms": round(max(samples), 1),
    }


async def throughput(db_url: str, subscribers: list[Subscriber], events: int) -> dict[str, Any]:
    """Write a burst of `events` in one statement; time until every subscriber has every one."""
    con = await asyncpg.connect(db_url)
    try:
        ids = [
            r[0]
            for r in await con.fetch(
                "insert into events (entity_kind, entity_id, action) select 'LAB', 1, 'BURST'"
                " from generate_series(1, $1) returning id",
                events,
            )
        ]
        start = time.time()
    finally:
        await con.close()
    wanted = set(ids)
    deadline = start + 120
    while time.time() < deadline and any(len(wanted & s.received.keys()) < len(wanted) for s in subscribers):
        await asyncio.sleep(0.05)
    done = max(max((s.received.get(i, 0) for i in wanted), default=0) for s in subscribers)
    seconds = done - start
    delivered = sum(len(wanted & s.received.keys()) for s in subscribers)
    return {
        "subscribers": len(subscribers),
        "events": events,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds, 1),
        "deliveries_per_second": round(delivered / seconds, 1),
        "lost": events * len(subscribers) - delivered,
    }


def raise_open_files_limit() -> None:
    """1,000 WebSockets need more descriptors than a default soft limit may give (the server inherits it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536, hard)
        )


async def main(out: Path, quick: bool) -> dict[str, Any]:
    raise_open_files_limit()
    counts = [1, 100, 200] if quick else [1, 100, 1000]
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-live-"))
    try:
        hub(data_dir, "migrate")
        tokens = [
            hub(data_dir, "token", "create", "--agency", a, "--role", "VIEWER", "--name", f"bench {a}")
            for a in AGENCIES
        ]
        db_url = f"postgresql://postgres:@/frontier_hub?host={data_dir / 'pgdata'}"
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
            "principals": len(tokens),
            "latency_one_worker": [],
        }
        async with running_hub(data_dir, 1) as url:
            for count in counts:
                subscribers = await open_subscribers(url, tokens, count)
                results["latency_one_worker"].append(await latency(db_url, subscribers, 20, 0.2))
                print(results["latency_one_worker"][-1], flush=True)
                if count == counts[-1]:
                    results["throughput_one_worker"] = await throughput(db_url, subscribers, 100 if quick else 200)
                    print(results["throughput_one_worker"], flush=True)
                await close_subscribers(subscribers)
        async with running_hub(data_dir, 2) as url:
            subscribers = await open_subscribers(url, tokens, counts[-1])
            results["latency_two_workers"] = await latency(db_url, subscribers, 20, 0.2)
            print(results["latency_two_workers"], flush=True)
            await close_subscribers(subscribers)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "subscriptions.json")
    parser.add_argument("--quick", action="store_true", help="200 subscribers at most, a shorter burst")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.out, arguments.quick))
