"""Signed webhooks (docs/live.md, "Webhooks") against a real HTTP receiver that verifies the signatures with the
standardwebhooks library: a finding's transition arrives signed; cursor order; retries after 500s and timeouts with
the same webhook-id; disabling after consecutive failures with the reason its owner reads; redelivery; visibility
(never what the owner may not see; one ACCESS_REVOKED after unsharing); the secret's rotation with two signatures;
the URL rules and the address checks; secrets encrypted at rest."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from hub import db
from hub.app import create_app
from hub.settings import Settings
from hub.webhooks import http
from hub.webhooks.secrets import new_key
from schema.common import from_global_id, to_global_id
from tests.conftest import Api
from tests.live import HUB
from tests.test_workflow_findings import SHARE, TRANSITION, a_model, report
from tests.webhook_receiver import Receiver

MAX_FAILURES = 4

REGISTER = """mutation($input: RegisterWebhookInput!) { registerWebhook(input: $input) {
  secret webhookEndpoint { id version state cursor url } errors { field code message } } }"""
ENDPOINT = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint {
  id version state disabledReason consecutiveFailures cursor availableTransitions } } }"""
SET_STATE = """mutation($input: TransitionWebhookInput!) { transitionWebhook(input: $input) {
  webhookEndpoint { id version state disabledReason } errors { field code message } } }"""
REDELIVER = """mutation($input: RedeliverWebhookInput!) { redeliverWebhook(input: $input) {
  webhookEndpoint { id version cursor } errors { field code message } } }"""
ROTATE = """mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) {
  secret webhookEndpoint { id version previousSecretExpiresAt } errors { field code message } } }"""
DELIVERIES = """query($id: ID!) { webhookDeliveries(endpointId: $id, first: 100) { totalCount
  edges { node { eventCursor type status attempts responseStatus latencyMs error round } } } }"""


def webhook_settings(url: str, **changes: Any) -> Settings:
    """Fast retries, loopback allowed explicitly (the receiver runs on 127.0.0.1), no scheduler."""
    base = dataclasses.replace(
        Settings.from_env().with_(database_url=url),
        scheduler_enabled=False,
        webhooks_enabled=True,
        webhook_secret_key=new_key(),
        webhook_allowed_networks=("127.0.0.0/8",),
        webhook_allow_http=True,
        webhook_poll_seconds=0.05,
        webhook_backoff_seconds=0.05,
        webhook_backoff_max_seconds=0.2,
        # short, but not so short that a loaded machine turns a 200 into a timeout (the receiver stalls 3 s)
        webhook_timeout_seconds=1.5,
        webhook_max_failures=MAX_FAILURES,
    )
    return dataclasses.replace(base, **changes)


class WebhookApi(Api):
    """The app under test, with the settings it runs on (its key among them)."""

    settings: Settings


@pytest.fixture
async def hub(fresh_url: str) -> AsyncIterator[WebhookApi]:
    settings = webhook_settings(fresh_url)
    app = create_app(settings, database_url=fresh_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            api = WebhookApi(client, fresh_url)
            api.settings = settings
            yield api


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def register(api: Api, token: str, url: str, **fields: Any) -> dict[str, Any]:
    result = (await api.data(REGISTER, {"input": {"url": url, **fields}}, token=token))["registerWebhook"]
    assert result["errors"] == [], result["errors"]
    return dict(result)


async def finding_flow(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    model = await a_model(api, token)
    made = await report(api, token, title="Webhook test finding", modelId=model, discoveredBy="MODEL", **fields)
    assert made["errors"] == []
    return dict(made["finding"])


async def log_of(api: Api, token: str, endpoint: str, count: int = 1) -> list[dict[str, Any]]:
    """The endpoint's delivery log, newest first, once it has `count` rows and none PENDING (the worker writes the
    log after the receiver has answered)."""
    for _ in range(300):
        edges = (await api.data(DELIVERIES, {"id": endpoint}, token=token))["webhookDeliveries"]["edges"]
        nodes = [e["node"] for e in edges]
        if len(nodes) >= count and all(n["status"] != "PENDING" for n in nodes):
            return nodes
        await asyncio.sleep(0.05)
    raise AssertionError(f"the log did not settle: {nodes}")


async def move(api: Api, token: str, finding: dict[str, Any], to: str, version: int) -> None:
    moved = await api.data(
        TRANSITION, {"input": {"id": finding["id"], "to": to, "expectedVersion": version}}, token=token
    )
    assert moved["transitionFinding"]["errors"] == []


async def test_a_transition_arrives_signed_in_order_and_logged(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    secret = made["secret"]
    assert secret.startswith("whsec_") and made["webhookEndpoint"]["state"] == "ENABLED"

    finding = await finding_flow(hub, analyst, tlp="AMBER")
    await move(hub, analyst, finding, "TRIAGED", 1)
    await move(hub, analyst, finding, "VALIDATED", 2)
    got = await receiver.wait_for(3)
    bodies = [r.verify(secret) for r in got]
    assert [b["type"] for b in bodies] == ["finding.reported", "finding.transitioned", "finding.transitioned"]
    assert [b["data"]["toState"] for b in bodies] == ["REPORTED", "TRIAGED", "VALIDATED"]
    # webhook-id is the event's cursor; cursors rise (cursor order)
    cursors = [int(r.id) for r in got]
    assert cursors == sorted(cursors) and [b["data"]["cursor"] for b in bodies] == [r.id for r in got]
    assert all(b["data"]["entityId"] == finding["id"] and b["version"] == 1 for b in bodies)
    # a wrong secret does not verify
    with pytest.raises(WebhookVerificationError):
        got[0].verify("whsec_" + "A" * 43)

    await log_of(hub, admin, made["webhookEndpoint"]["id"], count=3)
    log = (await hub.data(DELIVERIES, {"id": made["webhookEndpoint"]["id"]}, token=admin))["webhookDeliveries"]
    assert log["totalCount"] == 3
    assert {(e["node"]["status"], e["node"]["attempts"], e["node"]["responseStatus"]) for e in log["edges"]} == {
        ("DELIVERED", 1, 200)
    }
    assert all(e["node"]["latencyMs"] is not None for e in log["edges"])
    # another agency's admin sees neither the endpoint nor its log
    nist_admin = await hub.token(agency="NIST", role="ADMIN")
    hidden = await hub.data(ENDPOINT, {"id": made["webhookEndpoint"]["id"]}, token=nist_admin)
    assert hidden["node"] is None
    nothing = await hub.data(DELIVERIES, {"id": made["webhookEndpoint"]["id"]}, token=nist_admin)
    assert nothing["webhookDeliveries"]["totalCount"] == 0
    # the secret is stored encrypted: neither it nor its key bytes are in the row
    con = await db.connect(hub.url)
    try:
        stored = await con.fetchval("select secret_ciphertext from webhook_endpoints")
    finally:
        await con.close()
    assert secret.encode() not in bytes(stored) and secret[6:].encode() not in bytes(stored)


async def test_retries_after_500s_and_timeouts_then_disabled_with_reason(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    endpoint = made["webhookEndpoint"]["id"]

    # two 500s and a timeout, then a 200: the same event, the same webhook-id, four attempts
    receiver.script = [500, 500, "stall", 200]
    await finding_flow(hub, analyst)
    got = await receiver.wait_for(4)
    assert len({r.id for r in got}) == 1
    for r in got:
        r.verify(made["secret"])
    log = await log_of(hub, admin, endpoint)
    assert [(n["status"], n["attempts"]) for n in log] == [("DELIVERED", 4)]

    # a receiver that keeps failing: disabled after MAX_FAILURES consecutive failed attempts, and its owner sees why
    receiver.received.clear()
    receiver.script = [503] * 50
    await finding_flow(hub, analyst)
    await receiver.wait_for(MAX_FAILURES)
    for _ in range(300):
        state = (await hub.data(ENDPOINT, {"id": endpoint}, token=admin))["node"]
        if state["state"] == "DISABLED":
            break
        await asyncio.sleep(0.05)
    assert state["state"] == "DISABLED" and state["consecutiveFailures"] == MAX_FAILURES
    assert f"{MAX_FAILURES} consecutive failed attempts" in state["disabledReason"]
    assert "HTTP 503" in state["disabledReason"]
    await asyncio.sleep(0.3)
    assert len(receiver.received) == MAX_FAILURES  # nothing more once disabled
    log = await log_of(hub, admin, endpoint)
    assert log[0]["status"] == "FAILED" and log[0]["attempts"] == MAX_FAILURES

    # enabled again, it sends the event it had not delivered
    receiver.script = []
    enabled = await hub.data(
        SET_STATE, {"input": {"id": endpoint, "to": "ENABLED", "expectedVersion": state["version"]}}, token=admin
    )
    assert enabled["transitionWebhook"]["webhookEndpoint"]["disabledReason"] is None
    got = await receiver.wait_for(MAX_FAILURES + 1)
    assert got[-1].id == got[0].id


async def test_redirects_are_not_followed(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    receiver.script = [302]
    await finding_flow(hub, analyst)
    got = await receiver.wait_for(2)
    assert got[0].id == got[1].id  # the 302 was a failed attempt, retried here, never followed elsewhere
    log = await log_of(hub, admin, made["webhookEndpoint"]["id"])
    assert log[0]["attempts"] == 2 and log[0]["status"] == "DELIVERED"


async def test_redelivery_from_a_cursor(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    finding = await finding_flow(hub, analyst)
    await move(hub, analyst, finding, "TRIAGED", 1)
    first = await receiver.wait_for(2)
    ids = [r.id for r in first]
    redelivered = await hub.data(
        REDELIVER,
        {"input": {"id": made["webhookEndpoint"]["id"], "expectedVersion": 1, "fromCursor": str(int(ids[0]) - 1)}},
        token=admin,
    )
    assert redelivered["redeliverWebhook"]["errors"] == []
    again = await receiver.wait_for(4)
    assert [r.id for r in again[2:]] == ids
    log = await log_of(hub, admin, made["webhookEndpoint"]["id"], count=4)
    assert sorted(n["round"] for n in log) == [0, 0, 1, 1]
    refused = await hub.data(
        REDELIVER,
        {"input": {"id": made["webhookEndpoint"]["id"], "expectedVersion": 2, "fromCursor": "99999999"}},
        token=admin,
    )
    assert refused["redeliverWebhook"]["errors"][0]["field"] == "input.fromCursor"


async def passed_over_every_event(url: str, endpoint: str) -> None:
    """Wait until the endpoint's delivery cursor has reached the newest event."""
    con = await db.connect(url)
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while await con.fetchval(
            "select cursor < (select max(id) from events) from webhook_endpoints where id = $1",
            from_global_id(endpoint)[1],
        ):
            assert asyncio.get_running_loop().time() < deadline, "the webhook worker did not pass over the events"
            await asyncio.sleep(0.05)
    finally:
        await con.close()


async def test_only_what_the_owner_may_see_and_one_access_revoked(hub: Api, receiver: Receiver) -> None:
    epa_admin = await hub.token(agency="EPA", role="ADMIN")
    cisa = await hub.token(agency="CISA", role="ANALYST")
    officer = await hub.token(agency="CISA", role="OFFICER")
    made = await register(hub, epa_admin, receiver.url, entityKinds=["FINDING"])
    secret = made["secret"]

    hidden = await finding_flow(hub, cisa, tlp="AMBER_STRICT")
    await move(hub, cisa, hidden, "TRIAGED", 1)
    con = await db.connect(hub.url)
    try:
        epa = await con.fetchval("select id from agencies where code = 'EPA'")
        epa_person = await con.fetchval("select id from principals where agency_id = $1 and role = 'ADMIN'", epa)
    finally:
        await con.close()
    # a RED finding names persons, even EPA's own admin; the endpoint's sight names no person, so it never gets one
    red = await finding_flow(hub, cisa, tlp="RED", recipientIds=[to_global_id("Principal", epa_person)])
    shared = await finding_flow(hub, cisa, tlp="AMBER_STRICT")
    # events are judged when delivered: let the worker pass over these before the share makes `shared` visible
    await passed_over_every_event(hub.url, made["webhookEndpoint"]["id"])
    share = {
        "id": shared["id"],
        "expectedVersion": 1,
        "tlp": "AMBER",
        "shareWithAgencyIds": [to_global_id("Agency", epa)],
    }
    assert (await hub.data(SHARE, {"input": share}, token=officer))["shareFinding"]["errors"] == []
    got = await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    bodies = [r.verify(secret) for r in receiver.received]
    assert [(b["type"], b["data"]["entityId"]) for b in bodies] == [("finding.shared", shared["id"])]
    assert all(b["data"]["entityId"] not in (hidden["id"], red["id"]) for b in bodies)
    # the sharing change's snapshot of who could see the record before (share lists, RED recipients) is the hub's
    # own: the body shows the event's details as GraphQL's Event does, without it
    assert "before" not in bodies[0]["data"]["details"], bodies[0]

    # unshared: one ACCESS_REVOKED with an id of its own, then nothing about the record
    unshare = {"id": shared["id"], "expectedVersion": 2, "tlp": "AMBER_STRICT"}
    assert (await hub.data(SHARE, {"input": unshare}, token=officer))["shareFinding"]["errors"] == []
    await move(hub, cisa, shared, "TRIAGED", 3)
    got = await receiver.wait_for(2)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 2
    revoked = got[1].verify(secret)
    assert revoked["type"] == "finding.access_revoked" and revoked["data"]["action"] == "ACCESS_REVOKED"
    assert got[1].id == f"{revoked['data']['cursor']}-revoked" and revoked["data"]["entityId"] == shared["id"]
    assert revoked["data"]["fromState"] is None and revoked["data"]["details"] == {}


async def test_rotation_signs_twice_during_the_overlap(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    old = made["secret"]
    rotated = await hub.data(
        ROTATE, {"input": {"id": made["webhookEndpoint"]["id"], "expectedVersion": 1, "overlapHours": 2}}, token=admin
    )
    new = rotated["rotateWebhookSecret"]["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated["rotateWebhookSecret"]["webhookEndpoint"]["previousSecretExpiresAt"] is not None
    await finding_flow(hub, analyst)
    got = (await receiver.wait_for(1))[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert got.verify(new) == got.verify(old)


async def test_url_rules_and_remits(hub: Api) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    for url, says in (
        ("ftp://example.org/x", "https"),
        ("https://user:pw@example.org/x", "user name"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/hook", "loopback"),
    ):
        refused = (await hub.data(REGISTER, {"input": {"url": url}}, token=admin))["registerWebhook"]
        assert refused["errors"][0]["field"] == "input.url" and says in refused["errors"][0]["message"], (url, refused)
    # an officer, an analyst: outside the remit
    officer = await hub.token(agency="CISA", role="OFFICER")
    forbidden = await hub.query(REGISTER, {"input": {"url": "https://example.org/x"}}, token=officer)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # a lab's liaison registers for the lab
    liaison = await hub.token(lab="Anthropic", role="LAB_LIAISON")
    made = await register(hub, liaison, "https://example.org/anthropic")
    assert made["webhookEndpoint"]["state"] == "ENABLED"


async def test_addresses_are_checked_where_the_hub_connects() -> None:
    """The check is on the address the name resolves to, at connection time: `localhost` is loopback, refused
    unless the operator allows it, and nothing is sent."""
    server_hits: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_hits.append(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        refused = await http.post(f"http://localhost:{port}/x", b"{}", {}, timeout=2, allow_http=True, allowed=())
        assert refused.status is None and refused.error is not None and "loopback" in refused.error
        assert server_hits == []
        https_only = await http.post(f"http://localhost:{port}/x", b"{}", {}, timeout=2, allow_http=False, allowed=())
        assert https_only.error is not None and "https" in https_only.error
    finally:
        server.close()


async def test_an_answer_is_read_up_to_a_small_limit() -> None:
    """A receiver that answers with a megabyte: the hub reads at most 4 KiB of it and is done."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"x" * 1_048_576)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        answer = await http.post(
            f"http://127.0.0.1:{port}/x",
            b"{}",
            {},
            timeout=2,
            allow_http=True,
            allowed=http.parse_networks(["127.0.0.0/8"]),
        )
    finally:
        server.close()
    assert answer.ok and len(answer.body) == http.MAX_RESPONSE_BYTES == 4096


async def test_deleting_erases_the_secret(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    made = await register(hub, admin, receiver.url)
    endpoint = made["webhookEndpoint"]["id"]
    deleted = await hub.data(SET_STATE, {"input": {"id": endpoint, "to": "DELETED", "expectedVersion": 1}}, token=admin)
    assert deleted["transitionWebhook"]["webhookEndpoint"]["state"] == "DELETED"
    con: asyncpg.Connection = await db.connect(hub.url)
    try:
        assert bytes(await con.fetchval("select secret_ciphertext from webhook_endpoints")) == b""
    finally:
        await con.close()


def test_production_refuses_to_start_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_ENV", "production")
    monkeypatch.delenv("HUB_WEBHOOK_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit, match="HUB_WEBHOOK_SECRET_KEY"):
        Settings.from_env()
    monkeypatch.setenv("HUB_WEBHOOK_SECRET_KEY", "too short")
    with pytest.raises(SystemExit, match="32 bytes"):
        Settings.from_env()
    monkeypatch.setenv("HUB_WEBHOOK_SECRET_KEY", new_key())
    settings = Settings.from_env()
    assert not settings.webhook_allow_http and settings.webhook_secret_key not in repr(settings)


async def hub_webhook(url: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *HUB,
        "webhook",
        *args,
        env={**os.environ, "HUB_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


async def test_operators_list_disable_enable_and_redeliver(hub: Api, receiver: Receiver) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    endpoint = made["webhookEndpoint"]["id"]
    pk = int(from_global_id(endpoint)[1])
    code, out = await hub_webhook(hub.url, "disable", str(pk), "--reason", "maintenance window")
    assert code == 0, out
    state = (await hub.data(ENDPOINT, {"id": endpoint}, token=admin))["node"]
    assert state["state"] == "DISABLED" and state["disabledReason"] == "disabled by an operator: maintenance window"
    await finding_flow(hub, analyst)
    await asyncio.sleep(0.3)
    assert receiver.received == []  # nothing while disabled
    code, out = await hub_webhook(hub.url, "list")
    assert code == 0 and "DISABLED" in out and "maintenance window" in out and "whsec_" not in out
    code, out = await hub_webhook(hub.url, "enable", str(pk))
    assert code == 0, out
    first = await receiver.wait_for(1)
    code, out = await hub_webhook(hub.url, "redeliver", str(pk), "--from", str(int(first[0].id) - 1))
    assert code == 0, out
    again = await receiver.wait_for(2)
    assert again[1].id == again[0].id
    code, out = await hub_webhook(hub.url, "new-key")
    assert code == 0 and len(out.strip()) == 44


async def test_rls_and_the_store_rule_show_the_same_endpoints_and_logs(fresh_url: str) -> None:
    """As tests/test_rls.py compares every kind on the demo (which has no endpoints): an agency's and a lab's
    endpoint with a log row each, read by every principal through the store's rule (as the owner) and through
    row-level security alone (as the request role): the same rows, and only the owners' admins or liaisons."""
    from hub.access import Params, visible
    from hub.store.base import bind_principal
    from tests.test_rls import every_principal

    owner = await db.connect(fresh_url)
    try:
        lab = await owner.fetchval("select id from labs order by id limit 1")
        cisa = await owner.fetchval("select id from agencies where code = 'CISA'")
        for agency_id, lab_id in ((cisa, None), (None, lab)):
            endpoint = await owner.fetchval(
                """insert into webhook_endpoints (owner_agency_id, owner_lab_id, url, secret_ciphertext)
                   values ($1, $2, 'https://example.org/x', '\\x00') returning id""",
                agency_id,
                lab_id,
            )
            await owner.execute(
                """insert into webhook_deliveries (endpoint_id, event_id, round, type, status)
                   values ($1, 1, 0, 'finding.reported', 'DELIVERED')""",
                endpoint,
            )
    finally:
        await owner.close()
    principals = await every_principal(fresh_url)
    owner = await db.connect(fresh_url)
    pool = await db.create_pool(fresh_url, min_size=1, max_size=1)
    seen: dict[str, set[frozenset[int]]] = {"endpoints": set(), "logs": set()}
    try:
        async with pool.acquire() as con:
            for principal in principals:
                p = Params()
                rule = visible("WEBHOOK", "t", principal, p)
                async with con.transaction():
                    await bind_principal(con, principal)
                    by_rls = {r[0] for r in await con.fetch("select id from webhook_endpoints t")}
                    logs_by_rls = {r[0] for r in await con.fetch("select endpoint_id from webhook_deliveries")}
                by_store = {
                    r[0] for r in await owner.fetch(f"select id from webhook_endpoints t where {rule}", *p.values)
                }
                assert by_rls == by_store == logs_by_rls, principal
                expected_owner = (principal.role == "ADMIN" and principal.agency_id == cisa) or principal.lab_id == lab
                assert bool(by_store) == expected_owner, principal
                seen["endpoints"].add(frozenset(by_store))
    finally:
        await pool.close()
        await owner.close()
    assert len(seen["endpoints"]) > 1


def test_a_signing_secret_is_masked_in_the_log() -> None:
    from hub.logs import JsonFormatter, NoSecrets
    from hub.webhooks.secrets import new_secret

    secret = new_secret()
    record = logging.LogRecord("hub.webhooks", logging.WARNING, __file__, 1, "secret %s here", (secret,), None)
    assert NoSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert secret[6:16] not in line and "whsec_…" in line


async def test_two_workers_deliver_each_event_once_in_order(hub: WebhookApi, receiver: Receiver) -> None:
    """Beside the app's own worker, two more on the same database (as other processes would be): the advisory lock
    lets one at a time deliver to the endpoint, so each event arrives once (no failure here) and in order."""
    from hub.webhooks.worker import WebhookWorker

    admin = await hub.token(agency="CISA", role="ADMIN")
    analyst = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"])
    # the app's settings, its key among them: the workers decrypt the secret the app sealed
    others = [WebhookWorker(hub.url, hub.settings) for _ in (1, 2)]
    for worker in others:
        await worker.start()
    try:
        finding = await finding_flow(hub, analyst)
        for version, to in enumerate(("TRIAGED", "VALIDATED", "COORDINATING", "DISCLOSED", "REMEDIATED"), start=1):
            await move(hub, analyst, finding, to, version)
        got = await receiver.wait_for(6)
        await asyncio.sleep(0.5)
    finally:
        for worker in others:
            await worker.stop()
    ids = [int(r.id) for r in receiver.received]
    assert len(ids) == 6 and ids == sorted(set(ids)), ids
    assert all(r.verify(made["secret"]) for r in got)


async def test_a_lab_s_endpoint_sees_what_its_liaisons_see(hub: Api, receiver: Receiver) -> None:
    liaison = await hub.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await hub.token(agency="CISA", role="ANALYST")
    made = await register(hub, liaison, receiver.url, entityKinds=["FINDING"])
    strict = await finding_flow(hub, cisa, tlp="AMBER_STRICT")
    green = await finding_flow(hub, cisa, tlp="GREEN")
    got = await receiver.wait_for(1)
    await asyncio.sleep(0.3)
    assert [r.verify(made["secret"])["data"]["entityId"] for r in got] == [green["id"]]
    assert strict["id"] not in {r.json["data"]["entityId"] for r in receiver.received}


async def test_the_endpoints_list_with_owner_moves_and_history_for_its_admins_only(
    hub: WebhookApi, receiver: Receiver
) -> None:
    admin = await hub.token(agency="CISA", role="ADMIN")
    made = await register(hub, admin, receiver.url, entityKinds=["FINDING"], actions=["TRANSITIONED"])
    query = """{ webhookEndpoints(first: 10) { totalCount edges { node { id url cursor entityKinds actions toStates
      state disabledReason consecutiveFailures nextAttemptAt previousSecretExpiresAt version
      ownerAgency { code } ownerLab { name } availableTransitions history { action } } } } }"""
    listed = (await hub.data(query, token=admin))["webhookEndpoints"]
    node = listed["edges"][0]["node"]
    assert listed["totalCount"] == 1 and node["id"] == made["webhookEndpoint"]["id"]
    assert node["cursor"] == made["webhookEndpoint"]["cursor"] and node["entityKinds"] == ["FINDING"]
    assert node["ownerAgency"] == {"code": "CISA"} and node["ownerLab"] is None
    assert node["availableTransitions"] == ["DISABLED", "DELETED"] and node["history"] == [{"action": "REGISTERED"}]
    # another agency's admin, and an officer of CISA: none
    for other in (await hub.token(agency="NIST", role="ADMIN"), await hub.token(agency="CISA", role="OFFICER")):
        assert (await hub.data(query, token=other))["webhookEndpoints"]["totalCount"] == 0


async def test_a_name_that_resolves_to_loopback_is_refused_when_delivering(fresh_url: str, receiver: Receiver) -> None:
    """Without the operator's allowance, an endpoint whose host name resolves to a loopback address (registered
    as a name, so nothing refused it then) gets nothing: the address is checked where the hub connects, and the
    refusal is in the delivery log."""
    settings = dataclasses.replace(webhook_settings(fresh_url), webhook_allowed_networks=())
    app = create_app(settings, database_url=fresh_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            api = Api(client, fresh_url)
            admin = await api.token(agency="CISA", role="ADMIN")
            analyst = await api.token(agency="CISA", role="ANALYST")
            made = await register(api, admin, f"http://localhost:{receiver.port}/in", entityKinds=["FINDING"])
            await finding_flow(api, analyst)
            for _ in range(300):
                log = (await api.data(DELIVERIES, {"id": made["webhookEndpoint"]["id"]}, token=admin))[
                    "webhookDeliveries"
                ]["edges"]
                if log:
                    break
                await asyncio.sleep(0.05)
            assert log and log[0]["node"]["responseStatus"] is None
            assert "refused: loopback address" in log[0]["node"]["error"]
            assert receiver.received == []
