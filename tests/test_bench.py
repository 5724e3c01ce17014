"""The benchmark's harness (bench/) kept from rotting: the data generator at a tiny size, and one short pass of the
load generator against a real `hub serve`. Not a benchmark: nothing here is timed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from bench import dryrun, mix
from bench.data import COUNTED_TABLES, Sizes, generate
from bench.harness import database, http_job, hub_server, run_pass
from bench.report import targets
from bench.run import APP_ROLE, bind_args, check_floor
from hub import db
from hub.audit import verify_chain
from hub.screening import dry_run
from hub.store.base import BIND_PRINCIPAL
from tests.conftest import Server, empty_database


@pytest.fixture
async def empty_urls(pg_server: Server) -> AsyncIterator[list[str]]:
    """Two empty databases on the tests' PostgreSQL."""
    async with empty_database(pg_server, "bench_test") as one, empty_database(pg_server, "bench_test") as other:
        yield [one, other]


async def table_digests(con: asyncpg.Connection) -> dict[str, str]:
    """An md5 of every row of each table the generator fills, in a fixed order (timestamps as instants)."""
    found = {}
    for table in COUNTED_TABLES:
        found[table] = await con.fetchval(
            f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {table} t"
        )
    return found


async def test_the_data_set_is_deterministic_complete_and_chained(empty_urls: list[str]) -> None:
    sizes = Sizes(labs=3, models=40, findings=300)
    digests = []
    for url in empty_urls:
        con = await db.connect(url)
        try:
            await con.execute("set timezone = 'UTC'")
            counts = await generate(con, sizes)
            digests.append(await table_digests(con))
            chain = await verify_chain(con)
            assert chain.ok, chain.problem
            with pytest.raises(RuntimeError, match="empty hub database"):
                await generate(con, sizes)
        finally:
            await con.close()
    resolved = sizes.resolved()
    assert counts["labs"] == 3 and counts["frontier_models"] == 40 and counts["findings"] == 300
    assert counts["early_access_agreements"] == 20 and counts["coverage_standards"] == 3
    assert counts["coverage_decisions"] == 40 * resolved.decisions_per_model
    assert counts["cyber_measures"] == 30 and counts["infrastructure_engagements"] == 15
    records = sum(
        counts[t]
        for t in (
            "frontier_models",
            "early_access_agreements",
            "coverage_standards",
            "coverage_decisions",
            "evaluation_suites",
            "compute_estimates",
            "evaluation_results",
            "findings",
            "cyber_measures",
            "infrastructure_engagements",
        )
    )
    assert counts["events"] == records
    assert all(counts[t] > 0 for t in COUNTED_TABLES)
    # the same sizes give the same rows, event hashes included
    assert digests[0] == digests[1]


async def test_the_data_set_has_typed_criteria_and_a_draft_whose_dry_run_changes(empty_urls: list[str]) -> None:
    con = await db.connect(empty_urls[0])
    try:
        await generate(con, Sizes(labs=3, models=200, findings=100))
        draft, adopted = await dryrun.standards(con)
        thresholds = await con.fetch(
            "select standard_id, threshold from coverage_criteria where position = 0 and standard_id = any($1)",
            [draft, adopted],
        )
        assert {r["standard_id"]: r["threshold"] for r in thresholds} == {
            draft: Decimal(10) ** 25,
            adopted: Decimal(10) ** 26,
        }
        run = await dry_run(con, None, draft, adopted, first=1)
        assert run.total == 200 and run.counts["NEWLY_COVERED"] > 0 and run.counts["NO_LONGER_COVERED"] == 0
        # the benchmark's statement, as the CISA officer under row-level security, counts the same
        sql, values = dryrun.statement(draft, adopted, 10)
        await con.execute(f"set role {APP_ROLE}")
        async with con.transaction(isolation="repeatable_read", readonly=True):
            await con.execute(BIND_PRINCIPAL, "3", "1", "", "OFFICER", "60000")
            rows = await con.fetch(sql, *values)
        assert {c: rows[0][f"n_{c.lower()}"] for c in run.counts} == run.counts
        assert len(rows) == 11
    finally:
        await con.close()


def test_bad_sizes_are_refused_naming_the_flag() -> None:
    with pytest.raises(ValueError, match="--models must be 1 or more"):
        Sizes(models=0).resolved()
    with pytest.raises(ValueError, match="--standards must be 3 or more"):
        Sizes(standards=2).resolved()


async def test_a_short_pass_of_each_kind_against_a_served_hub() -> None:
    async with database(Sizes(labs=3, models=40, findings=300)) as data:
        con = await db.connect(data.url)
        try:
            facts = await mix.facts(con)
            findings_before = await con.fetchval("select count(*) from findings")
        finally:
            await con.close()
        async with hub_server(data, 1) as hub:
            # every read's raw-SQL floor gives the hub's own answer (else check_floor raises)
            checks = await check_floor(data, hub, mix.OPERATIONS, facts)
            assert set(checks) == {op.name for op in mix.OPERATIONS if op.is_read}
            assert all(c["floor_matches_hub"] for c in checks.values())
            assert checks["wide_nested_list"]["rows"]["models"] == 40

            token = data.principals["analyst"]["token"]
            wide = mix.BY_NAME["wide_nested_list"]
            request = {"query": wide.document(), "variables": mix.hub_variables(wide, facts)}
            job = http_job(hub.url, token, request, concurrency=2, duration=1.0, warmup=0.2)
            result = await run_pass(job, [hub.group(), data.process_group()])
            assert result["errors"] == 0 and result["requests"] > 0
            assert result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
            assert result["sql_statements_per_request"] >= 1
            assert result["hub_cpu_ms_per_request"] > 0 and result["postgres_cpu_ms_per_request"] > 0
            assert result["hub_rss_mb"] and result["hub_rss_mb"][0] > 10

            # a wrong token: every request is an error, and the pass says so
            bad = await run_pass(http_job(hub.url, "fh_wrong", request, concurrency=1, duration=0.3, warmup=0), [])
            assert bad["requests"] > 0 and bad["errors"] == bad["requests"]
            assert "HTTP 401" in bad["error_samples"][0]

            mutation = mix.BY_NAME["report_finding"]
            request = {"query": mutation.document(), "variables": mix.hub_variables(mutation, facts)}
            job = http_job(hub.url, token, request, concurrency=1, duration=0.5, warmup=0, payload=mutation.payload)
            written = await run_pass(job, [hub.group()])
            assert written["errors"] == 0 and written["requests"] > 0

        floor_job = {
            "mode": "sql",
            "dsn": data.url,
            "role": APP_ROLE,
            "sql": wide.floor_sql(),
            "args": mix.floor_args(wide, facts),
            "bind": BIND_PRINCIPAL,
            "bind_args": bind_args(data.principals["analyst"]),
            "concurrency": 2,
            "duration": 0.5,
            "warmup": 0,
        }
        floor = await run_pass(floor_job, [data.process_group()])
        assert floor["errors"] == 0 and floor["requests"] > 0 and floor["response_bytes_mean"] > 1000
        # read while the pass's connections were open: their backends' CPU time counts
        assert floor["postgres_cpu_ms_per_request"] > 0
        assert floor["machine_busy_cores"] >= floor["other_busy_cores"] >= 0

        con = await db.connect(data.url)
        try:
            # each counted or uncounted mutation request reported one finding
            assert await con.fetchval("select count(*) from findings") >= findings_before + written["requests"]
        finally:
            await con.close()


def test_targets_are_judged_from_the_figures() -> None:
    def row(hub_rps: float, peer_rps: float, hub_p99: float, peer_p99: float) -> dict[str, object]:
        return {
            "operation": "wide_nested_list",
            "concurrency": 32,
            "hub": {"rps": hub_rps, "p99_ms": hub_p99},
            "peer": {"rps": peer_rps, "p99_ms": peer_p99},
            "ratio": hub_rps / peer_rps,
        }

    bench = {
        "runs": [
            {
                "ratio_to_floor": {
                    "wide_nested_list": [{"concurrency": 1, "latency_ratio_p50": 2.5, "latency_ratio_mean": 2.6}]
                },
                "statements_vs_rows": {"wide_nested_list": {"10": 3, "100": 3, "500": 4}},
                "max_worker_rss_mb": 150.0,
            }
        ]
    }
    # faster and steadier than the peer, within 3x of the floor, but one more statement at 500 rows
    verdicts = [t["met"] for t in targets(bench, {"comparison": [row(250, 227, 90, 120)]})]
    assert verdicts == [True, True, True, False, True]
    slower = targets(None, {"comparison": [row(30, 227, 900, 120)]})
    assert [t["met"] for t in slower] == [False, False]
