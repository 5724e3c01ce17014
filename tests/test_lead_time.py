"""Preview lead time, measured (docs/workflows.md): per agency on each agreement, in whole days between UTC dates,
against the lead time asked for when the agreement was made; the planned basis only for those who may see the
model's confidential data; the same rows on an agreement's `leadTimes` and in the `previewLeadTimes` report; a
release recorded on each open agreement as a neutral fact."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub import db
from schema.common import from_global_id, to_global_id
from tests.conftest import Api

ERRORS = "errors { field code message }"
LEAD = "agency { code } joinedAt accessStart accessStartOn generalAvailabilityOn basis days askedDays given"
AGREEMENT_LEAD_TIMES = f"""query($id: ID!) {{ node(id: $id) {{ ... on EarlyAccessAgreement {{
  leadTimeAskedDays leadTimes {{ {LEAD} }} }} }} }}"""
REPORT = f"""query($filter: PreviewLeadTimeFilter, $first: Int, $after: String) {{
  previewLeadTimes(filter: $filter, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ agreement {{ id }} {LEAD} }} }} }} }}"""
REGISTER_MODEL = f"""mutation($input: RegisterModelInput!) {{ registerModel(input: $input) {{
  model {{ id version generalAvailabilityOn plannedGeneralAvailabilityOn }} {ERRORS} }} }}"""
UPDATE_MODEL = f"""mutation($input: UpdateModelInput!) {{ updateModel(input: $input) {{
  model {{ id version generalAvailabilityOn plannedGeneralAvailabilityOn }} {ERRORS} }} }}"""
SET_RELEASE = f"""mutation($input: SetModelReleaseStatusInput!) {{ setModelReleaseStatus(input: $input) {{
  model {{ id version releaseStatus generalAvailabilityOn }} {ERRORS} }} }}"""
MODEL = """query($id: ID!) { node(id: $id) { ... on FrontierModel {
  confidentialVisible generalAvailabilityOn plannedGeneralAvailabilityOn } } }"""
OFFER = f"""mutation($input: OfferEarlyAccessInput!) {{ offerEarlyAccess(input: $input) {{
  agreement {{ id leadTimeAskedDays }} {ERRORS} }} }}"""

GA = date(2026, 8, 1)


async def sql(api: Api, query: str, *args: Any) -> list[dict[str, Any]]:
    con = await db.connect(api.url)
    try:
        return [dict(r) for r in await con.fetch(query, *args)]
    finally:
        await con.close()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def mutate(api: Api, query: str, fields: dict[str, Any], token: str) -> dict[str, Any]:
    data = await api.data(query, {"input": fields}, token=token)
    return dict(next(iter(data.values())))


async def new_model(api: Api, liaison: str, name: str, lab: str = "Anthropic", **fields: Any) -> dict[str, Any]:
    lab_pk = (await sql(api, "select id from labs where name = $1", lab))[0]["id"]
    result = await mutate(
        api,
        REGISTER_MODEL,
        {"labId": to_global_id("Lab", lab_pk), "name": name, "modality": "TEXT", **fields},
        liaison,
    )
    assert result["errors"] == [], result
    return dict(result["model"])


async def agreement(
    api: Api,
    model: str,
    start: datetime,
    parties: dict[str, datetime | None],
    *,
    state: str = "ACTIVE",
    days: int = 30,
) -> str:
    """An agreement on `model` as the store would have written it, with each agency's joining time (None: not
    joined), written directly so that its times can sit on the boundaries the test needs."""
    model_pk = from_global_id(model)[1]
    con = await db.connect(api.url)
    try:
        agreement_pk = await con.fetchval(
            """insert into early_access_agreements (model_id, lab_id, state, access_kinds, access_start, access_end)
               select id, lab_id, $2, '{API}', $3::timestamptz, $3::timestamptz + make_interval(days => $4)
                 from frontier_models where id = $1
               returning id""",
            model_pk,
            state,
            start,
            days,
        )
        for code, joined in parties.items():
            await con.execute(
                """insert into agreement_agencies (agreement_id, agency_id, accepted_at)
                   select $1, id, $3 from agencies where code = $2""",
                agreement_pk,
                code,
                joined,
            )
    finally:
        await con.close()
    return str(to_global_id("EarlyAccessAgreement", agreement_pk))


async def lead_times(api: Api, agreement_id: str, token: str) -> dict[str, dict[str, Any]]:
    node = (await api.data(AGREEMENT_LEAD_TIMES, {"id": agreement_id}, token=token))["node"]
    assert node is not None
    return {row["agency"]["code"]: row for row in node["leadTimes"]}


async def report(api: Api, token: str, size: int = 2, **filter: Any) -> list[dict[str, Any]]:
    """Every row of the report for `filter`, paging `size` at a time (the cursors are checked on the way)."""
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await api.data(REPORT, {"filter": filter, "first": size, "after": after}, token=token))[
            "previewLeadTimes"
        ]
        rows += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["totalCount"] == len(rows)
            return rows
        after = page["pageInfo"]["endCursor"]


# ------------------------------------------------------------------------------------------------ computing


async def test_lead_time_across_time_zones_and_date_boundaries(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic, "Claude Lead Time Model", generalAvailabilityOn=GA.isoformat())
    assert model["generalAvailabilityOn"] == "2026-08-01"
    cases = {
        # access start (an offset, as a lab writes it) -> its UTC date -> days to 2026-08-01
        "2026-07-01T23:30:00-05:00": ("2026-07-02", 30),  # 04:30 UTC the next day
        "2026-07-01T18:59:59-05:00": ("2026-07-01", 31),  # 23:59:59 UTC: just before UTC midnight
        "2026-07-01T19:00:00-05:00": ("2026-07-02", 30),  # 00:00 UTC: just after
        "2026-07-02T13:59:00+14:00": ("2026-07-01", 31),  # 23:59 UTC the day before, for the +14:00 writer
        "2026-07-02T14:00:00+14:00": ("2026-07-02", 30),  # 00:00 UTC
        "2026-07-02T00:30:00+14:00": ("2026-07-01", 31),  # 10:30 UTC the day before
        "2026-08-01T05:00:00+00:00": ("2026-08-01", 0),  # general availability the same day
        "2026-08-01T23:30:00-05:00": ("2026-08-02", -1),  # a day after general availability, in UTC
    }
    for start, (on, days) in cases.items():
        begins = at(start)
        agreement_id = await agreement(api, model["id"], begins, {"CISA": begins - timedelta(days=3)})
        row = (await lead_times(api, agreement_id, anthropic))["CISA"]
        assert (row["accessStartOn"], row["days"], row["basis"]) == (on, days, "ACTUAL"), start
        assert at(row["accessStart"]) == begins and row["generalAvailabilityOn"] == "2026-08-01"
        assert row["askedDays"] == 30 and row["given"] is (days >= 30), start

    # a later join: the agency's access starts when it joined (at 04:30 UTC on 2026-07-21), not at accessStart
    start = at("2026-07-01T12:00:00+00:00")
    joined = at("2026-07-20T23:30:00-05:00")
    later = await agreement(api, model["id"], start, {"CISA": start - timedelta(days=1), "NIST": joined, "DOE": None})
    rows = await lead_times(api, later, anthropic)
    assert [rows["CISA"]["days"], rows["NIST"]["days"]] == [31, 11]
    assert at(rows["NIST"]["accessStart"]) == joined and rows["NIST"]["accessStartOn"] == "2026-07-21"
    assert at(rows["NIST"]["joinedAt"]) == joined
    # not joined: no access start, no days, given unknown (null, not false)
    assert rows["DOE"] == {
        "agency": {"code": "DOE"},
        "joinedAt": None,
        "accessStart": None,
        "accessStartOn": None,
        "generalAvailabilityOn": "2026-08-01",
        "basis": "ACTUAL",
        "days": None,
        "askedDays": 30,
        "given": None,
    }
    assert [rows["CISA"]["given"], rows["NIST"]["given"]] == [True, False]


async def test_a_45_day_lead_is_reported_as_given(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="ANALYST")
    model = await new_model(api, anthropic, "Claude Forty Five")
    start = at("2026-06-17T09:00:00-04:00")  # 45 days before 2026-08-01
    agreement_id = await agreement(api, model["id"], start, {"CISA": start - timedelta(days=2)})
    released = await mutate(
        api,
        SET_RELEASE,
        {"id": model["id"], "to": "GENERALLY_AVAILABLE", "expectedVersion": 1, "generalAvailabilityOn": "2026-08-01"},
        anthropic,
    )
    assert released["errors"] == [] and released["model"]["generalAvailabilityOn"] == "2026-08-01"
    row = (await lead_times(api, agreement_id, cisa))["CISA"]
    assert (row["days"], row["askedDays"], row["given"], row["basis"]) == (45, 30, True, "ACTUAL")
    # the report says the same
    [reported] = await report(api, cisa, modelIds=[model["id"]])
    assert reported == {**row, "agreement": {"id": agreement_id}}


async def test_the_lead_time_asked_for_is_recorded_per_agreement(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic, "Claude Asked Model")
    nist = str(to_global_id("Agency", (await sql(api, "select id from agencies where code = 'NIST'"))[0]["id"]))
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    window = {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=10)).isoformat()}
    offer = {"modelId": model["id"], "agencyIds": [nist], "accessKinds": ["API"], **window}

    await sql(api, "update policy set preview_lead_time_days = 90 where id = 1")  # the earlier draft's figure
    under_draft = await mutate(api, OFFER, offer, anthropic)
    assert under_draft["errors"] == [] and under_draft["agreement"]["leadTimeAskedDays"] == 90
    await sql(api, "update policy set preview_lead_time_days = 30 where id = 1")  # the order as signed
    under_order = await mutate(api, OFFER, offer, anthropic)
    assert under_order["agreement"]["leadTimeAskedDays"] == 30
    # the earlier agreement keeps the figure it was made under, and is measured against it
    first = await lead_times(api, under_draft["agreement"]["id"], anthropic)
    second = await lead_times(api, under_order["agreement"]["id"], anthropic)
    assert (first["NIST"]["askedDays"], second["NIST"]["askedDays"]) == (90, 30)
    stored = await sql(
        api,
        "select lead_time_asked_days from early_access_agreements where model_id = $1 order by id",
        from_global_id(model["id"])[1],
    )
    assert [r["lead_time_asked_days"] for r in stored] == [90, 30]


# ------------------------------------------------------------------------------------------------ who sees what


async def test_the_planned_basis_only_for_those_who_may_see_confidential_data(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="ANALYST")
    nist = await api.token(agency="NIST", role="OFFICER")
    doe = await api.token(agency="DOE", role="OFFICER")
    model = await new_model(api, anthropic, "Claude Planned Model", plannedGeneralAvailabilityOn="2026-08-01")
    start = at("2026-07-10T12:00:00+00:00")
    # CISA has joined (a party that may see the model's confidential data); NIST is named but has not joined
    agreement_id = await agreement(api, model["id"], start, {"CISA": start - timedelta(days=1), "NIST": None})

    planned = {"basis": "PLANNED", "generalAvailabilityOn": "2026-08-01", "days": 22, "given": False}
    for token in (anthropic, cisa):
        rows = await lead_times(api, agreement_id, token)
        assert {k: rows["CISA"][k] for k in planned} == planned
        assert (rows["NIST"]["basis"], rows["NIST"]["days"]) == ("PLANNED", None)
        reported = await report(api, token, modelIds=[model["id"]])
        assert [(r["agency"]["code"], r["basis"], r["days"]) for r in reported] == [
            ("CISA", "PLANNED", 22),
            ("NIST", "PLANNED", None),
        ]
    # NIST sees the agreement (it is named on it) but not the model's confidential data: no planned date, no days
    assert (await api.data(MODEL, {"id": model["id"]}, token=nist))["node"]["plannedGeneralAvailabilityOn"] is None
    unknown = {"basis": "UNKNOWN", "generalAvailabilityOn": None, "days": None, "given": None}
    rows = await lead_times(api, agreement_id, nist)
    assert [{k: rows[code][k] for k in unknown} for code in ("CISA", "NIST")] == [unknown, unknown]
    reported = await report(api, nist, modelIds=[model["id"]])
    assert [(r["agency"]["code"], r["basis"], r["days"]) for r in reported] == [
        ("CISA", "UNKNOWN", None),
        ("NIST", "UNKNOWN", None),
    ]
    # the planned filter tells NIST nothing either
    assert await report(api, nist, modelIds=[model["id"]], basis=["PLANNED"]) == []
    # an agency not on the agreement and another lab see no row, on either path
    for token in (doe, openai):
        assert (await api.data(AGREEMENT_LEAD_TIMES, {"id": agreement_id}, token=token))["node"] is None
        assert await report(api, token, modelIds=[model["id"]]) == []
    # the actual date, once recorded, is public: the basis becomes ACTUAL for every party
    await sql(
        api,
        "update frontier_models set general_availability_on = '2026-08-03' where id = $1",
        from_global_id(model["id"])[1],
    )
    rows = await lead_times(api, agreement_id, nist)
    assert (rows["CISA"]["basis"], rows["CISA"]["days"], rows["CISA"]["given"]) == ("ACTUAL", 24, False)


async def test_the_report_filters_and_shows_each_lab_its_own(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    openai = await api.token(lab="OpenAI", role="LAB_LIAISON")
    cisa = await api.token(agency="CISA", role="VIEWER")
    ours = await new_model(api, anthropic, "Claude Report Model", generalAvailabilityOn="2026-08-01")
    theirs = await new_model(api, openai, "GPT Report Model", lab="OpenAI", generalAvailabilityOn="2026-08-01")
    start = at("2026-06-01T00:00:00+00:00")  # 61 days before
    late = at("2026-07-25T00:00:00+00:00")  # 7 days before
    given = await agreement(api, ours["id"], start, {"CISA": start, "NIST": late, "DOE": None})
    other = await agreement(api, theirs["id"], late, {"CISA": late})
    lab_ids = {
        name: str(to_global_id("Lab", (await sql(api, "select id from labs where name = $1", name))[0]["id"]))
        for name in ("Anthropic", "OpenAI")
    }
    both = [ours["id"], theirs["id"]]

    everything = await report(api, cisa, modelIds=both)
    assert [(r["agreement"]["id"], r["agency"]["code"], r["days"], r["given"]) for r in everything] == [
        (given, "CISA", 61, True),
        (given, "DOE", None, None),
        (given, "NIST", 7, False),
        (other, "CISA", 7, False),
    ]
    assert [r["agency"]["code"] for r in await report(api, cisa, modelIds=both, given=True)] == ["CISA"]
    assert len(await report(api, cisa, modelIds=both, given=False)) == 2
    assert len(await report(api, cisa, modelIds=both, basis=["ACTUAL"])) == 4
    assert await report(api, cisa, modelIds=both, basis=["UNKNOWN"]) == []
    nist_id = str(to_global_id("Agency", (await sql(api, "select id from agencies where code = 'NIST'"))[0]["id"]))
    assert [r["days"] for r in await report(api, cisa, modelIds=both, agencyIds=[nist_id])] == [7]
    assert len(await report(api, cisa, labIds=[lab_ids["OpenAI"]], modelIds=both)) == 1
    # each lab sees the rows of its own agreements, and no other lab's
    assert {r["agreement"]["id"] for r in await report(api, anthropic, modelIds=both)} == {given}
    assert {r["agreement"]["id"] for r in await report(api, openai, modelIds=both)} == {other}
    # a cursor of another ordering is refused as bad input
    body = await api.query(REPORT, {"after": "bm90LWEtY3Vyc29y"}, token=cisa)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# ------------------------------------------------------------------------------------------------ general availability


async def test_general_availability_dates_are_the_labs_facts(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    lab_pk = (await sql(api, "select id from labs where name = 'Anthropic'"))[0]["id"]
    refused = await mutate(
        api,
        REGISTER_MODEL,
        {
            "labId": to_global_id("Lab", lab_pk),
            "name": "Claude Soon",
            "modality": "TEXT",
            "generalAvailabilityOn": tomorrow,
        },
        anthropic,
    )
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("input.generalAvailabilityOn", "BAD_USER_INPUT")]

    model = await new_model(api, anthropic, "Claude Dates Model")
    # a planned date in the past is what the lab said: kept (a plan that slipped is still the plan it had)
    updated = await mutate(
        api,
        UPDATE_MODEL,
        {"id": model["id"], "expectedVersion": 1, "plannedGeneralAvailabilityOn": "2026-01-15"},
        anthropic,
    )
    assert updated["errors"] == [] and updated["model"]["plannedGeneralAvailabilityOn"] == "2026-01-15"
    future = await mutate(
        api, UPDATE_MODEL, {"id": model["id"], "expectedVersion": 2, "generalAvailabilityOn": tomorrow}, anthropic
    )
    assert future["errors"][0]["field"] == "input.generalAvailabilityOn"
    # a date goes with the move to GENERALLY_AVAILABLE only, and not into the future
    for to, on in (("RESTRICTED_PREVIEW", "2026-07-01"), ("GENERALLY_AVAILABLE", tomorrow)):
        wrong = await mutate(
            api,
            SET_RELEASE,
            {"id": model["id"], "to": to, "expectedVersion": 2, "generalAvailabilityOn": on},
            anthropic,
        )
        assert [e["field"] for e in wrong["errors"]] == ["input.generalAvailabilityOn"], to
    # by default: today's UTC date
    released = await mutate(
        api, SET_RELEASE, {"id": model["id"], "to": "GENERALLY_AVAILABLE", "expectedVersion": 2}, anthropic
    )
    today = (await sql(api, "select (now() at time zone 'UTC')::date as d"))[0]["d"]
    assert released["model"]["generalAvailabilityOn"] == today.isoformat()
    # public: an agency with no agreement sees the actual date, not the planned one
    seen = (await api.data(MODEL, {"id": model["id"]}, token=await api.token(agency="DOE", role="VIEWER")))["node"]
    assert seen == {
        "confidentialVisible": False,
        "generalAvailabilityOn": today.isoformat(),
        "plannedGeneralAvailabilityOn": None,
    }


async def test_a_release_is_recorded_on_each_open_agreement_with_the_lead_times(api: Api) -> None:
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    model = await new_model(api, anthropic, "Claude Release Model")
    early = at("2026-06-17T12:00:00+00:00")  # 45 days before 2026-08-01
    soon = at("2026-07-20T12:00:00+00:00")  # 12 days before
    after = at("2026-08-04T12:00:00+00:00")  # 3 days after
    same_day = at("2026-08-01T01:00:00+00:00")
    open_one = await agreement(api, model["id"], early, {"CISA": early, "NIST": soon})
    # DOE joins after general availability (a later join), NSA's access starts on the day itself
    after_release = await agreement(api, model["id"], same_day, {"DOE": after, "NSA": same_day - timedelta(days=1)})
    proposed = await agreement(api, model["id"], after, {"CISA": None}, state="PROPOSED")
    closed = await agreement(api, model["id"], early, {"CISA": early}, state="TERMINATED")

    released = await mutate(
        api,
        SET_RELEASE,
        {"id": model["id"], "to": "GENERALLY_AVAILABLE", "expectedVersion": 1, "generalAvailabilityOn": "2026-08-01"},
        anthropic,
    )
    assert released["errors"] == []
    events = await sql(
        api,
        """select entity_id, action, from_state, to_state, reason, details from events
            where entity_kind = 'AGREEMENT' and action = 'MODEL_GENERALLY_AVAILABLE' order by entity_id""",
    )
    by_agreement = {str(to_global_id("EarlyAccessAgreement", e["entity_id"])): e for e in events}
    # PROPOSED and ACTIVE agreements get the fact; a closed one does not
    assert set(by_agreement) == {open_one, after_release, proposed} and closed not in by_agreement
    assert by_agreement[open_one]["reason"] == "generally available on 2026-08-01; CISA had 45 days of preview, NIST 12"
    assert by_agreement[open_one]["details"] == {
        "generalAvailabilityOn": "2026-08-01",
        "leadTimeDays": {"CISA": 45, "NIST": 12},
        "leadTimeAskedDays": 30,
    }
    assert (by_agreement[open_one]["from_state"], by_agreement[open_one]["to_state"]) == ("ACTIVE", "ACTIVE")
    assert by_agreement[after_release]["reason"] == (
        "generally available on 2026-08-01; DOE's access starts 2026-08-04, 3 days after general availability"
        " (-3 days); NSA's access starts 2026-08-01, the day of general availability (0 days)"
    )
    assert by_agreement[proposed]["reason"] == "generally available on 2026-08-01; not joined yet: CISA"
    # the model's own event keeps the date
    model_event = await sql(
        api,
        "select details from events where entity_kind = 'MODEL' and entity_id = $1 order by id desc limit 1",
        from_global_id(model["id"])[1],
    )
    assert model_event[0]["details"] == {"generalAvailabilityOn": "2026-08-01"}
    # the agreements are untouched
    states = await sql(
        api, "select state from early_access_agreements where model_id = $1 order by id", from_global_id(model["id"])[1]
    )
    assert [s["state"] for s in states] == ["ACTIVE", "ACTIVE", "PROPOSED", "TERMINATED"]


# ------------------------------------------------------------------------------------------------ demo


async def test_the_demo_shows_lead_times_given_and_not_given(demo_api: Api) -> None:
    """The demo gives fictional models general-availability dates (hub/demo/lead_time.py): the report has rows of
    each kind to show, and the order's labs' models get no invented date."""
    seen: list[dict[str, Any]] = []
    for code in ("CISA", "NIST", "DOD", "NSA", "DOE", "TREASURY"):
        token = await demo_api.token(agency=code, role="ANALYST", name=f"lead time demo {code}")
        seen += await report(demo_api, token, size=200)
    assert {r["given"] for r in seen} >= {True, False, None}
    assert {r["basis"] for r in seen} >= {"ACTUAL", "PLANNED", "UNKNOWN"}
    invented = await sql(
        demo_api,
        """select l.name from frontier_models m join labs l on l.id = m.lab_id
            where m.general_availability_on is not null or m.planned_general_availability_on is not null""",
    )
    assert invented and all("(fictional)" in r["name"] for r in invented)
