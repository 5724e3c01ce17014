"""Production mode: with the allow-list, non-admins run only the vetted operations of schema/operations/ (by text
or by APQ hash) and are told so clearly otherwise, admins run anything; GraphiQL, queries over GET, anonymous and
non-admin introspection are off; the demo and demo tokens are refused."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from hub.webhooks.secrets import new_key
from tests.conftest import scratch_folder
from tests.live import HUB, Served, create_token, database_url, serve

OPERATIONS = Path(__file__).resolve().parent.parent / "schema" / "operations"


# production needs the key of the webhook secrets (docs/operators.md, "Webhooks")
PRODUCTION = {
    "HUB_ENV": "production",
    "HUB_OPERATIONS_ALLOWLIST": "on",
    "HUB_SCHEDULER": "off",
    "HUB_WEBHOOK_SECRET_KEY": new_key(),
}


def hub_command(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HUB_DATA_DIR": str(data_dir), **(env or {})}
    environment.pop("HUB_DATABASE_URL", None)
    return subprocess.run([*HUB, *args], env=environment, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-production-") as data_dir:
        assert hub_command(data_dir, "demo").returncode == 0  # the data, without demo tokens
        yield from serve(data_dir, env=PRODUCTION, demo=False)


@pytest.fixture(scope="module")
def officer(served: Served) -> str:
    return create_token(served.data_dir, "--agency", "CISA", "--role", "OFFICER", "--name", "prod officer")


def post(served: Served, token: str | None, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(served.url + "/graphql", json=body, headers=headers)


def test_non_admins_run_only_vetted_operations(served: Served, officer: str) -> None:
    vetted = (OPERATIONS / "dashboard.graphql").read_text()
    assert "errors" not in post(served, officer, {"query": vetted}).json()
    # the same operation, differently spaced, is the same operation
    code = [line for line in vetted.splitlines() if not line.lstrip().startswith("#")]
    respaced = " ".join(" ".join(code).split())
    assert "errors" not in post(served, officer, {"query": respaced}).json()
    ad_hoc = post(served, officer, {"query": "{ findings { totalCount } }"})
    assert ad_hoc.status_code == 403
    error = ad_hoc.json()["errors"][0]
    assert error["extensions"]["code"] == "OPERATION_NOT_ALLOWED" and "schema/operations" in error["message"]
    # by APQ hash too: the vetted text registers, then its hash alone runs
    digest = hashlib.sha256(vetted.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    assert "errors" not in post(served, officer, {"query": vetted, "extensions": persisted}).json()
    assert "errors" not in post(served, officer, {"extensions": persisted}).json()


def test_admins_run_any_operation(served: Served) -> None:
    admin = create_token(served.data_dir, "--agency", "CISA", "--role", "ADMIN", "--name", "prod admin")
    answer = post(served, admin, {"query": "{ findings { totalCount } }"}).json()
    assert answer["data"]["findings"]["totalCount"] > 0


def test_graphiql_and_anonymous_introspection_are_off(served: Served) -> None:
    assert httpx.get(served.url + "/graphql", headers={"Accept": "text/html"}).status_code == 404
    assert httpx.get(served.url + "/graphiql/setup.js").status_code == 404  # nor are its files served
    assert post(served, None, {"query": "{ __schema { queryType { name } } }"}).status_code == 401


def test_production_refuses_demo_tokens_and_the_demo(served: Served) -> None:
    refused = hub_command(served.data_dir, "serve", "--demo", "--port", "1", env=PRODUCTION)
    assert refused.returncode == 2 and "--demo is refused in production" in refused.stderr

    async def mark_demo(value: bool) -> None:
        con = await asyncpg.connect(database_url(served.data_dir))
        try:
            await con.execute("update api_tokens set is_demo = $1 where id = (select min(id) from api_tokens)", value)
        finally:
            await con.close()

    asyncio.run(mark_demo(True))
    try:
        with_demo_token = hub_command(served.data_dir, "serve", "--port", "1", env=PRODUCTION)
        assert with_demo_token.returncode == 2 and "active demo token" in with_demo_token.stderr
    finally:
        asyncio.run(mark_demo(False))


def test_production_turns_off_get_queries_introspection_and_suggestions(served: Served, officer: str) -> None:
    headers = {"Authorization": f"Bearer {officer}"}
    assert httpx.get(served.url + "/graphql", params={"query": "{ me { name } }"}, headers=headers).status_code == 405
    introspection = post(served, officer, {"query": "{ __schema { types { name } } }"})
    assert introspection.status_code == 400 and "introspection is off" in introspection.json()["errors"][0]["message"]
    admin = create_token(served.data_dir, "--agency", "NIST", "--role", "ADMIN", "--name", "prod schema admin")
    assert "errors" not in post(served, admin, {"query": "{ __schema { queryType { name } } }"}).json()
    typo = post(served, admin, {"query": "{ findingz { totalCount } }"}).json()
    assert "Did you mean" in typo["errors"][0]["message"]  # admins get suggestions
