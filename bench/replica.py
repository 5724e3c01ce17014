"""`make bench-replica`: what read-your-writes costs with a streaming replica (docs/operators.md, "Read replicas").

    .venv/bin/python -m bench.replica [--writes 200] [--writers 0]

A fresh embedded PostgreSQL with the demo data, a streaming replica of it made with `pg_basebackup -R`
(tests/replica.py, on a port of 54330-54339), and the hub in process (ASGI, one event loop) with
HUB_REPLICA_DATABASE_URL. One client, one request at a time, `--writes` times:
- a mutation (registerLab), then at once a read of the lab with the answer's Hub-Consistency-Token; meanwhile a
  separate connection polls the replica (every 0.5 ms) for the time until it has replayed past the token;
- a read without a token (on the replica), and the same read as often on a hub without a replica (on the primary);
with --writers N, N more clients send mutations in a loop meanwhile, in both phases (the write load the replica
replays, the primary's work the replica takes reads away from).
Printed: the replay delay of a token (p50, p99, max), which database answered the reads with a token and their
latency, and the latency of reads on the replica and on the primary. Writes bench/results/replica.json
(replica-N-writers.json with --writers N).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from hub import db
from hub.app import create_app
from hub.auth import create_principal_with_token
from hub.demo import load_demo
from hub.replicas import READ_FROM_HEADER, TOKEN_HEADER
from tests.conftest import hub_settings
from tests.replica import make_replica, replayed_to

RESULTS = Path(__file__).resolve().parent / "results"
REGISTER = "mutation($input: RegisterLabInput!) { registerLab(input: $input) { lab { id name } errors { message } } }"
LAB = "query($id: ID!) { node(id: $id) { ... on Lab { name } } }"
LABS = "{ labs(first: 50) { totalCount nodes { name country } } }"


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def replayed_after(replica: asyncpg.Connection, token: str, started: float) -> float:
    """Seconds from `started` until the replica has replayed past `token`."""
    while True:
        if await replica.fetchval("select pg_last_wal_replay_lsn() >= $1::text::pg_lsn", token):
            return time.perf_counter() - started
        await asyncio.sleep(0.0005)


async def keep_writing(client: httpx.AsyncClient, headers: dict[str, str], done: asyncio.Event) -> int:
    """Mutations one after another until `done`: the write load the measured requests meet."""
    count = 0
    while not done.is_set():
        variables = {"input": {"name": f"load lab {uuid.uuid4().hex[:10]}", "country": "US"}}
        response = await client.post("/graphql", json={"query": REGISTER, "variables": variables}, headers=headers)
        assert response.status_code == 200, response.text
        count += 1
    return count


async def measure(url: str, replica_url: str, writes: int, writers: int) -> dict[str, Any]:
    con = await db.connect(url)
    try:
        _, token = await create_principal_with_token(con, agency_code="CISA", role="OFFICER", name="bench replica")
    finally:
        await con.close()
    await replayed_to(url, replica_url)
    headers = {"Authorization": f"Bearer {token}"}
    delays, token_reads, replica_reads, primary_reads = [], [], [], []
    answered: dict[str, int] = {"replica": 0, "primary": 0}
    app = create_app(hub_settings(url, replica_database_url=replica_url), database_url=url)
    probe = await asyncpg.connect(replica_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.bench") as client:
            done = asyncio.Event()
            load = [asyncio.create_task(keep_writing(client, headers, done)) for _ in range(writers)]
            load_started = time.perf_counter()
            for _ in range(writes):
                variables = {"input": {"name": f"bench lab {uuid.uuid4().hex[:10]}", "country": "US"}}
                written = await client.post(
                    "/graphql", json={"query": REGISTER, "variables": variables}, headers=headers
                )
                started = time.perf_counter()
                position = written.headers[TOKEN_HEADER]
                lab_id = written.json()["data"]["registerLab"]["lab"]["id"]
                delay = asyncio.create_task(replayed_after(probe, position, started))
                read = await client.post(
                    "/graphql",
                    json={"query": LAB, "variables": {"id": lab_id}},
                    headers={**headers, TOKEN_HEADER: position},
                )
                token_reads.append(time.perf_counter() - started)
                assert read.json()["data"]["node"] is not None, read.text  # read-your-writes held
                answered[read.headers[READ_FROM_HEADER]] += 1
                delays.append(await delay)
                began = time.perf_counter()
                plain = await client.post("/graphql", json={"query": LABS}, headers=headers)
                replica_reads.append(time.perf_counter() - began)
                assert plain.headers[READ_FROM_HEADER] == "replica", plain.text
            done.set()
            background = sum(await asyncio.gather(*load))
            load_seconds = time.perf_counter() - load_started
    await probe.close()
    app = create_app(hub_settings(url), database_url=url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.bench") as client:
            done = asyncio.Event()
            load = [asyncio.create_task(keep_writing(client, headers, done)) for _ in range(writers)]
            for _ in range(writes):
                began = time.perf_counter()
                plain = await client.post("/graphql", json={"query": LABS}, headers=headers)
                primary_reads.append(time.perf_counter() - began)
                assert plain.status_code == 200, plain.text
            done.set()
            await asyncio.gather(*load)
    return {
        "writes": writes,
        "background_writers": writers,
        "background_writes_per_second": round(background / load_seconds, 1),
        "token_replay_delay": percentiles(delays),
        "reads_with_token": {"answered_by": answered, **percentiles(token_reads)},
        "reads_without_token_on_replica": percentiles(replica_reads),
        "reads_on_primary_without_replica": percentiles(primary_reads),
    }


async def prepare(url: str) -> None:
    con = await db.connect(url)
    try:
        await db.migrate(con)
        await load_demo(con)
    finally:
        await con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--writers", type=int, default=0, help="mutations in a loop meanwhile (write load)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hub-bench-replica-") as folder:
        data, replica_folder = Path(folder) / "primary", Path(folder) / "replica"
        data.mkdir()
        replica_folder.mkdir()
        Path(folder).chmod(0o755)
        embedded = db.start_embedded(data)
        try:
            asyncio.run(db.ensure_database(embedded.admin_url, db.DATABASE_NAME))
            url = embedded.url_for(db.DATABASE_NAME)
            asyncio.run(prepare(url))
            replica = make_replica(embedded, replica_folder)
            try:
                figures = asyncio.run(measure(url, replica.url_for(db.DATABASE_NAME), args.writes, args.writers))
            finally:
                replica.stop()
        finally:
            embedded.release()
    RESULTS.mkdir(exist_ok=True)
    name = "replica.json" if args.writers == 0 else f"replica-{args.writers}-writers.json"
    (RESULTS / name).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
