"""Running behind a pooler in transaction mode (docs/operators.md, "Beyond one machine", "PgBouncer"), against the
embedded PostgreSQL directly: requests log in as a role of their own that row-level security holds (never as the
tables' owner), an unsafe login role is refused, the settings that cannot work together are refused, and with
HUB_DATABASE_POOLER=transaction no connection keeps a prepared statement while queries, compiled reads, mutations
and subscriptions all work. tests/cluster/test_pgbouncer.py runs the same through a real PgBouncer."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from hub import db
from hub.app import COMPILER, create_app
from hub.settings import Settings
from tests.conftest import Api, Server, hub_settings
from tests.live import HUB, GraphQLWs, serving
from tests.test_rls import FINDING_QUERY, probe
from tests.test_subscriptions import STATUS

MODELS = "{ models(first: 3) { totalCount edges { node { id name } } } }"


def as_user(url: str, user: str) -> str:
    """`url` logging in as `user` (the embedded server trusts its local users; a real one would need a password)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


@asynccontextmanager
async def login_role(server: Server, *attributes: str, member_of: str = db.APP_ROLE) -> AsyncIterator[str]:
    """A login role made for the test, a member of `member_of`, as docs/operators.md has an operator create it."""
    name = f"hub_request_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server.admin_url)
    try:
        await admin.execute(f"create role {name} login {' '.join(attributes)} in role {member_of}")
        yield name
    finally:
        await admin.execute(f"drop role if exists {name}")
        await admin.close()


def settings_for(url: str, **changes: Any) -> Settings:
    """The tests' settings (tests/conftest.py hub_settings) on `url`, with `changes`."""
    return hub_settings(url, **changes)


@asynccontextmanager
async def running(url: str, **changes: Any) -> AsyncIterator[tuple[Any, Api]]:
    """The hub in process on `url` with `changes` to its settings: the app (for its pools) and its API."""
    app = create_app(settings_for(url, **changes), database_url=url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield app, Api(client, url)


async def every_connection(pool: Any, sql: str) -> list[Any]:
    """`sql`'s value on each connection of `pool` (all of them held at once, so none is counted twice)."""
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        return [await con.fetchval(sql) for con in held]
    finally:
        for con in held:
            await pool.release(con)


PREPARED = "select count(*) from pg_prepared_statements"


# ------------------------------------------------------------------------------------------------ settings


def test_the_urls_each_kind_of_work_uses() -> None:
    owner = "postgresql://owner:secret@primary/hub"
    plain = db.DatabaseUrls.from_settings(settings_for(owner))
    assert (plain.owner, plain.request, plain.direct, plain.replica) == (owner, owner, owner, None)
    assert plain.set_role and not plain.pooled
    assert "secret" not in repr(plain)
    every = db.DatabaseUrls.from_settings(
        settings_for(
            owner,
            request_database_url="postgresql://hub_request@bouncer/hub",
            direct_database_url="postgresql://owner@primary/hub",
            replica_database_url="postgresql://hub_request@replica/hub",
            database_pooler="transaction",
        )
    )
    assert every == db.DatabaseUrls(
        owner=owner,
        request="postgresql://hub_request@bouncer/hub",
        direct="postgresql://owner@primary/hub",
        replica="postgresql://hub_request@replica/hub",
        pooled=True,
        set_role=False,
    )
    # the embedded server's URL stands in for an unset HUB_DATABASE_URL
    unset = dataclasses.replace(settings_for(owner), database_url=None)
    embedded = db.DatabaseUrls.from_settings(unset, "postgresql://postgres@/frontier_hub")
    assert embedded.owner == embedded.direct == "postgresql://postgres@/frontier_hub"


def test_a_transaction_pooler_without_a_request_login_is_refused() -> None:
    unsafe = settings_for(
        "postgresql://owner@bouncer/hub",
        database_pooler="transaction",
        direct_database_url="postgresql://owner@primary/hub",
    )
    with pytest.raises(
        db.DatabaseSettingsError, match="HUB_DATABASE_POOLER=transaction needs HUB_REQUEST_DATABASE_URL"
    ):
        db.DatabaseUrls.from_settings(unsafe)
    # nor without a direct URL: the owner's may go through the pooler, which keeps no session for LISTEN and locks
    no_direct = dataclasses.replace(
        unsafe, request_database_url="postgresql://hub_request@bouncer/hub", direct_database_url=None
    )
    with pytest.raises(db.DatabaseSettingsError, match="HUB_DATABASE_POOLER=transaction needs HUB_DIRECT_DATABASE_URL"):
        db.DatabaseUrls.from_settings(no_direct)
    with pytest.raises(
        db.DatabaseSettingsError, match="HUB_DATABASE_POOLER must be none or transaction, not 'session'"
    ):
        db.DatabaseUrls.check(dataclasses.replace(unsafe, database_pooler="session"))


def test_hub_serve_refuses_a_transaction_pooler_without_a_request_login(demo_url: str) -> None:
    env = {**os.environ, "HUB_DATABASE_URL": demo_url, "HUB_DATABASE_POOLER": "transaction"}
    env.pop("HUB_REQUEST_DATABASE_URL", None)
    for command in (["serve"], ["migrate"]):
        done = subprocess.run([*HUB, *command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "HUB_DATABASE_POOLER=transaction needs HUB_REQUEST_DATABASE_URL" in done.stderr


async def test_a_request_pool_that_takes_its_role_by_set_role_is_refused_when_pooled(demo_url: str) -> None:
    with pytest.raises(db.DatabaseSettingsError, match="HUB_REQUEST_DATABASE_URL"):
        await db.create_pool(demo_url, pooled=True)


# ------------------------------------------------------------------------------------------------ the login role


@pytest.mark.embedded
async def test_requests_log_in_as_their_own_role_and_rls_alone_holds(
    pg_server: Server, fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.rls import remove_store_filter

    owner = await db.connect(fresh_url)
    try:
        owner_name = await owner.fetchval("select current_user")
    finally:
        await owner.close()
    async with login_role(pg_server) as role:
        async with running(fresh_url, request_database_url=as_user(fresh_url, role)) as (app, api):
            assert not app.state.database_urls.set_role
            # every connection of the request pool is the login role itself: no `set role`, nothing to reset
            identities = await every_connection(app.state.pool, "select current_user || ' ' || session_user")
            assert identities == [f"{role} {role}"] * len(identities)
            # a write and reads through the API, with the store's own filter removed: RLS alone hides the record
            finding, cisa, epa = await probe(api)
            remove_store_filter(monkeypatch)
            seen = await api.data(FINDING_QUERY, {"id": finding}, token=cisa)
            assert seen["node"] == {"id": finding} and seen["findings"]["totalCount"] == 1
            hidden = await api.data(FINDING_QUERY, {"id": finding}, token=epa)
            assert hidden == {"node": None, "findings": {"totalCount": 0, "edges": []}, "events": {"totalCount": 0}}
            # the database saw the requests as the login role, never as the owner
            check = await db.connect(fresh_url)
            try:
                request_users = await check.fetch(
                    """select distinct usename from pg_stat_activity
                        where datname = current_database() and pid <> pg_backend_pid()
                          and usename <> $1""",
                    owner_name,
                )
            finally:
                await check.close()
            assert [r["usename"] for r in request_users] == [role]


@pytest.mark.embedded
async def test_an_unsafe_login_role_is_refused_at_start(pg_server: Server, demo_url: str) -> None:
    owner = await db.connect(demo_url)
    try:
        owner_name = await owner.fetchval("select current_user")
    finally:
        await owner.close()
    # one that inherits the tables' owner's privileges (and so passes RLS as the owner would), one with BYPASSRLS
    unsafe = [{"member_of": owner_name}, {"attributes": ("bypassrls",)}]
    for spec in unsafe:
        async with login_role(
            pg_server, *spec.get("attributes", ()), member_of=spec.get("member_of", db.APP_ROLE)
        ) as r:
            with pytest.raises(db.UnsafeRole, match=f"HUB_REQUEST_DATABASE_URL logs in as {r}, which"):
                async with running(demo_url, request_database_url=as_user(demo_url, r)):
                    pass
    # the same check passes a plain member of the request role
    async with login_role(pg_server) as role:
        pool = await db.create_pool(as_user(demo_url, role), set_role=False)
        await pool.close()


# ------------------------------------------------------------------------------------------------ pooled mode


async def operations(api: Api) -> None:
    """A representative mix: a resolver query, a compiled read (its columns described afresh), a mutation."""
    token = await api.token(agency="CISA", role="ANALYST")
    saved = dict(COMPILER.columns)
    COMPILER.columns.clear()  # the compiler describes each entity's columns once per process: make it do so here
    try:
        body = await api.query(MODELS, token=token)
        assert body["extensions"].get("compiled") is True and body["data"]["models"]["totalCount"] > 0
    finally:
        COMPILER.columns.update(saved)
    body = await api.query("{ me { name } models(first: 1) { edges { node { id } } } }", token=token)
    assert "errors" not in body and not body["extensions"].get("compiled"), body
    finding, cisa, epa = await probe(api)
    assert finding


@pytest.mark.embedded
async def test_pooled_mode_keeps_no_prepared_statement_on_any_connection(pg_server: Server, fresh_url: str) -> None:
    async with login_role(pg_server) as role:
        request_url = as_user(fresh_url, role)
        small = {"pool_min_size": 2, "pool_max_size": 2, "request_database_url": request_url}
        # the probe sees prepared statements where asyncpg keeps them (the pool by default)...
        async with running(fresh_url, **small) as (app, api):
            await operations(api)
            assert sum(await every_connection(app.state.pool, PREPARED)) > 0
        # ...and none at all, on the requests' pool or the hub's own, with HUB_DATABASE_POOLER=transaction
        async with running(fresh_url, **small, database_pooler="transaction", direct_database_url=fresh_url) as (
            app,
            api,
        ):
            assert app.state.database_urls.pooled
            await operations(api)
            assert await every_connection(app.state.pool, PREPARED) == [0, 0]
            assert set(await every_connection(app.state.system_pool, PREPARED)) == {0}


async def test_jit_is_off_for_every_session_and_for_each_request_behind_a_pooler(demo_url: str) -> None:
    """JIT compilation would take seconds for a read under the visibility rule's policies (hub/db.py, NO_JIT): off in
    every session the hub opens directly (after each reset too), and, behind a pooler, where a session is not the
    hub's to set, in each request's transaction (and only there: nothing is left on the server connection; the test
    gives a pooled connection's session JIT as a server would)."""
    from hub.app import NOBODY
    from hub.store.base import bind_principal

    direct = await db.create_pool(demo_url, min_size=2, max_size=2, app_role=False)
    try:
        assert await every_connection(direct, "show jit") == ["off", "off"]
        # given back, a connection is reset (RESET ALL): and still without JIT
        assert await every_connection(direct, "show jit") == ["off", "off"]
    finally:
        await direct.close()
    single = await db.connect(demo_url)
    try:
        assert await single.fetchval("show jit") == "off"
    finally:
        await single.close()
    pooled = await db.create_pool(demo_url, min_size=1, max_size=1, app_role=False, pooled=True)
    try:
        async with pooled.acquire() as con:
            # what a pooler's server connection has: the server's default, which is on
            await con.execute("set jit = on")
            async with con.transaction():
                await bind_principal(con, NOBODY)
                assert await con.fetchval("show jit") == "off"
            assert await con.fetchval("show jit") == "on"
    finally:
        await pooled.close()


@pytest.mark.embedded
async def test_hub_serve_in_pooled_mode_serves_queries_mutations_and_subscriptions(
    pg_server: Server, fresh_url: str
) -> None:
    from tests.live import new_tokens

    async with login_role(pg_server) as role:
        env = {
            "HUB_DATABASE_POOLER": "transaction",
            "HUB_REQUEST_DATABASE_URL": as_user(fresh_url, role),
            "HUB_DIRECT_DATABASE_URL": fresh_url,
            # a long poll: the event reaches the subscriber through LISTEN on the direct connection, not a poll
            "HUB_EVENTS_POLL_SECONDS": "30",
        }
        (token,), _ = await new_tokens(fresh_url, ("CISA", "ANALYST"))
        with serving(fresh_url, env) as served:
            client = await GraphQLWs.open(served.url, token)
            await client.acked()
            await client.subscribe(STATUS, {"kinds": ["FINDING"]})
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {token}"}) as http:
                api = Api(http, fresh_url)
                model = (await api.data(MODELS, token=token))["models"]["edges"][0]["node"]["id"]
                from tests.test_workflow_findings import REPORT

                made = await api.data(
                    REPORT, {"input": {"title": "pooled probe", "modelId": model, "tlp": "GREEN"}}, token=token
                )
            finding = made["reportFinding"]["finding"]["id"]
            event = (await client.next_data(seconds=10))["statusChanged"]
            assert event["entityId"] == finding and event["action"] == "REPORTED"
            await client.close()
