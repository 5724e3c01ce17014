"""PostgreSQL row-level security, the second line behind the store's filters (sql/003_rls.sql; the policies are
generated from hub/access.py into sql/008_visibility.sql by hub/policies.py): requests run as a role RLS holds, the
principal reaches the policies per transaction only, and with the store's own filter removed the database alone
still hides what a principal may not see. (tests/test_visibility.py runs its whole matrix both ways.)"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import pytest

from hub import app as hub_app
from hub import db, events
from hub.access import ENTITY_TABLES, MODEL_CONFIDENTIAL_COLUMNS, Params, model_confidential_visible, visible
from hub.auth import Principal
from hub.policies import AGENCY_ROLES, everyone_sees
from hub.store.base import Session, bind_principal
from tests.conftest import Api
from tests.rls import no_filter, remove_store_filter
from tests.test_workflow_findings import REPORT, UPDATE, a_model

FINDING_QUERY = """query($id: ID!) {
  node(id: $id) { id }
  findings(filter: {search: "rls probe"}) { totalCount edges { node { id } } }
  events(filter: {entityId: $id}) { totalCount }
}"""


async def test_requests_run_as_a_role_that_rls_holds(demo_url: str) -> None:
    pool = await db.create_pool(demo_url, min_size=1, max_size=1)
    try:
        for _ in range(2):  # the second time on the same connection, after the pool's reset
            async with pool.acquire() as con:
                row = await con.fetchrow(
                    """select current_user as name, r.rolsuper, r.rolbypassrls,
                              (select count(*) from pg_class c where c.relowner = r.oid) as owned
                         from pg_roles r where r.rolname = current_user"""
                )
                assert dict(row) == {"name": db.APP_ROLE, "rolsuper": False, "rolbypassrls": False, "owned": 0}
                forced = await con.fetch(
                    "select relname from pg_class where relrowsecurity and relforcerowsecurity order by relname"
                )
                assert {r["relname"] for r in forced} >= {"findings", "cyber_measures", "events", "frontier_models"}
    finally:
        await pool.close()


async def test_the_principal_lasts_one_transaction_and_nothing_shows_without_one(demo_url: str) -> None:
    owner = await db.connect(demo_url)
    try:
        everything = await owner.fetchval("select count(*) from findings")
        cisa = await owner.fetchrow("select id from agencies where code = 'CISA'")
    finally:
        await owner.close()
    assert everything > 1000
    principal = Principal(id=1, name="probe", role="ANALYST", agency_id=cisa["id"], agency_code="CISA", lab_id=None)
    pool = await db.create_pool(demo_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as con:
            # no principal bound: the policies show nothing at all
            assert await con.fetchval("select count(*) from findings") == 0
            assert await con.fetchval("select count(*) from events") == 0
            async with con.transaction():
                await bind_principal(con, principal)
                seen = await con.fetchval("select count(*) from findings")
            assert 0 < seen <= everything
            # the transaction is over: so is the principal, on this very connection
            assert await con.fetchval("select current_setting('hub.agency_id', true)") == ""
            assert await con.fetchval("select count(*) from findings") == 0
        async with pool.acquire() as con:  # the same pooled connection, lent again
            assert await con.fetchval("select count(*) from findings") == 0
            session = Session(con, principal)
            assert await session.fetchval("select count(*) from findings") == seen
    finally:
        await pool.close()


async def test_an_unsafe_role_is_refused(demo_url: str) -> None:
    con = await db.connect(demo_url)  # the tables' owner
    try:
        with pytest.raises(db.UnsafeRole, match="row-level security would not hold"):
            await db.check_app_role(con)
    finally:
        await con.close()


async def probe(api: Api) -> tuple[str, str, str]:
    """A CISA finding only CISA may see (AMBER_STRICT); tokens of CISA and EPA."""
    cisa = await api.token(agency="CISA", role="ANALYST")
    epa = await api.token(agency="EPA", role="OFFICER")
    model = await a_model(api, cisa)
    result = await api.data(
        REPORT, {"input": {"title": "rls probe", "modelId": model, "tlp": "AMBER_STRICT"}}, token=cisa
    )
    return result["reportFinding"]["finding"]["id"], cisa, epa


async def test_rls_alone_hides_the_record_when_the_store_filter_is_removed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    finding, cisa, epa = await probe(api)
    patched = remove_store_filter(monkeypatch)
    assert "hub.store.base" in patched and "hub.workflow" in patched
    owner_view = await api.data(FINDING_QUERY, {"id": finding}, token=cisa)
    assert owner_view["node"] == {"id": finding}
    assert owner_view["findings"]["totalCount"] == 1 and owner_view["events"]["totalCount"] == 1
    outside = await api.data(FINDING_QUERY, {"id": finding}, token=epa)
    assert outside == {"node": None, "findings": {"totalCount": 0, "edges": []}, "events": {"totalCount": 0}}
    # nor can a write reach it: it reads as missing
    body = await api.data(UPDATE, {"input": {"id": finding, "expectedVersion": 1, "title": "pwned"}}, token=epa)
    assert body["updateFinding"]["finding"] is None
    assert body["updateFinding"]["errors"][0]["code"] == "NOT_FOUND"
    still = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Finding { title version } } }", {"id": finding}, token=cisa
    )
    assert still["node"] == {"title": "rls probe", "version": 1}


async def test_without_rls_the_removed_filter_would_leak(fresh_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control of the test above: the same requests with the store filter removed, served by a pool of the
    tables' owner (RLS not applying), show EPA the record, so the test above proves RLS and not a leftover filter."""
    from tests.conftest import _api

    monkeypatch.setattr(hub_app, "create_pool", partial(db.create_pool, app_role=False))
    async for api in _api(fresh_url):
        finding, _, epa = await probe(api)
        remove_store_filter(monkeypatch)
        outside = await api.data(FINDING_QUERY, {"id": finding}, token=epa)
        assert outside["node"] == {"id": finding}
        assert outside["findings"]["totalCount"] == 1


async def every_principal(url: str) -> list[Principal]:
    owner = await db.connect(url)
    try:
        rows = await owner.fetch(
            """select p.id, p.role, p.agency_id, a.code, p.lab_id from principals p
                 left join agencies a on a.id = p.agency_id order by p.id"""
        )
    finally:
        await owner.close()
    principals = [
        Principal(
            id=r["id"], name="x", role=r["role"], agency_id=r["agency_id"], agency_code=r["code"], lab_id=r["lab_id"]
        )
        for r in rows
    ]
    assert any(p.is_lab for p in principals) and any(p.is_agency for p in principals)
    # every class of principal the rules tell apart, even one the demo has no token of (its admins)
    agency = next(p for p in principals if p.is_agency)
    present = {p.role for p in principals}
    principals += [dataclasses.replace(agency, role=role) for role in AGENCY_ROLES if role not in present]
    return principals


def who(principal: Principal) -> tuple[Any, ...]:
    return (principal.id, principal.agency_code or f"lab {principal.lab_id}", principal.role)


async def test_rls_and_the_store_rule_show_the_same_records_of_every_kind_to_every_principal(demo_url: str) -> None:
    """For every principal and every kind, by ids in both directions: the store's rule alone (as the tables' owner,
    whom the policies let through) shows nothing row-level security hides, and row-level security alone (as the
    request role, no store filter) hides nothing the store's rule shows."""
    principals = await every_principal(demo_url)
    owner = await db.connect(demo_url)
    pool = await db.create_pool(demo_url, min_size=1, max_size=1)
    views: dict[str, set[frozenset[int]]] = {}
    try:
        async with pool.acquire() as con:
            for principal in principals:
                for kind, table in [*ENTITY_TABLES.items(), ("SCREENING", "coverage_screenings"), ("EVENT", "events")]:
                    p = Params()
                    rule = visible(kind, "t", principal, p)
                    async with con.transaction():
                        await bind_principal(con, principal)
                        by_rls = {r[0] for r in await con.fetch(f"select id from {table} t")}
                    by_store = {r[0] for r in await owner.fetch(f"select id from {table} t where {rule}", *p.values)}
                    assert by_store - by_rls == set(), ("the store shows what RLS hides", who(principal), kind)
                    assert by_rls - by_store == set(), ("RLS shows what the store hides", who(principal), kind)
                    views.setdefault(kind, set()).add(frozenset(by_store))
    finally:
        await pool.close()
        await owner.close()
    # not vacuous: on each kind with a rule, some principal sees rows and the principals do not all see the same
    # (agencies, labs and evaluation suites everyone sees)
    # (the demo has no webhook endpoints: tests/test_webhooks.py makes some and compares the same way)
    for kind, seen in views.items():
        if not everyone_sees(kind) and kind != "WEBHOOK":
            assert len(seen) > 1 and any(seen), kind


async def test_the_masked_columns_read_alike_by_the_rule_and_through_the_database(demo_url: str) -> None:
    """A model's confidential columns: hub.access.model_confidential_visible with the principal as parameters (as the
    tables' owner) masks exactly what the database's masked view masks for the bound principal, and the request role
    reads no confidential value the rule would hide."""
    principals = await every_principal(demo_url)
    columns = ", ".join(MODEL_CONFIDENTIAL_COLUMNS)
    seen: set[bool] = set()
    owner = await db.connect(demo_url)
    pool = await db.create_pool(demo_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as con:
            for principal in principals:
                p = Params()
                ok = model_confidential_visible("t", principal, p)
                masked = ", ".join(f"case when {ok} then t.{c} end as {c}" for c in MODEL_CONFIDENTIAL_COLUMNS)
                rows = await owner.fetch(
                    f"select t.id, {ok} as confidential_visible, {masked} from frontier_models t"
                    f" where {visible('MODEL', 't', principal, p)}",
                    *p.values,
                )
                by_rule = {r["id"]: dict(r) for r in rows}
                async with con.transaction():
                    await bind_principal(con, principal)
                    rows = await con.fetch(f"select id, confidential_visible, {columns} from frontier_models_masked")
                by_database = {r["id"]: dict(r) for r in rows}
                assert by_rule == by_database, who(principal)
                seen |= {r["confidential_visible"] for r in by_rule.values()}
        # the demo has both: models whose confidential columns some principals see, and others hide
        assert seen == {True, False}
    finally:
        await pool.close()
        await owner.close()


async def test_the_fan_out_reads_events_as_the_request_role_under_rls(demo_url: str) -> None:
    """The event fan-out and the replay read as the request role with the subscriber's principal bound: with the
    store's filter removed, row-level security alone gives each principal the same events (and no more) as the
    store's rule alone."""
    principals = await every_principal(demo_url)
    owner = await db.connect(demo_url)
    system_pool = await db.create_pool(demo_url, min_size=1, max_size=1, app_role=False)
    try:
        last = await owner.fetchval("select max(id) from events")
        after = max(0, last - 3000)
        async with events.as_request(system_pool) as con:
            assert await con.fetchval("select current_user") == db.APP_ROLE
            for principal in principals:
                p = Params()
                rule = visible("EVENT", "t", principal, p)
                by_store = {
                    r[0]
                    for r in await owner.fetch(
                        f"select id from events t where t.id > {p(after)} and t.id <= {p(last)} and {rule}", *p.values
                    )
                }
                read = await events.readable_events(con, principal, after, last)
                assert {r["id"] for r in read if r["visible"]} == by_store, who(principal)
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(events, "visible", no_filter)
                    alone = await events.readable_events(con, principal, after, last)
                assert alone == read, ("RLS alone reads otherwise", who(principal))
    finally:
        await system_pool.close()
        await owner.close()


async def test_the_owner_still_sees_everything(demo_url: str) -> None:
    """The hub's own work (the scheduler, the CLI) runs as the owner: FORCE RLS does not blind it. (The event
    fan-out reads as the request role: test_the_fan_out_reads_events_as_the_request_role_under_rls.)"""
    con = await db.connect(demo_url)
    try:
        assert await con.fetchval("select count(*) from findings where tlp = 'AMBER_STRICT'") > 0
        assert await con.fetchval("select count(*) from events") > 5000
    finally:
        await con.close()
