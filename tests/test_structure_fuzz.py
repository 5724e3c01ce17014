"""The structural fuzzer: where tests/test_fuzz.py fuzzes the arguments of well-formed operations, this fuzzes the
structure of the request itself, against a real `hub serve` with a valid token (an agency admin's; no rate limit).

HTTP_CASES requests (POST with a JSON body, GET with ?query= for queries, and raw bodies) and WS_CASES
graphql-transport-ws `subscribe` messages, drawn with a fixed SEED from the families of tests/documents.py: valid
operations of every type built from the schema, operation names, fragment spreads (chains up to 1,000 long, cycles,
unused, wrong type, unknown), directives, variables, deep nesting, and bodies that are not one GraphQL request; and
first the few requests that failed in earlier runs (tests/documents.KNOWN).

The oracle, for every HTTP answer: not 5xx (503 DATABASE_UNAVAILABLE and 504 TIMEOUT included: the database is up all
along); a JSON object whose `errors`, when there are errors (always, from a 4xx), is a list of errors with a `message`,
an `extensions.code` that is not INTERNAL (nor TIMEOUT nor DATABASE_UNAVAILABLE) and an `extensions.requestId`; an
`X-Request-Id` header, which the errors' requestId matches; and a request graphql-core refuses (a syntax or
validation error, no operation to run, variables that do not coerce: tests/documents.verdict) is refused: errors and no
data. For every WebSocket answer: `next`, `error` and `complete` frames only, errors with a code that is not INTERNAL,
an invalid request refused, an answer within 10 s (a valid subscription may stay open: it is completed after 0.25 s),
and the socket never closed with 1011 (internal error) or without a close frame (1006), nor with 4400 for a
well-formed `subscribe` message (a bad operation gets an `error` frame: the protocol keeps 4400 for a malformed
message). A request whose kept-alive connection the server had closed is sent once more on a new one.

A failing answer is grouped by its first broken rule and its case's family; the report gives each class's count and
its smallest case, shrunk: the case generated again from its own seed at smaller sizes (a shorter fragment chain,
fewer fields), bisected down to the smallest size that still fails the same way; for a 5xx, an INTERNAL error or a
dropped socket, the exception the hub logged when that case was sent once more."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from graphql import OperationType
from websockets.exceptions import ConnectionClosed

from tests.documents import FAMILIES, KNOWN, Builder, Case, record_ids, verdict
from tests.live import GraphQLWs, Served, new_tokens, serving

SEED = 13
HTTP_CASES = 1500
WS_CASES = 200
# a query goes over GET this often, a mutation (which GET must refuse) this often
GET_SHARE = {"query": 0.25, "mutation": 0.04}
# what a valid subscription gets to show it is alive before the fuzzer completes it, and what anything else gets
WS_OPEN_SECONDS = 0.25
WS_ANSWER_SECONDS = 10.0
# codes that say the hub failed rather than refused (the database is up all along)
FAILED = ("INTERNAL", "TIMEOUT", "DATABASE_UNAVAILABLE")
MALFORMED_WS = "malformed subscribe message"


@dataclass
class Drawn:
    """A case and how to draw it again: its family, seed, size, and the roll that chose its transport."""

    case: Case
    family: str
    seed: int
    size: int
    roll: float


@dataclass
class Outcome:
    violations: list[str]
    answer: str
    executed: bool = False


@dataclass
class FailureClass:
    count: int = 0
    drawn: Drawn | None = None
    outcome: Outcome | None = None
    shrunk_from: int | None = None
    cause: str | None = None


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    frames: Counter[str] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)
    transports: Counter[str] = field(default_factory=Counter)
    executed: int = 0
    refused_as_expected: int = 0
    left_open: int = 0
    retried: int = 0


def draw(family: str, seed: int, size: int, roll: float, ids: list[str], websocket: bool) -> Case:
    """The case of `family` for this seed and size, on its transport."""
    rng = random.Random(seed)
    case = FAMILIES[family].generate(rng, size, Builder(rng, ids))
    if websocket:
        case.transport = "WS"
    elif case.transport == "POST" and isinstance(case.body, dict) and roll < GET_SHARE.get(case.kind or "", 0):
        # over GET when the URL stays short enough for any client (and for httpx's 64 KiB)
        case.transport = "GET" if len(json.dumps(case.body)) < 16_000 else "POST"
    return case


def expected_refusal(case: Case) -> bool:
    """Whether the hub must refuse the case: what its family says, else what graphql-core says; a mutation over GET
    too."""
    if case.refuse is not None:
        return case.refuse
    if case.transport == "RAW":
        return False
    refused, operation = verdict(case.body)
    over_get = case.transport == "GET" and operation is not None and operation.operation == OperationType.MUTATION
    return refused or over_get


def error_violations(errors: Any, request_id: str | None, *, http: bool) -> list[str]:
    if not isinstance(errors, list) or not errors:
        return ["errors is not a non-empty list"]
    found = []
    for error in errors:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            found.append("an error without a message")
            continue
        extensions = error["extensions"] if isinstance(error.get("extensions"), dict) else {}
        code = extensions.get("code")
        if code in FAILED:
            found.append(f"an error with code {code}")
        elif not code:
            found.append("an error without extensions.code")
        if http and not extensions.get("requestId"):
            found.append("an error without extensions.requestId")
        elif http and request_id and extensions.get("requestId") != request_id:
            found.append("an error whose requestId is not the X-Request-Id")
    return found


def shorten(text: str, limit: int = 260) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def describe(case: Case) -> str:
    """The request, as sent (long ones cut)."""
    if case.transport == "GET":
        return "GET /graphql?" + shorten(urlencode(case.body))
    if case.transport == "RAW":
        head = f"{case.method} Content-Type: {case.content_type!r}; body "
        return head + shorten(repr(case.raw)[2:-1])
    what = "subscribe payload" if case.transport == "WS" else "POST"
    payload = case.raw.decode() if case.raw else json.dumps(case.body, ensure_ascii=False)
    return f"{what} {shorten(payload)}"


def http_outcome(response: httpx.Response, refuse: bool) -> Outcome:
    content_type = response.headers.get("content-type", "")
    media_type = content_type.split(";")[0] or "(no content type)"
    answer = f"{response.status_code} {media_type}: {shorten(response.text, 300)}"
    found = []
    if response.status_code >= 500:
        found.append(f"HTTP {response.status_code} {media_type}")
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        return Outcome([*found, "a body that is not JSON"], answer)
    if not isinstance(body, dict):
        return Outcome([*found, "a body that is not a JSON object"], answer)
    errors = body.get("errors")
    if response.status_code >= 400 or errors is not None:
        found += error_violations(errors, request_id, http=True)
    elif "data" not in body:
        found.append("neither data nor errors")
    data = body.get("data")
    if refuse and not (errors and data is None):
        found.append("an invalid request answered with data")
    if not request_id:
        found.append("no X-Request-Id header")
    return Outcome(found, answer, executed=data is not None)


class Socket:
    """One graphql-transport-ws connection, read by a task of its own: the frames of each operation id, and the
    close code once the server closed it."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.client: GraphQLWs | None = None
        self.closed: int | None = 0  # not open yet
        self.frames: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self.arrived = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.ids = 0
        self.connections = 0

    async def open(self) -> GraphQLWs:
        if self.client is not None and self.closed is None:
            return self.client
        self.client = await GraphQLWs.open(self.url, self.token)
        await self.client.acked()
        self.closed, self.frames = None, defaultdict(list)
        self.connections += 1
        self.reader = asyncio.create_task(self.read(self.client))
        return self.client

    async def read(self, client: GraphQLWs) -> None:
        try:
            async for raw in client.ws:
                message = json.loads(raw)
                self.frames[str(message.get("id"))].append(message)
                self.arrived.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = int(client.ws.close_code or 1005)
            self.arrived.set()

    async def send(self, message: str, operation_id: str, seconds: float, alive: bool) -> bool:
        """Send a message and wait for its operation's end (`complete` or `error`), the socket's close, or, when
        `alive` (a subscription that may stay open), its first `next`; complete it if it is still open. Whether it
        was left open."""
        client = await self.open()
        await client.ws.send(message)
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            self.arrived.clear()
            frames = self.frames[operation_id]
            if self.closed is not None or any(f.get("type") in ("complete", "error") for f in frames):
                return False
            if alive and frames:
                break
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(json.dumps({"id": operation_id, "type": "complete"}))
        return True

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.reader is not None:
            await self.reader


class Fuzzer:
    def __init__(self, served: Served, token: str, ids: list[str]) -> None:
        self.served, self.ids = served, ids
        self.http = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        self.socket = Socket(served.url, token)
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.failures: dict[tuple[str, str], FailureClass] = defaultdict(FailureClass)
        self.tally = Tally()
        self.sent = Counter[str]()

    # HTTP

    def send_http(self, case: Case) -> Outcome:
        refuse = expected_refusal(case)
        if case.transport == "GET":
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in case.body.items() if v is not None}
            request = self.http.build_request("GET", "/graphql", params=params)
        elif case.transport == "POST":
            request = self.http.build_request("POST", "/graphql", json=case.body)
        else:
            headers = {"Content-Type": case.content_type} if case.content_type is not None else {}
            request = self.http.build_request(case.method, "/graphql", content=case.raw, headers=headers)
        try:
            try:
                response = self.http.send(request)
            except httpx.TransportError:
                # once more, on a new connection: a kept-alive one may have been closed by the server meanwhile
                # (uvicorn closes the connection of an answer that failed)
                self.tally.retried += 1
                response = self.http.send(request)
        except httpx.TransportError as error:
            return Outcome([f"no HTTP answer ({type(error).__name__})"], str(error))
        outcome = http_outcome(response, refuse)
        self.tally.statuses[response.status_code] += 1
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            for item in response.json().get("errors") or ():
                self.tally.codes[str((item.get("extensions") or {}).get("code"))] += 1
        self.tally.refused_as_expected += refuse and not outcome.violations
        return outcome

    # WebSocket

    async def send_ws(self, case: Case) -> Outcome:
        socket = self.socket
        await socket.open()
        socket.ids += 1
        operation_id = str(socket.ids)
        if case.family == MALFORMED_WS:
            message, refuse, alive = json.dumps({**case.body, "id": operation_id}), True, False
        elif case.raw:
            # a payload kept as text (JSON nested deeper than Python's encoder goes)
            message = f'{{"id": "{operation_id}", "type": "subscribe", "payload": {case.raw.decode()}}}'
            refuse, alive = bool(case.refuse), False
        else:
            refused, operation = verdict(case.body)
            refuse = refused if case.refuse is None else case.refuse
            alive = not refused and operation is not None and operation.operation == OperationType.SUBSCRIPTION
            message = json.dumps({"id": operation_id, "type": "subscribe", "payload": case.body})
        left_open = await socket.send(message, operation_id, WS_OPEN_SECONDS if alive else WS_ANSWER_SECONDS, alive)
        frames = socket.frames[operation_id]
        closed = socket.closed
        self.tally.left_open += left_open
        found: list[str] = []
        data = None
        for frame in frames:
            kind = frame.get("type")
            self.tally.frames[str(kind)] += 1
            if kind not in ("next", "error", "complete"):
                found.append(f"a {kind!r} frame")
            elif kind == "error":
                found += error_violations(frame.get("payload"), None, http=False)
            elif kind == "next":
                payload = frame.get("payload") or {}
                data = payload.get("data") if data is None else data
                if "errors" in payload:
                    found += error_violations(payload["errors"], None, http=False)
        if closed is not None:
            self.tally.closes[closed] += 1
            if closed == 1011:
                found.insert(0, "WebSocket closed with 1011 (internal error)")
            elif closed == 4400 and case.family != MALFORMED_WS:
                found.insert(0, "WebSocket closed with 4400 on a well-formed subscribe")
            elif closed not in (1000, 4400):
                found.insert(0, f"WebSocket closed with {closed}")
        elif not left_open and not frames:
            found.append("no answer")
        elif left_open and not alive:
            found.append(f"no end of the operation within {WS_ANSWER_SECONDS:g} s")
        if refuse and data is not None:
            found.append("an invalid request answered with data")
        answer = shorten(" ".join(json.dumps(f, ensure_ascii=False) for f in frames), 300)
        if closed is not None:
            answer += f" (socket closed {closed})"
        elif left_open:
            answer += " (left open, completed)"
        return Outcome(found, answer or "(nothing)", executed=data is not None)

    # the run

    def record(self, drawn: Drawn, outcome: Outcome) -> None:
        self.sent[drawn.case.transport] += 1
        self.tally.executed += outcome.executed
        if not outcome.violations:
            return
        failure = self.failures[(outcome.violations[0], label(drawn.case))]
        failure.count += 1
        if failure.drawn is None or (drawn.size, len(describe(drawn.case))) < (
            failure.drawn.size,
            len(describe(failure.drawn.case)),
        ):
            failure.drawn, failure.outcome = drawn, outcome

    async def known(self) -> None:
        """The cases that failed in earlier runs (tests/documents.KNOWN)."""
        for case in KNOWN:
            self.record(Drawn(case, "known", 0, 1, 1.0), await self.send(case))

    async def run(self, master: random.Random, count: int, *, websocket: bool) -> None:
        names = list(FAMILIES)
        weights = [FAMILIES[name].websocket if websocket else FAMILIES[name].http for name in names]
        for _ in range(count):
            family = master.choices(names, weights)[0]
            seed, roll = master.getrandbits(32), master.random()
            size = master.choice(FAMILIES[family].sizes)
            if websocket and master.random() < 0.04:
                drawn = Drawn(malformed(master), MALFORMED_WS, seed, 1, roll)
            else:
                drawn = Drawn(draw(family, seed, size, roll, self.ids, websocket), family, seed, size, roll)
            started = time.monotonic()
            self.record(drawn, await self.send(drawn.case))
            self.seconds[family] += time.monotonic() - started

    async def send(self, case: Case) -> Outcome:
        return await self.send_ws(case) if case.transport == "WS" else self.send_http(case)

    async def shrink(self) -> None:
        """Each class's smallest case, generated again at smaller sizes: the smallest size that still fails the same
        way (bisected: a handful of requests a class)."""
        for key, failure in self.failures.items():
            assert failure.drawn is not None
            drawn = failure.drawn
            if drawn.family not in FAMILIES or drawn.size <= 1:
                continue
            low, high, best = 0, drawn.size, None
            while high - low > 1:
                middle = (low + high) // 2
                case = draw(drawn.family, drawn.seed, middle, drawn.roll, self.ids, drawn.case.transport == "WS")
                outcome = await self.send(case)
                if outcome.violations and (outcome.violations[0], label(case)) == key:
                    high, best = middle, (Drawn(case, drawn.family, drawn.seed, middle, drawn.roll), outcome)
                else:
                    low = middle
            if best is not None:
                failure.shrunk_from = drawn.size
                failure.drawn, failure.outcome = best

    async def explain(self) -> None:
        """Send each failing class's smallest case once more, and keep what the hub's log says of it: the exception
        behind a 5xx, an INTERNAL error or a dropped socket."""
        for (rule, _), failure in self.failures.items():
            assert failure.drawn is not None
            if not any(word in rule for word in ("HTTP 5", "INTERNAL", "1006", "1011", "no HTTP answer")):
                continue
            before = len(self.served.output)
            await self.send(failure.drawn.case)
            await asyncio.sleep(0.3)  # the log is read by a thread of its own
            for line in self.served.output[before:]:
                with contextlib.suppress(ValueError):
                    logged = json.loads(line)
                    if isinstance(logged, dict) and logged.get("exception"):
                        failure.cause = traceback_summary(logged["exception"])

    def report(self, seconds: float) -> str:
        tally = self.tally
        slowest = ", ".join(
            f"{name} {spent:.1f} s" for name, spent in sorted(self.seconds.items(), key=lambda x: -x[1])
        )
        lines = [
            f"structural fuzz, seed {SEED}: {sum(self.sent.values()):,} cases ({dict(self.sent)}) in {seconds:.1f} s "
            f"({slowest}), {self.socket.connections} WebSocket connections",
            f"HTTP statuses {dict(sorted(tally.statuses.items()))}; error codes {dict(tally.codes.most_common())}",
            f"answered with data: {tally.executed:,}; invalid requests refused as they must be: "
            f"{tally.refused_as_expected:,}; sent again after a dropped connection: {tally.retried}",
            f"WebSocket frames {dict(tally.frames)}; closes {dict(tally.closes)}; subscriptions left open and "
            f"completed: {tally.left_open}",
        ]
        total = sum(f.count for f in self.failures.values())
        lines.append(f"{total:,} failing answers in {len(self.failures)} classes" + (":" if total else ""))
        rules = Counter[str]()
        for (rule, _), failure in self.failures.items():
            rules[rule] += failure.count
        for rule, count in rules.most_common():
            lines.append(f"* {rule}: {count}")
            classes = [(key[1], f) for key, f in self.failures.items() if key[0] == rule]
            for name, failure in sorted(classes, key=lambda item: -item[1].count):
                assert failure.drawn is not None and failure.outcome is not None
                size = f"size {failure.drawn.size}" + (
                    f", shrunk from {failure.shrunk_from}" if failure.shrunk_from else ""
                )
                lines.append(f"  - [{name}] {failure.count}; smallest ({failure.drawn.case.family}, {size}):")
                lines.append(f"    {describe(failure.drawn.case)}")
                lines.append(f"    -> {failure.outcome.answer}")
                if failure.cause:
                    lines.append(f"    the hub's log: {failure.cause}")
                if len(failure.outcome.violations) > 1:
                    lines.append(f"    and: {'; '.join(sorted(set(failure.outcome.violations[1:])))}")
        return "\n".join(lines)


def label(case: Case) -> str:
    """The failure class's second half: the transport and the family ("POST fragments", "WS operation names"), or the
    known case."""
    return f"{case.transport} {case.family if case.family.startswith('known') else case.family.split(':')[0]}"


def traceback_summary(trace: str) -> str:
    """The exception and where it was raised, in the hub's code and beyond."""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', trace)
    last = trace.strip().splitlines()[-1]

    def short(frame: tuple[str, str, str]) -> str:
        path, library = re.subn(r".*/(site-packages|lib/python3\.\d+)/", "", frame[0])
        if not library:
            path = re.sub(r".*/(?=(hub|schema|tests)/)", "", path)
        return f"{path}:{frame[1]} {frame[2]}"

    ours = [f for f in frames if "site-packages" not in f[0] and re.search(r"/(hub|schema)/", f[0])]
    where = [short(frames[-1])] if frames else []
    if ours and ours[-1] != frames[-1]:
        where.append(f"the hub's last frame {short(ours[-1])}")
    return shorten(last, 160) + (f" (raised at {'; '.join(where)})" if where else "")


def malformed(rng: random.Random) -> Case:
    """A graphql-transport-ws message that is not a well-formed subscribe: the protocol closes the socket (4400)."""
    message = rng.choice(
        [
            {"type": "subscribe", "payload": {"query": 5}},
            {"type": "subscribe", "payload": "{ me { id } }"},
            {"type": "subscribe"},
            {"type": "subscribe", "payload": {"query": "{ me { id } }", "variables": [1]}},
            {"type": "nonsense", "payload": {}},
        ]
    )
    return Case(MALFORMED_WS, "WS", message, refuse=True)


async def test_structurally_fuzzed_requests_get_no_server_error(fresh_url: str) -> None:
    tokens, spared = await new_tokens(fresh_url, ("CISA", "ADMIN"))
    # no rate limit: the run sends 1,700 requests in well under a minute, and each must reach as far as it can
    with serving(fresh_url, {"HUB_RATE_LIMIT_COST": "0"}) as server:
        fuzzer = Fuzzer(server, tokens[0], record_ids(spared))
        master = random.Random(SEED)
        started = time.monotonic()
        try:
            await fuzzer.known()
            await fuzzer.run(master, HTTP_CASES, websocket=False)
            await fuzzer.run(master, WS_CASES, websocket=True)
            seconds = time.monotonic() - started
            # what shrinking and explaining send is not counted
            tally, fuzzer.tally = fuzzer.tally, Tally()
            await fuzzer.shrink()
            await fuzzer.explain()
            fuzzer.tally = tally
        finally:
            await fuzzer.socket.close()
            fuzzer.http.close()
    report = fuzzer.report(seconds)
    if fuzzer.failures:
        pytest.fail(report, pytrace=False)
    print("\n" + report)  # the figures of a passing run (docs/security.md quotes them)
    # the run tested the API, not its front door: every request was authenticated, and many reached execution
    assert "UNAUTHENTICATED" not in fuzzer.tally.codes and 401 not in fuzzer.tally.statuses, report
    assert fuzzer.tally.executed >= (HTTP_CASES + WS_CASES) // 8, report
