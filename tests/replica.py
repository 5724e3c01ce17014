"""A streaming replica of the tests' embedded PostgreSQL: `pg_basebackup -R` with the embedded server's own binaries,
started on a port of 54330-54349 (as the embedded server's system user when the tests run as root)."""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg

from hub.db import EmbeddedServer

PORTS = range(54330, 54350)


def free_port() -> int:
    """The first port of PORTS nothing listens on, starting at the test process's own four (`make test` runs several
    processes, pytest-xdist's gw0, gw1, ...) so that two do not probe and take the same one at once."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    start = 4 * int(worker) % len(PORTS) if worker.isdigit() else 0
    for port in (*PORTS[start:], *PORTS[:start]):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"every port of {PORTS.start}-{PORTS.stop - 1} is taken: no port for the test replica")


@dataclass
class Replica:
    """A hot standby streaming from the embedded server."""

    folder: Path
    port: int
    bin_path: Path
    user: str | None

    @property
    def pgdata(self) -> Path:
        return self.folder / "pgdata"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, command: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bin_path / command), *args], user=self.user, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            log = self.folder / "log"
            raise RuntimeError(
                f"{command} failed ({result.returncode}): {result.stderr.strip()}\n"
                + (log.read_text()[-3000:] if log.exists() else "")
            )

    def start(self) -> None:
        # hot_standby_feedback keeps the primary's vacuum from removing rows the replica's reads still see; a short
        # max_standby_streaming_delay makes a conflicting read be cancelled soon (the recovery-conflict test)
        options = (
            f"-p {self.port} -h 127.0.0.1 -k {self.folder} "
            "-c hot_standby_feedback=on -c max_standby_streaming_delay=200ms -c wal_receiver_status_interval=1s"
        )
        self._run(
            "pg_ctl", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.folder / "log"), "-o", options, "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-w", "-m", "fast", "-D", str(self.pgdata), "stop")


def make_replica(primary: EmbeddedServer, folder: Path) -> Replica:
    """Base-back-up the embedded server into `folder` as a standby (`-R` writes its primary_conninfo and
    standby.signal), then start it."""
    server = primary.server
    user: str | None = server.system_user
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    socket_dir = parse_qs(urlsplit(primary.admin_url).query)["host"][0]
    replica = Replica(folder=folder, port=free_port(), bin_path=Path(server.bin_path), user=user)
    replica._run(
        "pg_basebackup",
        "-D",
        str(replica.pgdata),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "-d",
        f"host={socket_dir} user=postgres",
    )
    replica.start()
    return replica


async def replayed_to(primary_url: str, replica_url: str, *, within: float = 30.0) -> None:
    """Wait until the replica has replayed what the primary has written so far (a database just cloned, say)."""
    primary = await asyncpg.connect(primary_url)
    try:
        target = await primary.fetchval("select pg_current_wal_lsn()::text")
    finally:
        await primary.close()
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while True:
        try:
            replica = await asyncpg.connect(replica_url)
            try:
                if await replica.fetchval("select pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target):
                    return
            finally:
                await replica.close()
        except (OSError, asyncpg.PostgresError) as error:
            last = error  # the database is not there yet, or the replica is starting
        if time.monotonic() > deadline:
            raise TimeoutError(f"the replica did not replay to {target} within {within:g} s ({last!r})")
        await asyncio.sleep(0.05)
