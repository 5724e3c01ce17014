"""Migrations run once each, serialised across workers; the tables' constraints hold the domain's rules."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from hub import db


async def test_concurrent_workers_apply_each_migration_once(empty_url: str) -> None:
    connections = [await db.connect(empty_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(db.migrate(c) for c in connections))
        applied = [r for r in results if r]
        assert len(applied) == 1 and applied[0] == [m.version for m in db.load_migrations()]
        rows = await connections[0].fetch("select version from schema_migrations")
        assert len(rows) == len(db.load_migrations())
        assert await db.migrate(connections[0]) == []
    finally:
        for c in connections:
            await c.close()


async def test_an_edited_migration_is_refused(empty_url: str) -> None:
    con = await db.connect(empty_url)
    try:
        await db.migrate(con)
        await con.execute("update schema_migrations set checksum = 'edited' where version = '001'")
        with pytest.raises(RuntimeError, match="edited after it was applied"):
            await db.migrate(con)
    finally:
        await con.close()


async def test_a_failing_migration_leaves_nothing_behind(empty_url: str) -> None:
    con = await db.connect(empty_url)
    try:
        broken = [db.Migration("001", "half", "create table half_done (id int); select 1/0;")]
        with pytest.raises(asyncpg.DivisionByZeroError):
            await db.migrate(con, broken)
        assert await con.fetchval("select to_regclass('half_done')") is None
        assert await con.fetchval("select count(*) from schema_migrations") == 0
    finally:
        await con.close()


async def _model(con: asyncpg.Connection) -> tuple[int, int]:
    row = await con.fetchrow("select id, lab_id from frontier_models order by id limit 1")
    return row["id"], row["lab_id"]


async def test_an_agreement_lasts_as_long_as_the_lab_chooses_and_names_its_policy_version(
    connection: asyncpg.Connection,
) -> None:
    """No cap since sql/012: a window of 400 days is stored, whatever the policy; one that ends before it starts is
    not; every agreement, standard and decision names the policy version in effect (sql/014)."""
    model, lab = await _model(connection)
    insert = """insert into early_access_agreements (model_id, lab_id, access_kinds, access_start, access_end)
                values ($1, $2, '{API}', '2026-07-01', $3::text::timestamptz)
                returning access_end - access_start as length, policy_version"""
    written = await connection.fetchrow(insert, model, lab, "2027-08-05")
    assert (written["length"].days, written["policy_version"]) == (400, 2)
    columns = await connection.fetch(
        "select column_name from information_schema.columns where table_name = 'early_access_agreements'"
    )
    assert "window_cap_days" not in {r["column_name"] for r in columns}
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.fetchval(insert, model, lab, "2026-06-30")  # ends before it starts
    assert await connection.fetchval("select count(*) from policy_versions where state = 'IN_EFFECT'") == 1
    # the stamp is the version in effect's, whatever the insert says
    stamped = await connection.fetchval(
        """insert into early_access_agreements (model_id, lab_id, access_kinds, access_start, access_end,
                                                policy_version)
           values ($1, $2, '{API}', '2026-07-01', '2026-07-02', 1) returning policy_version""",
        model,
        lab,
    )
    assert stamped == 2
    await connection.execute("update policy_versions set state = 'SUPERSEDED' where number = 2")
    with pytest.raises(asyncpg.RaiseError, match="no policy version in effect"):
        await connection.fetchrow(insert, model, lab, "2026-08-01")


async def test_constraints_hold_states_bands_and_relations(connection: asyncpg.Connection) -> None:
    model, lab = await _model(connection)
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(
            "insert into findings (title, discovered_by_kind, model_id, cvss_base_score, cvss_severity,"
            " owner_agency_id)"
            " values ('x', 'MODEL', $1, 9.8, 'LOW', 1)",
            model,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute("update findings set state = 'APPROVED' where id = (select min(id) from findings)")
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute("update findings set cve_id = 'CVE-12' where id = (select min(id) from findings)")
    with pytest.raises(asyncpg.CheckViolationError):
        await connection.execute(
            "update cyber_measures set state = 'VERIFIED', evidence = null"
            " where id = (select min(id) from cyber_measures)"
        )
    other_lab = await connection.fetchval("select id from labs where id <> $1 limit 1", lab)
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # an agreement's lab must be its model's lab
        await connection.execute(
            "insert into early_access_agreements (model_id, lab_id, access_kinds, access_start, access_end)"
            " values ($1, $2, '{API}', now(), now() + interval '1 day')",
            model,
            other_lab,
        )
    with pytest.raises(asyncpg.UniqueViolationError):
        await connection.execute("insert into labs (name, country) values ('ANTHROPIC', 'US')")


async def test_events_are_append_only(connection: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await connection.execute("update events set reason = 'rewritten' where id = (select min(id) from events)")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await connection.execute("delete from events")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await connection.execute("truncate events cascade")


async def test_audit_chain_verifies_and_catches_tampering(connection: asyncpg.Connection) -> None:
    from hub.audit import verify_chain

    result = await verify_chain(connection)
    assert result.ok and result.checked > 1000
    target = await connection.fetchval("select id from events order by id offset 100 limit 1")
    await connection.execute("alter table events disable trigger events_no_update")
    await connection.execute("update events set reason = 'tampered' where id = $1", target)
    result = await verify_chain(connection)
    assert not result.ok and result.broken_at == target


async def test_every_foreign_key_has_an_index_that_leads_with_its_columns(connection: asyncpg.Connection) -> None:
    missing = await connection.fetch(
        """select c.conrelid::regclass::text as table_name, c.conname
             from pg_constraint c
            where c.contype = 'f' and c.connamespace = 'public'::regnamespace
              and not exists (
                  select 1 from pg_index i
                   where i.indrelid = c.conrelid
                     and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey
                     and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] <@ c.conkey)"""
    )
    assert [dict(r) for r in missing] == []


async def test_free_criteria_of_before_are_typed_where_they_can_be_and_kept_where_not(empty_url: str) -> None:
    """Migration 009 types the free criteria of existing standards: a COMPUTE_THRESHOLD with a threshold becomes
    total training compute at or above it, a DESIGNATION one designation by any agency; a CAPABILITY_EVAL names no
    suite and stays in the free column (untypedCriteria), screened never."""
    migrations = db.load_migrations()
    before = [m for m in migrations if m.version < "009"]
    con = await db.connect(empty_url)
    try:
        await db.migrate(con, before)
        agency = await con.fetchval("select id from agencies where code = 'CISA'")
        standard = await con.fetchval(
            """insert into coverage_standards (standard_version, title, criteria, required_signoffs, due_on,
                                               owner_agency_id)
               values ('0.1', 'free criteria', $1::jsonb, '{CISA,NIST}', '2026-07-02', $2) returning id""",
            [
                {"kind": "CAPABILITY_EVAL", "description": "finds zero-days", "threshold": 0.2},
                {"kind": "COMPUTE_THRESHOLD", "description": "big", "threshold": 1e26},
                {"kind": "DESIGNATION", "description": "designated"},
            ],
            agency,
        )
        await db.migrate(con, migrations)
        typed = [
            dict(r)
            for r in await con.fetch(
                """select position, metric, compute_scope, unit, operator, threshold, written_as, description
                     from coverage_criteria where standard_id = $1 order by position""",
                standard,
            )
        ]
        assert typed == [
            {
                "position": 1,
                "metric": "TRAINING_COMPUTE",
                "compute_scope": "TOTAL",
                "unit": "FLOP",
                "operator": "GTE",
                "threshold": 10**26,
                "written_as": ">= 100000000000000000000000000 FLOP",
                "description": "big",
            },
            {
                "position": 2,
                "metric": "DESIGNATION",
                "compute_scope": None,
                "unit": "DESIGNATIONS",
                "operator": "GTE",
                "threshold": 1,
                "written_as": ">= 1 DESIGNATIONS",
                "description": "designated",
            },
        ]
        left = await con.fetchval("select criteria from coverage_standards where id = $1", standard)
        assert [c["kind"] for c in left] == ["CAPABILITY_EVAL"]
    finally:
        await con.close()
