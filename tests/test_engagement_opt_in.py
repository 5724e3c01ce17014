"""CISA engagements opt in (docs/workflows.md, "Infrastructure engagements"): CISA proposes, the lab accepts, the
counterpart consents, and only then can an engagement become ACTIVE; the counterpart is a record of its own, seen by
CISA and by whoever may see an engagement that names it (docs/design.md, "Who sees what"), on every read path."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from hub import db
from hub.auth import Principal
from hub.kinds import KINDS, Kind, allowed_moves, facts_sql
from hub.remits import Facts
from hub.workflow import ErrorCode
from schema.common import from_global_id, to_global_id
from tests.conftest import Api, Server, empty_database
from tests.writes import write_snapshot

REGISTER = """mutation($input: RegisterInfrastructureCounterpartInput!) {
  registerInfrastructureCounterpart(input: $input) {
    infrastructureCounterpart { id version name kind sector region contactRef ownerAgency { code } }
    errors { field code message } } }"""
UPDATE_COUNTERPART = """mutation($input: UpdateInfrastructureCounterpartInput!) {
  updateInfrastructureCounterpart(input: $input) {
    infrastructureCounterpart { id version name kind region } errors { field code message } } }"""
OPEN = """mutation($input: OpenEngagementInput!) { openEngagement(input: $input) {
  engagement { id version state labAcceptedAt counterpartConsent counterpart { id name kind } }
  errors { field code message } } }"""
ENGAGEMENT = """id version state labAcceptedAt counterpartConsent counterpartConsentRef counterpartConsentRecordedAt
  availableTransitions"""
MOVE = f"""mutation($input: TransitionEngagementInput!) {{ transitionEngagement(input: $input) {{
  engagement {{ {ENGAGEMENT} }} errors {{ field code message }} }} }}"""
ACCEPT = f"""mutation($input: AcceptEngagementInput!) {{ acceptEngagement(input: $input) {{
  engagement {{ {ENGAGEMENT} }} errors {{ field code message }} }} }}"""
CONSENT = f"""mutation($input: RecordCounterpartConsentInput!) {{ recordCounterpartConsent(input: $input) {{
  engagement {{ {ENGAGEMENT} }} errors {{ field code message }} }} }}"""
READ = f"query($id: ID!) {{ node(id: $id) {{ ... on InfrastructureEngagement {{ {ENGAGEMENT} }} }} }}"


def test_gates_name_a_state_and_a_code_and_availabletransitions_leaves_out_what_they_block() -> None:
    """A gate (hub/kinds.py, Gate) names a state of its kind and an ErrorCode; the registry refuses one on a state
    that does not exist; allowed_moves (availableTransitions) leaves out the states the record's facts say are
    blocked, and facts_sql reads them from the gates' SQL."""
    for kind in KINDS.values():
        for state, gates in kind.gates.items():
            assert state in kind.states and gates, kind.name
            assert all(ErrorCode(gate.code) for gate in gates)
    assert [g.code for g in KINDS["ENGAGEMENT"].gates["ACTIVE"]] == ["LAB_ACCEPTANCE_REQUIRED", "BAD_USER_INPUT"]
    with pytest.raises(ValueError, match="a gate on NOWHERE"):
        Kind(
            name="X",
            table="x",
            type_name=None,
            noun="x",
            state_column="state",
            states=("A",),
            final=frozenset({"A"}),
            gates={"NOWHERE": ()},
        )
    officer = Principal(id=7, name="t", role="OFFICER", agency_id=1, agency_code="CISA", lab_id=None)
    open_facts = Facts(lab_id=3, owner_agency_id=1, state="SCOPING")
    assert allowed_moves(officer, "ENGAGEMENT", open_facts) == ["ACTIVE", "PAUSED", "DECLINED", "WITHDRAWN"]
    gated = Facts(lab_id=3, owner_agency_id=1, state="SCOPING", blocked=("ACTIVE",))
    assert allowed_moves(officer, "ENGAGEMENT", gated) == ["PAUSED", "DECLINED", "WITHDRAWN"]
    assert "t.lab_accepted_at is not null" in facts_sql("ENGAGEMENT", "true")
    assert "'{}'::text[] as blocked" in facts_sql("FINDING", "true")


async def own_lab(api: Api, name: str, participation: str) -> str:
    """A lab of the test's own (fictional), in `participation`: its global id."""
    con = await db.connect(api.url)
    try:
        pk = await con.fetchval(
            "insert into labs (name, country, participation) values ($1, 'US', $2) returning id", name, participation
        )
    finally:
        await con.close()
    return str(to_global_id("Lab", pk))


async def set_participation(api: Api, lab: str, participation: str) -> None:
    con = await db.connect(api.url)
    try:
        await con.execute("update labs set participation = $1 where id = $2", participation, from_global_id(lab)[1])
    finally:
        await con.close()


async def register(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    body = await api.data(REGISTER, {"input": fields}, token=token)
    payload = body["registerInfrastructureCounterpart"]
    assert payload["errors"] == [], payload
    return dict(payload["infrastructureCounterpart"])


async def open_engagement(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    base = {"title": "Patch triage (fictional)", "sector": "HEALTHCARE_AND_PUBLIC_HEALTH", "kind": "CVD_COORDINATION"}
    payload = (await api.data(OPEN, {"input": {**base, **fields}}, token=token))["openEngagement"]
    assert payload["errors"] == [], payload
    return dict(payload["engagement"])


async def send(api: Api, mutation: str, token: str, **fields: Any) -> dict[str, Any]:
    body = await api.data(mutation, {"input": fields}, token=token)
    return dict(next(iter(body.values())))


async def test_an_engagement_becomes_active_only_after_the_lab_accepts_and_the_counterpart_consents(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    lab = await own_lab(api, "Opt-in Lab (fictional)", "ENGAGED")
    liaison = await api.token(lab="Opt-in Lab (fictional)", role="LAB_LIAISON")
    other_liaison = await api.token(lab="OpenAI", role="LAB_LIAISON")
    hospital = await register(
        api,
        cisa,
        name="Critical access hospital in Kansas (fictional)",
        kind="RURAL_HOSPITAL",
        sector="HEALTHCARE_AND_PUBLIC_HEALTH",
        region="Kansas",
        contactRef="CISA region 7 contact list, entry 12 (fictional)",
    )
    assert hospital["ownerAgency"] == {"code": "CISA"} and hospital["kind"] == "RURAL_HOSPITAL"
    engagement = await open_engagement(api, cisa, labId=lab, counterpartId=hospital["id"], tlp="GREEN")
    assert engagement["state"] == "PROPOSED" and engagement["labAcceptedAt"] is None
    assert engagement["counterpartConsent"] is None and engagement["counterpart"]["name"] == hospital["name"]
    eid = engagement["id"]

    scoping = await send(api, MOVE, cisa, id=eid, to="SCOPING", expectedVersion=engagement["version"])
    assert scoping["errors"] == [] and scoping["engagement"]["state"] == "SCOPING"
    current = scoping["engagement"]
    # the officer is not offered ACTIVE while the lab has not accepted, and the move is refused, writing nothing
    assert current["availableTransitions"] == ["PAUSED", "DECLINED", "WITHDRAWN"]
    before = await write_snapshot(api.url)
    refused = await send(api, MOVE, cisa, id=eid, to="ACTIVE", expectedVersion=current["version"])
    assert refused["engagement"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("LAB_ACCEPTANCE_REQUIRED", "input.to")]
    assert "acceptEngagement" in refused["errors"][0]["message"]
    assert await write_snapshot(api.url) == before

    # only the lab's own liaisons accept: CISA may not, another lab does not even see it
    forbidden = await api.query(ACCEPT, {"input": {"id": eid, "expectedVersion": current["version"]}}, token=cisa)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    hidden = await send(api, ACCEPT, other_liaison, id=eid, expectedVersion=current["version"])
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    accepted = await send(api, ACCEPT, liaison, id=eid, expectedVersion=current["version"], reason="we take part")
    assert accepted["errors"] == [] and accepted["engagement"]["labAcceptedAt"] is not None
    current = accepted["engagement"]
    again = await send(api, ACCEPT, liaison, id=eid, expectedVersion=current["version"])
    assert again["errors"][0]["code"] == "BAD_USER_INPUT" and "already" in again["errors"][0]["message"]

    # accepted, but the counterpart's consent is not recorded: still no ACTIVE, and the message names the consent
    seen = (await api.data(READ, {"id": eid}, token=cisa))["node"]
    assert "ACTIVE" not in seen["availableTransitions"]
    no_consent = await send(api, MOVE, cisa, id=eid, to="ACTIVE", expectedVersion=current["version"])
    assert no_consent["errors"][0]["code"] == "BAD_USER_INPUT" and no_consent["errors"][0]["field"] == "input.to"
    assert "consent" in no_consent["errors"][0]["message"]
    assert "recordCounterpartConsent" in no_consent["errors"][0]["message"]

    # the consent: CISA's officers record it, with where it is kept; the lab may not
    no_ref = await send(api, CONSENT, cisa, id=eid, expectedVersion=current["version"], consented=True)
    assert no_ref["errors"][0]["field"] == "input.consentRef"
    by_lab = await api.query(
        CONSENT, {"input": {"id": eid, "expectedVersion": current["version"], "consented": True}}, token=liaison
    )
    assert by_lab["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    consented = await send(
        api, CONSENT, cisa, id=eid, expectedVersion=current["version"], consented=True, consentRef="Signed letter 7"
    )
    assert consented["errors"] == []
    current = consented["engagement"]
    assert current["counterpartConsent"] is True and current["counterpartConsentRef"] == "Signed letter 7"
    assert current["counterpartConsentRecordedAt"] is not None
    assert current["availableTransitions"] == ["ACTIVE", "PAUSED", "DECLINED", "WITHDRAWN"]
    # the lab is offered only its own moves
    as_lab = (await api.data(READ, {"id": eid}, token=liaison))["node"]
    assert as_lab["availableTransitions"] == ["DECLINED", "WITHDRAWN"]

    active = await send(api, MOVE, cisa, id=eid, to="ACTIVE", expectedVersion=current["version"])
    assert active["errors"] == [] and active["engagement"]["state"] == "ACTIVE"
    current = active["engagement"]

    # the counterpart withdraws its consent: recorded, and the engagement pauses in the same write
    withdrawn = await send(
        api, CONSENT, cisa, id=eid, expectedVersion=current["version"], consented=False, reason="the board said no"
    )
    assert withdrawn["errors"] == [] and withdrawn["engagement"]["state"] == "PAUSED"
    current = withdrawn["engagement"]
    assert current["counterpartConsent"] is False and "ACTIVE" not in current["availableTransitions"]
    paused = await send(api, MOVE, cisa, id=eid, to="ACTIVE", expectedVersion=current["version"])
    assert "consent" in paused["errors"][0]["message"]

    # who recorded what, and when: the columns and the history
    con = await db.connect(api.url)
    try:
        pk = from_global_id(eid)[1]
        row = await con.fetchrow(
            """select e.lab_accepted_by, e.counterpart_consent_recorded_by, l.name as liaison, c.name as officer
                 from infrastructure_engagements e join principals l on l.id = e.lab_accepted_by
                 join principals c on c.id = e.counterpart_consent_recorded_by where e.id = $1""",
            pk,
        )
    finally:
        await con.close()
    assert row is not None and row["liaison"] == "test Opt-in Lab (fictional) LAB_LIAISON"
    assert row["officer"] == "test CISA OFFICER"
    history = await api.data(
        """query($id: ID!) { node(id: $id) { ... on InfrastructureEngagement {
           history { action fromState toState reason actorAgency { code } actorLab { name } } } } }""",
        {"id": eid},
        token=cisa,
    )
    actions = [(h["action"], h["toState"]) for h in history["node"]["history"]]
    assert actions == [
        ("OPENED", "PROPOSED"),
        ("TRANSITIONED", "SCOPING"),
        ("LAB_ACCEPTED", None),
        ("COUNTERPART_CONSENT_RECORDED", None),
        ("TRANSITIONED", "ACTIVE"),
        ("COUNTERPART_CONSENT_RECORDED", None),
        ("TRANSITIONED", "PAUSED"),
    ]
    lab_accepted = history["node"]["history"][2]
    assert lab_accepted["actorLab"] == {"name": "Opt-in Lab (fictional)"} and lab_accepted["reason"] == "we take part"

    # the lab can still leave at any time
    left = await send(api, MOVE, liaison, id=eid, to="WITHDRAWN", expectedVersion=current["version"])
    assert left["errors"] == [] and left["engagement"]["state"] == "WITHDRAWN"


async def test_only_a_lab_taking_part_is_proposed_an_engagement_or_has_one_advance(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    invited = await own_lab(api, "Invited Lab (fictional)", "INVITED")
    utility = await register(
        api, cisa, name="Electric cooperative in Georgia (fictional)", kind="ELECTRIC_UTILITY", sector="ENERGY"
    )
    engaged = await own_lab(api, "Engaged Lab (fictional)", "ENGAGED")
    before = await write_snapshot(api.url)
    base = {"title": "Scan (fictional)", "sector": "ENERGY", "kind": "CLEARINGHOUSE_SCAN"}
    refused = await send(api, OPEN, cisa, **base, labId=invited, counterpartId=utility["id"])
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("LAB_NOT_PARTICIPATING", "input.labId")]
    missing = to_global_id("InfrastructureCounterpart", 10**9)
    no_counterpart = await send(api, OPEN, cisa, **base, labId=engaged, counterpartId=missing)
    assert [(e["code"], e["field"]) for e in no_counterpart["errors"]] == [("NOT_FOUND", "input.counterpartId")]
    wrong_type = await send(api, OPEN, cisa, **base, labId=engaged, counterpartId=engaged)
    assert wrong_type["errors"][0]["field"] == "input.counterpartId"
    assert await write_snapshot(api.url) == before

    # the lab declines the program after the proposal: nothing advances for it, it can still decline the engagement
    engagement = await open_engagement(api, cisa, **base, labId=engaged, counterpartId=utility["id"], tlp="GREEN")
    liaison = await api.token(lab="Engaged Lab (fictional)", role="LAB_LIAISON")
    await set_participation(api, engaged, "DECLINED")
    stalled = await send(api, MOVE, cisa, id=engagement["id"], to="SCOPING", expectedVersion=engagement["version"])
    assert [(e["code"], e["field"]) for e in stalled["errors"]] == [("LAB_NOT_PARTICIPATING", "input.id")]
    not_accepted = await send(api, ACCEPT, liaison, id=engagement["id"], expectedVersion=engagement["version"])
    assert not_accepted["errors"][0]["code"] == "LAB_NOT_PARTICIPATING"
    declined = await send(api, MOVE, liaison, id=engagement["id"], to="DECLINED", expectedVersion=engagement["version"])
    assert declined["errors"] == [] and declined["engagement"]["state"] == "DECLINED"


async def test_cisa_registers_and_updates_counterparts_and_nobody_else_does(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    hhs = await api.token(agency="HHS", role="OFFICER")
    cisa_analyst = await api.token(agency="CISA", role="ANALYST")
    fields = {"name": "Rural water association in Arkansas (fictional)", "kind": "WATER_UTILITY"}
    for token in (hhs, cisa_analyst):
        refused = await api.query(
            REGISTER, {"input": {**fields, "sector": "WATER_AND_WASTEWATER_SYSTEMS"}}, token=token
        )
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await send(api, REGISTER, cisa, **fields, sector="WATER_AND_WASTEWATER_SYSTEMS", region="x" * 101)
    assert bad["errors"][0]["field"] == "input.region"
    water = await register(api, cisa, **fields, sector="WATER_AND_WASTEWATER_SYSTEMS")
    updated = await send(api, UPDATE_COUNTERPART, cisa, id=water["id"], expectedVersion=1, region="Arkansas")
    assert updated["errors"] == [] and updated["infrastructureCounterpart"]["region"] == "Arkansas"
    assert updated["infrastructureCounterpart"]["version"] == 2
    stale = await send(api, UPDATE_COUNTERPART, cisa, id=water["id"], expectedVersion=1, kind="OTHER")
    assert stale["errors"][0]["code"] == "STALE_VERSION"
    # HHS cannot see a counterpart no engagement it sees names: it reads as missing
    hidden = await send(api, UPDATE_COUNTERPART, hhs, id=water["id"], expectedVersion=2, kind="OTHER")
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    events = await api.data(
        "{ events(filter: {kinds: [COUNTERPART]}, first: 500) { edges { node { action entityId } } } }", token=cisa
    )
    mine = [e["node"]["action"] for e in events["events"]["edges"] if e["node"]["entityId"] == water["id"]]
    assert mine == ["REGISTERED", "UPDATED"]


COUNTERPART_READS = """query($id: ID!, $engagement: ID!, $search: String!) {
  infrastructureCounterparts(filter: {search: $search}) { totalCount nodes { id name } }
  node(id: $id) { ... on InfrastructureCounterpart { id name engagements { id } } }
  engagement: node(id: $engagement) { ... on InfrastructureEngagement { id counterpart { id name } } }
  engagements(filter: {search: $search}) { totalCount nodes { id counterpart { name } } }
  events(filter: {kinds: [COUNTERPART]}, first: 500) { edges { node { entityId } } }
}"""


async def reads(api: Api, token: str, counterpart: str, engagement: str) -> dict[str, Any]:
    """What `token` reads of the counterpart on every path: the list and its count, node, the engagement's nested
    counterpart, the engagements searched by the counterpart's name, and the counterpart's events."""
    data = await api.data(
        COUNTERPART_READS, {"id": counterpart, "engagement": engagement, "search": "Zyxwvut"}, token=token
    )
    return {
        "count": data["infrastructureCounterparts"]["totalCount"],
        "listed": [n["id"] for n in data["infrastructureCounterparts"]["nodes"]],
        "node": data["node"],
        "nested": (data["engagement"] or {}).get("counterpart"),
        "engagements found": data["engagements"]["totalCount"],
        "events": [e["node"]["entityId"] for e in data["events"]["edges"] if e["node"]["entityId"] == counterpart],
    }


async def test_a_counterpart_is_seen_by_cisa_and_by_whoever_sees_an_engagement_naming_it(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    cisa_viewer = await api.token(agency="CISA", role="VIEWER")
    hhs = await api.token(agency="HHS", role="ANALYST")
    treasury = await api.token(agency="TREASURY", role="OFFICER")
    lab = await own_lab(api, "Sighted Lab (fictional)", "PARTICIPATING")
    liaison = await api.token(lab="Sighted Lab (fictional)", role="LAB_LIAISON")
    other_liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    hospital = await register(
        api,
        cisa,
        name="Zyxwvut county hospital (fictional)",
        kind="RURAL_HOSPITAL",
        sector="HEALTHCARE_AND_PUBLIC_HEALTH",
    )
    cid = hospital["id"]
    agencies = (await api.data("{ agencies(first: 50) { nodes { id code } } }", token=cisa))["agencies"]
    hhs_agency = next(a["id"] for a in agencies["nodes"] if a["code"] == "HHS")
    # AMBER, shared with HHS but not with the lab
    engagement = await open_engagement(
        api, cisa, labId=lab, counterpartId=cid, tlp="AMBER", shareWithAgencyIds=[hhs_agency], title="Amber work"
    )
    eid = engagement["id"]

    def seen(view: dict[str, Any], engagements: int = 1) -> None:
        assert view["count"] == 1 and view["listed"] == [cid], view
        assert view["node"] is not None and view["node"]["id"] == cid, view
        assert view["nested"] == {"id": cid, "name": hospital["name"]}, view
        assert view["engagements found"] == engagements and view["events"] == [cid], view

    def unseen(view: dict[str, Any]) -> None:
        assert view == {
            "count": 0,
            "listed": [],
            "node": None,
            "nested": None,
            "engagements found": 0,
            "events": [],
        }, view

    for token in (cisa, cisa_viewer, hhs):
        seen(await reads(api, token, cid, eid))
    # the counterpart's engagements, as HHS sees them
    assert (await reads(api, hhs, cid, eid))["node"]["engagements"] == [{"id": eid}]
    for token in (treasury, liaison, other_liaison):
        unseen(await reads(api, token, cid, eid))
    # the lab accepts only what it can see: to the lab, this engagement does not exist yet
    current = (await api.data(READ, {"id": eid}, token=cisa))["node"]
    unshared = await send(api, ACCEPT, liaison, id=eid, expectedVersion=current["version"])
    assert unshared["errors"][0]["code"] == "NOT_FOUND"

    # shared with the lab: the lab sees the engagement and so its counterpart; another lab still nothing
    shared = await api.data(
        """mutation($input: UpdateEngagementInput!) { updateEngagement(input: $input) { errors { message } } }""",
        {
            "input": {
                "id": eid,
                "expectedVersion": current["version"],
                "tlp": "AMBER",
                "shareWithAgencyIds": [hhs_agency],
                "shareWithLabIds": [lab],
            }
        },
        token=cisa,
    )
    assert shared["updateEngagement"]["errors"] == []
    seen(await reads(api, liaison, cid, eid))
    for token in (treasury, other_liaison):
        unseen(await reads(api, token, cid, eid))
    current = (await api.data(READ, {"id": eid}, token=cisa))["node"]
    accepted = await send(api, ACCEPT, liaison, id=eid, expectedVersion=current["version"])
    assert accepted["errors"] == [] and accepted["engagement"]["labAcceptedAt"] is not None

    # the engagement made AMBER_STRICT: CISA alone, which registered the counterpart, still sees it
    current = (await api.data(READ, {"id": eid}, token=cisa))["node"]
    strict = await api.data(
        """mutation($input: UpdateEngagementInput!) { updateEngagement(input: $input) { errors { message } } }""",
        {"input": {"id": eid, "expectedVersion": current["version"], "tlp": "AMBER_STRICT"}},
        token=cisa,
    )
    assert strict["updateEngagement"]["errors"] == []
    seen(await reads(api, cisa_viewer, cid, eid))
    for token in (hhs, liaison):
        unseen(await reads(api, token, cid, eid))


async def test_engagements_are_searched_by_title_and_by_their_counterpart(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    lab = await own_lab(api, "Search Lab (fictional)", "ENGAGED")
    plant = await register(
        api, cisa, name="Qwertyplant dairy processor (fictional)", kind="MANUFACTURER", sector="FOOD_AND_AGRICULTURE"
    )
    engagement = await open_engagement(
        api, cisa, labId=lab, counterpartId=plant["id"], title="Ploughshare advisory", tlp="GREEN"
    )
    query = "query($s: String!) { engagements(filter: {search: $s}) { totalCount nodes { id } } }"
    for words in ("qwertypl", "ploughsh", "Qwertyplant dairy", "ploughshare advisory"):
        found = (await api.data(query, {"s": words}, token=cisa))["engagements"]
        assert found["nodes"] == [{"id": engagement["id"]}] and found["totalCount"] == 1, words
    assert (await api.data(query, {"s": "qwertyplant ploughshare"}, token=cisa))["engagements"]["totalCount"] == 0
    by_id = await api.data(
        "query($c: ID!) { engagements(filter: {counterpartIds: [$c]}) { nodes { id } } }",
        {"c": plant["id"]},
        token=cisa,
    )
    assert by_id["engagements"]["nodes"] == [{"id": engagement["id"]}]


async def test_migration_015_makes_a_counterpart_of_each_free_text_counterparty(pg_server: Server) -> None:
    """Before 015 an engagement named its counterparty in free text: each distinct text becomes one counterpart of
    kind OTHER, in the sector of the first engagement naming it, and every engagement is linked to its own."""
    async with empty_database(pg_server, "hub_test_migrate_015") as url:
        con = await db.connect(url)
        try:
            migrations = db.load_migrations()
            await db.migrate(con, [m for m in migrations if m.version < "015"])
            cisa = await con.fetchval("select id from agencies where code = 'CISA'")
            lab = await con.fetchval(
                "insert into labs (name, country) values ('Old Lab (fictional)', 'US') returning id"
            )
            ids = []
            for text, sector in (
                ("Town water works (fictional)", "WATER_AND_WASTEWATER_SYSTEMS"),
                ("County hospital (fictional)", "HEALTHCARE_AND_PUBLIC_HEALTH"),
                ("Town water works (fictional)", "ENERGY"),
            ):
                ids.append(
                    await con.fetchval(
                        """insert into infrastructure_engagements (title, lab_id, sector, counterparty, kind, state,
                                                                   owner_agency_id)
                           values ('old', $1, $2, $3, 'ADVISORY', 'ACTIVE', $4) returning id""",
                        lab,
                        sector,
                        text,
                        cisa,
                    )
                )
            await db.migrate(con, migrations)
            counterparts = {
                r["name"]: dict(r)
                for r in await con.fetch(
                    "select id, name, kind, sector, owner_agency_id from infrastructure_counterparts"
                )
            }
            assert set(counterparts) == {"Town water works (fictional)", "County hospital (fictional)"}
            water = counterparts["Town water works (fictional)"]
            assert water["kind"] == "OTHER" and water["sector"] == "WATER_AND_WASTEWATER_SYSTEMS"
            assert water["owner_agency_id"] == cisa
            links = [
                await con.fetchrow(
                    "select counterpart_id, state, lab_accepted_at, counterpart_consent from infrastructure_engagements"
                    " where id = $1",
                    i,
                )
                for i in ids
            ]
            assert [r["counterpart_id"] for r in links] == [
                water["id"],
                counterparts["County hospital (fictional)"]["id"],
                water["id"],
            ]
            # nothing invented: the old engagements keep their state, with no acceptance or consent recorded
            assert {(r["state"], r["lab_accepted_at"], r["counterpart_consent"]) for r in links} == {
                ("ACTIVE", None, None)
            }
            columns = {
                r[0]
                for r in await con.fetch(
                    "select column_name from information_schema.columns where table_name = 'infrastructure_engagements'"
                )
            }
            assert "counterparty" not in columns and "counterpart_id" in columns
        finally:
            await con.close()


async def test_the_database_holds_the_counterparts_to_the_kinds_the_api_lists(connection: asyncpg.Connection) -> None:
    from hub.store.engagements import COUNTERPART_KINDS

    definition = await connection.fetchval(
        """select pg_get_constraintdef(oid) from pg_constraint
            where conrelid = 'infrastructure_counterparts'::regclass
              and conname = 'infrastructure_counterparts_kind_check'"""
    )
    assert set(re.findall(r"'([A-Z_]+)'::text", definition)) == set(COUNTERPART_KINDS)


async def test_the_demo_s_engagements_that_went_active_were_accepted_by_a_lab_taking_part_and_consented_to(
    connection: asyncpg.Connection,
) -> None:
    """The demo's counterparts are fictional and say so; its engagements that went ACTIVE (ACTIVE, COMPLETED, PAUSED)
    carry the lab's acceptance and the counterpart's consent, with a lab ENGAGED or PARTICIPATING; the others carry
    neither; each acceptance and consent has its event."""
    names = [r[0] for r in await connection.fetch("select name from infrastructure_counterparts")]
    assert names and all("(fictional)" in n for n in names)
    kinds = {r[0] for r in await connection.fetch("select distinct kind from infrastructure_counterparts")}
    assert {"RURAL_HOSPITAL", "WATER_UTILITY", "ELECTRIC_UTILITY"} <= kinds
    rows = await connection.fetch(
        """select e.id, e.state, e.lab_accepted_at, e.counterpart_consent, e.counterpart_consent_ref, l.participation,
                  (select count(*) from events v where v.entity_kind = 'ENGAGEMENT' and v.entity_id = e.id
                      and v.action in ('LAB_ACCEPTED', 'COUNTERPART_CONSENT_RECORDED')) as recorded
             from infrastructure_engagements e join labs l on l.id = e.lab_id"""
    )
    went_active = [r for r in rows if r["state"] in ("ACTIVE", "COMPLETED", "PAUSED")]
    assert went_active and len(went_active) < len(rows)
    for r in went_active:
        assert r["participation"] in ("ENGAGED", "PARTICIPATING"), dict(r)
        assert r["lab_accepted_at"] is not None and r["counterpart_consent"] is True, dict(r)
        assert "(fictional)" in r["counterpart_consent_ref"] and r["recorded"] == 2, dict(r)
    for r in rows:
        if r["state"] not in ("ACTIVE", "COMPLETED", "PAUSED"):
            assert (r["lab_accepted_at"], r["counterpart_consent"], r["recorded"]) == (None, None, 0), dict(r)
