"""Demo tokens: fresh tokens for the demo principals at every `hub serve --demo`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from hub.auth import issue_token

LOCK_FILE = "hub-serve-demo.lock"


class DemoInUse(Exception):
    """Another `hub serve --demo` serves the demo on this data folder; its tokens would be revoked."""

    def __init__(self, pid: str) -> None:
        super().__init__(pid)
        self.pid = pid


@contextlib.contextmanager
def serving_demo(data_dir: Path) -> Iterator[None]:
    """Held by a `hub serve --demo` for as long as it serves on the embedded PostgreSQL in `data_dir`: a second one
    there would revoke the demo tokens the first printed, so it is refused (DemoInUse). The operating system releases
    the lock when the process ends, however it ends."""
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoInUse(os.pread(fd, 32, 0).decode(errors="replace").strip() or "?") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


async def issue_demo_tokens(con: asyncpg.Connection) -> list[tuple[str, str, str]]:
    """Revoke the previous demo tokens and issue one per demo principal; returns (who, role, token)."""
    async with con.transaction():
        await con.execute("update api_tokens set revoked_at = now() where is_demo and revoked_at is null")
        principals = await con.fetch(
            """select p.id, coalesce(a.code, l.name) as who, p.role
                 from principals p left join agencies a on a.id = p.agency_id left join labs l on l.id = p.lab_id
                where p.name like '% demo officer' or p.name like '% demo liaison'
                order by p.lab_id nulls first, a.code, l.name"""
        )
        return [(r["who"], r["role"], (await issue_token(con, r["id"], is_demo=True)).token) for r in principals]
