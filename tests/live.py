"""A real `hub serve` process for the tests that need the server over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hub import db
from hub.auth import create_principal_with_token
from tests.conftest import scratch_folder

HUB = [sys.executable, "-m", "hub.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(attrs=("name", "cmdline", "status")):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] == "postgres" and str(data_dir) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, output: list[str], data_dir: Path) -> None:
        self.proc, self.url, self.output, self.data_dir = proc, url, output, data_dir

    def tokens(self) -> dict[str, str]:
        found = {}
        for line in self.output:
            match = re.match(r"\s+(\S+)\s+(OFFICER|LAB_LIAISON)\s+(fh_\S+)$", line)
            if match:
                found[match.group(1)] = match.group(3)
        return found


def serve(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    demo: bool = True,
    args: Sequence[str] = (),
    cwd: Path | None = None,
    hub: Sequence[str] = HUB,
) -> Iterator[Served]:
    """Run `hub serve [--demo] ARGS` on its own embedded PostgreSQL in data_dir (or on HUB_DATABASE_URL when `env`
    names one) until the generator is closed. `cwd`: run the `hub` package found there (another release's code,
    tests/test_rolling_upgrade.py) rather than this checkout's; `hub`: the command (another installation's, say)."""
    port = free_port()
    extra = env or {}
    # one worker unless a test asks for more: most tests follow one process's log and state
    env = {"HUB_WORKERS": "1", **os.environ, "HUB_DATA_DIR": str(data_dir), "HUB_PORT": str(port)}
    env.pop("HUB_DATABASE_URL", None)
    env.update(extra)
    proc = subprocess.Popen(
        [*hub, "serve", *(["--demo"] if demo else []), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a process group of its own, as a terminal's job: a test can press Ctrl-C (SIGINT to the group)
        start_new_session=True,
    )
    output: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout

    def drain() -> None:
        # keep reading, so that the server's log never fills the pipe and blocks it
        for line in stdout:
            output.append(line.rstrip("\n"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("frontier-hub serving GraphQL" in line for line in output):
        if proc.poll() is not None:
            pytest.fail("hub serve exited:\n" + "\n".join(output))
        time.sleep(0.1)
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("hub serve did not start:\n" + "\n".join(output))
    try:
        yield Served(proc, url, output, data_dir)
    finally:
        stop(proc, data_dir)
        reader.join(timeout=10)
        stdout.close()


@contextmanager
def serving(
    database_url: str, env: dict[str, str] | None = None, *, args: Sequence[str] = (), cwd: Path | None = None
) -> Iterator[Served]:
    """`hub serve ARGS` (no demo, no scheduler, no webhook worker unless `env` turns it on) on the database at
    `database_url` until the block ends; `cwd` as for `serve`."""
    with scratch_folder("hub-test-serve-") as folder:
        settings = {"HUB_DATABASE_URL": database_url, "HUB_SCHEDULER": "off", "HUB_WEBHOOKS": "off", **(env or {})}
        running = serve(folder, env=settings, demo=False, args=args, cwd=cwd)
        try:
            yield next(running)
        finally:
            running.close()


async def new_tokens(url: str, *holders: tuple[str, str]) -> tuple[list[str], set[tuple[str, int]]]:
    """A token for each (agency, role) of `holders`, in the database at `url`; and the ids of every token there (for
    runs that send mutations: revokeToken with one of those would end the run's authentication)."""
    con = await db.connect(url)
    try:
        made = []
        for agency, role in holders:
            _, token = await create_principal_with_token(con, agency_code=agency, role=role, name=f"{agency} {role}")
            made.append(token)
        ids = await con.fetch("select id from api_tokens")
        return made, {("ApiToken", r["id"]) for r in ids}
    finally:
        await con.close()


def stop(proc: subprocess.Popen[str], data_dir: Path) -> None:
    """End `hub serve` the way an operator does (SIGTERM), and make sure no PostgreSQL of `data_dir` outlives it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for leftover in postgres_processes(data_dir):
        leftover.kill()


def graphql_data(served: Served, token: str, query: str, **variables: Any) -> dict[str, Any]:
    """The data of an operation over real HTTP; fails the test on an error, or on a payload's `errors`."""
    response = httpx.post(
        served.url + "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    for payload in body["data"].values():
        assert not (isinstance(payload, dict) and payload.get("errors")), payload
    return dict(body["data"])


def last_cursor(served: Served, token: str) -> str:
    """The cursor of the newest event `token` may see."""
    data = graphql_data(
        served, token, "{ events(first: 1, orderBy: {field: ID, direction: DESC}) { edges { node { cursor } } } }"
    )
    return str(data["events"]["edges"][0]["node"]["cursor"])


def create_token(data_dir: Path, *args: str) -> str:
    """`hub token create ARGS` on the embedded PostgreSQL in data_dir; the token it prints last."""
    env = {**os.environ, "HUB_DATA_DIR": str(data_dir)}
    env.pop("HUB_DATABASE_URL", None)
    done = subprocess.run([*HUB, "token", "create", *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def database_url(data_dir: Path) -> str:
    """The URL of the embedded PostgreSQL a `hub serve` started in data_dir."""
    return f"postgresql://postgres:@/frontier_hub?host={data_dir / 'pgdata'}"


class GraphQLWs:
    """A graphql-transport-ws client over a real WebSocket (the `websockets` library)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self._ids = 0

    @classmethod
    async def open(cls, url: str, token: str | None, *, init: bool = True, **options: Any) -> GraphQLWs:
        from websockets.asyncio.client import connect

        ws = await connect(url.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"], **options)
        client = cls(ws)
        if init:
            payload = {"authorization": f"Bearer {token}"} if token else {}
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        return client

    async def acked(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "connection_ack", message
        return message

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._ids += 1
        operation_id = str(self._ids)
        await self.ws.send(
            json.dumps(
                {"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
            )
        )
        return operation_id

    async def receive(self, seconds: float = 15) -> dict[str, Any]:
        return dict(json.loads(await asyncio.wait_for(self.ws.recv(), seconds)))

    async def next_data(self, seconds: float = 15) -> dict[str, Any]:
        """The next `next` message's data (fails on anything else)."""
        message = await self.receive(seconds)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return dict(message["payload"]["data"])

    async def close_code(self, seconds: float = 15) -> int | None:
        """Read until the server closes; its close code."""
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), seconds)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    async def close(self) -> None:
        await self.ws.close()
