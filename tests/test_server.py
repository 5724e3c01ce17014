"""The hub as a new user runs it: `hub serve --demo` over real HTTP on an embedded PostgreSQL that processes on one
data folder share, and that stops with the last of them."""

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


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-served-") as data_dir:
        yield from _serve(data_dir)


def _serve(data_dir: Path) -> Iterator[Served]:
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
    yield Served(proc, url, output, data_dir)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    reader.join(timeout=10)
    stdout.close()


def test_serve_prints_the_url_the_data_folder_and_one_token_per_demo_agency(served: Served) -> None:
    text = "\n".join(served.output)
    assert f"serving GraphQL at {served.url}/graphql" in text
    assert f"data in {served.data_dir}" in text
    tokens = served.tokens()
    assert {"CISA", "NIST", "DOD", "NSA", "TREASURY", "ODNI", "DOE", "HHS", "EPA"} <= set(tokens)


def test_real_http_auth_graphiql_and_health(served: Served) -> None:
    cisa = served.tokens()["CISA"]
    response = httpx.post(
        served.url + "/graphql",
        json={"query": "{ me { agency { code } } findings { totalCount } }"},
        headers={"Authorization": f"Bearer {cisa}"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["me"]["agency"]["code"] == "CISA" and body["data"]["findings"]["totalCount"] > 0
    assert response.headers["x-request-id"]
    unauthenticated = httpx.post(served.url + "/graphql", json={"query": "{ findings { totalCount } }"})
    assert unauthenticated.status_code == 401 and "data" not in unauthenticated.json()
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    wrong_scheme = httpx.post(
        served.url + "/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": f"Basic {cisa}"}
    )
    assert wrong_scheme.status_code == 401
    page = httpx.get(served.url + "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    over_get = httpx.get(
        served.url + "/graphql", params={"query": "{ me { name } }"}, headers={"Authorization": f"Bearer {cisa}"}
    )
    assert over_get.status_code == 200 and over_get.json()["data"]["me"]["name"] == "CISA demo officer"
    mutation_over_get = httpx.get(
        served.url + "/graphql",
        params={"query": "mutation { __typename }"},
        headers={"Authorization": f"Bearer {cisa}"},
    )
    assert mutation_over_get.status_code == 405
    assert httpx.get(served.url + "/readyz").json() == {"status": "ready"}


def test_a_second_process_shares_the_server_and_leaves_it_running(served: Served) -> None:
    env = {**os.environ, "HUB_DATA_DIR": str(served.data_dir)}
    env.pop("HUB_DATABASE_URL", None)
    created = subprocess.run(
        [*HUB, "token", "create", "--agency", "nist", "--role", "ANALYST", "--name", "Second"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("fh_")
    # the token works at once on the server that the first process started, which is still up
    response = httpx.post(
        served.url + "/graphql",
        json={"query": "{ me { name agency { code } } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["me"] == {"name": "Second", "agency": {"code": "NIST"}}
    listed = subprocess.run([*HUB, "token", "list"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "Second" in listed.stdout and token not in listed.stdout and token[10:] not in listed.stdout
    revoke_id = next(line.split()[0] for line in listed.stdout.splitlines() if line.endswith("Second"))
    subprocess.run([*HUB, "token", "revoke", revoke_id], env=env, capture_output=True, timeout=60, check=True)
    assert (
        httpx.post(
            served.url + "/graphql", json={"query": "{ me { name } }"}, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )
    assert postgres_processes(served.data_dir)


def test_sigterm_stops_the_hub_and_its_postgres(served: Served) -> None:
    assert postgres_processes(served.data_dir)
    served.proc.send_signal(signal.SIGTERM)
    served.proc.wait(timeout=60)
    deadline = time.monotonic() + 20
    while postgres_processes(served.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert postgres_processes(served.data_dir) == []
