"""`make bench-growth` (or `make bench BENCH_ARGS=--growth`): the reads that count, at the benchmark's size and at
ten times it, back to back on the same machine, and how much longer each takes at the larger size.

    .venv/bin/python -m bench.growth [--factor 10] [--concurrency 1] [--duration 5] [--warmup 1] ...

For each size the data set is generated afresh (bench/data.py; the labs stay as given, models and findings and all
that follows them grow by the factor), `hub serve --workers 1` is started, and each operation below runs one pass at
each concurrency as the CISA analyst (the same closed loop as `make bench`). Printed per operation and
concurrency: the p50 latency at both sizes and its growth (the issue's target: at most 2x); and the number of rows
of each summary table (hub/summaries.py) at both sizes, the thing that must stop growing with the data. Writes
bench/results/growth.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from bench import mix
from bench.data import AS_OF, add_size_flags, sizes_from
from bench.harness import RESULTS, database, http_job, hub_server, machine_info, run_main, run_pass, say
from bench.run import ask, check_errors
from hub.db import connect
from hub.summaries import SUMMARIES

COUNT = """query Count($filter: FindingFilter) {
  findings(filter: $filter, first: 10) { totalCount edges { node { id state } } }
}"""

AGENCY_1 = mix.global_id("Agency", 1)

GROUPS = """query Groups($filter: FindingFilter, $by: [FindingGroupKey!]!) {
  findings(filter: $filter, first: 0) { aggregate { count groups(by: $by) { key { state severity sector tlp
    ownerAgencyId } count } } }
}"""

# (name, document, variables): the filtered findings connection's totalCount on each filter of the target
# (state, severity, sector, TLP, owning agency), the aggregates' groups on those keys, and the dashboard
GROWTH_OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("count_by_state", COUNT, {"filter": {"state": ["REPORTED", "TRIAGED"]}}),
    ("count_by_severity", COUNT, {"filter": {"severity": ["HIGH", "CRITICAL"]}}),
    ("count_by_sector", COUNT, {"filter": {"sectors": ["ENERGY"]}}),
    ("count_by_tlp", COUNT, {"filter": {"tlp": ["AMBER"]}}),
    ("count_by_owner", COUNT, {"filter": {"ownerAgencyIds": [AGENCY_1]}}),
    ("count_filtered", COUNT, {"filter": {k: v for k, v in mix.FILTER.items() if k != "first"}}),
    ("groups_state_severity", GROUPS, {"filter": None, "by": ["STATE", "SEVERITY"]}),
    ("groups_sector_by_tlp", GROUPS, {"filter": {"tlp": ["GREEN", "AMBER"]}, "by": ["SECTOR"]}),
    ("groups_owner_open", GROUPS, {"filter": {"state": ["REPORTED", "TRIAGED"]}, "by": ["OWNER_AGENCY"]}),
    (
        "dashboard",
        mix.BY_NAME["dashboard"].document(),
        {"horizonDays": mix.HORIZON_DAYS, "asOf": AS_OF.isoformat(), "first": mix.DASHBOARD_FIRST},
    ),
]


async def one_size(args: argparse.Namespace, factor: int) -> dict[str, Any]:
    base = sizes_from(args)
    sizes = dataclasses.replace(base, models=base.models * factor, findings=base.findings * factor)
    concurrency = [int(c) for c in args.concurrency.split(",")]
    async with database(sizes) as db:
        con = await connect(db.url)
        try:
            summary_rows = {s.table: int(await con.fetchval(f"select count(*) from {s.table}")) for s in SUMMARIES}
        finally:
            await con.close()
        result: dict[str, Any] = {
            "factor": factor,
            "sizes": db.sizes.__dict__,
            "rows": db.counts,
            "generation_seconds": db.generation_seconds,
            "summary_rows": summary_rows,
            "version": db.version,
            "passes": {},
        }
        token = db.principals["analyst"]["token"]
        async with hub_server(db, 1) as hub:
            for name, document, variables in GROWTH_OPERATIONS:
                answer = await ask(hub.url, token, document, variables)
                found = answer["data"].get("findings") or {}
                counted = found.get("totalCount", found.get("aggregate", {}).get("count"))
                result.setdefault("answers", {})[name] = counted
                result["passes"][name] = []
                for clients in concurrency:
                    job = http_job(
                        hub.url,
                        token,
                        {"query": document, "variables": variables},
                        concurrency=clients,
                        duration=args.duration,
                        warmup=args.warmup,
                    )
                    job["name"] = f"growth {name}"
                    outcome = await run_pass(job, [hub.group(), db.process_group()])
                    check_errors(f"{name} at {clients} clients", outcome)
                    result["passes"][name].append(outcome)
                    say(
                        f"  x{factor:<3} {name:<20} c={clients:<3} {outcome['rps']:>8.1f} req/s"
                        f"  p50 {outcome['p50_ms']:.1f} ms  sql/req {outcome['sql_statements_per_request']}"
                    )
    return result


def table(small: dict[str, Any], large: dict[str, Any]) -> str:
    factor = large["factor"] // small["factor"]
    lines = [
        f"| operation | clients | p50 at 1x (ms) | p50 at {factor}x (ms) | growth | req/s at 1x | req/s at {factor}x |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, passes in small["passes"].items():
        for a, b in zip(passes, large["passes"][name], strict=True):
            growth = b["p50_ms"] / a["p50_ms"] if a["p50_ms"] else float("nan")
            lines.append(
                f"| `{name}` | {a['concurrency']} | {a['p50_ms']:.1f} | {b['p50_ms']:.1f} | {growth:.2f}x"
                f" | {a['rps']:.1f} | {b['rps']:.1f} |"
            )
    lines += ["", f"| summary table | rows at 1x | rows at {factor}x | growth |", "|---|---|---|---|"]
    for name, rows in small["summary_rows"].items():
        other = large["summary_rows"][name]
        lines.append(f"| `{name}` | {rows:,} | {other:,} | {other / rows if rows else float('nan'):.2f}x |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    small = await one_size(args, 1)
    large = await one_size(args, args.factor)
    result = {"machine": machine_info(small["version"]), "sizes": [small, large]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(table(small, large))
    say(f"wrote {args.out}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__.split("\n")[0])
    add_size_flags(p)
    p.add_argument("--factor", type=int, default=10, help="how many times the base size the second run is (10)")
    p.add_argument("--concurrency", default="1", help="concurrent clients per pass (default 1)")
    p.add_argument("--duration", type=float, default=5.0, help="counted seconds per pass (default 5)")
    p.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds before each pass (default 1)")
    p.add_argument("--out", type=Path, default=RESULTS / "growth.json", help="the JSON result")
    return p


if __name__ == "__main__":
    run_main(main(parser().parse_args()))
