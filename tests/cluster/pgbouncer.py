"""A PostgreSQL primary (Debian's PostgreSQL 15) with PgBouncer 1.18 in transaction mode in front of it, for
tests/cluster/test_pgbouncer.py and bench/pooler.py: the smallest deployment where a transaction pooler stands
between the hub and PostgreSQL (docs/operators.md, "Beyond one machine", "PgBouncer").

PgBouncer keeps few server connections per database and user (`pool_size`, 2 by default here), so that the
transactions of different clients share them, as in production. It reaches PostgreSQL over the Unix socket and the
hub's direct connections come over TCP: in pg_stat_activity PgBouncer's server connections have no client address
and the direct ones have 127.0.0.1, which tells them apart. Both servers run as the `postgres` system user (initdb
and PgBouncer refuse root); everything lives in one temporary folder and every process started is stopped by its
pid.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hub import db

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
DATABASE = "frontier_hub"
OWNER, OWNER_PASSWORD = "hub_owner", "owner-secret"
# the role requests log in as (docs/operators.md): a login role that is a member of the hub's request role
REQUEST, REQUEST_PASSWORD = "hub_request", "request-secret"
# ports of issue 20's plan for this part: PostgreSQL 54320-54329, PgBouncer 6432-6439
PRIMARY_PORT = 54320
BOUNCER_PORT = 6432


class HarnessError(RuntimeError):
    """A part did not start; the message names it and quotes its log."""


def missing_tools() -> list[str]:
    """What the harness needs that this machine lacks (Debian packages: postgresql-15, pgbouncer)."""
    missing = [tool for tool in ("pgbouncer", "runuser") if shutil.which(tool) is None]
    if not (PG_BIN / "postgres").exists():
        missing.append(str(PG_BIN / "postgres"))
    return missing


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise HarnessError(f"{what} failed ({done.returncode}): {done.stdout}\n{done.stderr}")


def _as_postgres(*command: str | Path) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *(str(c) for c in command)]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Bounced:
    """The running primary and PgBouncer, and the URLs of the hub's settings for them."""

    folder: Path
    bouncer: subprocess.Popen[bytes]
    pool_size: int

    @property
    def superuser_url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{PRIMARY_PORT}/{DATABASE}"

    @property
    def direct_url(self) -> str:
        """HUB_DATABASE_URL / HUB_DIRECT_DATABASE_URL: the tables' owner, straight to the primary."""
        return f"postgresql://{OWNER}:{OWNER_PASSWORD}@127.0.0.1:{PRIMARY_PORT}/{DATABASE}"

    @property
    def owner_bounced_url(self) -> str:
        """The tables' owner through PgBouncer (HUB_DATABASE_URL when it goes through the pooler)."""
        return f"postgresql://{OWNER}:{OWNER_PASSWORD}@127.0.0.1:{BOUNCER_PORT}/{DATABASE}"

    @property
    def request_url(self) -> str:
        """HUB_REQUEST_DATABASE_URL: the request login role through PgBouncer."""
        return f"postgresql://{REQUEST}:{REQUEST_PASSWORD}@127.0.0.1:{BOUNCER_PORT}/{DATABASE}"


def _write_bouncer_config(folder: Path, pool_size: int) -> Path:
    users = folder / "userlist.txt"
    users.write_text(f'"{OWNER}" "{OWNER_PASSWORD}"\n"{REQUEST}" "{REQUEST_PASSWORD}"\n')
    config = folder / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
{DATABASE} = host={folder / "socket"} port={PRIMARY_PORT} dbname={DATABASE}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {BOUNCER_PORT}
unix_socket_dir =
auth_type = md5
auth_file = {users}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
server_reset_query =
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
"""
    )
    return config


async def _prepare_database(superuser_url: str, admin_url: str) -> None:
    """The roles as docs/operators.md has an operator create them, the database, the migrations and the demo."""
    from hub.demo import load_demo

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"create role {db.APP_ROLE} nologin nobypassrls")
        await admin.execute(f"create role {OWNER} login password '{OWNER_PASSWORD}'")
        # the owner switches to the request role (the event fan-out's `set local role`) and its migrations grant it
        await admin.execute(f"grant {db.APP_ROLE} to {OWNER} with admin option")
        await admin.execute(f"create role {REQUEST} login password '{REQUEST_PASSWORD}' in role {db.APP_ROLE}")
        await admin.execute(f"create database {DATABASE} owner {OWNER}")
    finally:
        await admin.close()
    owner = await db.connect(superuser_url.replace(f"{PG_USER}@", f"{OWNER}:{OWNER_PASSWORD}@"))
    try:
        await db.migrate(owner)
        await load_demo(owner)
    finally:
        await owner.close()


@contextmanager
def bounced(pool_size: int = 2) -> Iterator[Bounced]:
    """Start the primary and PgBouncer in a temporary folder; stop both (by pid) and remove the folder after."""
    missing = missing_tools()
    if missing:
        raise HarnessError(f"missing: {', '.join(missing)} (apt-get install -y postgresql-15 pgbouncer)")
    for port in (PRIMARY_PORT, BOUNCER_PORT):
        if _listening(port):
            raise HarnessError(f"port {port} is taken: another run of this harness, or something else, holds it")
    folder = Path(tempfile.mkdtemp(prefix="hub-pgbouncer-"))
    postgres = pwd.getpwnam(PG_USER)
    data, sock, log = folder / "data", folder / "socket", folder / "postgres.log"
    bouncer: subprocess.Popen[bytes] | None = None
    started = False
    try:
        try:
            os.chmod(folder, 0o755)
            sock.mkdir()
            for path in (folder, sock):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
            _run(_as_postgres(PG_BIN / "initdb", "-D", data, "-U", PG_USER, "--auth=trust", "-E", "UTF8"), "initdb")
            with (data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"port = {PRIMARY_PORT}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n"
                    "max_connections = 100\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )
            _run(_as_postgres(PG_BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start"), "pg_ctl start")
            started = True
            admin_url = f"postgresql://{PG_USER}@127.0.0.1:{PRIMARY_PORT}/postgres"
            superuser_url = f"postgresql://{PG_USER}@127.0.0.1:{PRIMARY_PORT}/{DATABASE}"
            asyncio.run(_prepare_database(superuser_url, admin_url))
            config = _write_bouncer_config(folder, pool_size)
            # started as root, PgBouncer switches to the postgres user itself (-u): the pid is PgBouncer's own
            bouncer = subprocess.Popen(["pgbouncer", "-u", PG_USER, str(config)], stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while not _listening(BOUNCER_PORT):
                if bouncer.poll() is not None or time.monotonic() > deadline:
                    raise HarnessError("pgbouncer did not start:\n" + _tail(folder / "pgbouncer.log"))
                time.sleep(0.1)
        except HarnessError:
            raise
        except Exception as error:
            raise HarnessError(f"{error!r}\npostgres log:\n{_tail(log)}") from error
        yield Bounced(folder=folder, bouncer=bouncer, pool_size=pool_size)
    finally:
        if bouncer is not None and bouncer.poll() is None:
            bouncer.send_signal(signal.SIGINT)  # PgBouncer's "safe shutdown"
            try:
                bouncer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                bouncer.kill()
                bouncer.wait()
        if started:
            subprocess.run(
                _as_postgres(PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)
