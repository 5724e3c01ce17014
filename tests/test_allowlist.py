"""Production mode with the allow-list: non-admins run only the vetted operations of schema/operations/ (by text or
by APQ hash), and are told so clearly otherwise; admins run anything; GraphiQL and anonymous introspection are off."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import scratch_folder
from tests.live import Served, create_token, serve

OPERATIONS = Path(__file__).resolve().parent.parent / "schema" / "operations"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-production-") as data_dir:
        yield from serve(
            data_dir, env={"HUB_ENV": "production", "HUB_OPERATIONS_ALLOWLIST": "on", "HUB_SCHEDULER": "off"}
        )


def post(served: Served, token: str | None, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(served.url + "/graphql", json=body, headers=headers)


def test_non_admins_run_only_vetted_operations(served: Served) -> None:
    officer = served.tokens()["CISA"]
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
    assert post(served, None, {"query": "{ __schema { queryType { name } } }"}).status_code == 401
