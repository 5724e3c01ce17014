"""Shared execution of live events (docs/live.md, "How it scales"): subscribers of one sight (agency or lab, and
role) with the same operation get one execution per event, and each still gets exactly what its own principal may
see: RED records only to their recipients and their author, ACCESS_REVOKED to whoever loses sight, over real
WebSockets against a real `hub serve`."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import scratch_folder
from tests.live import GraphQLWs, Served, create_token, graphql_data, serve

STATUS = """subscription($kinds: [EntityKind!], $since: String) {
  statusChanged(kinds: $kinds, since: $since) {
    cursor entityKind entityId action actorAgency { code }
    entity { id ... on Finding { title tlp } }
  }
}"""
REPORT = """mutation($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id version } errors { message } } }"""
SHARE = """mutation($input: ShareFindingInput!) { shareFinding(input: $input) {
  finding { id version } errors { message } } }"""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-shared-") as data_dir:
        yield from serve(data_dir, env={"HUB_EVENTS_POLL_SECONDS": "0.5", "HUB_SCHEDULER": "off"})


@pytest.fixture(scope="module")
def tokens(served: Served) -> dict[str, str]:
    """Principals of several sights; three of one (CISA officers): the author of a RED finding, its recipient, and
    one neither."""
    holders = {
        "author": ("--agency", "CISA", "--role", "OFFICER"),
        "recipient": ("--agency", "CISA", "--role", "OFFICER"),
        "colleague": ("--agency", "CISA", "--role", "OFFICER"),
        "analyst": ("--agency", "CISA", "--role", "ANALYST"),
        "epa": ("--agency", "EPA", "--role", "OFFICER"),
        "nist": ("--agency", "NIST", "--role", "VIEWER"),
        "doe": ("--agency", "DOE", "--role", "VIEWER"),
        "lab": ("--lab", "OpenAI", "--role", "LAB_LIAISON"),
    }
    return {who: create_token(served.data_dir, *args, "--name", f"shared {who}") for who, args in holders.items()}


def data(served: Served, token: str, query: str, **variables: Any) -> dict[str, Any]:
    return graphql_data(served, token, query, **variables)


def report(served: Served, token: str, title: str, **fields: Any) -> dict[str, Any]:
    found = data(served, token, REPORT, input={"title": title, **fields})["reportFinding"]
    assert not found["errors"], found
    return dict(found["finding"])


def share(served: Served, token: str, finding: dict[str, Any], version: int, **fields: Any) -> int:
    shared = data(served, token, SHARE, input={"id": finding["id"], "expectedVersion": version, **fields})
    assert not shared["shareFinding"]["errors"], shared
    return int(shared["shareFinding"]["finding"]["version"])


def metric(served: Served, name: str) -> float:
    text = httpx.get(served.url + "/metrics", timeout=5).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def subscriptions_open(served: Served, count: int) -> None:
    """Wait until the worker holds exactly `count` subscriptions (sockets of an earlier test closing, new ones
    registering)."""
    for _ in range(200):
        ready = (await asyncio.to_thread(httpx.get, served.url + "/readyz", timeout=5)).json()
        if ready.get("subscriptions") == count:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the worker does not hold {count} subscriptions")


async def steady_metrics(served: Served) -> dict[str, float]:
    """The fan-out's counters once the earlier events (a new token's, say) have been fanned out and the worker's
    gauges refreshed (every 2 s): two readings a refresh apart that agree."""
    last: dict[str, float] = {}
    for _ in range(60):
        now = {name: await asyncio.to_thread(metric, served, name) for name in METRICS}
        if now == last:
            return now
        last = now
        await asyncio.sleep(2.5)
    pytest.fail("the fan-out's counters do not settle")


async def until_marker(client: GraphQLWs, marker: str) -> list[dict[str, Any]]:
    """Every event a subscriber gets up to and including the one on the finding `marker`."""
    seen = []
    while True:
        event = (await client.next_data())["statusChanged"]
        seen.append(event)
        if event["entityId"] == marker:
            return seen


async def test_each_subscriber_of_a_shared_sight_gets_exactly_what_its_own_principal_may_see(
    served: Served, tokens: dict[str, str]
) -> None:
    me = {who: data(served, token, "{ me { id agency { id } } }")["me"] for who, token in tokens.items()}
    # two sockets per principal, all with the same operation: the CISA officers share a sight, and so do the
    # sockets of each other principal
    clients: dict[str, list[GraphQLWs]] = {}
    for who, token in tokens.items():
        for _ in range(2):
            client = await GraphQLWs.open(served.url, token)
            await client.acked()
            await client.subscribe(STATUS, {"kinds": ["FINDING"]})
            clients.setdefault(who, []).append(client)
    await subscriptions_open(served, 2 * len(tokens))

    author = tokens["author"]
    got: dict[str, list[list[dict[str, Any]]]] = {who: [[], []] for who in clients}

    async def settle(title: str) -> dict[str, Any]:
        """A CLEAR finding everyone sees, read by every socket: every event before it has been judged and delivered
        (an event is judged when it is delivered: a later change must not overtake it in this test)."""
        marker = await asyncio.to_thread(report, served, author, title, tlp="CLEAR")
        for who, sockets in clients.items():
            for n, client in enumerate(sockets):
                got[who][n] += await until_marker(client, marker["id"])
        return marker

    green = await asyncio.to_thread(report, served, author, "shared green", tlp="GREEN")
    amber = await asyncio.to_thread(
        report, served, author, "shared amber", tlp="AMBER", shareWithAgencyIds=[me["epa"]["agency"]["id"]]
    )
    red = await asyncio.to_thread(report, served, author, "shared red", tlp="RED", recipientIds=[me["recipient"]["id"]])
    first = await settle("shared first marker")
    # AMBER narrowed to the owning agency: EPA loses it
    await asyncio.to_thread(share, served, author, amber, amber["version"], tlp="AMBER_STRICT")
    # RED passed from one recipient to another: the first loses it, the second gains it, the author keeps it
    await asyncio.to_thread(share, served, author, red, red["version"], tlp="RED", recipientIds=[me["colleague"]["id"]])
    last = await settle("shared last marker")

    shown, revoked = "shown", "ACCESS_REVOKED"
    cisa = [(green, shown), (amber, shown), (first, shown), (amber, shown), (last, shown)]
    expected = {
        "author": [(green, shown), (amber, shown), (red, shown), (first, shown), (amber, shown), (red, shown)]
        + [(last, shown)],
        "recipient": [(green, shown), (amber, shown), (red, shown), (first, shown), (amber, shown), (red, revoked)]
        + [(last, shown)],
        "colleague": [(green, shown), (amber, shown), (first, shown), (amber, shown), (red, shown), (last, shown)],
        "analyst": cisa,
        "epa": [(green, shown), (amber, shown), (first, shown), (amber, revoked), (last, shown)],
        "nist": [(green, shown), (first, shown), (last, shown)],
        "doe": [(green, shown), (first, shown), (last, shown)],
        "lab": [(first, shown), (last, shown)],
    }
    titles = {green["id"]: "shared green", amber["id"]: "shared amber", red["id"]: "shared red"}
    titles |= {first["id"]: "shared first marker", last["id"]: "shared last marker"}
    for who, sockets in clients.items():
        for n, client in enumerate(sockets):
            events = got[who][n]
            seen = [(e["entityId"], revoked if e["action"] == revoked else shown) for e in events]
            assert seen == [(finding["id"], how) for finding, how in expected[who]], who
            for event in events:
                if event["action"] == revoked:
                    assert event["entity"] is None and event["actorAgency"] is None, who
                else:
                    assert event["entity"]["title"] == titles[event["entityId"]], who
                    assert event["actorAgency"] == {"code": "CISA"}, who
            with pytest.raises(TimeoutError):
                await client.receive(seconds=0.3)
    # nobody who may not see the RED finding got a word of it
    for who in ("analyst", "epa", "nist", "doe", "lab"):
        assert all(red["id"] not in str(events) for events in got[who])
    for sockets in clients.values():
        for client in sockets:
            await client.close()


async def test_subscribers_of_one_sight_get_one_execution_per_event(served: Served, tokens: dict[str, str]) -> None:
    viewers = [
        create_token(served.data_dir, "--agency", "NIST", "--role", "VIEWER", "--name", f"nist {n}") for n in range(3)
    ]
    await subscriptions_open(served, 0)
    before = await steady_metrics(served)
    clients = []
    for token in viewers:
        for _ in range(4):
            client = await GraphQLWs.open(served.url, token)
            await client.acked()
            await client.subscribe(STATUS, {"kinds": ["FINDING"]})
            clients.append(client)
    # the same operation with another `since`: the same execution
    for token in viewers:
        client = await GraphQLWs.open(served.url, token)
        await client.acked()
        await client.subscribe(STATUS, {"kinds": ["FINDING"], "since": None})
        clients.append(client)
    await subscriptions_open(served, len(clients))
    finding = await asyncio.to_thread(report, served, tokens["author"], "one execution", tlp="GREEN")
    received = [await until_marker(client, finding["id"]) for client in clients]
    assert all(len(events) == 1 and events[0]["entity"]["title"] == "one execution" for events in received)

    # the gauges are refreshed every 2 s: wait for the deliveries to show
    for _ in range(200):
        fanned_out = metric(served, "hub_events_fanned_out_total") - before["hub_events_fanned_out_total"]
        if fanned_out >= len(clients):
            break
        await asyncio.sleep(0.1)
    after = {name: metric(served, name) for name in METRICS}
    delta = {name: after[name] - before[name] for name in METRICS}
    assert delta["hub_events_fanned_out_total"] == len(clients)
    # one event, one sight, one operation: one execution for the fifteen subscribers, none judged alone
    assert delta["hub_event_executions_total"] == 1
    assert delta["hub_event_judged_alone_total"] == 0
    # and one encoding of its payload, which each of the fifteen sockets sent with its subscription's id around it
    assert delta["hub_event_payloads_encoded_total"] == 1
    assert delta["hub_event_encoded_deliveries_total"] == len(clients)
    # per batch: hub_events_upto, the batch's ids, the sight's events (binding, reading), and executing it on a
    # connection of its own: the binding, the finding, the agency
    assert delta["hub_event_batches_total"] == 1
    assert delta["hub_event_fanout_statements_total"] == 7
    for client in clients:
        await client.close()

    # a selection that reaches records beyond the event's own (a finding's measures, which may be RED) is shared
    # by the subscribers of one principal only; the finding's CVSS and the agencies and labs it is shared with are
    # the same for the whole sight
    await subscriptions_open(served, 0)
    for query, executions in ((NESTED, len(viewers)), (VALUES, 1)):
        before = await steady_metrics(served)
        clients = []
        for token in viewers:
            for _ in range(2):
                client = await GraphQLWs.open(served.url, token)
                await client.acked()
                await client.subscribe(query, {"kinds": ["FINDING"]})
                clients.append(client)
        await subscriptions_open(served, len(clients))
        finding = await asyncio.to_thread(report, served, tokens["author"], "nested", tlp="GREEN")
        for client in clients:
            event = (await client.next_data())["statusChanged"]
            assert event["entityId"] == finding["id"] and event["entity"]["title"] == "nested"
        for client in clients:
            await client.close()
        await subscriptions_open(served, 0)
        after = await steady_metrics(served)
        assert after["hub_event_executions_total"] - before["hub_event_executions_total"] == executions, query


NESTED = """subscription($kinds: [EntityKind!]) { statusChanged(kinds: $kinds) {
  cursor entityId entity { id ... on Finding { title measures { id } } } } }"""
VALUES = """subscription($kinds: [EntityKind!]) { statusChanged(kinds: $kinds) {
  cursor entityId entity { id ... on Finding { title cvss { baseScore } shareWith { __typename } } } } }"""

METRICS = (
    "hub_events_fanned_out_total",
    "hub_event_executions_total",
    "hub_event_batches_total",
    "hub_event_fanout_statements_total",
    "hub_event_judged_alone_total",
    "hub_event_payloads_encoded_total",
    "hub_event_encoded_deliveries_total",
)


async def test_a_live_event_sent_as_its_groups_encoded_payload_is_the_frame_strawberry_would_send(
    served: Served, tokens: dict[str, str]
) -> None:
    """The same event, live (executed and encoded once for the group, sent with the subscription's id around it)
    and replayed (executed for the subscriber alone, formatted and encoded by strawberry): the same bytes but the
    id."""
    before = await asyncio.to_thread(report, served, tokens["author"], "frames before", tlp="GREEN")
    live = await GraphQLWs.open(served.url, tokens["epa"])
    await live.acked()
    live_id = await live.subscribe(STATUS, {"kinds": ["FINDING"]})
    await subscriptions_open(served, 1)
    title = 'frames "quoted" \u00e9 \U0001f600'
    finding = await asyncio.to_thread(report, served, tokens["author"], title, tlp="GREEN")
    raw_live = await asyncio.wait_for(live.ws.recv(), 15)
    cursor = json.loads(raw_live)["payload"]["data"]["statusChanged"]["cursor"]
    replay = await GraphQLWs.open(served.url, tokens["epa"])
    await replay.acked()
    replay_id = await replay.subscribe(STATUS, {"kinds": ["FINDING"], "since": str(int(cursor) - 1)})
    raw_replayed = await asyncio.wait_for(replay.ws.recv(), 15)
    assert json.loads(raw_live)["payload"]["data"]["statusChanged"]["entityId"] == finding["id"] != before["id"]
    assert raw_live == raw_replayed.replace(json.dumps(replay_id), json.dumps(live_id), 1)
    assert raw_live.startswith('{"id":' + json.dumps(live_id) + ',"type":"next","payload":{"data":')
    await live.close()
    await replay.close()


LAB_STATUS = """subscription { statusChanged(kinds: [LAB]) {
  cursor action entityId actorAgency { code } actorLab { name } entity { id ... on Lab { name website } } } }"""
LAB_TRANSITIONS = """subscription { statusChanged(kinds: [LAB]) {
  cursor entityId entity { id ... on Lab { website availableTransitions } } } }"""
UPDATE_LAB = (
    """mutation($input: UpdateLabInput!) { updateLab(input: $input) { lab { id version } errors { message } } }"""
)


async def test_an_event_every_principal_sees_alike_is_executed_once_for_every_sight(
    served: Served, tokens: dict[str, str]
) -> None:
    """A lab's event, with a selection that reads nothing of it but the values its rows hold (the event's, the
    lab's, the acting agency's and lab's): one execution for every sight; with a field that depends on who asks
    (`availableTransitions`), one per sight, each subscriber getting its own principal's."""
    sights = ("analyst", "epa", "nist", "doe", "lab", "author")
    labs = data(served, tokens["lab"], "{ labs(first: 50) { nodes { id name version } } }")["labs"]["nodes"]
    lab = next(node for node in labs if node["name"] == "OpenAI")
    own = {
        who: data(
            served,
            tokens[who],
            "query($id: ID!) { node(id: $id) { ... on Lab { availableTransitions } } }",
            id=lab["id"],
        )["node"]["availableTransitions"]
        for who in sights
    }
    # the field tells principals of different sights apart, or the second half would prove nothing
    assert len({tuple(value) for value in own.values()}) > 1, own
    version = lab["version"]
    for query, executions in ((LAB_STATUS, 1), (LAB_TRANSITIONS, len(sights))):
        await subscriptions_open(served, 0)
        before = await steady_metrics(served)
        clients = {}
        for who in sights:
            client = await GraphQLWs.open(served.url, tokens[who])
            await client.acked()
            await client.subscribe(query)
            clients[who] = client
        await subscriptions_open(served, len(clients))
        website = f"https://example.org/{executions}"
        updated = data(
            served, tokens["lab"], UPDATE_LAB, input={"id": lab["id"], "expectedVersion": version, "website": website}
        )
        version = updated["updateLab"]["lab"]["version"]
        got = {who: (await client.next_data())["statusChanged"] for who, client in clients.items()}
        for who, event in got.items():
            assert event["entityId"] == lab["id"] and event["entity"]["website"] == website, (who, event)
            if query is LAB_STATUS:
                assert event["actorLab"] == {"name": "OpenAI"} and event["actorAgency"] is None, event
            else:
                assert event["entity"]["availableTransitions"] == own[who], (who, event)
        for client in clients.values():
            await client.close()
        await subscriptions_open(served, 0)
        after = await steady_metrics(served)
        assert after["hub_event_executions_total"] - before["hub_event_executions_total"] == executions, query
