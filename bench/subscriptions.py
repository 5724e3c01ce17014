"""Benchmark: event delivery over statusChanged at scale (docs/live.md, "Figures").

Starts `hub serve` (embedded PostgreSQL, a fresh data folder) as a process of its own, and opens the subscribers
from this process (the load generator: one WebSocket per subscriber), spread over 100 principals: 80 of the 9
agencies (VIEWER, ANALYST, OFFICER and ADMIN in turn) and 20 liaisons of 5 labs. Every subscriber runs the same
operation (a board's: the event, its actor's agency and its record), so the hub's shared execution groups them by
sight (agency or lab, and role: 41 sights). For each run, on one clock:

- latency: events committed one at a time (`--spacing` apart), the time from each commit returning to each
  subscriber's receipt, over every (event, subscriber) pair: p50, p99, max; lost and duplicated deliveries;
- throughput: a burst of events written in one statement, and the time until every subscriber has every one:
  deliveries per second;
- memory: the resident memory of the hub's processes (PostgreSQL aside) once the subscribers are open, less what
  they held before, per subscriber.

    .venv/bin/python bench/subscriptions.py                          # the two runs of the targets (below)
    .venv/bin/python bench/subscriptions.py --run 1000:1             # SUBSCRIBERS:WORKERS ("default": one per core)
    .venv/bin/python bench/subscriptions.py --against 9803c02        # the same runs on that commit's hub too
    .venv/bin/python bench/subscriptions.py --quick                  # a smoke run: 50 subscribers, 5 events

The runs of the targets: 1,000 subscribers on one worker (p99 under 100 ms) and 10,000 on the default workers
(p99 under 1 s, 0 lost or duplicated). Writes go straight into the outbox through SQL (an event on a lab, which every
principal may see), so that the figures measure the hub's fan-out, not the mutation path; the hub cannot tell them
from a mutation's events.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
QUERY = (
    "subscription { statusChanged(kinds: [LAB]) { cursor action entityId actorAgency { code }"
    " entity { id ... on Lab { name } } } }"
)
AGENCIES = ("CISA", "NIST", "DOD", "NSA", "TREASURY", "ODNI", "DOE", "HHS", "EPA")
ROLES = ("VIEWER", "ANALYST", "OFFICER", "ADMIN")
LABS = tuple(f"Bench Lab {n}" for n in range(1, 6))
AGENCY_PRINCIPALS, LAB_PRINCIPALS = 80, 20
CURSOR = re.compile(rb'"cursor":"(\d+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tree:
    """The hub's code a run serves: this checkout, or a commit's files (--against) in a folder of their own."""

    name: str
    folder: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.folder)}


def tree_of(commit: str, into: Path) -> Tree:
    """The files of `commit` (git archive), to serve that commit's hub with this environment's packages."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    folder = into / f"tree-{commit}"
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return Tree(commit, folder)


def hub(tree: Tree, data_dir: Path, *args: str) -> str:
    env = {**tree.env(), "HUB_DATA_DIR": str(data_dir)}
    env.pop("HUB_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env=env,
        cwd=tree.folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


async def make_principals(db_url: str) -> tuple[list[str], dict[str, int]]:
    """The 100 principals and a token each; the ids of a lab and an agency for the events."""
    sys.path.insert(0, str(ROOT))
    from hub.auth import create_principal_with_token

    con = await asyncpg.connect(db_url)
    try:
        for name in LABS:
            await con.execute(
                "insert into labs (name, country, participation) values ($1, 'US', 'PARTICIPATING')", name
            )
        tokens = []
        for n in range(AGENCY_PRINCIPALS):
            agency, role = AGENCIES[n % len(AGENCIES)], ROLES[(n // len(AGENCIES)) % len(ROLES)]
            _, token = await create_principal_with_token(
                con, agency_code=agency, role=role, name=f"bench {agency} {role.lower()} {n}"
            )
            tokens.append(token)
        for n in range(LAB_PRINCIPALS):
            lab = LABS[n % len(LABS)]
            _, token = await create_principal_with_token(
                con, agency_code=None, role="LAB_LIAISON", name=f"bench liaison {n}", lab_name=lab
            )
            tokens.append(token)
        ids = {
            "lab": int(await con.fetchval("select id from labs where name = $1", LABS[0])),
            "agency": int(await con.fetchval("select id from agencies where code = 'CISA'")),
        }
    finally:
        await con.close()
    return tokens, ids


def hub_processes(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """The hub's own processes (the server and its workers), without the embedded PostgreSQL."""
    try:
        root = psutil.Process(proc.pid)
        found = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    return [p for p in found if "postgres" not in p.name()]


def rss(proc: subprocess.Popen[str]) -> int:
    total = 0
    for p in hub_processes(proc):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


@asynccontextmanager
async def running_hub(tree: Tree, data_dir: Path, workers: int | None) -> Any:
    port = free_port()
    env = {
        **tree.env(),
        "HUB_DATA_DIR": str(data_dir),
        "HUB_PORT": str(port),
        "HUB_SCHEDULER": "off",
        "HUB_LOG_LEVEL": "warning",
        "HUB_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1000",
        # a burst must fit a subscriber's queue, or the slow-consumer rule drops it
        "HUB_WS_QUEUE_LIMIT": "5000",
        "HUB_POOL_MAX_SIZE": "20",
    }
    env.pop("HUB_DATABASE_URL", None)
    env.pop("HUB_WORKERS", None)
    log = open(os.environ.get("BENCH_SERVER_LOG", os.devnull), "a")  # noqa: SIM115 - closed with the server
    proc = subprocess.Popen(
        [
            sys.executable,
            # BENCH_PROFILE=FILE: the server under cProfile (one worker), its profile written to FILE on exit
            *(["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []),
            "-m",
            "hub.cli",
            "serve",
            *(["--workers", str(workers)] if workers else []),
        ],
        env=env,
        cwd=tree.folder,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                try:
                    if (await client.get(url + "/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: dict[int, float] = {}
        self.duplicated = 0
        self.task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for raw in self.ws:
            now = time.time()
            frame = raw if isinstance(raw, bytes) else raw.encode()
            found = CURSOR.search(frame)
            if found is None:
                continue
            cursor = int(found.group(1))
            if cursor in self.received:
                self.duplicated += 1
            else:
                self.received[cursor] = now


async def open_subscribers(url: str, tokens: list[str], count: int) -> list[Subscriber]:
    async def one(index: int) -> Subscriber:
        ws = await connect(
            url.replace("http", "ws", 1) + "/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=None,
            open_timeout=120,
            ping_interval=None,  # the server pings; the client answers
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

    subscribers: list[Subscriber] = []
    for start in range(0, count, 100):  # open in waves, as browsers would arrive
        subscribers += await asyncio.gather(*(one(i) for i in range(start, min(count, start + 100))))
    return subscribers


async def until_open(url: str, count: int) -> None:
    """Until the hub's workers hold every subscription (the gauge of /metrics, summed over the workers)."""
    async with httpx.AsyncClient() as client:
        for _ in range(1200):
            text = (await client.get(url + "/metrics")).text
            found = re.search(r"^hub_subscriptions_open(?:\{[^}]*\})? ([0-9.e+]+)$", text, re.MULTILINE)
            if found and float(found.group(1)) >= count:
                return
            await asyncio.sleep(0.25)
        raise RuntimeError(f"the hub did not report {count} open subscriptions")


async def close_subscribers(subscribers: list[Subscriber]) -> None:
    for subscriber in subscribers:
        if subscriber.task:
            subscriber.task.cancel()
    await asyncio.gather(*(s.ws.close() for s in subscribers), return_exceptions=True)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The load generator's own garbage collector off while it measures: its full collections over its sockets'
    objects (30 to 50 ms with 1,000 of them) would count as the hub's latency. Collected and frozen first, so
    nothing it holds now is scanned again."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def settle(subscribers: list[Subscriber], wanted: set[int], seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and any(len(wanted & s.received.keys()) < len(wanted) for s in subscribers):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # a late duplicate would show now


async def latency(db_url: str, ids: dict[str, int], subscribers: list[Subscriber], events: int, spacing: float) -> Any:
    """Commit `events` one at a time; latency = receipt time - commit time, over every (event, subscriber)."""
    con = await asyncpg.connect(db_url)
    committed: dict[int, float] = {}
    duplicated_before = sum(s.duplicated for s in subscribers)
    try:
        for _ in range(events):
            event_id = await con.fetchval(
                "insert into events (entity_kind, entity_id, action, actor_agency_id)"
                " values ('LAB', $1, 'BENCH', $2) returning id",
                ids["lab"],
                ids["agency"],
            )
            committed[int(event_id)] = time.time()
            await asyncio.sleep(spacing)
    finally:
        await con.close()
    await settle(subscribers, set(committed), 60)
    samples = [(s.received[i] - t) * 1000 for s in subscribers for i, t in committed.items() if i in s.received]
    expected = len(committed) * len(subscribers)
    return {
        "events": len(committed),
        "spacing_s": spacing,
        "deliveries": len(samples),
        "lost": expected - len(samples),
        "duplicated": sum(s.duplicated for s in subscribers) - duplicated_before,
        "p50_ms": round(statistics.median(samples), 1) if samples else None,
        "p99_ms": round(percentile(samples, 0.99), 1) if samples else None,
        "max_ms": round(max(samples), 1) if samples else None,
        # each event's slowest receipt, in commit order: a p99 above the p50's neighbourhood is one slow event
        "per_event_max_ms": [
            round(max((s.received[i] - t) * 1000 for s in subscribers if i in s.received), 1)
            for i, t in committed.items()
            if any(i in s.received for s in subscribers)
        ],
    }


async def throughput(db_url: str, ids: dict[str, int], subscribers: list[Subscriber], events: int) -> Any:
    """Write a burst of `events` in one statement; time until every subscriber has every one."""
    con = await asyncpg.connect(db_url)
    duplicated_before = sum(s.duplicated for s in subscribers)
    try:
        written = await con.fetch(
            "insert into events (entity_kind, entity_id, action, actor_agency_id) select 'LAB', $2, 'BURST', $3"
            " from generate_series(1, $1) returning id",
            events,
            ids["lab"],
            ids["agency"],
        )
        start = time.time()
    finally:
        await con.close()
    wanted = {int(r[0]) for r in written}
    await settle(subscribers, wanted, 300)
    done = max(max((s.received.get(i, 0) for i in wanted), default=0) for s in subscribers)
    seconds = max(done - start, 1e-6)
    delivered = sum(len(wanted & s.received.keys()) for s in subscribers)
    return {
        "events": events,
        "seconds": round(seconds, 2),
        "deliveries_per_second": round(delivered / seconds, 1),
        "lost": events * len(subscribers) - delivered,
        "duplicated": sum(s.duplicated for s in subscribers) - duplicated_before,
    }


def raise_open_files_limit() -> None:
    """Thousands of WebSockets need more descriptors than a default soft limit may give (the server inherits it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@dataclass(frozen=True)
class Run:
    subscribers: int
    workers: int | None  # None: the default (one per core)
    events: int = 20
    spacing: float = 0.2
    burst: int = 200

    @property
    def label(self) -> str:
        return f"{self.subscribers} subscribers, {self.workers or 'default'} worker(s)"


def parse_run(text: str) -> Run:
    count, _, workers = text.partition(":")
    subscribers = int(count)
    # a larger run gets its events further apart and a smaller burst: each event is 10,000 deliveries
    spacing = 0.2 if subscribers <= 2000 else 1.0
    burst = 200 if subscribers <= 2000 else 20
    return Run(subscribers, None if workers in ("", "default") else int(workers), spacing=spacing, burst=burst)


async def measure(tree: Tree, work: Path, run: Run) -> dict[str, Any]:
    """One run on a fresh database served by `tree`'s hub."""
    data_dir = Path(tempfile.mkdtemp(prefix="data-", dir=work))
    try:
        hub(tree, data_dir, "migrate")
        db_url = f"postgresql://postgres:@/frontier_hub?host={data_dir / 'pgdata'}"
        # the database stays up between the CLI's commands only while a server runs: make the principals then
        async with running_hub(tree, data_dir, run.workers) as (url, proc):
            tokens, ids = await make_principals(db_url)
            workers = run.workers or os.cpu_count() or 1
            before = rss(proc)
            subscribers = await open_subscribers(url, tokens, run.subscribers)
            await until_open(url, run.subscribers)
            await asyncio.sleep(1.0)
            held = rss(proc)
            # warm up: each of the hub's pooled connections plans the fan-out's statements once
            await latency(db_url, ids, subscribers, 10, 0.1)
            with collector_paused():
                measured = await latency(db_url, ids, subscribers, run.events, run.spacing)
            result: dict[str, Any] = {
                "hub": tree.name,
                "subscribers": run.subscribers,
                "workers": run.workers or f"default ({workers})",
                "principals": len(tokens),
                "latency": measured,
            }
            print(run.label, tree.name, result["latency"], flush=True)
            with collector_paused():
                result["throughput"] = await throughput(db_url, ids, subscribers, run.burst)
            print(run.label, tree.name, result["throughput"], flush=True)
            result["memory"] = {
                "hub_rss_mb_before": round(before / 2**20, 1),
                "hub_rss_mb_open": round(held / 2**20, 1),
                "kb_per_subscriber": round((held - before) / 1024 / run.subscribers, 1),
            }
            print(run.label, tree.name, result["memory"], flush=True)
            await close_subscribers(subscribers)
        return result
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def main(out: Path, runs: list[Run], against: str | None) -> dict[str, Any]:
    raise_open_files_limit()
    work = Path(tempfile.mkdtemp(prefix="hub-bench-live-"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    trees = [Tree(commit.stdout.strip() or "this checkout", ROOT)]
    try:
        if against:
            trees.append(tree_of(against, work))
        results: dict[str, Any] = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
            "query": QUERY,
            "runs": [],
        }
        for run in runs:
            for tree in trees:
                results["runs"].append(await measure(tree, work, run))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return results


def table(results: dict[str, Any]) -> str:
    """The runs as docs/live.md's table."""
    lines = [
        "| hub | subscribers | workers | p50 | p99 | max | lost | duplicated | deliveries/s | memory per subscriber |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lat, burst, memory = r["latency"], r["throughput"], r["memory"]
        lines.append(
            f"| {r['hub']} | {r['subscribers']:,} | {r['workers']} | {lat['p50_ms']} ms | {lat['p99_ms']} ms"
            f" | {lat['max_ms']} ms | {lat['lost'] + burst['lost']} | {lat['duplicated'] + burst['duplicated']}"
            f" | {burst['deliveries_per_second']:,.0f} | {memory['kb_per_subscriber']} KB |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "subscriptions.json")
    parser.add_argument(
        "--run", action="append", help="SUBSCRIBERS:WORKERS (a number or 'default'); default: 1000:1 and 10000:default"
    )
    parser.add_argument("--against", help="a commit whose hub runs the same runs too (git archive of it)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 subscribers on one worker, 5 events")
    arguments = parser.parse_args()
    if arguments.quick:
        chosen = [Run(50, 1, events=5, burst=20)]
    else:
        chosen = [parse_run(text) for text in arguments.run or ["1000:1", "10000:default"]]
    asyncio.run(main(arguments.out, chosen, arguments.against))
