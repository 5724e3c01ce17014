"""Clients of the cluster topology (tests/cluster/, bench/cluster.py): reads and writes over real HTTP through
HAProxy, with the read-your-writes header, and a subscriber that resumes from its cursor."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

TOKEN_HEADER = "Hub-Consistency-Token"
READ_FROM_HEADER = "Hub-Read-From"
WRITE = """mutation ClusterWrite($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id title } errors { code message } } }"""
READ_BACK = "query ClusterReadBack($id: ID!) { node(id: $id) { id ... on Finding { title } } }"
# the read mix: a list page with nested records, counts, and a model page with its lab
READS = (
    "query ClusterFindings { findings(first: 20) { totalCount edges { node { id title state tlp lab { name } } } } }",
    "query ClusterModels { models(first: 10) { totalCount edges { node { name lab { name } } } } }",
    "query ClusterCritical { findings(filter: {severity: [CRITICAL]}) { totalCount } }",
)
STATUS = """subscription ClusterStatus($since: String) {
  statusChanged(kinds: [FINDING], since: $since) { cursor entityId action } }"""
LAST_CURSOR = (
    "query ClusterCursor { events(first: 1, orderBy: {field: ID, direction: DESC}) { edges { node { cursor } } } }"
)
# what a client retries: no answer at all, or a node or the balancer saying it cannot answer now
RETRIED_STATUS = frozenset({502, 503, 504})
NUMBERS = itertools.count()


class Failed(AssertionError):
    """A request got an answer that is an error (not one a client retries)."""


@dataclass
class Attempt:
    """One HTTP attempt as its client saw it."""

    kind: str
    started: float
    seconds: float
    status: int | None  # None: no HTTP answer (reset, refused)
    read_from: str | None = None
    error: str = ""


@dataclass
class Client:
    """One client: an HTTP connection pool to `base`, its token, and every attempt it made."""

    base: str
    token: str
    attempts: list[Attempt] = field(default_factory=list)
    http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Client:
        self.http = httpx.AsyncClient(base_url=self.base, timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.aclose()

    async def post(
        self, kind: str, query: str, variables: dict[str, Any] | None = None, *, consistency: str | None = None
    ) -> httpx.Response:
        """One attempt; raises httpx.TransportError when no answer came."""
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        if consistency:
            headers[TOKEN_HEADER] = consistency
        started = time.monotonic()
        try:
            response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                            headers=headers)  # fmt: skip
        except httpx.TransportError as error:
            self.attempts.append(Attempt(kind, started, time.monotonic() - started, None, error=repr(error)))
            raise
        self.attempts.append(
            Attempt(kind, started, time.monotonic() - started, response.status_code,
                    response.headers.get(READ_FROM_HEADER), "" if response.status_code == 200 else response.text[:300])
        )  # fmt: skip
        return response

    async def call(
        self,
        kind: str,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        consistency: str | None = None,
        retries: int = 0,
    ) -> httpx.Response:
        """An operation whose answer must be 200 without errors; with `retries`, tried again (the same request: a
        write carries its idempotency key) when no answer or a 502/503/504 came."""
        for attempt in range(retries + 1):
            try:
                response = await self.post(kind, query, variables, consistency=consistency)
            except httpx.TransportError:
                if attempt == retries:
                    raise
                await asyncio.sleep(0.05)
                continue
            if response.status_code in RETRIED_STATUS and attempt < retries:
                await asyncio.sleep(0.05)
                continue
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise Failed(f"{kind}: {response.status_code} {response.text[:500]}")
            for payload in (body.get("data") or {}).values():
                if isinstance(payload, dict) and payload.get("errors"):
                    raise Failed(f"{kind}: {payload['errors']}")
            return response
        raise AssertionError("unreachable")

    async def write(self, title: str | None = None, *, retries: int = 0) -> tuple[str, str | None]:
        """Report a finding (with an idempotency key, so that a retry reports it once); its id and the answer's
        consistency token (None if the hub gave none)."""
        title = title or f"cluster {next(NUMBERS)} {uuid.uuid4().hex[:8]}"
        variables = {"input": {"title": title, "tlp": "GREEN", "idempotencyKey": title}}
        response = await self.call("write", WRITE, variables, retries=retries)
        body = response.json()
        token = response.headers.get(TOKEN_HEADER)
        extension = (body.get("extensions") or {}).get("consistencyToken")
        assert token == extension, (token, extension)
        return str(body["data"]["reportFinding"]["finding"]["id"]), token

    async def read_back(self, finding_id: str, *, consistency: str | None = None) -> tuple[bool, str | None]:
        """Whether the finding is there for this client; and who answered (Hub-Read-From)."""
        response = await self.call("read-back", READ_BACK, {"id": finding_id}, consistency=consistency)
        return response.json()["data"]["node"] is not None, response.headers.get(READ_FROM_HEADER)

    async def read(self, number: int, *, retries: int = 0) -> httpx.Response:
        return await self.call("read", READS[number % len(READS)], retries=retries)

    async def last_cursor(self) -> str:
        response = await self.call("read", LAST_CURSOR, retries=5)
        return str(response.json()["data"]["events"]["edges"][0]["node"]["cursor"])


class Subscriber:
    """statusChanged(kinds: [FINDING]) over a real WebSocket; `run` follows it and resumes from the last cursor it
    received (on whatever node `url` leads to) whenever the socket ends, until stopped."""

    def __init__(self, token: str, since: str) -> None:
        self.token = token
        self.cursor = since
        self.events: list[dict[str, Any]] = []
        self.connections: list[str] = []
        self.resumed_at: list[float] = []
        self.dropped_at: list[float] = []
        self.connected = asyncio.Event()
        self.stopping = False

    async def once(self, url: str) -> None:
        """Subscribe at `url` from the cursor and read until the socket ends."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        try:
            ws = await connect(url.replace("http", "ws", 1) + "/graphql", subprotocols=["graphql-transport-ws"])
        except (OSError, TimeoutError, ConnectionClosed, Exception) as error:  # noqa: BLE001 - refused, 502...
            self.connections.append(f"{url}: {error!r}")
            return
        try:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {self.token}"}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert ack["type"] == "connection_ack", ack
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": STATUS, "variables": {"since": self.cursor}}}))  # fmt: skip
            self.connections.append(url)
            self.resumed_at.append(time.monotonic())
            self.connected.set()
            while not self.stopping:
                message = json.loads(await ws.recv())
                if message["type"] == "next":
                    assert "errors" not in message["payload"], message
                    event = message["payload"]["data"]["statusChanged"]
                    self.events.append(event)
                    self.cursor = event["cursor"]
                elif message["type"] in ("complete", "error"):
                    return
        except (ConnectionClosed, OSError):
            return
        finally:
            self.dropped_at.append(time.monotonic())
            await ws.close()

    async def run(self, first_url: str, then_url: str) -> None:
        """Follow at `first_url`; after it ends, resume at `then_url` (the balancer) until stopped."""
        await self.once(first_url)
        while not self.stopping:
            await self.once(then_url)
            if not self.stopping:
                await asyncio.sleep(0.1)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
