"""A real `hub serve` process for the tests that need the server over real HTTP."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

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


def serve(data_dir: Path) -> Iterator[Served]:
    """Run `hub serve --demo` on its own embedded PostgreSQL in data_dir until the generator is closed."""
    port = free_port()
    env = {**os.environ, "HUB_DATA_DIR": str(data_dir), "HUB_PORT": str(port)}
    env.pop("HUB_DATABASE_URL", None)
    proc = subprocess.Popen(
        [*HUB, "serve", "--demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
