"""The deployment of docs/operators.md ("Beyond one machine") on one machine, for tests/cluster/ and
bench/cluster.py: Debian's PostgreSQL 15 as primary, a streaming replica made with `pg_basebackup -R`, PgBouncer in
transaction mode in front of each, three `hub serve` nodes, and HAProxy in front of the nodes with health checks on
/readyz.

Everything lives in one temporary folder and on fixed ports (below); the servers of PostgreSQL and PgBouncer run as
the `postgres` system user (initdb refuses root). `Topology.start()` builds it, `Topology.stop()` ends every process
it started, by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
PRIMARY_PORT = 55432
REPLICA_PORT = 55433
PRIMARY_BOUNCER_PORT = 56432
REPLICA_BOUNCER_PORT = 56433
BALANCER_PORT = 18000
NODE_PORTS = (18001, 18002, 18003)
DATABASE = "frontier_hub"
OWNER, OWNER_PASSWORD = "hub_owner", "owner-secret"
# the role requests log in as (docs/operators.md, "Managed PostgreSQL"): a member of the hub's request role
REQUEST, REQUEST_PASSWORD = "hub_request", "request-secret"
# server connections PgBouncer keeps per database and user: small, so that the transactions of different clients
# (and nodes) share server connections, which is what a transaction pooler is for
BOUNCER_POOL_SIZE = 8
HUB = [sys.executable, "-m", "hub.cli"]


class TopologyError(RuntimeError):
    """A part of the topology did not start; the message names it and quotes its log."""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _port_free(port: int) -> bool:
    """Nothing listens on the port (a client's socket may hold it for a moment: these ports are in Linux's range of
    ephemeral ports, and a listener binds with SO_REUSEADDR)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _as_postgres(*command: str | Path) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *(str(c) for c in command)]


def _run(command: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=kwargs.pop("timeout", 120), **kwargs)
    if done.returncode != 0:
        raise TopologyError(f"{what} failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return done


def missing_tools() -> list[str]:
    """What the topology needs that this machine lacks (`make test-cluster` installs it with apt-get)."""
    missing = [tool for tool in ("pgbouncer", "haproxy", "runuser") if shutil.which(tool) is None]
    if not (PG_BIN / "postgres").exists():
        missing.append(f"PostgreSQL 15 ({PG_BIN})")
    return missing


def url(user: str, password: str, port: int, database: str = DATABASE) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{port}/{database}"


@dataclass
class Postgres:
    """A PostgreSQL 15 server of Debian's binaries, run by the postgres user from `pgdata`."""

    name: str
    pgdata: Path
    port: int

    @property
    def log(self) -> Path:
        return self.pgdata.parent / f"{self.name}.log"

    @property
    def admin_url(self) -> str:
        # the postgres superuser over the server's own Unix socket (trust, pg_hba.conf below)
        return f"postgresql://{PG_USER}@/postgres?host={self.pgdata}&port={self.port}"

    def database_url(self, database: str = DATABASE) -> str:
        return f"postgresql://{PG_USER}@/{database}?host={self.pgdata}&port={self.port}"

    def start(self) -> None:
        _run(
            _as_postgres(
                PG_BIN / "pg_ctl", "-D", self.pgdata, "-l", self.log, "-w", "-t", "60", "start",
                "-o", f"-p {self.port} -k {self.pgdata}",
            ),
            f"starting PostgreSQL {self.name} (log: {_tail(self.log)})",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop it (`fast`: connections end, a clean shutdown; `immediate`: as a crash)."""
        _run(_as_postgres(PG_BIN / "pg_ctl", "-D", self.pgdata, "-w", "-m", mode, "stop"), f"stopping {self.name}")

    def running(self) -> bool:
        done = subprocess.run(_as_postgres(PG_BIN / "pg_ctl", "-D", self.pgdata, "status"), capture_output=True)
        return done.returncode == 0

    async def fetchval(self, sql: str, *args: Any, database: str = DATABASE) -> Any:
        con = await asyncpg.connect(self.database_url(database), timeout=10)
        try:
            return await con.fetchval(sql, *args)
        finally:
            await con.close()


@dataclass
class Process:
    """A long-running process the topology started (PgBouncer, HAProxy, a hub node), its log in a file."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command, stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a machine that dies: nothing is drained."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (an operator's stop), SIGKILL if it lingers."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


@dataclass
class Node(Process):
    """One `hub serve` (one worker) on its port."""

    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, seconds: float = 120) -> float:
        """Wait for /readyz to say ready; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if not self.alive():
                raise TopologyError(f"hub node {self.name} exited:\n{_tail(self.log)}")
            if self.ready():
                return time.monotonic() - started
            time.sleep(0.1)
        raise TopologyError(f"hub node {self.name} not ready after {seconds:g} s:\n{_tail(self.log)}")


@dataclass
class Topology:
    """The whole deployment. `pooled`: the nodes reach PostgreSQL through PgBouncer in transaction mode, requests
    logging in as REQUEST, what is session-scoped on a direct connection to the primary. `replica`: the nodes read
    from the streaming replica (through its PgBouncer when `pooled`)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-cluster-")))
    pooled: bool = True
    replica: bool = True
    node_env: dict[str, str] = field(default_factory=dict)
    primary: Postgres = field(init=False)
    standby: Postgres = field(init=False)
    bouncers: list[Process] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    balancer: Process | None = None
    token: str = ""

    def __post_init__(self) -> None:
        # the postgres user runs the servers from folders under root: it must reach them
        os.chmod(self.root, 0o755)
        self.primary = Postgres("primary", self.root / "primary", PRIMARY_PORT)
        self.standby = Postgres("replica", self.root / "replica", REPLICA_PORT)

    # ------------------------------------------------------------------------------------------- the URLs

    @property
    def url(self) -> str:
        """HAProxy: where clients send their requests."""
        return f"http://127.0.0.1:{BALANCER_PORT}"

    @property
    def owner_direct_url(self) -> str:
        return url(OWNER, OWNER_PASSWORD, PRIMARY_PORT)

    def node_settings(self) -> dict[str, str]:
        """The database settings of every node (docs/operators.md, "Beyond one machine")."""
        if not self.pooled:
            settings = {"HUB_DATABASE_URL": self.owner_direct_url}
        else:
            settings = {
                "HUB_DATABASE_URL": url(OWNER, OWNER_PASSWORD, PRIMARY_BOUNCER_PORT),
                "HUB_REQUEST_DATABASE_URL": url(REQUEST, REQUEST_PASSWORD, PRIMARY_BOUNCER_PORT),
                "HUB_DIRECT_DATABASE_URL": self.owner_direct_url,
                "HUB_DATABASE_POOLER": "transaction",
            }
        if self.replica:
            port = REPLICA_BOUNCER_PORT if self.pooled else REPLICA_PORT
            settings["HUB_REPLICA_DATABASE_URL"] = url(REQUEST, REQUEST_PASSWORD, port)
        return settings

    # ------------------------------------------------------------------------------------------- building

    def start(self) -> None:
        problems = missing_tools()
        if problems:
            raise TopologyError(f"the cluster topology needs {', '.join(problems)} (make test-cluster installs them)")
        ports = (PRIMARY_PORT, REPLICA_PORT, PRIMARY_BOUNCER_PORT, REPLICA_BOUNCER_PORT, BALANCER_PORT, *NODE_PORTS)
        taken = [port for port in ports if not _port_free(port)]
        if taken:
            raise TopologyError(f"ports {taken} are taken: another cluster topology running, or a leftover of one?")
        self._start_primary()
        asyncio.run(self._prepare_database())
        self._start_replica()
        if self.pooled:
            self._start_bouncer("primary", PRIMARY_BOUNCER_PORT, PRIMARY_PORT)
            self._start_bouncer("replica", REPLICA_BOUNCER_PORT, REPLICA_PORT)
        for number, port in enumerate(NODE_PORTS, start=1):
            self.nodes.append(self._node(number, port))
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_ready()
        self._start_balancer()

    def _start_primary(self) -> None:
        shutil.chown(self.root, user=PG_USER)
        _run(
            _as_postgres(PG_BIN / "initdb", "-D", self.primary.pgdata, "-U", PG_USER, "--auth-local=trust",
                         "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"),
            "initdb of the primary",
        )  # fmt: skip
        conf = self.primary.pgdata / "postgresql.conf"
        with conf.open("a") as out:
            out.write(
                "\n# tests/cluster/topology.py\n"
                "listen_addresses = '127.0.0.1'\n"
                "max_connections = 200\n"
                "wal_level = replica\n"
                "max_wal_senders = 5\n"
                "hot_standby = on\n"
                "wal_keep_size = '256MB'\n"
            )
        hba = self.primary.pgdata / "pg_hba.conf"
        # first (the first line that matches decides): the replica's walreceiver as the postgres superuser on the
        # loopback, without a password (a test, not a deployment)
        hba.write_text("host replication postgres 127.0.0.1/32 trust\n" + hba.read_text())
        self.primary.start()

    async def _prepare_database(self) -> None:
        """The owner role and the database, `hub migrate` and the demo data as the owner, then the request login
        role (a member of frontier_hub_app, which the first migrations create) and a token for the clients."""
        admin = await asyncpg.connect(self.primary.admin_url)
        try:
            await admin.execute(f"create role {OWNER} login createrole password '{OWNER_PASSWORD}'")
            await admin.execute(f"create database {DATABASE} owner {OWNER}")
        finally:
            await admin.close()
        env = {**os.environ, "HUB_DATABASE_URL": self.owner_direct_url}
        _run([*HUB, "migrate"], "hub migrate", env=env, timeout=300)
        _run([*HUB, "demo"], "hub demo", env=env, timeout=600)
        from hub import db
        from hub.auth import create_principal_with_token

        con = await db.connect(self.owner_direct_url)
        try:
            await con.execute(f"create role {REQUEST} login password '{REQUEST_PASSWORD}' in role frontier_hub_app")
            _, self.token = await create_principal_with_token(
                con, agency_code="CISA", role="OFFICER", name="cluster clients"
            )
        finally:
            await con.close()

    def _start_replica(self) -> None:
        self.standby.pgdata.mkdir(mode=0o700)
        shutil.chown(self.standby.pgdata, user=PG_USER)
        _run(
            _as_postgres(PG_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", PG_USER, "-w",
                         "-D", self.standby.pgdata, "-R", "-X", "stream", "-c", "fast"),
            "pg_basebackup of the replica",
        )  # fmt: skip
        self.standby.start()

    def _start_bouncer(self, name: str, port: int, server_port: int) -> None:
        folder = self.root / f"pgbouncer-{name}"
        folder.mkdir()
        users = folder / "userlist.txt"
        users.write_text(f'"{OWNER}" "{OWNER_PASSWORD}"\n"{REQUEST}" "{REQUEST_PASSWORD}"\n')
        ini = folder / "pgbouncer.ini"
        ini.write_text(
            f"""[databases]
{DATABASE} = host=127.0.0.1 port={server_port} dbname={DATABASE}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {users}
pool_mode = transaction
default_pool_size = {BOUNCER_POOL_SIZE}
max_client_conn = 500
server_reset_query =
# after a failed login to the server (the replica restarting, say) try again after 1 s, not the default 15
server_login_retry = 1
logfile = {folder / "pgbouncer.log"}
pidfile = {folder / "pgbouncer.pid"}
log_connections = 0
log_disconnections = 0
"""
        )
        for path in (folder, users, ini):
            shutil.chown(path, user=PG_USER)
        users.chmod(0o600)
        bouncer = Process(f"pgbouncer-{name}", ["pgbouncer", "-u", PG_USER, str(ini)], folder / "stdout.log")
        bouncer.start()
        self.bouncers.append(bouncer)
        self._wait_port(port, bouncer)

    def _node(self, number: int, port: int, *, reuse: bool = False) -> Node:
        folder = self.root / f"node{number}"
        folder.mkdir(exist_ok=reuse)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_DATA_DIR": str(folder),
            "HUB_HOST": "127.0.0.1",
            "HUB_PORT": str(port),
            "HUB_WORKERS": "1",
            "HUB_EVENTS_POLL_SECONDS": "0.5",
            "HUB_WEBHOOKS": "off",
            "HUB_LOG_LEVEL": "warning",
            # clients of the tests and the benchmark are many requests of one token
            "HUB_RATE_LIMIT_COST": "0",
            # `hub migrate` ran once before the nodes started, as in a deployment (docs/operators.md)
            "HUB_MIGRATE_ON_START": "off",
            **self.node_settings(),
            **self.node_env,
        }
        return Node(f"node{number}", [*HUB, "serve"], folder / "hub.log", env=env, port=port)

    def _start_balancer(self) -> None:
        folder = self.root / "haproxy"
        folder.mkdir()
        servers = "\n".join(
            f"    server {node.name} 127.0.0.1:{node.port} check inter 500ms fall 2 rise 2" for node in self.nodes
        )
        cfg = folder / "haproxy.cfg"
        cfg.write_text(
            f"""global
    maxconn 4000
    stats socket {folder / "admin.sock"} mode 600 level admin

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # a WebSocket (subscriptions) once upgraded
    timeout tunnel 1h
    # a request that could not reach a node goes to another
    option redispatch
    retries 3
    retry-on conn-failure empty-response

frontend hub
    bind 127.0.0.1:{BALANCER_PORT}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}
"""
        )
        self.balancer = Process("haproxy", ["haproxy", "-db", "-f", str(cfg)], folder / "haproxy.log")
        self.balancer.start()
        self._wait_port(BALANCER_PORT, self.balancer)
        # every node up in HAProxy's eyes
        deadline = time.monotonic() + 30
        while set(self.balancer_states().values()) != {"UP"}:
            if time.monotonic() > deadline:
                raise TopologyError(f"HAProxy does not see every node up: {self.balancer_states()}")
            time.sleep(0.1)

    def balancer_states(self) -> dict[str, str]:
        """Each node's state as HAProxy sees it (UP, DOWN, "UP 1/2"...), from its stats socket."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.root / "haproxy" / "admin.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        name, state = header.index("svname"), header.index("status")
        rows = [line.split(",") for line in lines[1:] if line.startswith("nodes,")]
        return {row[name]: row[state] for row in rows if row[name] not in ("FRONTEND", "BACKEND")}

    def wait_balancer(self, node: Node, state: str, seconds: float = 30) -> float:
        """Wait until HAProxy sees `node` in `state` (UP or DOWN); the seconds it took."""
        started = time.monotonic()
        while not self.balancer_states()[node.name].startswith(state):
            if time.monotonic() - started > seconds:
                raise TopologyError(f"HAProxy does not see {node.name} {state} after {seconds:g} s")
            time.sleep(0.02)
        return time.monotonic() - started

    @staticmethod
    def _wait_port(port: int, process: Process, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not process.alive():
                raise TopologyError(f"{process.name} exited:\n{_tail(process.log)}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise TopologyError(f"{process.name} is not listening on {port} after {seconds:g} s:\n{_tail(process.log)}")

    # ------------------------------------------------------------------------------------------- faults

    def reconfigure_nodes(self, *, replica: bool) -> None:
        """Restart every node (SIGTERM, one at a time, as a rolling restart) with or without the replica setting."""
        self.replica = replica
        for number, node in enumerate(self.nodes):
            node.stop()
            fresh = self._node(number + 1, node.port, reuse=True)
            fresh.start()
            fresh.wait_ready()
            self.nodes[number] = fresh

    def restart_node(self, node: Node) -> float:
        """Start a node again after a fault; the seconds until it is ready."""
        node.start()
        return node.wait_ready()

    async def replica_lag_bytes(self) -> int:
        """How far the replica's replay is behind the primary's WAL, in bytes."""
        # the replica's position first: the primary's, read after it, is never behind it
        replayed = await self.standby.fetchval("select pg_last_wal_replay_lsn()::text")
        position = await self.primary.fetchval("select pg_current_wal_lsn()::text")
        diff = "select pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)::bigint"
        return int(await self.primary.fetchval(diff, position, replayed))

    async def replica_caught_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while await self.replica_lag_bytes() > 0:
            if time.monotonic() > deadline:
                raise TopologyError(f"the replica has not caught up after {seconds:g} s")
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------------------------------- ending

    def stop(self) -> None:
        """End every process started here (by pid), then the servers, then remove the folder."""
        if self.balancer is not None:
            self.balancer.stop()
        for node in self.nodes:
            node.stop()
        for bouncer in self.bouncers:
            bouncer.stop()
        for server in (self.standby, self.primary):
            if server.pgdata.exists() and server.running():
                with contextlib.suppress(TopologyError):
                    server.stop("immediate")
        if not os.environ.get("HUB_CLUSTER_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        """The tail of every log, for a failing test's report."""
        parts = [f"--- {server.name}\n{_tail(server.log, 20)}" for server in (self.primary, self.standby)]
        for process in [*self.bouncers, *self.nodes, *([self.balancer] if self.balancer else [])]:
            parts.append(f"--- {process.name}\n{_tail(process.log, 20)}")
        return "\n".join(parts)
