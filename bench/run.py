"""`make bench`: the hub's read and write paths under load, beside the raw-SQL floor.

    .venv/bin/python -m bench.run [--concurrency 1,8,32] [--duration 10] [--workers 1,default] [--quick] ...

Generates the data set (bench/data.py) in a fresh embedded PostgreSQL, measures the floor of each read operation
(its hand-written SQL through asyncpg, bench/operations/*.sql), then starts `hub serve` (one worker, then the hub's
default number of workers when that differs) and drives each operation of the mix (bench/mix.py) at each
concurrency from a load-generator process (bench/loadgen.py). Writes bench/results/bench.json and bench.png and
prints the table. Every pass must end with 0 errors, or the run fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from bench import mix
from bench.data import add_size_flags, sizes_from
from bench.harness import (
    RESULTS,
    Database,
    Server,
    busy_cores,
    database,
    default_workers,
    http_job,
    hub_server,
    machine_info,
    run_main,
    run_pass,
    say,
)
from hub.db import connect
from hub.store.base import BIND_PRINCIPAL, DEFAULT_STATEMENT_TIMEOUT_MS

APP_ROLE = "frontier_hub_app"


def bind_args(principal: dict[str, Any]) -> list[str]:
    """The arguments of hub/store/base.py's BIND_PRINCIPAL for a principal (text, empty for none)."""

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return [
        text(principal["principal_id"]),
        text(principal["agency_id"]),
        text(principal["lab_id"]),
        principal["role"],
        str(DEFAULT_STATEMENT_TIMEOUT_MS),
    ]


async def floor_answer(db: Database, sql: str, args: list[Any]) -> Any:
    """One run of a floor statement the way the load generator runs it; its parsed JSON."""
    con = await connect(db.url)
    try:
        await con.execute(f"set role {APP_ROLE}")
        async with con.transaction(isolation="repeatable_read", readonly=True):
            await con.execute(BIND_PRINCIPAL, *bind_args(db.principals["analyst"]))
            return await con.fetchval(sql, *args)
    finally:
        await con.close()


async def ask(url: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(
            url, json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
        )
    answer: dict[str, Any] = response.json()
    if response.status_code != 200 or answer.get("errors"):
        raise RuntimeError(f"{url} answered {response.status_code}: {json.dumps(answer)[:1000]}")
    return answer


async def check_floor(db: Database, hub: Server, ops: list[mix.Operation], facts: mix.Facts) -> dict[str, Any]:
    """Before measuring: each read's floor must give the hub's own `data` (timestamps as instants, cursors aside),
    so that the floor does the same work; and each operation must succeed once."""
    token = db.principals["analyst"]["token"]
    checks: dict[str, Any] = {}
    for op in ops:
        answer = await ask(hub.url, token, op.document(), mix.hub_variables(op, facts))
        sql = op.floor_sql()
        if not op.is_read or sql is None:
            continue
        floor = await floor_answer(db, sql, mix.floor_args(op, facts))
        difference = mix.first_difference(mix.normalized(answer["data"]), mix.normalized(floor))
        rows = mix.shape(answer["data"])
        checks[op.name] = {"floor_matches_hub": difference is None, "difference": difference, "rows": rows}
        if difference:
            raise RuntimeError(f"the floor of {op.name} does not give the hub's answer: {difference}")
    return checks


async def statements_vs_rows(db: Database, hub: Server) -> dict[str, dict[str, int]]:
    """SQL statements per request of the list operations at growing page sizes: a target is that they do not
    grow with the rows."""
    token = db.principals["analyst"]["token"]
    found: dict[str, dict[str, int]] = {}
    for name, sizes in (("wide_nested_list", (10, 100, 500)), ("filtered_connection", (10, 50, 200))):
        op = mix.BY_NAME[name]
        found[name] = {}
        for first in sizes:
            variables = {**mix.hub_variables(op, mix.Facts(0, 0)), "first": first}
            answer = await ask(hub.url, token, op.document(), variables)
            found[name][str(first)] = int(answer["extensions"]["sqlStatements"])
    return found


async def measure_floor(
    db: Database, ops: list[mix.Operation], facts: mix.Facts, concurrency: list[int], duration: float, warmup: float
) -> dict[str, list[dict[str, Any]]]:
    """Each read's floor statement through asyncpg, as the hub's request role with the analyst bound."""
    floors: dict[str, list[dict[str, Any]]] = {}
    for op in ops:
        sql = op.floor_sql()
        if not op.is_read or sql is None:
            continue
        floors[op.name] = []
        for clients in concurrency:
            job = {
                "name": f"floor {op.name}",
                "mode": "sql",
                "dsn": db.url,
                "role": APP_ROLE,
                "sql": sql,
                "args": json_args(mix.floor_args(op, facts)),
                "bind": BIND_PRINCIPAL,
                "bind_args": bind_args(db.principals["analyst"]),
                "concurrency": clients,
                "duration": duration,
                "warmup": warmup,
            }
            result = await run_pass(job, [db.process_group()])
            check_errors(f"floor {op.name}", result)
            floors[op.name].append(result)
            say(f"  floor {op.name:<22} c={clients:<3} {result['rps']:>9.1f} req/s  p50 {result['p50_ms']:.2f} ms")
    return floors


def json_args(args: list[Any]) -> list[Any]:
    """Floor arguments as the load generator receives them (JSON): dates as ISO text, cast back in the SQL."""
    return [a.isoformat() if hasattr(a, "isoformat") else a for a in args]


def check_errors(what: str, result: dict[str, Any]) -> None:
    if result["errors"]:
        raise RuntimeError(f"{what}: {result['errors']} errors, e.g. {result['error_samples']}")
    if not result["requests"]:
        raise RuntimeError(f"{what}: no request completed")


async def measure_hub(
    db: Database,
    hub: Server,
    ops: list[mix.Operation],
    facts: mix.Facts,
    concurrency: list[int],
    duration: float,
    warmup: float,
) -> dict[str, list[dict[str, Any]]]:
    passes: dict[str, list[dict[str, Any]]] = {}
    token = db.principals["analyst"]["token"]
    groups = [hub.group(), db.process_group()]
    for op in sorted(ops, key=lambda o: not o.is_read):  # the mutation last: the reads see the data as generated
        passes[op.name] = []
        request = {"query": op.document(), "variables": mix.hub_variables(op, facts)}
        for clients in concurrency:
            job = http_job(
                hub.url, token, request, concurrency=clients, duration=duration, warmup=warmup, payload=op.payload
            )
            job["name"] = f"hub {op.name}"
            result = await run_pass(job, groups)
            check_errors(f"hub {op.name} at {clients} clients", result)
            passes[op.name].append(result)
            say(
                f"  hub   {op.name:<22} c={clients:<3} {result['rps']:>9.1f} req/s  p50 {result['p50_ms']:.1f}"
                f"  p99 {result['p99_ms']:.1f} ms  sql/req {result['sql_statements_per_request']}"
                f"  hub cpu {result['hub_cpu_ms_per_request']:.1f} ms/req"
            )
    return passes


def worker_configs(spec: str) -> list[int | None]:
    """`1,default` -> [1, None] (None: no --workers flag), without a repeat when the default is 1 worker."""
    configs: list[int | None] = []
    seen: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if part == "default":
            count, config = default_workers(), None
        else:
            try:
                count = int(part)
            except ValueError:
                raise SystemExit(f"--workers: {part!r} is neither a number nor 'default'") from None
            config = count
        if count not in seen:
            seen.add(count)
            configs.append(config)
    return configs


def ratios_to_floor(passes: dict[str, list[dict[str, Any]]], floors: dict[str, list[dict[str, Any]]]) -> Any:
    """Per read operation and concurrency: the hub's p50 latency over the floor's, and the floor's requests/s over
    the hub's (how many times faster the floor is)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name, floor_passes in floors.items():
        by_clients = {p["concurrency"]: p for p in floor_passes}
        found[name] = []
        for p in passes.get(name, []):
            f = by_clients.get(p["concurrency"])
            if f and f["p50_ms"] and p["rps"]:
                found[name].append(
                    {
                        "concurrency": p["concurrency"],
                        "latency_ratio_p50": round(p["p50_ms"] / f["p50_ms"], 2),
                        "latency_ratio_mean": round(p["mean_ms"] / f["mean_ms"], 2),
                        "throughput_ratio": round(f["rps"] / p["rps"], 2),
                    }
                )
    return found


async def main(args: argparse.Namespace) -> dict[str, Any]:
    sizes = sizes_from(args)
    ops = [mix.BY_NAME[n] for n in args.operations.split(",")] if args.operations else mix.OPERATIONS
    concurrency = [int(c) for c in args.concurrency.split(",")]
    configs = worker_configs(args.workers)
    busy = busy_cores()
    async with database(sizes, keep=args.keep_data) as db:
        con = await connect(db.url)
        try:
            facts = await mix.facts(con)
        finally:
            await con.close()
        result: dict[str, Any] = {
            "machine": {**machine_info(db.version), "busy_cores_before": busy},
            "sizes": db.sizes.__dict__,
            "rows": db.counts,
            "generation_seconds": db.generation_seconds,
            "settings": {
                "concurrency": concurrency,
                "duration_seconds": args.duration,
                "warmup_seconds": args.warmup,
                "principal": "a CISA analyst",
                "hub_environment": {"HUB_SCHEDULER": "off", "HUB_LOG_LEVEL": "warning"},
            },
            "operations": {op.name: op.title for op in ops},
            "runs": [],
        }
        say("the raw-SQL floor (asyncpg, as the request role, principal bound):")
        floors = await measure_floor(db, ops, facts, concurrency, args.duration, args.warmup)
        result["floor"] = floors
        for config in configs:
            async with hub_server(db, config) as hub:
                say(f"hub serve with {hub.workers} worker(s){'' if config else ' (its default)'}:")
                run: dict[str, Any] = {"workers": hub.workers, "default": config is None}
                run["checks"] = await check_floor(db, hub, ops, facts)
                if "wide_nested_list" in {op.name for op in ops}:
                    run["statements_vs_rows"] = await statements_vs_rows(db, hub)
                run["passes"] = await measure_hub(db, hub, ops, facts, concurrency, args.duration, args.warmup)
                run["ratio_to_floor"] = ratios_to_floor(run["passes"], floors)
                rss = [max(p.get("hub_rss_mb") or [0]) for ps in run["passes"].values() for p in ps]
                run["max_worker_rss_mb"] = max(rss) if rss else None
                result["runs"].append(run)
    write(result, args.out)
    from bench.report import bench_tables, plot_bench

    print(bench_tables(result))
    plot_bench(result, args.out.with_suffix(".png"))
    say(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return result


def write(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    add_size_flags(p)
    add_run_flags(p, RESULTS / "bench.json")
    p.add_argument("--workers", default="1,default", help="hub serve configurations: counts and/or 'default'")
    p.add_argument(
        "--growth",
        action="store_true",
        help="instead: the reads that count at the benchmark's size and ten times it, back to back, and their growth "
        "(bench/growth.py, `make bench-growth`; its own flags follow, see python -m bench.growth --help)",
    )
    return p


def add_run_flags(p: argparse.ArgumentParser, out: Path) -> None:
    p.add_argument("--concurrency", default="1,8,32", help="concurrent clients per pass (default 1,8,32)")
    p.add_argument("--duration", type=float, default=10.0, help="counted seconds per pass (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds before each pass (default 2)")
    p.add_argument("--operations", help=f"a subset of {','.join(mix.BY_NAME)}")
    p.add_argument("--out", type=Path, default=out, help="the JSON result; the plot goes beside it (.png)")
    p.add_argument("--keep-data", action="store_true", help="keep the data folder (its path is printed)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: a tenth of the data, 3 s passes after 1 s of warm-up (whatever --duration says)",
    )


def apply_quick(args: argparse.Namespace) -> None:
    if args.quick:
        args.duration, args.warmup = 3.0, 1.0
        args.labs, args.models, args.findings = max(5, args.labs // 10), args.models // 10, args.findings // 10


if __name__ == "__main__":
    if "--growth" in sys.argv[1:]:
        from bench import growth

        run_main(growth.main(growth.parser().parse_args([a for a in sys.argv[1:] if a != "--growth"])))
        sys.exit(0)
    arguments = parser().parse_args()
    apply_quick(arguments)
    if arguments.operations:
        unknown = set(arguments.operations.split(",")) - set(mix.BY_NAME)
        if unknown:
            sys.exit(f"--operations: unknown {', '.join(sorted(unknown))}; known: {', '.join(mix.BY_NAME)}")
    run_main(main(arguments))
