"""`make bench-pooler`: what the hub pays for running behind a pooler in transaction mode, where asyncpg keeps no
prepared statement (HUB_DATABASE_POOLER=transaction, docs/operators.md "Beyond one machine"): every statement is
parsed and planned again at each execution.

    .venv/bin/python -m bench.pooler [--concurrency 1,8] [--duration 5] [--warmup 1] [--pgbouncer] [size flags]

The benchmark's data set (bench/data.py) in a fresh embedded PostgreSQL, a login role for requests (as an operator
makes one), and `hub serve --workers 1` twice on it, straight to PostgreSQL (no pooler, so that only the statement
cache differs): with HUB_DATABASE_POOLER=none (asyncpg's statement cache on) and with transaction (off). Each
operation of the benchmark's mix (bench/mix.py) runs one pass per concurrency as the CISA analyst (the closed loop of
`make bench`). Printed per operation and concurrency: requests/s, p50 and p99 latency and PostgreSQL's CPU
milliseconds per request for both, and the ratio. With --pgbouncer, a third pass per operation goes through a real
PgBouncer 1.18 in transaction mode (tests/cluster/pgbouncer.py's settings, pool_size 20) on the same server. Writes
bench/results/pooler.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import mix
from bench.data import add_size_flags, sizes_from
from bench.harness import RESULTS, Database, database, http_job, hub_server, machine_info, run_main, run_pass, say
from bench.run import ask, check_errors
from hub.db import APP_ROLE, connect

REQUEST_ROLE = "hub_bench_request"
BOUNCER_PORT = 6433  # issue 20's ports of this part (6432 is the tests')


def request_url(db: Database) -> str:
    return db.url.replace("postgresql://postgres:@", f"postgresql://{REQUEST_ROLE}@", 1)


@contextmanager
def pgbouncer(db: Database, pool_size: int = 20) -> Iterator[dict[str, str]]:
    """PgBouncer in transaction mode on the embedded server's socket; the settings of a hub behind it."""
    import pwd

    folder = db.data_dir / "pgbouncer"
    folder.mkdir()
    users = folder / "userlist.txt"
    users.write_text(f'"postgres" ""\n"{REQUEST_ROLE}" ""\n')
    socket_dir = db.data_dir.resolve() / "pgdata"
    config = folder / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
frontier_hub = host={socket_dir} dbname=frontier_hub

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {BOUNCER_PORT}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 500
server_reset_query =
logfile = {folder / "pgbouncer.log"}
"""
    )
    # the embedded server runs as its own system user, which PgBouncer (refusing root) may run as too
    owner = socket_dir.stat().st_uid
    shutil.chown(folder, user=owner)
    proc = subprocess.Popen(["pgbouncer", "-u", pwd.getpwuid(owner).pw_name, str(config)])
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError("pgbouncer did not start: " + (folder / "pgbouncer.log").read_text()[-2000:])
        base = f"127.0.0.1:{BOUNCER_PORT}/frontier_hub"
        yield {
            "HUB_DATABASE_URL": f"postgresql://postgres@{base}",
            "HUB_REQUEST_DATABASE_URL": f"postgresql://{REQUEST_ROLE}@{base}",
            "HUB_DIRECT_DATABASE_URL": db.url,
            "HUB_DATABASE_POOLER": "transaction",
        }
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def measure(
    db: Database, label: str, env: dict[str, str], facts: mix.Facts, args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    token = db.principals["analyst"]["token"]
    concurrency = [int(c) for c in args.concurrency.split(",")]
    passes: dict[str, list[dict[str, Any]]] = {}
    async with hub_server(db, 1, extra_env=env) as hub:
        for op in sorted(mix.OPERATIONS, key=lambda o: not o.is_read):  # the mutation last
            request = {"query": op.document(), "variables": mix.hub_variables(op, facts)}
            await ask(hub.url, token, request["query"], request["variables"])
            passes[op.name] = []
            for clients in concurrency:
                job = http_job(
                    hub.url,
                    token,
                    request,
                    concurrency=clients,
                    duration=args.duration,
                    warmup=args.warmup,
                    payload=op.payload,
                )
                job["name"] = f"pooler {label} {op.name}"
                outcome = await run_pass(job, [hub.group(), db.process_group()])
                check_errors(f"{label} {op.name} at {clients} clients", outcome)
                passes[op.name].append(outcome)
                say(
                    f"  {label:<10} {op.name:<22} c={clients:<3} {outcome['rps']:>8.1f} req/s"
                    f"  p50 {outcome['p50_ms']:.1f} ms  p99 {outcome['p99_ms']:.1f} ms"
                    f"  postgres {outcome['postgres_cpu_ms_per_request']:.2f} ms/req"
                )
    return passes


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    labels = list(results)
    head = " | ".join(f"{label} req/s (p50 / p99 ms) [PG ms/req]" for label in labels)
    lines = [f"| operation | clients | {head} | req/s off/on |", "|---|---|" + "---|" * (len(labels) + 1)]
    on, off = results["cache on"], results["cache off"]
    for name, passes in on.items():
        for i, a in enumerate(passes):
            cells = []
            for label in labels:
                p = results[label][name][i]
                cells.append(
                    f"{p['rps']:.1f} ({p['p50_ms']:.1f} / {p['p99_ms']:.1f}) [{p['postgres_cpu_ms_per_request']:.2f}]"
                )
            ratio = off[name][i]["rps"] / a["rps"] if a["rps"] else 0.0
            lines.append(f"| `{name}` | {a['concurrency']} | {' | '.join(cells)} | {ratio:.2f}x |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    async with database(sizes_from(args)) as db:
        con = await connect(db.url)
        try:
            await con.execute(f"create role {REQUEST_ROLE} login in role {APP_ROLE}")
            facts = await mix.facts(con)
        finally:
            await con.close()
        login = {"HUB_REQUEST_DATABASE_URL": request_url(db)}
        results = {
            "cache on": await measure(db, "cache on", {**login, "HUB_DATABASE_POOLER": "none"}, facts, args),
            "cache off": await measure(db, "cache off", {**login, "HUB_DATABASE_POOLER": "transaction"}, facts, args),
        }
        if args.pgbouncer:
            with pgbouncer(db) as env:
                results["pgbouncer"] = await measure(db, "pgbouncer", env, facts, args)
        result = {
            "machine": machine_info(db.version),
            "sizes": db.sizes.__dict__,
            "rows": db.counts,
            "passes": results,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(table(results))
    say(f"wrote {args.out}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.pooler", description=__doc__.split("\n")[0])
    add_size_flags(p)
    p.add_argument("--concurrency", default="1,8", help="concurrent clients per pass (default 1,8)")
    p.add_argument("--duration", type=float, default=5.0, help="counted seconds per pass (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before each pass (default 1)")
    p.add_argument("--pgbouncer", action="store_true", help="also measure through a real PgBouncer (Debian package)")
    p.add_argument("--out", type=Path, default=RESULTS / "pooler.json", help="the JSON result")
    return p


if __name__ == "__main__":
    run_main(main(parser().parse_args()))
