"""Counting at scale (#19): the summary tables of hub/summaries.py count exactly what the visibility rule lets each
principal see, after any mix of writes, and the migration that creates them is the generator's output.

The differential test fills a database with the benchmark's program (bench/data.py, a small size), makes random
writes of every kind the summaries depend on (inserts, transitions, TLP and sharing changes, owner changes, deletes,
agencies added to and removed from agreements, models' release status), and then checks, for principals of
different sight: each summary equals counting its table again; every totalCount the store routes to a summary equals
counting the visible rows one by one (as the request role, so that the summaries' own row-level security applies);
the dashboard's counts equal counting each kind's visible rows by state.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import date
from typing import Any
from unittest.mock import patch

import asyncpg
import pytest

from bench.data import Sizes, generate
from hub import db, summaries
from hub.access import Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, stateful_kinds
from hub.store import dashboard
from hub.store.aggregates import aggregate_sql, key_column
from hub.store.base import Entity, Session, Where, bind_principal, page_sql, standard_orders
from hub.store.coverage import DECISION
from hub.store.engagements import ENGAGEMENT
from hub.store.findings import FINDING
from hub.store.measures import MEASURE
from hub.store.models import MODEL
from schema.common import ConnectionSource
from tests.conftest import Server, empty_database

APP_ROLE = "frontier_hub_app"

# principals of different sight: a CISA analyst (owner of many findings, creator and RED recipient of some), an EPA
# analyst (few AMBER shares), a lab's liaison, an analyst of the lab's owner with no share, the DoD's officer
SIGHTS = [
    Principal(id=2, name="cisa analyst", role="ANALYST", agency_id=1, agency_code="CISA", lab_id=None),
    Principal(id=34, name="epa analyst", role="ANALYST", agency_id=9, agency_code="EPA", lab_id=None),
    Principal(id=37, name="lab 1 liaison", role="LAB_LIAISON", agency_id=None, agency_code=None, lab_id=1),
    Principal(id=38, name="lab 2 liaison", role="LAB_LIAISON", agency_id=None, agency_code=None, lab_id=2),
    Principal(id=11, name="dod officer", role="OFFICER", agency_id=3, agency_code="DOD", lab_id=None),
]

TLPS = ["CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"]


def test_the_newest_summaries_migration_is_the_generators_output() -> None:
    generated = [m for m in db.load_migrations() if m.sql.startswith(summaries.MARKER)]
    assert generated, "no migration holds the generated summaries"
    assert generated[-1].sql == summaries.migration(), (
        "hub/summaries.py no longer prints its newest migration: put the new declaration into a new migration with"
        " `python -m hub.summaries > sql/NNN_summaries_<what>.sql`"
    )


def test_a_summary_key_holds_every_column_the_rule_reads_and_filters_are_routed_conservatively() -> None:
    for summary in summaries.SUMMARIES:
        assert set(summaries.rule_columns(summary.kind, summary.sight)) <= set(summaries.columns(summary))
    # a filter on a dimension is counted from a summary of the principal's sight; on a column the summary
    # normalises, another table's or a column it lacks, from the table
    cisa, liaison = SIGHTS[0], SIGHTS[2]

    def source(principal: Principal, sql: str) -> str | None:
        return summaries.count_source("FINDING", principal, sql, sql)

    assert source(cisa, "t.state = any($1)") == "finding_state_counts_agency"
    assert source(liaison, "t.state = any($1)") == "finding_state_counts_lab"
    assert source(cisa, "t.sectors && $1 and t.tlp = any($2)") == "finding_sector_counts_agency"
    assert source(cisa, "t.sectors && $1 and t.state = any($2)") == "finding_counts_agency"
    assert source(cisa, "t.lab_id = $1") is None
    assert source(cisa, "t.title = $1") is None
    assert source(cisa, "exists (select 1 from measure_findings l where l.finding_id = t.id)") is None
    assert source(cisa, "j.model_id = $1 and t.state = any($2)") is None


async def _random_writes(con: asyncpg.Connection, rng: random.Random, rounds: int) -> None:
    """Writes of every kind the summaries depend on, as the tables' owner (the triggers run whoever writes)."""
    finding_ids = [r["id"] for r in await con.fetch("select id from findings")]
    states = list(KINDS["FINDING"].states)
    for _ in range(rounds):
        what = rng.randrange(9)
        fid = rng.choice(finding_ids)
        if what == 0:  # a new finding, copied from another with new sharing, in one statement with a second one
            tlp = rng.choice(TLPS)
            rows = await con.fetch(
                """insert into findings (title, description, state, model_id, lab_id, discovered_by_kind,
                       discovered_by_agency_id, discovered_by_lab_id, cvss_base_score, cvss_severity, sectors, tlp,
                       owner_agency_id, owner_lab_id, share_agency_ids, share_lab_ids, recipient_principal_ids,
                       created_by, kev_due_date)
                   select 'copy ' || title, description, state, model_id, lab_id, discovered_by_kind,
                          discovered_by_agency_id, discovered_by_lab_id, cvss_base_score,
                          cvss_severity, sectors, $2, owner_agency_id, owner_lab_id, $3::bigint[], $4::bigint[],
                          $5::bigint[], created_by, kev_due_date
                     from findings where id = any($1::bigint[]) returning id""",
                [fid, rng.choice(finding_ids)],
                tlp,
                rng.sample(range(1, 10), rng.randrange(3)),
                rng.sample(range(1, 4), rng.randrange(2)),
                [rng.choice([2, 34, 11])] if tlp == "RED" else [],
            )
            finding_ids += [r["id"] for r in rows]
        elif what == 1:  # a transition
            await con.execute("update findings set state = $2 where id = $1", fid, rng.choice(states))
        elif what == 2:  # a TLP change
            await con.execute("update findings set tlp = $2 where id = $1", fid, rng.choice(TLPS))
        elif what == 3:  # a sharing change, several rows in one statement
            await con.execute(
                "update findings set share_agency_ids = $2, share_lab_ids = $3 where id = any($1::bigint[])",
                rng.sample(finding_ids, 5),
                rng.sample(range(1, 10), rng.randrange(4)),
                rng.sample(range(1, 4), rng.randrange(3)),
            )
        elif what == 4:  # an owner change, a score (and its severity) and sector change
            score, severity = rng.choice([(2.0, "LOW"), (5.0, "MEDIUM"), (8.0, "HIGH"), (9.5, "CRITICAL")])
            await con.execute(
                """update findings set owner_agency_id = $2, cvss_base_score = $3, cvss_severity = $4, sectors = $5
                    where id = $1""",
                fid,
                rng.randrange(1, 10),
                score,
                severity,
                rng.sample(
                    ["ENERGY", "WATER_AND_WASTEWATER_SYSTEMS", "DAMS", "FINANCIAL_SERVICES"], rng.randrange(1, 3)
                ),
            )
        elif what == 5:  # a delete (of a finding nothing links to)
            gone = await con.fetchval(
                """delete from findings f where f.id = $1
                      and not exists (select 1 from measure_findings x where x.finding_id = f.id)
                      and not exists (select 1 from engagement_findings x where x.finding_id = f.id)
                      and not exists (select 1 from events x where x.entity_kind = 'FINDING' and x.entity_id = f.id)
                   returning id""",
                fid,
            )
            if gone is not None:
                finding_ids.remove(gone)
        elif what == 6:  # an agency added to an agreement, or one removed
            agreement = await con.fetchval("select id from early_access_agreements order by random() limit 1")
            agency = rng.randrange(1, 10)
            if rng.random() < 0.5:
                await con.execute(
                    "insert into agreement_agencies (agreement_id, agency_id) values ($1, $2) on conflict do nothing",
                    agreement,
                    agency,
                )
            else:
                await con.execute("delete from agreement_agencies where agreement_id = $1 and agency_id = $2",
                                  agreement, agency)  # fmt: skip
        elif what == 7:  # a model's release status changes (a model never changes lab: its inputs name it)
            model = await con.fetchval("select id from frontier_models order by random() limit 1")
            await con.execute(
                "update frontier_models set release_status = $2 where id = $1", model, rng.choice(KINDS["MODEL"].states)
            )
        else:  # measures and engagements change TLP and state
            await con.execute(
                """update cyber_measures set tlp = $1
                    where id = (select id from cyber_measures order by random() limit 1)""",
                rng.choice(TLPS),
            )
            await con.execute(
                """update infrastructure_engagements set tlp = $1, share_lab_ids = $2
                    where id = (select id from infrastructure_engagements order by random() limit 1)""",
                rng.choice(TLPS),
                rng.sample(range(1, 4), rng.randrange(2)),
            )


async def _check_summaries_equal_recount(con: asyncpg.Connection) -> None:
    for summary in summaries.SUMMARIES:
        key = ", ".join(summaries.columns(summary))
        table = KINDS[summary.kind].table
        recount = f"select {key}, count(*)::bigint as n from ({summaries._keyed(summary, table)}) k group by {key}"
        kept = f"select {key}, n from {summary.table}"
        differ = await con.fetchval(
            f"select count(*) from (({recount} except all {kept}) union all ({kept} except all {recount})) d"
        )
        assert differ == 0, f"{summary.table} differs from counting {table} again in {differ} rows"
    assert not await con.fetchval(
        """select count(*) from early_access_agreements g
            where g.agency_ids <> coalesce((select array_agg(agency_id order by agency_id) from agreement_agencies
                                             where agreement_id = g.id), '{}')"""
    )
    assert not await con.fetchval(
        """select count(*) from coverage_decisions d join frontier_models m on m.id = d.model_id
            where d.lab_id <> m.lab_id"""
    )


AGGREGATED: list[tuple[str, Entity, list[str]]] = [
    ("FINDING", FINDING, ["STATE"]),
    ("FINDING", FINDING, ["SECTOR", "SEVERITY"]),
    ("FINDING", FINDING, ["TLP", "OWNER_AGENCY"]),
    ("FINDING", FINDING, []),
    ("MEASURE", MEASURE, ["STATE", "TLP"]),
    ("ENGAGEMENT", ENGAGEMENT, ["SECTOR"]),
    ("MODEL", MODEL, ["RELEASE_STATUS"]),
    ("DECISION", DECISION, ["OUTCOME", "STANDARD"]),
]

FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("none", {}),
    ("state", {"state": ["REPORTED", "TRIAGED"]}),
    ("severity", {"severity": ["HIGH", "CRITICAL"]}),
    ("sector", {"sectors": ["ENERGY", "WATER_AND_WASTEWATER_SYSTEMS"]}),
    ("tlp", {"tlp": ["AMBER", "RED"]}),
    ("owner", {"owner_agency_ids": [1, 3]}),
    ("several", {"state": ["REPORTED"], "tlp": ["GREEN", "AMBER"], "owner_agency_ids": [1]}),
]


def _finding_where(f: dict[str, Any]) -> Any:
    def build(w: Where) -> None:
        w.any_of("t.state", f.get("state"))
        w.any_of("t.cvss_severity", f.get("severity"))
        w.any_of("t.tlp", f.get("tlp"))
        w.any_of("t.owner_agency_id", f.get("owner_agency_ids"), "bigint")
        w.overlaps("t.sectors", f.get("sectors"))

    return build


async def _check_counts_for(con: asyncpg.Connection, principal: Principal) -> None:
    async with con.transaction(isolation="repeatable_read", readonly=True):
        await bind_principal(con, principal)
        for kind in ("FINDING", "MEASURE", "ENGAGEMENT", "MODEL", "AGREEMENT", "DECISION"):
            filters = FILTERS if kind == "FINDING" else [("none", {})]
            for name, f in filters:
                p = Params()
                entity = Entity(kind, orders=standard_orders("t.id::text"))
                built = page_sql(principal, p, entity, build_where=_finding_where(f) if f else None)
                # every kind here has a summary its filter fits (a lab's have no owning agency: counted one by one)
                by_owner = "owner_agency_ids" in f and principal.is_lab
                assert ("sum(t.n)" in built.count_sql) != by_owner, built.count_sql
                got = await con.fetchval(built.count_sql, *p.values)
                q = Params()
                where = Where(q, principal)
                if f:
                    _finding_where(f)(where)
                one_by_one = await con.fetchval(
                    f"select count(*) from {KINDS[kind].table} t"
                    f" where {visible(kind, 't', principal, q)} and {where.sql()}",
                    *q.values,
                )
                assert got == one_by_one, f"{principal.name}: {kind} filtered by {name}: {got} != {one_by_one}"
        # the aggregates: routed to a summary when they read only its dimensions, equal to aggregating the rows
        for kind, entity, by in AGGREGATED:
            for f in [{}, *(f for _, f in FILTERS[1:] if kind == "FINDING")]:
                source = ConnectionSource(entity, _finding_where(f) if f else (lambda w: None))
                p = Params()
                routed = aggregate_sql(principal, p, source, by=by, numbers=[])
                q = Params()
                with patch("hub.store.aggregates.count_source", return_value=None):  # the table's rows
                    rows = aggregate_sql(principal, q, source, by=by, numbers=[])
                # a lab's summaries have no owning agency: a filter or a group on it reads the table
                by_owner = principal.is_lab and ("owner_agency_ids" in f or "OWNER_AGENCY" in by)
                assert ("t.n as _n" in routed) != by_owner and "t.n as _n" not in rows, routed
                got = [(tuple(r[key_column(k)] for k in by), r["count"]) for r in await con.fetch(routed, *p.values)]
                want = [(tuple(r[key_column(k)] for k in by), r["count"]) for r in await con.fetch(rows, *q.values)]
                assert got == want, f"{principal.name}: {kind} by {by} filtered by {f}"
        # the dashboard's counts: counting each kind's visible records by state
        found = await dashboard.dashboard(Session(con, principal), today=date(2026, 7, 1), horizon_days=14, limit=5)
        # the session bound the principal again, in the same transaction: harmless
        q = Params()
        expected = []
        for kind in stateful_kinds():
            for r in await con.fetch(
                f"select t.{kind.state_column} as state, count(*) as n from {kind.table} t"
                f" where {visible(kind.name, 't', principal, q)} group by 1",
                *q.values[: _used(q)],
            ):
                expected.append((kind.name, r["state"], r["n"]))
            q = Params()
        got_counts = sorted((c["kind"], c["state"], c["count"]) for c in found["counts"])
        assert got_counts == sorted(expected), principal.name


def _used(q: Params) -> int:
    return len(q.values)


@pytest.fixture
async def bench_con(pg_server: Server) -> AsyncIterator[asyncpg.Connection]:
    """An empty database of its own, filled with the benchmark's program at a small size."""
    async with empty_database(pg_server, "hub_test_counting") as url:
        con = await db.connect(url)
        try:
            await generate(con, Sizes(labs=3, models=40, findings=600).resolved())
            yield con
        finally:
            await con.close()


async def test_summaries_count_exactly_for_every_sight_after_random_writes(bench_con: asyncpg.Connection) -> None:
    connection = bench_con
    await _check_summaries_equal_recount(connection)
    rng = random.Random(19)
    for _ in range(3):
        await _random_writes(connection, rng, 60)
        await _check_summaries_equal_recount(connection)
        await connection.execute(f"set role {APP_ROLE}")
        try:
            for principal in SIGHTS:
                await _check_counts_for(connection, principal)
        finally:
            await connection.execute("reset role")
