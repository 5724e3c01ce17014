"""The hub through a real PgBouncer 1.18 in transaction mode (tests/cluster/pgbouncer.py; docs/operators.md, "Beyond
one machine", "PgBouncer"), with 2 server connections per user so that the transactions of different clients share
them: no prepared-statement error (where asyncpg's default statement cache does meet them), no setting of one
principal seen by another request, requests always as the request login role, and what is session-scoped (LISTEN,
the scheduler's lock, the migrations) on the direct connection."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from hub.app import COMPILER, create_app
from hub.auth import Principal
from hub.scheduler import SCHEDULER_LOCK_KEY
from hub.settings import Settings
from hub.store.base import bind_principal
from hub.webhooks.secrets import new_key
from tests.cluster.pgbouncer import OWNER, REQUEST, Bounced, bounced
from tests.conftest import Api
from tests.live import GraphQLWs, new_tokens, serving
from tests.rls import remove_store_filter
from tests.test_rls import FINDING_QUERY, probe
from tests.test_subscriptions import STATUS
from tests.test_workflow_findings import REPORT, a_model

READ = """query { me { name agency { code } lab { name } }
  findings(first: 2) { totalCount edges { node { id title tlp } } } }"""
COMPILED = "{ models(first: 5) { totalCount edges { node { id name } } } }"


@pytest.fixture(scope="module")
def bouncer() -> Iterator[Bounced]:
    with bounced(pool_size=2) as running:
        yield running


def hub_settings(bouncer: Bounced, **changes: Any) -> Settings:
    """A node as docs/operators.md deploys one behind PgBouncer."""
    node_settings: dict[str, Any] = {
        "request_database_url": bouncer.request_url,
        "direct_database_url": bouncer.direct_url,
        "database_pooler": "transaction",
        "pool_min_size": 1,
        "pool_max_size": 10,
        "scheduler_enabled": False,
        "webhooks_enabled": False,
        "webhook_secret_key": new_key(),
    }
    return dataclasses.replace(
        Settings.from_env().with_(database_url=bouncer.owner_bounced_url), **{**node_settings, **changes}
    )


@asynccontextmanager
async def node(bouncer: Bounced, **changes: Any) -> AsyncIterator[tuple[Any, Api]]:
    settings = hub_settings(bouncer, **changes)
    app = create_app(settings, database_url=bouncer.owner_bounced_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            # tokens are made by the owner on the direct connection, as `hub token create` does
            yield app, Api(client, bouncer.direct_url)


async def backends(bouncer: Bounced, user: str) -> list[Any]:
    """The primary's backends of `user` in the hub's database, with their client address (None: PgBouncer's socket)."""
    con = await asyncpg.connect(bouncer.superuser_url)
    try:
        return list(
            await con.fetch(
                """select pid, client_addr, query from pg_stat_activity
                    where datname = current_database() and usename = $1""",
                user,
            )
        )
    finally:
        await con.close()


async def test_asyncpg_with_its_statement_cache_meets_prepared_statement_errors_here(bouncer: Bounced) -> None:
    """The control: the harness does share server connections between clients, so the default cache breaks."""
    pool = await asyncpg.create_pool(bouncer.request_url, min_size=6, max_size=6)
    try:

        async def one(n: int) -> None:
            async with pool.acquire() as con:
                assert await con.fetchval(f"select $1::int + {n % 7}", n) == n + n % 7

        outcomes = await asyncio.gather(*(one(n) for n in range(120)), return_exceptions=True)
    finally:
        await pool.close()
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert any("prepared statement" in str(f) for f in failures), failures[:3]


async def test_a_mix_of_reads_and_writes_from_many_clients_runs_without_error(bouncer: Bounced) -> None:
    async with node(bouncer) as (app, api):
        tokens = [
            await api.token(agency="CISA", role="ANALYST"),
            await api.token(agency="EPA", role="OFFICER"),
            await api.token(agency="DOE", role="VIEWER"),
            await api.token(lab="Anthropic", role="LAB_LIAISON"),
        ]
        model = await a_model(api, tokens[0])

        async def client(n: int) -> None:
            token = tokens[n % len(tokens)]
            for step in range(6):
                if n % len(tokens) == 0 and step % 3 == 0:
                    title = f"bounced {n}.{step}"
                    data = await api.data(
                        REPORT, {"input": {"title": title, "modelId": model, "tlp": "GREEN"}}, token=token
                    )
                    assert data["reportFinding"]["errors"] == [], data
                else:
                    if step == 0:
                        COMPILER.columns.clear()  # the compiler describes the columns again, concurrently
                    body = await api.query(COMPILED if step % 2 else READ, token=token)
                    assert "errors" not in body, body["errors"]

        await asyncio.gather(*(client(n) for n in range(24)))
        # the transactions of the hub's clients shared PgBouncer's 2 server connections of the request role
        assert app.state.pool.get_size() > bouncer.pool_size
        request_backends = await backends(bouncer, REQUEST)
        assert 0 < len(request_backends) <= bouncer.pool_size
        assert all(b["client_addr"] is None for b in request_backends)  # through PgBouncer's socket


async def test_no_principal_setting_leaks_between_transactions_or_requests(bouncer: Bounced) -> None:
    async with node(bouncer) as (app, api):
        # through the API: each principal's answer, alone, then under concurrency, where a setting of one leaking into
        # another's transaction would show another principal's answer
        holders = [
            {"agency": "CISA", "role": "ANALYST"},
            {"agency": "EPA", "role": "OFFICER"},
            {"agency": "DOE", "role": "VIEWER"},
            {"lab": "Anthropic", "role": "LAB_LIAISON"},
            {"lab": "OpenAI", "role": "LAB_LIAISON"},
        ]
        tokens = [await api.token(**h) for h in holders]
        alone = [await api.data(READ, token=t) for t in tokens]
        assert len({str(a) for a in alone}) == len(tokens)  # every principal sees something different
        order = [n % len(tokens) for n in range(100)]
        random.Random(20).shuffle(order)
        answers = await asyncio.gather(*(api.data(READ, token=tokens[i]) for i in order))
        for i, answer in zip(order, answers, strict=True):
            assert answer == alone[i]
        # on the SQL level: each transaction sees its own principal only, and nothing once it ended, on server
        # connections that PgBouncer hands from one client to the next
        seen_backends: Counter[int] = Counter()

        async def transaction(n: int) -> None:
            principal = Principal(id=1000 + n, name="probe", role="VIEWER", agency_id=n, agency_code="X", lab_id=None)
            async with app.state.pool.acquire() as con:
                async with con.transaction():
                    await bind_principal(con, principal)
                    seen_backends[await con.fetchval("select pg_backend_pid()")] += 1
                    await asyncio.sleep(random.random() / 100)
                    assert await con.fetchval("select current_setting('hub.principal_id')") == str(1000 + n)
                    assert await con.fetchval("select current_setting('hub.agency_id')") == str(n)
                outside = await con.fetchrow(
                    """select current_setting('hub.principal_id', true) as principal,
                              current_setting('statement_timeout') as timeout, current_user as who"""
                )
                assert outside["principal"] in (None, "") and outside["who"] == REQUEST
                assert outside["timeout"] == "0"  # bind_principal's timeout was the transaction's own

        await asyncio.gather(*(transaction(n) for n in range(80)))
        assert 1 <= len(seen_backends) <= bouncer.pool_size and sum(seen_backends.values()) == 80


async def test_requests_never_run_as_the_owner_and_rls_holds_through_the_pooler(
    bouncer: Bounced, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with node(bouncer) as (app, api):
        finding, cisa, epa = await probe(api)
        remove_store_filter(monkeypatch)

        async def who() -> tuple[str, str]:
            async with app.state.pool.acquire() as con, con.transaction():
                row = await con.fetchrow("select current_user, session_user")
                return row[0], row[1]

        async def hidden() -> None:
            view = await api.data(FINDING_QUERY, {"id": finding}, token=epa)
            assert view == {"node": None, "findings": {"totalCount": 0, "edges": []}, "events": {"totalCount": 0}}

        results = await asyncio.gather(*(who() for _ in range(40)), *(hidden() for _ in range(20)))
        assert {r for r in results if r is not None} == {(REQUEST, REQUEST)}
        seen = await api.data(FINDING_QUERY, {"id": finding}, token=cisa)
        assert seen["node"] == {"id": finding}
        # the LISTEN connection is a backend of its own, reached directly (through PgBouncer, the pid it reported
        # would be PgBouncer's made-up one, and the client address its socket's)
        listener = app.state.events._listener
        assert listener is not None
        direct = {b["pid"]: b["client_addr"] for b in await backends(bouncer, OWNER)}
        assert direct.get(listener.get_server_pid()) is not None


async def test_hub_serve_behind_pgbouncer_listens_and_locks_on_the_direct_connection(bouncer: Bounced) -> None:
    env = {
        "HUB_DATABASE_POOLER": "transaction",
        "HUB_REQUEST_DATABASE_URL": bouncer.request_url,
        "HUB_DIRECT_DATABASE_URL": bouncer.direct_url,
        "HUB_SCHEDULER": "on",
        # a long poll: the event reaches the subscriber through LISTEN, not the poll
        "HUB_EVENTS_POLL_SECONDS": "30",
    }
    (token,), _ = await new_tokens(bouncer.direct_url, ("CISA", "ANALYST"))
    with serving(bouncer.owner_bounced_url, env) as served:
        client = await GraphQLWs.open(served.url, token)
        await client.acked()
        await client.subscribe(STATUS, {"kinds": ["FINDING"]})
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=served.url) as http:
            api = Api(http, bouncer.direct_url)
            model = await a_model(api, token)
            report = {"input": {"title": "served bounced", "modelId": model, "tlp": "GREEN"}}
            made = await api.data(REPORT, report, token=token)
        event = (await client.next_data(seconds=10))["statusChanged"]
        assert event["entityId"] == made["reportFinding"]["finding"]["id"]
        await client.close()
        con = await asyncpg.connect(bouncer.superuser_url)
        try:
            direct = await con.fetch(
                """select pid from pg_stat_activity
                    where datname = current_database() and usename = $1 and client_addr is not null""",
                OWNER,
            )
            lock_holders = await con.fetch(
                """select a.client_addr from pg_locks l join pg_stat_activity a using (pid)
                    where l.locktype = 'advisory' and l.granted
                      and (l.classid::bigint << 32) | l.objid::bigint = $1""",
                SCHEDULER_LOCK_KEY,
            )
        finally:
            await con.close()
        # the node's direct connections: its LISTEN (which woke the subscription well within the 30 s poll) and the
        # scheduler's, which holds the lock
        assert len(direct) >= 2
        assert len(lock_holders) == 1 and lock_holders[0]["client_addr"] is not None


async def test_webhook_workers_behind_pgbouncer_deliver_each_event_once_in_order(bouncer: Bounced) -> None:
    """The node's webhook worker and two more (as other processes would be) on PgBouncer, their endpoint locks on the
    direct connection: one at a time delivers, so each event arrives once and in order. (Session advisory locks
    taken through the pooler would be taken and released on whichever server connection came up.)"""
    from hub.webhooks.worker import WebhookWorker
    from tests.test_webhooks import finding_flow, move, register, webhook_settings
    from tests.webhook_receiver import Receiver

    fast = webhook_settings(bouncer.owner_bounced_url)
    changes = {
        name: getattr(fast, name)
        for name in (
            "webhooks_enabled",
            "webhook_secret_key",
            "webhook_allowed_networks",
            "webhook_allow_http",
            "webhook_poll_seconds",
            "webhook_backoff_seconds",
            "webhook_backoff_max_seconds",
            "webhook_timeout_seconds",
        )
    }
    receiver = await Receiver().start()
    try:
        async with node(bouncer, **changes) as (app, api):
            assert app.state.webhooks.lock_pool is not app.state.webhooks.pool
            admin = await api.token(agency="CISA", role="ADMIN")
            analyst = await api.token(agency="CISA", role="ANALYST")
            made = await register(api, admin, receiver.url, entityKinds=["FINDING"])
            settings = hub_settings(bouncer, **changes)
            others = [
                WebhookWorker(bouncer.owner_bounced_url, settings, lock_url=bouncer.direct_url, pooled=True)
                for _ in (1, 2)
            ]
            for worker in others:
                await worker.start()
            try:
                finding = await finding_flow(api, analyst)
                for version, to in enumerate(("TRIAGED", "VALIDATED", "COORDINATING", "DISCLOSED"), start=1):
                    await move(api, analyst, finding, to, version)
                got = await receiver.wait_for(5)
                await asyncio.sleep(0.5)
            finally:
                for worker in others:
                    await worker.stop()
    finally:
        await receiver.stop()
    ids = [int(r.id) for r in receiver.received]
    assert len(ids) == 5 and ids == sorted(set(ids)), ids
    assert all(r.verify(made["secret"]) for r in got)
