"""Per-principal rate limits counted in cost (hub/ratelimit.py): HTTP 429 RATE_LIMITED with Retry-After, nothing
run for a refused request, other principals untouched, the bucket refilling, and one bucket shared by every worker
of a real `hub serve --workers 2` (its state is in PostgreSQL) and by its WebSockets."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from hub import db
from hub.app import create_app
from hub.ratelimit import Budget, spend
from hub.settings import Settings
from tests.conftest import Api, scratch_folder
from tests.live import HUB, GraphQLWs, Served, create_token, serve

# findings 1 + edges 1 + 10 x (node 1 + id 1)
QUERY = "{ findings(first: 10) { edges { node { id } } } }"
QUERY_COST = 22


@asynccontextmanager
async def hub_with(url: str, **changes: Any) -> AsyncIterator[Api]:
    """The hub on the database at `url`, in process, with some settings changed."""
    settings = dataclasses.replace(Settings.from_env().with_(database_url=url), scheduler_enabled=False, **changes)
    app = create_app(settings, database_url=url)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") as client:
            yield Api(client, url)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_over_the_budget_is_429_with_retry_after_and_others_are_untouched(fresh_url: str) -> None:
    async with hub_with(fresh_url, rate_limit_cost=3 * QUERY_COST, rate_limit_window_seconds=3600) as api:
        alice = await api.token(agency="CISA", role="ANALYST", name="alice")
        bob = await api.token(agency="CISA", role="ANALYST", name="bob")
        remaining = []
        for _ in range(3):
            response = await api.post(QUERY, token=alice)
            assert response.status_code == 200 and "errors" not in response.json()
            remaining.append(response.json()["extensions"]["cost"]["rateLimit"]["remaining"])
            assert response.headers["X-RateLimit-Limit"] == str(3 * QUERY_COST)
        assert remaining == [2 * QUERY_COST, QUERY_COST, 0]

        refused = await api.post(QUERY, token=alice)
        assert refused.status_code == 429
        assert code(refused) == "RATE_LIMITED" and "data" not in refused.json()
        retry_after = int(refused.headers["Retry-After"])
        # 22 points at 66 points an hour: 20 minutes
        assert 1190 <= retry_after <= 1200
        error = refused.json()["errors"][0]
        assert error["extensions"]["retryAfter"] == retry_after and error["extensions"]["cost"] == QUERY_COST
        assert f"retry after {retry_after} s" in error["message"] and "HUB_RATE_LIMIT_COST" in error["message"]
        at = datetime.fromisoformat(re.search(r"at (\S+)$", error["message"]).group(1))  # type: ignore[union-attr]
        assert abs((at - datetime.now(UTC)).total_seconds() - retry_after) < 5
        assert refused.headers["X-RateLimit-Remaining"] == "0"

        # another principal has a bucket of its own
        other = await api.post(QUERY, token=bob)
        assert other.status_code == 200
        assert other.json()["extensions"]["cost"]["rateLimit"]["remaining"] == 2 * QUERY_COST
        # and a refused request spent nothing: alice is still refused, for the same wait
        again = await api.post(QUERY, token=alice)
        assert again.status_code == 429 and abs(int(again.headers["Retry-After"]) - retry_after) <= 1


async def test_a_refused_mutation_runs_nothing(fresh_url: str) -> None:
    report = 'mutation { reportFinding(input: {title: "over budget", tlp: GREEN}) { finding { id } } }'
    async with hub_with(fresh_url, rate_limit_cost=20, rate_limit_window_seconds=3600) as api:
        token = await api.token(agency="CISA", role="OFFICER")
        con = await asyncpg.connect(fresh_url)
        try:
            events = await con.fetchval("select count(*) from events")
            first = await api.post(report, token=token)  # 10 + finding 1 + id 1 = 12 of 20 points
            assert first.status_code == 200 and first.json()["data"]["reportFinding"]["finding"]["id"]
            assert first.json()["extensions"]["cost"]["requested"] == 12
            second = await api.post(report, token=token)
            assert second.status_code == 429 and code(second) == "RATE_LIMITED"
            assert await con.fetchval("select count(*) from findings where title = 'over budget'") == 1
            assert await con.fetchval("select count(*) from events") == events + 1
        finally:
            await con.close()


async def test_the_bucket_refills_and_retry_after_is_enough(fresh_url: str) -> None:
    """2 requests' worth per 2 s: the third waits for Retry-After, then passes."""
    async with hub_with(fresh_url, rate_limit_cost=2 * QUERY_COST, rate_limit_window_seconds=2) as api:
        token = await api.token(agency="NIST", role="ANALYST")
        assert (await api.post(QUERY, token=token)).status_code == 200
        assert (await api.post(QUERY, token=token)).status_code == 200
        refused = await api.post(QUERY, token=token)
        assert refused.status_code == 429
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 2
        await asyncio.sleep(retry_after)
        assert (await api.post(QUERY, token=token)).status_code == 200


async def test_zero_turns_the_rate_limit_off(fresh_url: str) -> None:
    async with hub_with(fresh_url, rate_limit_cost=0) as api:
        token = await api.token(agency="NIST", role="ANALYST")
        for _ in range(5):
            response = await api.post(QUERY, token=token)
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers
            assert response.json()["extensions"]["cost"] == {"requested": QUERY_COST, "limit": 500_000}
        con = await asyncpg.connect(fresh_url)
        try:
            assert await con.fetchval("select count(*) from rate_limits") == 0
        finally:
            await con.close()


async def test_a_query_costing_more_than_the_whole_budget_is_refused_as_too_complex(fresh_url: str) -> None:
    async with hub_with(fresh_url, rate_limit_cost=QUERY_COST - 1) as api:
        token = await api.token(agency="NIST", role="ANALYST")
        response = await api.post(QUERY, token=token)
        assert response.status_code == 400 and code(response) == "QUERY_TOO_COMPLEX"
        assert "HUB_RATE_LIMIT_COST" in response.json()["errors"][0]["message"]


async def test_concurrent_spends_never_overspend(fresh_url: str) -> None:
    """20 connections spend at once from one bucket of 7 requests' worth: exactly 7 pass."""
    budget = Budget(limit=7 * QUERY_COST, window_seconds=3600)
    connections = [await db.connect(fresh_url) for _ in range(20)]
    try:
        spent = await asyncio.gather(*(spend(c, 4242, QUERY_COST, budget) for c in connections))
    finally:
        for c in connections:
            await c.close()
    assert sum(s.allowed for s in spent) == 7
    assert min(s.remaining for s in spent) == 0


# ------------------------------------------------------------------------------------------------ real server

LIVE_BUDGET = 10 * QUERY_COST


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    env = {
        "HUB_WORKERS": "2",
        "HUB_SCHEDULER": "off",
        "HUB_RATE_LIMIT_COST": str(LIVE_BUDGET),
        "HUB_RATE_LIMIT_WINDOW_SECONDS": "3600",
    }
    with scratch_folder("hub-test-rate-") as data_dir:
        yield from serve(data_dir, env=env, demo=False)


async def post(url: str, query: str, token: str) -> httpx.Response:
    # a connection of its own, so that the requests spread over the workers
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post("/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"})


def worker_pids(served: Served, request_ids: set[str]) -> set[int]:
    pids = set()
    for line in served.output:
        if line.startswith("{") and '"requestId"' in line:
            record = json.loads(line)
            if record.get("requestId") in request_ids:
                pids.add(record["pid"])
    return pids


async def test_two_workers_spend_from_one_bucket(served: Served) -> None:
    token = await asyncio.to_thread(
        create_token, served.data_dir, "--agency", "CISA", "--role", "VIEWER", "--name", "spender"
    )
    responses = await asyncio.gather(*(post(served.url, QUERY, token) for _ in range(40)))
    statuses = [r.status_code for r in responses]
    # one bucket across the workers: ten requests' worth, however they were spread
    assert statuses.count(200) == 10 and statuses.count(429) == 30
    await asyncio.sleep(0.5)  # the log lines of the last answers
    assert len(worker_pids(served, {r.headers["X-Request-Id"] for r in responses})) == 2
    other = await asyncio.to_thread(
        create_token, served.data_dir, "--agency", "NIST", "--role", "VIEWER", "--name", "bystander"
    )
    assert (await post(served.url, QUERY, other)).status_code == 200


async def test_websocket_operations_are_costed_and_share_the_bucket(served: Served) -> None:
    token = await asyncio.to_thread(
        create_token, served.data_dir, "--agency", "DOE", "--role", "VIEWER", "--name", "socket"
    )
    client = await GraphQLWs.open(served.url, token)
    await client.acked()
    # a subscription over HUB_MAX_COST is refused before it starts; the socket stays open
    await client.subscribe(
        "subscription { statusChanged { actorAgency { ownedFindings(first: 500) { measures(first: 500) { "
        "findings(first: 500) { title } } } } } }"
    )
    # (strawberry sends a refused subscription as one `next` with the error, then `complete`)
    refused = await client.receive()
    assert refused["type"] == "next" and refused["payload"]["data"] is None, refused
    error = refused["payload"]["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX" and "HUB_MAX_COST" in error["message"]
    assert (await client.receive()) == {"id": refused["id"], "type": "complete"}
    # a query over the socket reports its cost and spends from the principal's bucket
    await client.subscribe(QUERY)
    answer = await client.receive()
    assert answer["type"] == "next", answer
    assert answer["payload"]["extensions"]["cost"]["requested"] == QUERY_COST
    assert answer["payload"]["extensions"]["cost"]["rateLimit"]["remaining"] == LIVE_BUDGET - QUERY_COST
    # spend the rest over HTTP: the socket's next operation is refused, with when to retry
    for _ in range(9):
        assert (await post(served.url, QUERY, token)).status_code == 200
    assert (await client.receive())["type"] == "complete"  # the query's
    await client.subscribe("subscription { statusChanged { cursor } }")
    limited = await client.receive()
    assert limited["type"] == "next" and limited["payload"]["data"] is None, limited
    error = limited["payload"]["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] >= 1
    assert "retry after" in error["message"]
    await client.close()


@pytest.fixture(scope="module")
def quick() -> Iterator[Served]:
    """A hub whose budget is 40 points per 2 s: two pages of 16 at once, then one a second or so."""
    env = {"HUB_SCHEDULER": "off", "HUB_RATE_LIMIT_COST": "40", "HUB_RATE_LIMIT_WINDOW_SECONDS": "2"}
    with scratch_folder("hub-test-rate-quick-") as data_dir:
        yield from serve(data_dir, env=env, demo=False)


async def test_hub_query_backs_off_as_retry_after_says_and_gets_every_page(quick: Served) -> None:
    token = await asyncio.to_thread(
        create_token, quick.data_dir, "--agency", "NIST", "--role", "ANALYST", "--name", "patient"
    )
    environment = {**os.environ, "HUB_URL": quick.url, "HUB_TOKEN": token}
    done = await asyncio.to_thread(
        subprocess.run,
        [*HUB, "query", "agencies", "--var", "first=2", "--all-pages", "--format", "csv"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # nine agencies, two a page: five pages of 16 points, more than the 40 there are at once
    assert len(list(csv.DictReader(io.StringIO(done.stdout)))) == 9
    assert "rate limited; waiting" in done.stderr and "Retry-After" in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_RATE_LIMIT_WINDOW_SECONDS", "0", "HUB_RATE_LIMIT_WINDOW_SECONDS must be more than 0"),
        ("HUB_RATE_LIMIT_COST", "-5", "HUB_RATE_LIMIT_COST must be 0 (no rate limit) or more"),
        ("HUB_MAX_COST", "lots", "HUB_MAX_COST must be a whole number"),
    ],
)
def test_bad_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit, match=re.escape(expected)):
        Settings.from_env()
