"""The coverage dry run at the benchmark's size: hub/screening.py's `dry_run_sql` as one statement over every model.

    .venv/bin/python -m bench.dryrun [--models 5000 ...] [--runs 20] [--page 100] [--explain]

Generates the data set (bench/data.py) in a fresh embedded PostgreSQL, then runs the dry run of the draft (the last
standard) against the adopted one the way a request of the hub runs it: as the role `frontier_hub_app`, in a
read-only repeatable-read transaction with a CISA officer bound (`BIND_PRINCIPAL`), so that the row-level security
policies and the statement's own visibility rules both apply. Each run is one statement, timed on the client
(asyncpg, a prepared statement after the first run); the figures are p50, p95 and max over the runs, with the
counts by change. With --explain, the plan of one run (EXPLAIN ANALYZE, BUFFERS) goes into the JSON too. Writes
bench/results/dryrun.json and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import asyncpg

from bench.data import CISA, add_size_flags, sizes_from
from bench.harness import RESULTS, Database, database, machine_info, say
from bench.run import APP_ROLE
from hub.access import Params
from hub.auth import Principal
from hub.db import connect
from hub.screening import CHANGES, dry_run_sql
from hub.store.base import BIND_PRINCIPAL

# the benchmark's CISA officer: principal (agency - 1) * 4 + 3 (bench/data.py)
OFFICER = Principal(id=(CISA - 1) * 4 + 3, name="bench CISA officer", role="OFFICER", agency_id=CISA,
                    agency_code="CISA", lab_id=None)  # fmt: skip
STATEMENT_TIMEOUT_MS = 600_000


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


async def standards(con: asyncpg.Connection) -> tuple[int, int]:
    """The draft (newest pending) and the adopted standard."""
    draft = await con.fetchval(
        "select id from coverage_standards where state in ('DRAFT', 'IN_REVIEW') order by created_at desc, id desc"
    )
    adopted = await con.fetchval("select id from coverage_standards where state = 'ADOPTED'")
    return int(draft), int(adopted)


def statement(draft: int, adopted: int, page: int) -> tuple[str, list[Any]]:
    """The dry run's SQL and its arguments for the first page of `page` models."""
    p = Params()
    sql, after, limit = dry_run_sql(OFFICER, p, draft, adopted, None)
    values = list(p.values)
    values[int(after[1:]) - 1] = 0
    values[int(limit[1:]) - 1] = page + 1
    return sql, values


async def measure(db: Database, runs: int, page: int, explain: bool) -> dict[str, Any]:
    con = await connect(db.url)
    try:
        draft, adopted = await standards(con)
        sql, values = statement(draft, adopted, page)
        await con.execute(f"set role {APP_ROLE}")
        bind = [str(OFFICER.id), str(OFFICER.agency_id), "", OFFICER.role, str(STATEMENT_TIMEOUT_MS)]
        timings = []
        counts: dict[str, int] = {}
        rows_on_page = 0
        for n in range(runs + 1):
            async with con.transaction(isolation="repeatable_read", readonly=True):
                await con.execute(BIND_PRINCIPAL, *bind)
                started = time.perf_counter()
                rows = await con.fetch(sql, *values)
                elapsed = (time.perf_counter() - started) * 1000
            if n == 0:  # the first run prepares the statement: not counted
                counts = {c: int(rows[0][f"n_{c.lower()}"]) for c in CHANGES}
                counts["total"] = int(rows[0]["total"])
                rows_on_page = sum(r["model_id"] is not None for r in rows)
                say(f"first run {elapsed:.0f} ms; counts {counts}")
                continue
            timings.append(elapsed)
        plan = None
        if explain:
            async with con.transaction(isolation="repeatable_read", readonly=True):
                await con.execute(BIND_PRINCIPAL, *bind)
                lines = await con.fetch(f"explain (analyze, buffers, costs off) {sql}", *values)
                plan = [r[0] for r in lines]
    finally:
        await con.close()
    return {
        "draft_standard_id": draft,
        "adopted_standard_id": adopted,
        "page": page,
        "rows_on_page": rows_on_page,
        "counts": counts,
        "runs": runs,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "max_ms": round(max(timings), 1),
        "min_ms": round(min(timings), 1),
        "plan": plan,
    }


async def main(args: argparse.Namespace) -> int:
    sizes = sizes_from(args)
    async with database(sizes) as db:
        inputs = {t: db.counts.get(t) for t in ("frontier_models", "compute_estimates", "evaluation_results")}
        say(f"dry run over {inputs}: {args.runs} runs")
        result = await measure(db, args.runs, args.page, args.explain)
        report = {
            "machine": machine_info(db.version),
            "postgres": db.version,
            "sizes": {k: v for k, v in vars(db.sizes).items()},
            "table_rows": db.counts,
            "principal": "CISA OFFICER",
            **result,
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dryrun.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    summary = {k: report[k] for k in ("p50_ms", "p95_ms", "max_ms", "min_ms", "runs", "counts")}
    print(json.dumps(summary, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.dryrun", description=__doc__.split("\n")[0])
    add_size_flags(p)
    p.add_argument("--runs", type=int, default=20, help="timed runs (default 20), after one untimed")
    p.add_argument("--page", type=int, default=100, help="models on the page (default 100)")
    p.add_argument("--explain", action="store_true", help="also keep the plan of one run (EXPLAIN ANALYZE)")
    return p


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parser().parse_args())))
