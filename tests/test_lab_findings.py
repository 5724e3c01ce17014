"""Findings a lab reports about its own model (docs/design.md, "Who sees what"; docs/workflows.md, "A lab reports a
finding about its own model"): the lab owns them, takes the owning agency's place in the TLP rule and the remits,
and an agency that can see one takes it over. Every read path for an agency on and off shareWith, another lab and
the owning lab; the writes before and after a take-over; a subscription over a real WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from hub import db
from schema.common import to_global_id
from tests.conftest import Api, scratch_folder
from tests.live import GraphQLWs, Served, create_token, database_url, graphql_data, serve

OWNING_LAB = "Lab Findings Owner (fictional)"
OTHER_LAB = "Lab Findings Partner (fictional)"

REPORT = """mutation($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id version state tlp ownerAgency { code } ownerLab { name } lab { name }
            discoveredBy { kind lab { name } model { name } }
            shareWith { __typename ... on Agency { code } ... on Lab { name } }
            history { action actorLab { name } } }
  errors { field code message } } }"""
UPDATE = """mutation($input: UpdateFindingInput!) { updateFinding(input: $input) {
  finding { id version title } errors { field code message } } }"""
TRANSITION = """mutation($input: TransitionFindingInput!) { transitionFinding(input: $input) {
  finding { id version state } errors { field code message } } }"""
SHARE = """mutation($input: ShareFindingInput!) { shareFinding(input: $input) {
  finding { id version tlp } errors { field code message } } }"""
TAKE_OVER = """mutation($input: TakeOverFindingInput!) { takeOverFinding(input: $input) {
  finding { id version ownerAgency { code } ownerLab { name }
            shareWith { __typename ... on Agency { code } ... on Lab { name } }
            history { action reason actorAgency { code } } }
  errors { field code message currentVersion } } }"""
SIGHT = """query($id: ID!, $model: ID!, $lab: ID!) {
  node(id: $id) { id ... on Finding { availableTransitions } }
  nodes(ids: [$id]) { id }
  findings(filter: {search: "labfinding"}) { totalCount edges { node { id } } }
  owned: findings(filter: {ownerLabIds: [$lab]}) { totalCount }
  model: node(id: $model) { ... on FrontierModel { findings(first: 50) { id } } }
  lab: node(id: $lab) { ... on Lab { findings(first: 50) { id } } }
  events(filter: {entityId: $id}) { totalCount edges { node { action } } }
}"""
COUNTS = "{ dashboard { counts { kind state count } } }"


async def own_labs(url: str) -> dict[str, int]:
    """Two fictional labs taking part (the owning lab with a model in development, and a partner lab): ids by
    name, and the model's as "model"."""
    con = await db.connect(url)
    try:
        ids = {}
        for name in (OWNING_LAB, OTHER_LAB):
            ids[name] = await con.fetchval(
                "insert into labs (name, country, participation) values ($1, 'US', 'PARTICIPATING') returning id", name
            )
        ids["model"] = await con.fetchval(
            """insert into frontier_models (lab_id, name, model_version, modality, release_status)
               values ($1, 'Labfinding probe model (fictional)', 'v1', 'CODE', 'IN_DEVELOPMENT') returning id""",
            ids[OWNING_LAB],
        )
        ids["NIST"] = await con.fetchval("select id from agencies where code = 'NIST'")
        return ids
    finally:
        await con.close()


async def set_participation(url: str, lab_id: int, state: str) -> None:
    con = await db.connect(url)
    try:
        await con.execute("update labs set participation = $2 where id = $1", lab_id, state)
    finally:
        await con.close()


def gid(type_name: str, pk: int) -> str:
    return str(to_global_id(type_name, pk))


async def finding_count(api: Api, token: str) -> int:
    data = await api.data(COUNTS, token=token)
    return sum(c["count"] for c in data["dashboard"]["counts"] if c["kind"] == "FINDING")


async def sight(api: Api, token: str, finding: str, ids: dict[str, int]) -> dict[str, Any]:
    """What `token` sees of `finding` on each read path: the paths that show it, and what the node offers."""
    data = await api.data(
        SIGHT,
        {"id": finding, "model": gid("FrontierModel", ids["model"]), "lab": gid("Lab", ids[OWNING_LAB])},
        token=token,
    )
    shown = {
        "node": data["node"] is not None,
        "nodes": data["nodes"] != [None],
        "list": any(e["node"]["id"] == finding for e in data["findings"]["edges"]),
        "totalCount": data["findings"]["totalCount"] == 1,
        "ownedCount": data["owned"]["totalCount"] == 1,
        "model.findings": data["model"] is not None and finding in [f["id"] for f in data["model"]["findings"]],
        "lab.findings": finding in [f["id"] for f in data["lab"]["findings"]],
        "events": data["events"]["totalCount"] > 0,
    }
    return {
        "paths": {path for path, seen in shown.items() if seen},
        "transitions": data["node"]["availableTransitions"] if data["node"] else None,
        "actions": [e["node"]["action"] for e in data["events"]["edges"]],
    }


ALL_PATHS = {"node", "nodes", "list", "totalCount", "ownedCount", "model.findings", "lab.findings", "events"}


async def test_a_liaison_reports_the_lab_owns_and_an_agency_takes_over(api: Api) -> None:
    ids = await own_labs(api.url)
    liaison = await api.token(lab=OWNING_LAB, role="LAB_LIAISON")
    partner = await api.token(lab=OTHER_LAB, role="LAB_LIAISON")
    outsider_lab = await api.token(lab="OpenAI", role="LAB_LIAISON")
    nist = await api.token(agency="NIST", role="ANALYST")
    nist_officer = await api.token(agency="NIST", role="OFFICER")
    epa = await api.token(agency="EPA", role="OFFICER")
    counts_before = {who: await finding_count(api, t) for who, t in (("epa", epa), ("nist", nist), ("lab", liaison))}

    reported = (
        await api.data(
            REPORT,
            {
                "input": {
                    "title": "labfinding sandbox escape found by the model",
                    "modelId": gid("FrontierModel", ids["model"]),
                    "discoveredBy": "MODEL",
                    "tlp": "AMBER",
                }
            },
            token=liaison,
        )
    )["reportFinding"]
    assert reported["errors"] == []
    finding = reported["finding"]
    assert finding["ownerLab"] == {"name": OWNING_LAB} and finding["ownerAgency"] is None
    assert finding["lab"] == {"name": OWNING_LAB} and finding["discoveredBy"]["kind"] == "MODEL"
    assert finding["discoveredBy"]["model"] == {"name": "Labfinding probe model (fictional)"}
    assert finding["history"] == [{"action": "REPORTED", "actorLab": {"name": OWNING_LAB}}]
    fid = finding["id"]

    # AMBER with an empty shareWith: the lab alone, until its liaison shares it with NIST and a partner lab
    assert (await sight(api, liaison, fid, ids))["paths"] == ALL_PATHS
    for token in (nist, partner, epa):
        assert (await sight(api, token, fid, ids))["paths"] == set()
    shared = (
        await api.data(
            SHARE,
            {
                "input": {
                    "id": fid,
                    "expectedVersion": 1,
                    "tlp": "AMBER",
                    "shareWithAgencyIds": [gid("Agency", ids["NIST"])],
                    "shareWithLabIds": [gid("Lab", ids[OTHER_LAB])],
                }
            },
            token=liaison,
        )
    )["shareFinding"]
    assert shared["errors"] == [] and shared["finding"]["version"] == 2

    # AMBER, owned by the lab: the lab, NIST (shareWith) and the partner lab (shareWith; the model in development
    # is not the partner's to see, so neither are its nested findings); not EPA, not OpenAI
    for token in (liaison, nist):
        assert (await sight(api, token, fid, ids))["paths"] == ALL_PATHS
    assert (await sight(api, partner, fid, ids))["paths"] == ALL_PATHS - {"model.findings"}
    for token in (epa, outsider_lab):
        assert (await sight(api, token, fid, ids))["paths"] == set()
    assert await finding_count(api, liaison) == counts_before["lab"] + 1
    assert await finding_count(api, nist) == counts_before["nist"] + 1
    assert await finding_count(api, epa) == counts_before["epa"]

    # before: the owning lab's liaisons write it; NIST sees it but changes nothing, except by taking it over
    assert (await sight(api, liaison, fid, ids))["transitions"] == ["TRIAGED", "DUPLICATE", "REJECTED"]
    assert (await sight(api, nist, fid, ids))["transitions"] == []
    for token, query, fields in (
        (nist, UPDATE, {"title": "agency edit"}),
        (nist, TRANSITION, {"to": "TRIAGED"}),
        (nist_officer, SHARE, {"tlp": "GREEN"}),
        (partner, UPDATE, {"title": "partner edit"}),
    ):
        refused = await api.query(query, {"input": {"id": fid, "expectedVersion": 2, **fields}}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    updated = (
        await api.data(
            UPDATE, {"input": {"id": fid, "expectedVersion": 2, "title": "labfinding retitled"}}, token=liaison
        )
    )["updateFinding"]
    assert updated["errors"] == [] and updated["finding"]["version"] == 3
    moved = (await api.data(TRANSITION, {"input": {"id": fid, "expectedVersion": 3, "to": "TRIAGED"}}, token=liaison))[
        "transitionFinding"
    ]
    assert moved["errors"] == [] and moved["finding"]["state"] == "TRIAGED"

    # a take-over: not by who cannot see it (NOT_FOUND), nor a lab, nor without a reason or with a stale version
    hidden = (await api.data(TAKE_OVER, {"input": {"id": fid, "expectedVersion": 4, "reason": "x"}}, token=epa))[
        "takeOverFinding"
    ]
    assert [e["code"] for e in hidden["errors"]] == ["NOT_FOUND"]
    by_lab = await api.query(TAKE_OVER, {"input": {"id": fid, "expectedVersion": 4, "reason": "x"}}, token=partner)
    assert by_lab["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    no_reason = (await api.data(TAKE_OVER, {"input": {"id": fid, "expectedVersion": 4, "reason": " "}}, token=nist))[
        "takeOverFinding"
    ]
    assert [(e["field"], e["code"]) for e in no_reason["errors"]] == [("input.reason", "BAD_USER_INPUT")]
    stale = (await api.data(TAKE_OVER, {"input": {"id": fid, "expectedVersion": 1, "reason": "x"}}, token=nist))[
        "takeOverFinding"
    ]
    assert stale["errors"][0]["code"] == "STALE_VERSION" and stale["errors"][0]["currentVersion"] == 4

    taken = (
        await api.data(
            TAKE_OVER,
            {"input": {"id": fid, "expectedVersion": 4, "reason": "NIST coordinates the disclosure"}},
            token=nist,
        )
    )["takeOverFinding"]
    assert taken["errors"] == []
    after = taken["finding"]
    assert after["ownerAgency"] == {"code": "NIST"} and after["ownerLab"] is None and after["version"] == 5
    assert {"__typename": "Lab", "name": OWNING_LAB} in after["shareWith"]
    assert after["history"][-1] == {
        "action": "TAKEN_OVER",
        "reason": "NIST coordinates the disclosure",
        "actorAgency": {"code": "NIST"},
    }

    # after: NIST's rule for agency-owned records; the lab still sees it (the lab concerned, on shareWith), the
    # partner lab no longer does (an agency's AMBER record shows labs only the lab concerned)
    assert (await sight(api, liaison, fid, ids))["paths"] == ALL_PATHS - {"ownedCount"}
    assert (await sight(api, nist, fid, ids))["paths"] == ALL_PATHS - {"ownedCount"}
    for token in (epa, outsider_lab, partner):
        assert (await sight(api, token, fid, ids))["paths"] == set()
    assert (await sight(api, liaison, fid, ids))["transitions"] == []
    assert (await sight(api, nist, fid, ids))["transitions"] == ["VALIDATED", "DUPLICATE", "REJECTED"]
    assert (await sight(api, liaison, fid, ids))["actions"] == [
        "REPORTED",
        "SHARED",
        "UPDATED",
        "TRANSITIONED",
        "TAKEN_OVER",
    ]
    for token, query, fields in (
        (liaison, UPDATE, {"title": "lab edit"}),
        (liaison, SHARE, {"tlp": "CLEAR"}),
        (nist_officer, TAKE_OVER, {"reason": "again"}),
    ):
        refused = await api.query(query, {"input": {"id": fid, "expectedVersion": 5, **fields}}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    agency_edit = (
        await api.data(UPDATE, {"input": {"id": fid, "expectedVersion": 5, "title": "labfinding NIST"}}, token=nist)
    )["updateFinding"]
    assert agency_edit["errors"] == [] and agency_edit["finding"]["version"] == 6


async def test_the_owning_lab_shares_and_narrows_its_finding(api: Api) -> None:
    ids = await own_labs(api.url)
    liaison = await api.token(lab=OWNING_LAB, role="LAB_LIAISON")
    partner = await api.token(lab=OTHER_LAB, role="LAB_LIAISON")
    nist = await api.token(agency="NIST", role="OFFICER")
    epa = await api.token(agency="EPA", role="VIEWER")
    model = gid("FrontierModel", ids["model"])
    strict = (
        await api.data(
            REPORT,
            {"input": {"title": "labfinding strict", "modelId": model, "discoveredBy": "LAB", "tlp": "AMBER_STRICT"}},
            token=liaison,
        )
    )["reportFinding"]
    assert strict["errors"] == [] and strict["finding"]["discoveredBy"]["lab"] == {"name": OWNING_LAB}
    fid = strict["finding"]["id"]
    # AMBER_STRICT: the owning lab only; no agency may take over what it cannot see
    assert (await sight(api, liaison, fid, ids))["paths"] == ALL_PATHS
    for token in (nist, epa, partner):
        assert (await sight(api, token, fid, ids))["paths"] == set()
    hidden = (await api.data(TAKE_OVER, {"input": {"id": fid, "expectedVersion": 1, "reason": "x"}}, token=nist))[
        "takeOverFinding"
    ]
    assert [e["code"] for e in hidden["errors"]] == ["NOT_FOUND"]

    # GREEN: every agency and the lab; not another lab
    shared = (await api.data(SHARE, {"input": {"id": fid, "expectedVersion": 1, "tlp": "GREEN"}}, token=liaison))[
        "shareFinding"
    ]
    assert shared["errors"] == [] and shared["finding"]["tlp"] == "GREEN"
    for token in (liaison, nist, epa):
        assert (await sight(api, token, fid, ids))["paths"] == ALL_PATHS
    assert (await sight(api, partner, fid, ids))["paths"] == set()

    # RED: the named recipients and the author
    recipient = await principal_id(api.url, "test NIST OFFICER")
    red = (
        await api.data(
            SHARE,
            {"input": {"id": fid, "expectedVersion": 2, "tlp": "RED", "recipientIds": [gid("Principal", recipient)]}},
            token=liaison,
        )
    )["shareFinding"]
    assert red["errors"] == []
    for token in (liaison, nist):
        assert (await sight(api, token, fid, ids))["paths"] == ALL_PATHS
    for token in (epa, partner):
        assert (await sight(api, token, fid, ids))["paths"] == set()


async def principal_id(url: str, name: str) -> int:
    con = await db.connect(url)
    try:
        return int(await con.fetchval("select id from principals where name = $1", name))
    finally:
        await con.close()


async def test_what_a_liaison_may_not_report(api: Api) -> None:
    ids = await own_labs(api.url)
    liaison = await api.token(lab=OWNING_LAB, role="LAB_LIAISON")
    model = gid("FrontierModel", ids["model"])
    base = {"title": "labfinding refused", "modelId": model, "discoveredBy": "MODEL"}
    for fields, field in (
        ({"discoveredBy": "AGENCY"}, "input.discoveredBy"),
        ({"discoveredBy": "KEV_CATALOGUE"}, "input.discoveredBy"),
        ({"discoveredBy": "LAB", "discoveredByLabId": gid("Lab", ids[OTHER_LAB])}, "input.discoveredByLabId"),
    ):
        refused = (await api.data(REPORT, {"input": {**base, **fields}}, token=liaison))["reportFinding"]
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [(field, "BAD_USER_INPUT")], refused
    # a model of another lab (a public one it can see) or none: outside the remit
    con = await db.connect(api.url)
    try:
        public = await con.fetchval(
            """select m.id from frontier_models m join labs l on l.id = m.lab_id
                where l.name = 'OpenAI' and m.release_status = 'GENERALLY_AVAILABLE' order by m.id limit 1"""
        )
    finally:
        await con.close()
    for fields in ({"modelId": gid("FrontierModel", public)}, {"modelId": None, "discoveredBy": "LAB"}):
        refused_remit = await api.query(REPORT, {"input": {**base, **fields}}, token=liaison)
        assert refused_remit["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused_remit
    # a lab that has not chosen to take part reports nothing
    for state in ("INVITED", "DECLINED", "WITHDRAWN"):
        await set_participation(api.url, ids[OWNING_LAB], state)
        refused = (await api.data(REPORT, {"input": base}, token=liaison))["reportFinding"]
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [("input.modelId", "LAB_NOT_PARTICIPATING")]
    await set_participation(api.url, ids[OWNING_LAB], "ENGAGED")
    accepted = (await api.data(REPORT, {"input": base}, token=liaison))["reportFinding"]
    assert accepted["errors"] == [] and accepted["finding"]["ownerLab"] == {"name": OWNING_LAB}


# ------------------------------------------------------------------------------------------------ over a WebSocket

STATUS = """subscription { statusChanged(kinds: [FINDING]) { entityKind entityId action entity { id } } }"""


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-labfindings-") as data_dir:
        yield from serve(data_dir, env={"HUB_EVENTS_POLL_SECONDS": "0.5", "HUB_SCHEDULER": "off"})


async def test_subscribers_see_a_lab_finding_as_the_rule_says_and_lose_it_when_taken_over(served: Served) -> None:
    ids = await own_labs(database_url(served.data_dir))
    tokens = {
        "lab": create_token(served.data_dir, "--lab", OWNING_LAB, "--role", "LAB_LIAISON", "--name", "ws lab"),
        "partner": create_token(served.data_dir, "--lab", OTHER_LAB, "--role", "LAB_LIAISON", "--name", "ws partner"),
        "nist": create_token(served.data_dir, "--agency", "NIST", "--role", "ANALYST", "--name", "ws NIST"),
        "epa": create_token(served.data_dir, "--agency", "EPA", "--role", "OFFICER", "--name", "ws EPA"),
    }
    sockets = {}
    for who, token in tokens.items():
        sockets[who] = await GraphQLWs.open(served.url, token)
        await sockets[who].acked()
        await sockets[who].subscribe(STATUS)
    await asyncio.sleep(0.5)

    def call(token: str, query: str, **fields: Any) -> dict[str, Any]:
        data = graphql_data(served, token, query, input=fields)
        return dict(next(iter(data.values()))["finding"])

    finding = await asyncio.to_thread(
        call,
        tokens["lab"],
        REPORT,
        title="labfinding over the wire",
        modelId=gid("FrontierModel", ids["model"]),
        discoveredBy="MODEL",
        tlp="AMBER",
        shareWithAgencyIds=[gid("Agency", ids["NIST"])],
        shareWithLabIds=[gid("Lab", ids[OTHER_LAB])],
    )
    fid = finding["id"]
    for who in ("lab", "partner", "nist"):
        event = (await sockets[who].next_data())["statusChanged"]
        assert (event["entityId"], event["action"], event["entity"]) == (fid, "REPORTED", {"id": fid}), who

    await asyncio.to_thread(call, tokens["nist"], TAKE_OVER, id=fid, expectedVersion=1, reason="NIST coordinates")
    for who in ("lab", "nist"):
        event = (await sockets[who].next_data())["statusChanged"]
        assert (event["entityId"], event["action"]) == (fid, "TAKEN_OVER"), who
    # the partner lab saw it through the owning lab's shareWith: one ACCESS_REVOKED, nothing of the record
    revoked = (await sockets["partner"].next_data())["statusChanged"]
    assert (revoked["entityId"], revoked["action"], revoked["entity"]) == (fid, "ACCESS_REVOKED", None)

    # a CLEAR marker: the next thing every subscriber gets, so EPA got nothing of the AMBER finding, and the partner
    # nothing more about it
    marker = await asyncio.to_thread(
        call,
        tokens["lab"],
        REPORT,
        title="labfinding marker",
        modelId=gid("FrontierModel", ids["model"]),
        discoveredBy="LAB",
        tlp="CLEAR",
    )
    for who, socket in sockets.items():
        event = (await socket.next_data())["statusChanged"]
        assert (event["entityId"], event["action"]) == (marker["id"], "REPORTED"), who
        await socket.close()
