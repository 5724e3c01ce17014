"""Early-access requests over a real WebSocket against a real `hub serve` (statusChanged): the agencies on a request
and the model's lab get its events, live and on replay; an agency not on it and another lab get nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.conftest import scratch_folder
from tests.live import GraphQLWs, Served, create_token, graphql_data, last_cursor, serve

STATUS = """subscription($kinds: [EntityKind!], $since: String) {
  statusChanged(kinds: $kinds, since: $since) {
    cursor entityKind entityId action fromState toState
    entity { id ... on EarlyAccessRequest { state requestingAgency { code } } }
  }
}"""
NOT_ASKED = """query($labs: [ID!]) { models(filter: {labIds: $labs, earlyAccessStatus: [NOT_ASKED],
  releaseStatus: [IN_DEVELOPMENT, RESTRICTED_PREVIEW, GENERALLY_AVAILABLE]}, first: 1) { nodes { id } } }"""
REQUEST = """mutation($input: RequestEarlyAccessInput!) { requestEarlyAccess(input: $input) {
  request { id version } errors { message } } }"""
ANSWER = """mutation($input: AnswerEarlyAccessRequestInput!) { answerEarlyAccessRequest(input: $input) {
  request { id version state } errors { message } } }"""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-requests-live-") as data_dir:
        yield from serve(data_dir, env={"HUB_EVENTS_POLL_SECONDS": "0.5", "HUB_SCHEDULER": "off"})


async def test_request_events_reach_the_agencies_on_it_and_the_lab_only(served: Served) -> None:
    def token(*args: str) -> str:
        return create_token(served.data_dir, *args)

    tokens = {
        "cisa": token("--agency", "CISA", "--role", "OFFICER", "--name", "live requests CISA"),
        "nist": token("--agency", "NIST", "--role", "VIEWER", "--name", "live requests NIST"),
        "dod": token("--agency", "DOD", "--role", "OFFICER", "--name", "live requests DOD"),
        "anthropic": token("--lab", "Anthropic", "--role", "LAB_LIAISON", "--name", "live requests Anthropic"),
        "openai": token("--lab", "OpenAI", "--role", "LAB_LIAISON", "--name", "live requests OpenAI"),
    }
    labs = graphql_data(served, tokens["cisa"], '{ labs(filter: {search: "Anthropic"}) { nodes { id name } } }')
    lab = next(n["id"] for n in labs["labs"]["nodes"] if n["name"] == "Anthropic")
    model = graphql_data(served, tokens["cisa"], NOT_ASKED, labs=[lab])["models"]["nodes"][0]["id"]
    since = await asyncio.to_thread(last_cursor, served, tokens["cisa"])

    clients = {}
    for who, value in tokens.items():
        clients[who] = await GraphQLWs.open(served.url, value)
        await clients[who].acked()
        await clients[who].subscribe(STATUS, {"kinds": ["REQUEST"]})
    nist_id = graphql_data(served, tokens["cisa"], "{ agencies { nodes { id code } } }")["agencies"]["nodes"]
    nist = next(a["id"] for a in nist_id if a["code"] == "NIST")

    asked = await asyncio.to_thread(
        graphql_data,
        served,
        tokens["cisa"],
        REQUEST,
        input={"modelId": model, "agencyIds": [nist], "accessKinds": ["API"], "message": "Fictional test request."},
    )
    request = asked["requestEarlyAccess"]["request"]
    answered = await asyncio.to_thread(
        graphql_data,
        served,
        tokens["anthropic"],
        ANSWER,
        input={"id": request["id"], "expectedVersion": 1, "answer": "DECLINE", "reason": "no capacity"},
    )
    assert answered["answerEarlyAccessRequest"]["request"]["state"] == "DECLINED"

    for who in ("cisa", "nist", "anthropic"):
        got = [(await clients[who].next_data())["statusChanged"] for _ in range(2)]
        assert [(e["entityId"], e["action"], e["toState"]) for e in got] == [
            (request["id"], "REQUESTED", "OPEN"),
            (request["id"], "DECLINED", "DECLINED"),
        ], who
        assert got[-1]["entity"] == {"id": request["id"], "state": "DECLINED", "requestingAgency": {"code": "CISA"}}
    for who in ("dod", "openai"):
        with pytest.raises(TimeoutError):
            await clients[who].receive(seconds=1.5)
    for client in clients.values():
        await client.close()

    # on replay from before: the same two events for those on it, nothing about it for the others
    for who, value in tokens.items():
        replay = await GraphQLWs.open(served.url, value)
        await replay.acked()
        await replay.subscribe(STATUS, {"kinds": ["REQUEST"], "since": since})
        seen = []
        try:
            while True:
                seen.append((await replay.next_data(seconds=1.5))["statusChanged"]["entityId"])
        except TimeoutError:
            pass
        assert seen.count(request["id"]) == (2 if who in ("cisa", "nist", "anthropic") else 0), (who, seen)
        await replay.close()
