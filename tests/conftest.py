"""Fixtures: a real PostgreSQL (embedded, or HUB_DATABASE_URL), a migrated template with the demo data, and
fresh databases cloned from it for tests that write."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from hub import db
from hub.app import create_app
from hub.auth import create_principal_with_token
from hub.settings import Settings
from hub.webhooks.secrets import new_key
from tests.replica import Replica, make_replica

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# `make test` runs the modules in several processes (pytest-xdist), each with its own embedded server; on one
# server of HUB_DATABASE_URL, a database with a fixed name is one per process
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def per_worker(name: str) -> str:
    """`name`, made the test process's own when several share one server."""
    return f"{name}_{WORKER}" if WORKER else name


TEMPLATE = per_worker("hub_test_template")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# tests/cluster/ builds a deployment of real servers (PostgreSQL 15, PgBouncer, HAProxy, three hubs): `make
# test-cluster` runs it, `make test` (pytest without a path) leaves it out
CLUSTER_TESTS = Path(__file__).resolve().parent / "cluster"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path != CLUSTER_TESTS:
        return None
    asked = (config.invocation_params.dir / arg.split("::")[0] for arg in config.args)
    return None if any(path.resolve().is_relative_to(CLUSTER_TESTS) for path in asked) else True


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `embedded` needs the embedded server: it logs in as roles it creates (which the embedded server
    trusts and another server's authentication may not), copies the server with pg_basebackup, or compares figures
    with the ones documented from its planner. On HUB_DATABASE_URL it fails saying so; `-m 'not embedded'` leaves
    those tests out."""
    if item.get_closest_marker("embedded") and os.environ.get("HUB_DATABASE_URL"):
        pytest.fail(
            "this test needs the tests' embedded PostgreSQL (pytest mark `embedded`): "
            "with HUB_DATABASE_URL, run with -m 'not embedded'"
        )


@dataclass
class Server:
    """The PostgreSQL server the tests use, and how to reach its databases."""

    admin_url: str
    url_for_database: Any
    data_dir: Path | None = None
    embedded: db.EmbeddedServer | None = None


def _url_with_database(url: str, name: str) -> str:
    """The same server as `url`, database `name`."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A folder for an embedded server's data, outside pytest's temporary root: pytest resets that root to mode
    700 when another pytest starts, which would lock out the server's own system user (when run as root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    external = os.environ.get("HUB_DATABASE_URL")
    if external:
        yield Server(admin_url=external, url_for_database=lambda name: _url_with_database(external, name))
        return
    with scratch_folder("hub-test-data-") as data_dir:
        embedded = db.start_embedded(data_dir)
        try:
            yield Server(
                admin_url=embedded.admin_url, url_for_database=embedded.url_for, data_dir=data_dir, embedded=embedded
            )
        finally:
            embedded.release()


@pytest.fixture(scope="session")
async def template_url(pg_server: Server) -> str:
    """A database migrated and loaded with the demo data, cloned by the other fixtures."""
    from hub.demo import load_demo

    admin = await asyncpg.connect(pg_server.admin_url)
    try:
        await force_drop(admin, TEMPLATE)
        await admin.execute(f'create database "{TEMPLATE}"')
    finally:
        await admin.close()
    url = pg_server.url_for_database(TEMPLATE)
    con = await db.connect(url)
    admin = await asyncpg.connect(pg_server.admin_url)
    try:
        # the test processes migrate their templates one at a time: the first migration creates the server's
        # request role, which two processes would create at once on a server that has none yet
        await admin.execute("select pg_advisory_lock(hashtext('hub_test_template'))")
        try:
            await db.migrate(con)
        finally:
            await admin.execute("select pg_advisory_unlock(hashtext('hub_test_template'))")
        await load_demo(con)
    finally:
        await con.close()
        await admin.close()
    return str(url)


async def force_drop(admin: asyncpg.Connection, name: str) -> None:
    """`drop database if exists ... with (force)`, tried again for a few seconds while it is refused the right to end
    one of the database's sessions: where the tests' role is no superuser, PostgreSQL 15 counts an autovacuum worker's
    session, which belongs to no role, as another role's (it ends by itself)."""
    for attempt in range(40):
        try:
            await admin.execute(f'drop database if exists "{name}" with (force)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if attempt == 39:
                raise
            await asyncio.sleep(0.25)


async def clone_database(server: Server, name: str) -> str:
    admin = await asyncpg.connect(server.admin_url)
    try:
        await force_drop(admin, name)
        await admin.execute(f'create database "{name}" template "{TEMPLATE}"')
    finally:
        await admin.close()
    return str(server.url_for_database(name))


async def drop_database(server: Server, name: str) -> None:
    admin = await asyncpg.connect(server.admin_url)
    try:
        await force_drop(admin, name)
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def replica(pg_server: Server) -> Iterator[Replica]:
    """A streaming replica of the embedded server (one per test session: tests/replica.py), for the read-replica
    tests (tests/test_replicas.py). Every database the tests make on the primary reaches it."""
    assert pg_server.embedded is not None, "the replica tests are marked `embedded`"
    with scratch_folder("hub-test-replica-") as folder:
        made = make_replica(pg_server.embedded, folder)
        try:
            yield made
        finally:
            with contextlib.suppress(RuntimeError):
                made.stop()


@pytest.fixture(scope="session")
async def demo_url(pg_server: Server, template_url: str) -> str:
    """A demo database shared by tests that only read."""
    return await clone_database(pg_server, per_worker("hub_test_demo"))


@contextlib.asynccontextmanager
async def empty_database(server: Server, prefix: str = "hub_test_empty") -> AsyncIterator[str]:
    """The URL of an empty database of its own (no migration applied), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server.admin_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    try:
        yield str(server.url_for_database(name))
    finally:
        await drop_database(server, name)


@pytest.fixture
async def empty_url(pg_server: Server) -> AsyncIterator[str]:
    """An empty database of its own (no migration applied), dropped after the test."""
    async with empty_database(pg_server) as url:
        yield url


@pytest.fixture
async def fresh_url(pg_server: Server, template_url: str) -> AsyncIterator[str]:
    """A database of its own (demo data included) for a test that writes."""
    name = f"hub_test_{uuid.uuid4().hex[:12]}"
    url = await clone_database(pg_server, name)
    yield url
    await drop_database(pg_server, name)


@pytest.fixture
async def connection(fresh_url: str) -> AsyncIterator[asyncpg.Connection]:
    con = await db.connect(fresh_url)
    yield con
    await con.close()


class Api:
    """GraphQL over the ASGI app (in process; the server tests go over real HTTP)."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url
        self._tokens: dict[tuple[Any, ...], str] = {}

    async def token(
        self, *, agency: str | None = None, role: str = "OFFICER", lab: str | None = None, name: str | None = None
    ) -> str:
        key = (agency, role, lab, name)
        if key not in self._tokens:
            con = await db.connect(self.url)
            try:
                _, token = await create_principal_with_token(
                    con, agency_code=agency, role=role, lab_name=lab, name=name or f"test {agency or lab} {role}"
                )
            finally:
                await con.close()
            self._tokens[key] = token
        return self._tokens[key]

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)

    async def query(self, query: str, variables: dict[str, Any] | None = None, *, token: str) -> dict[str, Any]:
        """The response body; fails the test on a non-200 status."""
        response = await self.post(query, variables, token=token)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def request_error(self, query: str, variables: dict[str, Any] | None = None, *, token: str) -> dict[str, Any]:
        """The body of a request refused before it ran (a variable that does not coerce, say): 400, no data."""
        response = await self.post(query, variables, token=token)
        assert response.status_code == 400, response.text
        body = dict(response.json())
        assert "data" not in body and body["errors"], body
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, *, token: str) -> dict[str, Any]:
        """The data of a query that must succeed without errors."""
        body = await self.query(query, variables, token=token)
        assert "errors" not in body, body["errors"]
        return dict(body["data"])


def hub_settings(url: str, **changes: Any) -> Settings:
    """The settings of an in-process hub on `url`, with `changes`. The scheduler writes on its own clock, and the
    webhook worker on its own too: tests that need them run them themselves (tests/test_webhooks.py); the key of the
    webhook secrets is the test's own."""
    return dataclasses.replace(
        Settings.from_env().with_(database_url=url),
        scheduler_enabled=False,
        webhooks_enabled=False,
        webhook_secret_key=new_key(),
        **changes,
    )


async def _api(url: str) -> AsyncIterator[Api]:
    app = create_app(hub_settings(url), database_url=url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield Api(client, url)


@pytest.fixture(scope="session")
async def demo_api(demo_url: str) -> AsyncIterator[Api]:
    async for api in _api(demo_url):
        yield api


@pytest.fixture
async def api(fresh_url: str) -> AsyncIterator[Api]:
    async for api in _api(fresh_url):
        yield api


def chromium() -> str:
    """The system's Chromium (Playwright never downloads one here); CI installs Debian's `chromium`."""
    path = os.environ.get("HUB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        if os.environ.get("CI"):
            pytest.fail("no Chromium: install Debian's `chromium` package (or set HUB_CHROMIUM)")
        pytest.skip("no Chromium here: install Debian's `chromium` package (or set HUB_CHROMIUM) for the browser tests")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium driven by Playwright, for the tests of the pages the hub serves (the board, GraphiQL)."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
