"""The hub as a new user runs it: `hub serve --demo` over real HTTP on an embedded PostgreSQL that processes on one
data folder share, and that stops with the last of them."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import scratch_folder
from tests.live import HUB, Served, postgres_processes, serve


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-served-") as data_dir:
        yield from serve(data_dir)


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
    assert httpx.get(served.url + "/readyz").json() == {"status": "ready", "subscriptions": 0}


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


def test_the_board_is_served_with_its_security_headers(served: Served) -> None:
    for path in ("/", "/board/board.js"):
        response = httpx.get(served.url + path)
        assert response.status_code == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "board.js" in httpx.get(served.url + "/").text
    operation = httpx.get(served.url + "/operations/board_me.graphql")
    assert operation.status_code == 200 and "query BoardMe" in operation.text
    assert httpx.get(served.url + "/operations/..%2Fschema.graphql").status_code == 404


def test_metrics_count_the_request_and_the_log_finds_it_by_request_id(served: Served) -> None:
    cisa = served.tokens()["CISA"]
    response = httpx.post(
        served.url + "/graphql",
        json={"query": "query DemoCount { findings { totalCount } }"},
        headers={"Authorization": f"Bearer {cisa}", "X-Request-Id": "operator-trace-42"},
    )
    assert response.headers["x-request-id"] == "operator-trace-42"
    metrics = httpx.get(served.url + "/metrics").text
    assert 'hub_requests_total{operation="DemoCount",outcome="ok"} 1.0' in metrics
    for name in (
        "hub_request_seconds_bucket",
        "hub_request_sql_statements_count",
        "hub_pool_connections_in_use",
        "hub_subscriptions_open",
        "hub_events_fanned_out_total",
        "hub_listener_lag_events",
        "hub_rate_limit_rejections_total",
    ):
        assert name in metrics, name
    time.sleep(0.2)
    lines = [json.loads(line) for line in served.output if line.startswith("{") and "operator-trace-42" in line]
    assert len(lines) == 1
    logged = lines[0]
    assert logged["msg"] == "request" and logged["operation"] == "DemoCount" and logged["outcome"] == "ok"
    assert logged["agency"] == "CISA" and logged["principalId"] and logged["durationMs"] > 0
    assert logged["sqlStatements"] == 1 and logged["path"] == "compiled"  # the page and its count, one statement
    # (the demo tokens are printed once at start, on purpose; the log lines never carry one)
    assert not any(cisa in line for line in served.output if line.startswith("{")), "a token reached the log"


def test_automatic_persisted_queries(served: Served) -> None:
    cisa = served.tokens()["CISA"]
    query = "query PersistedMe { me { name } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    headers = {"Authorization": f"Bearer {cisa}"}
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    unknown = httpx.post(served.url + "/graphql", json={"extensions": persisted}, headers=headers)
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    registered = httpx.post(served.url + "/graphql", json={"query": query, "extensions": persisted}, headers=headers)
    assert registered.json()["data"] == {"me": {"name": "CISA demo officer"}}
    by_hash = httpx.get(served.url + "/graphql", params={"extensions": json.dumps(persisted)}, headers=headers)
    assert by_hash.json()["data"] == {"me": {"name": "CISA demo officer"}}
    wrong = httpx.post(
        served.url + "/graphql", headers=headers, json={"query": "{ me { role } }", "extensions": persisted}
    )
    assert wrong.status_code == 400 and "does not match" in wrong.json()["errors"][0]["message"]
    anonymous = httpx.post(served.url + "/graphql", json={"extensions": persisted})
    assert anonymous.status_code == 401


def test_sigterm_stops_the_hub_and_its_postgres(served: Served) -> None:
    assert postgres_processes(served.data_dir)
    served.proc.send_signal(signal.SIGTERM)
    served.proc.wait(timeout=60)
    deadline = time.monotonic() + 20
    while postgres_processes(served.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert postgres_processes(served.data_dir) == []
