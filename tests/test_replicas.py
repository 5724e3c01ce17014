"""Reads on a streaming replica (hub/replicas.py; docs/operators.md, "Read replicas"): against a real hot standby
of the embedded server (tests/replica.py), never a stand-in. Reads go to it; read-your-writes holds with the
consistency token; a token the replica has not replayed sends the read to the primary, or waits for the replica; a
stopped or lagging replica is skipped; a read cancelled by a conflict with recovery runs again on the primary; the
lag is in /metrics; a malformed token is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from hub import db
from hub.app import create_app
from hub.auth import create_principal_with_token
from hub.db import UnsafeRole
from hub.replicas import READ_FROM_HEADER, TOKEN_HEADER, ReadRouter, parse_lsn
from tests.conftest import Server, hub_settings
from tests.replica import Replica, replayed_to
from tests.test_pooler import as_user, login_role

# a streaming replica of the embedded server (tests/replica.py)
pytestmark = pytest.mark.embedded

TAXII = "application/taxii+json;version=2.1"
REGISTER = "mutation($input: RegisterLabInput!) { registerLab(input: $input) { lab { id name } errors { message } } }"
LAB = "query($id: ID!) { node(id: $id) { ... on Lab { name } } }"
LABS = "{ labs(first: 500) { totalCount nodes { name } } }"


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


@dataclasses.dataclass
class Hub:
    client: httpx.AsyncClient
    app: Any
    officer: str

    @property
    def router(self) -> ReadRouter:
        return self.app.state.reads  # type: ignore[no-any-return]

    async def post(self, query: str, variables: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        return await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.officer}", **headers},
        )

    async def register(self) -> tuple[str, str, str]:
        """Register a lab: its id, its name and the answer's consistency token."""
        name = f"replica lab {uuid.uuid4().hex[:10]}"
        response = await self.post(REGISTER, {"input": {"name": name, "country": "US"}})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["data"]["registerLab"]["errors"] == [], body
        token = response.headers[TOKEN_HEADER]
        assert body["extensions"]["consistencyToken"] == token
        assert response.headers[READ_FROM_HEADER] == "primary"
        return body["data"]["registerLab"]["lab"]["id"], name, token


@asynccontextmanager
async def hub_on(
    primary_url: str, replica: Replica, *, replica_user: str | None = None, **changes: Any
) -> AsyncIterator[Hub]:
    """The hub in process, with the replica's copy of the same database as HUB_REPLICA_DATABASE_URL (logged in as
    `replica_user` when given)."""
    replica_url = replica.url_for(database_of(primary_url))
    await replayed_to(primary_url, replica_url)
    if replica_user is not None:
        replica_url = as_user(replica_url, replica_user)
    settings = hub_settings(primary_url, replica_database_url=replica_url, **changes)
    con = await db.connect(primary_url)
    try:
        _, officer = await create_principal_with_token(con, agency_code="CISA", role="OFFICER", name="replica test")
    finally:
        await con.close()
    await replayed_to(primary_url, replica_url)  # the token's principal reached the replica too
    app = create_app(settings, database_url=primary_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield Hub(client, app, officer)


@asynccontextmanager
async def superuser(url: str) -> AsyncIterator[asyncpg.Connection]:
    con = await asyncpg.connect(url)
    try:
        yield con
    finally:
        await con.close()


async def metric(hub: Hub, name: str) -> float:
    """The value of one sample of /metrics (`name` with its labels, as printed)."""
    text = (await hub.client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def test_reads_go_to_the_replica_and_answer_as_the_primary_would(fresh_url: str, replica: Replica) -> None:
    """A query (compiled or by the resolvers), a GET query and a TAXII page are answered by the replica, as the
    request role (row-level security holds there too), with the data the primary has; reads are counted by target."""
    async with hub_on(fresh_url, replica) as hub:
        assert hub.router.state.up, hub.router.state
        before = await metric(hub, 'hub_reads_total{target="replica"}')
        on_replica = await hub.post(LABS)
        assert on_replica.status_code == 200, on_replica.text
        assert on_replica.headers[READ_FROM_HEADER] == "replica"
        assert on_replica.json()["extensions"]["compiled"] is True  # one compiled statement, on the replica
        async with superuser(fresh_url) as con:
            names = {r["name"] for r in await con.fetch("select name from labs")}
        assert {n["name"] for n in on_replica.json()["data"]["labs"]["nodes"]} == names
        # the replica's connection runs as the request role, not as the URL's superuser
        async with hub.router.replica.acquire() as con:  # type: ignore[union-attr]
            assert await con.fetchval("select current_user") == db.APP_ROLE
        resolvers = await hub.post("{ labs(first: 5) { nodes { name history(first: 2) { __typename } } } }")
        assert resolvers.status_code == 200 and "errors" not in resolvers.json(), resolvers.text
        assert resolvers.headers[READ_FROM_HEADER] == "replica"
        assert "compiled" not in resolvers.json()["extensions"]  # answered by the resolvers
        taxii = await hub.client.get(
            "/taxii2/api/collections/", headers={"Accept": TAXII, "Authorization": f"Bearer {hub.officer}"}
        )
        assert taxii.status_code == 200
        collection = taxii.json()["collections"][0]["id"]
        page = await hub.client.get(
            f"/taxii2/api/collections/{collection}/objects/",
            headers={"Accept": TAXII, "Authorization": f"Bearer {hub.officer}"},
        )
        assert page.status_code == 200, page.text
        assert page.headers[READ_FROM_HEADER] == "replica"
        assert await metric(hub, 'hub_reads_total{target="replica"}') >= before + 3


async def test_the_replica_logs_in_as_the_request_login_role(
    pg_server: Server, fresh_url: str, replica: Replica
) -> None:
    """With HUB_REQUEST_DATABASE_URL (and a transaction pooler's settings), the replica's URL logs in as the same
    login role, with no `set role`: reads run on the replica as that role, under row-level security; a replica URL
    whose role could bypass it (a superuser without `set role`) keeps the hub from starting, naming the setting."""
    async with login_role(pg_server) as role:
        async with hub_on(
            fresh_url,
            replica,
            replica_user=role,
            request_database_url=as_user(fresh_url, role),
            database_pooler="transaction",
            direct_database_url=fresh_url,
        ) as hub:
            read = await hub.post(LABS)
            assert read.status_code == 200 and read.headers[READ_FROM_HEADER] == "replica", read.text
            async with hub.router.replica.acquire() as con:  # type: ignore[union-attr]
                assert await con.fetchval("select current_user") == role
        with pytest.raises(UnsafeRole, match="HUB_REPLICA_DATABASE_URL"):
            async with hub_on(
                fresh_url, replica, replica_user="postgres", request_database_url=as_user(fresh_url, role)
            ):
                pass


async def test_read_your_writes_holds_with_the_token(fresh_url: str, replica: Replica) -> None:
    """Differential: every write read back at once with its token is seen, whoever answers (no sleep); and the
    token is the primary's WAL position after the commit."""
    async with hub_on(fresh_url, replica) as hub:
        answered_by: set[str] = set()
        for _ in range(30):
            lab_id, name, token = await hub.register()
            read = await hub.post(LAB, {"id": lab_id}, **{TOKEN_HEADER: token})
            assert read.status_code == 200, read.text
            assert read.json()["data"]["node"] == {"name": name}, (token, read.headers[READ_FROM_HEADER])
            answered_by.add(read.headers[READ_FROM_HEADER])
        assert "replica" in answered_by
        async with superuser(fresh_url) as con:
            now = parse_lsn(await con.fetchval("select pg_current_wal_lsn()::text"))
        assert parse_lsn(token) <= now


async def test_a_token_the_replica_has_not_replayed_goes_to_the_primary_or_waits(
    fresh_url: str, replica: Replica
) -> None:
    """With the replica's replay paused, a read without a token gets the replica's older state; with the token it
    gets the primary after the bounded wait; and a read with the token that is waiting when replay resumes is
    answered by the replica, with the write."""
    replica_admin = replica.url_for(database_of(fresh_url))
    async with hub_on(fresh_url, replica, consistency_wait_seconds=0.3) as hub, superuser(replica_admin) as standby:
        await standby.execute("select pg_wal_replay_pause()")
        try:
            lab_id, name, token = await hub.register()
            stale = await hub.post(LAB, {"id": lab_id})
            assert stale.headers[READ_FROM_HEADER] == "replica"
            assert stale.json()["data"]["node"] is None  # the replica does not have it yet
            fallbacks = await metric(hub, 'hub_replica_fallbacks_total{reason="token"}')
            fresh = await hub.post(LAB, {"id": lab_id}, **{TOKEN_HEADER: token})
            assert fresh.headers[READ_FROM_HEADER] == "primary"
            assert fresh.json()["data"]["node"] == {"name": name}
            assert await metric(hub, 'hub_replica_fallbacks_total{reason="token"}') == fallbacks + 1
            # a longer wait: replay resumes while the read waits, and the replica answers it
            hub.router.consistency_wait_seconds = 10.0
            waiting = asyncio.create_task(hub.post(LAB, {"id": lab_id}, **{TOKEN_HEADER: token}))
            await asyncio.sleep(0.3)
            assert not waiting.done()
        finally:
            await standby.execute("select pg_wal_replay_resume()")
        waited = await waiting
        assert waited.headers[READ_FROM_HEADER] == "replica"
        assert waited.json()["data"]["node"] == {"name": name}


async def test_a_token_past_anything_the_primary_wrote_goes_to_the_primary_without_waiting(
    fresh_url: str, replica: Replica
) -> None:
    """A made-up token (past the primary's WAL position: no mutation gave it) would hold a replica connection for the
    whole wait: the primary answers it at once, counted as such (with the wait, it would count as "token")."""
    async with hub_on(fresh_url, replica, consistency_wait_seconds=30.0) as hub:
        before = await metric(hub, 'hub_replica_fallbacks_total{reason="ahead"}')
        waited = await metric(hub, 'hub_replica_fallbacks_total{reason="token"}')
        read = await hub.post(LABS, **{TOKEN_HEADER: "FFFFFFFF/FFFFFFFF"})
        assert read.status_code == 200 and read.headers[READ_FROM_HEADER] == "primary", read.text
        assert await metric(hub, 'hub_replica_fallbacks_total{reason="ahead"}') == before + 1
        assert await metric(hub, 'hub_replica_fallbacks_total{reason="token"}') == waited
        # a real token still goes to the replica once it is replayed
        lab_id, name, token = await hub.register()
        fresh = await hub.post(LAB, {"id": lab_id}, **{TOKEN_HEADER: token})
        assert fresh.json()["data"]["node"] == {"name": name}


async def test_a_lagging_replica_is_skipped_and_its_lag_exported(fresh_url: str, replica: Replica) -> None:
    """Replay paused under writes: the lag grows in /metrics, and once it passes HUB_REPLICA_MAX_LAG_SECONDS reads
    go to the primary; resumed, the lag falls to 0 and the replica answers again."""
    replica_admin = replica.url_for(database_of(fresh_url))
    async with hub_on(fresh_url, replica, replica_max_lag_seconds=0.5) as hub, superuser(replica_admin) as standby:
        await hub.router.check()
        assert await metric(hub, "hub_replica_lag_seconds") < 0.5
        await standby.execute("select pg_wal_replay_pause()")
        try:
            for _ in range(4):
                await hub.register()
                await hub.router.check()
                await asyncio.sleep(0.25)
            await hub.router.check()
            assert await metric(hub, "hub_replica_lag_seconds") > 0.5
            assert await metric(hub, "hub_replica_lag_bytes") > 0
            skipped = await hub.post(LABS)
            assert skipped.headers[READ_FROM_HEADER] == "primary"
            assert await metric(hub, 'hub_replica_fallbacks_total{reason="lagging"}') >= 1
        finally:
            await standby.execute("select pg_wal_replay_resume()")
        await replayed_to(fresh_url, replica_admin)
        await hub.router.check()
        assert await metric(hub, "hub_replica_lag_seconds") == 0
        assert (await hub.post(LABS)).headers[READ_FROM_HEADER] == "replica"


async def test_a_stopped_replica_is_skipped_until_it_is_back(fresh_url: str, replica: Replica) -> None:
    """The replica stopped under the hub: reads carry on from the primary without an error (the read that meets it
    down included), hub_replica_up says 0; started again, the next check sends reads back to it."""
    async with hub_on(fresh_url, replica) as hub:
        assert (await hub.post(LABS)).headers[READ_FROM_HEADER] == "replica"
        replica.stop()
        try:
            for _ in range(5):
                response = await hub.post(LABS)
                assert response.status_code == 200 and "errors" not in response.json(), response.text
                assert response.headers[READ_FROM_HEADER] == "primary"
            await hub.router.check()
            assert await metric(hub, "hub_replica_up") == 0
            ready = await hub.client.get("/readyz")  # the node stays ready: the primary answers
            assert ready.status_code == 200 and ready.json()["replica"] == "down", ready.text
        finally:
            replica.start()
        await replayed_to(fresh_url, replica.url_for(database_of(fresh_url)))
        await hub.router.check()
        assert await metric(hub, "hub_replica_up") == 1
        assert (await hub.client.get("/readyz")).json()["replica"] == "up"
        assert (await hub.post(LABS)).headers[READ_FROM_HEADER] == "replica"


async def test_a_read_cancelled_by_a_recovery_conflict_runs_again_on_the_primary(
    fresh_url: str, replica: Replica
) -> None:
    """A real conflict: a read holds a table on the replica while the primary takes an exclusive lock on it; the
    replica cancels the read after max_standby_streaming_delay (SQLSTATE 40001, "conflict with recovery") and the
    router runs it on the primary."""
    async with superuser(fresh_url) as con:
        await con.execute(f"create table conflict_probe (x int); grant select on conflict_probe to {db.APP_ROLE}")
    async with hub_on(fresh_url, replica) as hub:
        ran_on: list[str] = []

        async def slow_read(con: asyncpg.Connection, target: str) -> int:
            ran_on.append(target)
            return int(await con.fetchval("select count(*) from conflict_probe, pg_sleep(3)"))

        async def exclusive_lock() -> None:
            await asyncio.sleep(0.5)  # the read holds its lock on the replica by then
            async with superuser(fresh_url) as con, con.transaction():
                await con.execute("lock table conflict_probe in access exclusive mode")

        before = await metric(hub, 'hub_replica_fallbacks_total{reason="conflict"}')
        (count, target), _ = await asyncio.gather(hub.router.read(slow_read), exclusive_lock())
        assert ran_on == ["replica", "primary"] and target == "primary" and count == 0
        assert await metric(hub, 'hub_replica_fallbacks_total{reason="conflict"}') == before + 1


async def test_a_malformed_token_is_refused_naming_the_header(fresh_url: str, replica: Replica) -> None:
    """A token that is not a WAL position is refused with 400 naming the header, over GraphQL and TAXII alike;
    an empty one counts as none."""
    async with hub_on(fresh_url, replica) as hub:
        for token in ("yesterday", "0/", "0/3000148; drop", "123456789/0", "-1/5"):
            refused = await hub.post(LABS, **{TOKEN_HEADER: token})
            assert refused.status_code == 400, (token, refused.text)
            assert TOKEN_HEADER in refused.json()["errors"][0]["message"]
            taxii = await hub.client.get(
                "/taxii2/api/collections/",
                headers={"Accept": TAXII, "Authorization": f"Bearer {hub.officer}", TOKEN_HEADER: token},
            )
            assert taxii.status_code == 400 and TOKEN_HEADER in taxii.json()["description"], taxii.text
        assert (await hub.post(LABS, **{TOKEN_HEADER: ""})).status_code == 200
