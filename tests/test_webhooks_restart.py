"""Webhook deliveries survive a hub killed mid-delivery (docs/live.md, "Webhooks"): a real `hub serve` delivers to a
slow receiver, is killed with SIGKILL while a request is in flight, and a second `hub serve` on the same database
delivers the rest. Every event arrives, verified with the standardwebhooks library, duplicates allowed and told
apart by webhook-id. The endpoint is registered with a token `hub token create --agency CISA --role ADMIN` made."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from hub import db
from hub.auth import create_principal_with_token
from hub.webhooks.secrets import new_key
from tests.live import HUB, serving

RECEIVED: list[tuple[dict[str, str], bytes]] = []


class SlowReceiver(BaseHTTPRequestHandler):
    """Takes its time over each delivery, so that the hub is killed with one in flight."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        RECEIVED.append(({k.lower(): v for k, v in self.headers.items()}, body))
        time.sleep(1.0)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    RECEIVED.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/intake"
    finally:
        server.shutdown()
        server.server_close()


async def analyst_and_model(url: str) -> tuple[str, int]:
    con = await db.connect(url)
    try:
        _, analyst = await create_principal_with_token(con, agency_code="CISA", role="ANALYST", name="analyst")
        return analyst, int(await con.fetchval("select id from frontier_models order by id limit 1"))
    finally:
        await con.close()


async def finding_events(url: str) -> list[str]:
    """The cursors of the events of the newest finding, in order."""
    con = await db.connect(url)
    try:
        rows = await con.fetch(
            "select id from events where entity_kind = 'FINDING' and entity_id = (select max(id) from findings)"
            " order by id"
        )
        return [str(r["id"]) for r in rows]
    finally:
        await con.close()


def graphql(url: str, token: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        url + "/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


def test_a_hub_killed_mid_delivery_loses_nothing(fresh_url: str, receiver: str) -> None:
    key = new_key()
    env = {
        "HUB_WEBHOOKS": "on",
        "HUB_WEBHOOK_SECRET_KEY": key,
        "HUB_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "HUB_WEBHOOK_POLL_SECONDS": "0.1",
        "HUB_WEBHOOK_BACKOFF_SECONDS": "0.1",
        "HUB_WEBHOOK_TIMEOUT_SECONDS": "5",
        "HUB_WORKERS": "1",
    }
    made = subprocess.run(
        [*HUB, "token", "create", "--agency", "CISA", "--role", "ADMIN", "--name", "intake admin"],
        env={**os.environ, "HUB_DATABASE_URL": fresh_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    admin = made.stdout.strip().splitlines()[-1]
    analyst, model = asyncio.run(analyst_and_model(fresh_url))
    from schema.common import to_global_id

    with serving(fresh_url, env) as first:
        registered = graphql(
            first.url,
            admin,
            """mutation($i: RegisterWebhookInput!) { registerWebhook(input: $i) {
                 secret webhookEndpoint { id } errors { message } } }""",
            {"i": {"url": receiver, "entityKinds": ["FINDING"]}},
        )["registerWebhook"]
        assert registered["errors"] == []
        secret = registered["secret"]
        finding = graphql(
            first.url,
            analyst,
            """mutation($i: ReportFindingInput!) { reportFinding(input: $i) { finding { id } errors { message } } }""",
            {
                "i": {
                    "title": "restart test",
                    "modelId": str(to_global_id("FrontierModel", model)),
                    "discoveredBy": "MODEL",
                }
            },
        )["reportFinding"]["finding"]
        version = 1
        for to in ("TRIAGED", "VALIDATED", "COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED", "REMEDIATED"):
            moved = graphql(
                first.url,
                analyst,
                """mutation($i: TransitionFindingInput!) { transitionFinding(input: $i) { errors { message } } }""",
                {"i": {"id": finding["id"], "to": to, "expectedVersion": version}},
            )
            assert moved["transitionFinding"]["errors"] == []
            version += 1
        # killed while the receiver holds a request
        deadline = time.monotonic() + 30
        while len(RECEIVED) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 2 <= len(RECEIVED) < 7, len(RECEIVED)
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(timeout=10)
    killed_at = len(RECEIVED)

    expected = asyncio.run(finding_events(fresh_url))
    assert len(expected) == 7

    with serving(fresh_url, env):
        deadline = time.monotonic() + 60
        while {h["webhook-id"] for h, _ in RECEIVED} < set(expected) and time.monotonic() < deadline:
            time.sleep(0.1)
    ids = [h["webhook-id"] for h, _ in RECEIVED]
    assert set(ids) == set(expected), (ids, expected, killed_at)
    # in cursor order, each first arrival; a repeat only of what was in flight when the hub was killed
    firsts = list(dict.fromkeys(ids))
    assert firsts == expected
    assert len(ids) - len(firsts) <= 1
    for headers, body in RECEIVED:
        assert Webhook(secret).verify(body, headers)["data"]["cursor"] == headers["webhook-id"]
