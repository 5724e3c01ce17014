"""Policy changes are joint and the policy has versions (docs/design.md, "Policy versions"): a change proposed by an
admin of one agency in the required sign-offs takes effect once an admin of each of the others concurs, on its
effectiveOn when that is later (the scheduler); nobody removes an agency from the required sign-offs alone; records
name the version they were made under."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from hub import db
from hub.scheduler import run_pass
from tests.conftest import Api

ERRORS = "errors { field code message }"
VERSION = """number state orderDate standardDueDays standardDueOn requiredSignoffs previewLeadTimeDays effectiveOn
    concurrenceNeeded awaitingConcurrenceOf agreedAt tookEffectAt endedAt reason note version
    proposedByAgency { code } signatures { agencyCode signedBy agency { code } }"""
POLICY = f"""number effectiveOn orderDate standardDueDays standardDueOn requiredSignoffs previewLeadTimeDays version
    pendingChange {{ {VERSION} }} history {{ {VERSION} }}"""
UPDATE = f"""mutation($input: UpdatePolicyInput!) {{ updatePolicy(input: $input) {{
    policy {{ {POLICY} }} policyVersion {{ {VERSION} }} {ERRORS} }} }}"""
CONCUR = f"""mutation($input: ConcurPolicyChangeInput!) {{ concurPolicyChange(input: $input) {{
    policy {{ {POLICY} }} policyVersion {{ {VERSION} }} {ERRORS} }} }}"""
WITHDRAW = f"""mutation($input: WithdrawPolicyChangeInput!) {{ withdrawPolicyChange(input: $input) {{
    policy {{ {POLICY} }} policyVersion {{ {VERSION} }} {ERRORS} }} }}"""
READ = f"{{ policy {{ {POLICY} }} }}"
DRAFT = """mutation($input: DraftCoverageStandardInput!) { draftCoverageStandard(input: $input) {
    standard { id dueOn requiredSignoffs policyVersion } errors { field code message } } }"""
CRITERION = {
    "metric": "TRAINING_COMPUTE",
    "computeScope": "TOTAL",
    "threshold": "10^26",
    "unit": "FLOP",
    "description": "Training compute at or above 10^26 operations",
}


async def payload(api: Api, mutation: str, name: str, token: str, **fields: Any) -> dict[str, Any]:
    return dict((await api.data(mutation, {"input": fields}, token=token))[name])


async def policy(api: Api, token: str) -> dict[str, Any]:
    return dict((await api.data(READ, token=token))["policy"])


async def row(url: str, sql: str, *args: Any) -> asyncpg.Record:
    con = await db.connect(url)
    try:
        found = await con.fetchrow(sql, *args)
        assert found is not None, sql
        return found
    finally:
        await con.close()


async def test_the_history_is_the_order_s_draft_and_the_order_as_signed(api: Api) -> None:
    viewer = await api.token(agency="TREASURY", role="VIEWER")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    for token in (viewer, liaison):  # every principal sees the policy and its versions
        read = await policy(api, token)
        assert read["number"] == 2 and read["effectiveOn"] == "2026-06-02" and read["previewLeadTimeDays"] == 30
        assert read["pendingChange"] is None
        assert [(v["number"], v["state"], v["previewLeadTimeDays"], v["tookEffectAt"]) for v in read["history"]] == [
            (2, "IN_EFFECT", 30, "2026-06-02T00:00:00+00:00"),
            (1, "SUPERSEDED", 90, None),
        ]
        draft = read["history"][1]
        assert draft["note"] == "the earlier draft of the order (90 days of preview); never in effect"
        assert draft["effectiveOn"] is None and draft["signatures"] == []
    # records written before versions existed were made under the order as signed
    counts = await row(
        api.url,
        """select (select count(*) from early_access_agreements where policy_version <> 2) as agreements,
                  (select count(*) from coverage_standards where policy_version <> 2) as standards,
                  (select count(*) from coverage_decisions where policy_version <> 2) as decisions,
                  (select count(*) from coverage_standards) as all_standards""",
    )
    assert (counts["agreements"], counts["standards"], counts["decisions"]) == (0, 0, 0)
    assert counts["all_standards"] > 0


async def test_a_change_with_one_admin_pending_then_all_in_effect(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN", name="CISA admin")
    nist = await api.token(agency="NIST", role="ADMIN", name="NIST admin")
    officer = await api.token(agency="CISA", role="OFFICER")
    before = await row(api.url, "select * from policy where id = 1")

    proposed = await payload(
        api,
        UPDATE,
        "updatePolicy",
        cisa,
        expectedVersion=before["version"],
        standardDueDays=45,
        previewLeadTimeDays=60,
        reason="a longer preview, by agreement",
    )
    assert proposed["errors"] == []
    version = proposed["policyVersion"]
    assert version["number"] == 3 and version["state"] == "PROPOSED"
    assert version["standardDueDays"] == 45 and version["previewLeadTimeDays"] == 60
    assert version["requiredSignoffs"] == ["CISA", "NIST"] and version["orderDate"] == "2026-06-02"
    assert version["concurrenceNeeded"] == ["CISA", "NIST"] and version["awaitingConcurrenceOf"] == ["NIST"]
    assert version["proposedByAgency"] == {"code": "CISA"} and version["reason"] == "a longer preview, by agreement"
    assert [(s["agencyCode"], s["signedBy"], s["agency"]) for s in version["signatures"]] == [
        ("CISA", "CISA admin", {"code": "CISA"})
    ]
    # one admin pending: nothing changes in the policy in force
    after = await row(api.url, "select * from policy where id = 1")
    assert dict(after) == dict(before)
    read = await policy(api, officer)
    assert read["number"] == 2 and read["standardDueDays"] == 30 and read["previewLeadTimeDays"] == 30
    assert read["pendingChange"]["number"] == 3 and read["pendingChange"]["awaitingConcurrenceOf"] == ["NIST"]
    assert [v["number"] for v in read["history"]] == [3, 2, 1]
    pending_standard = await payload(
        api, DRAFT, "draftCoverageStandard", officer, standardVersion="9.1", title="Drafted", criteria=[CRITERION]
    )
    assert pending_standard["standard"]["dueOn"] == "2026-07-02"
    assert pending_standard["standard"]["policyVersion"] == 2

    # one change at a time
    second = await payload(api, UPDATE, "updatePolicy", nist, expectedVersion=before["version"], standardDueDays=20)
    assert [(e["field"], e["code"]) for e in second["errors"]] == [("input", "CONFLICT")]
    # the proposer's agency has signed
    again = await payload(api, CONCUR, "concurPolicyChange", cisa, number=3, expectedVersion=version["version"])
    assert again["errors"][0]["code"] == "ALREADY_SIGNED"

    done = await payload(api, CONCUR, "concurPolicyChange", nist, number=3, expectedVersion=version["version"])
    assert done["errors"] == []
    assert done["policyVersion"]["state"] == "IN_EFFECT" and done["policyVersion"]["awaitingConcurrenceOf"] == []
    assert done["policyVersion"]["effectiveOn"] == datetime.now(UTC).date().isoformat()
    assert [s["agencyCode"] for s in done["policyVersion"]["signatures"]] == ["CISA", "NIST"]
    assert done["policy"]["number"] == 3 and done["policy"]["pendingChange"] is None
    assert [(v["number"], v["state"]) for v in done["policy"]["history"]] == [
        (3, "IN_EFFECT"),
        (2, "SUPERSEDED"),
        (1, "SUPERSEDED"),
    ]
    # the policy row, Query.policy and a new standard's due date follow it
    copied = await row(api.url, "select * from policy where id = 1")
    assert (copied["policy_version"], copied["standard_due_days"], copied["preview_lead_time_days"]) == (3, 45, 60)
    read = await policy(api, officer)
    assert (read["number"], read["standardDueDays"], read["standardDueOn"], read["previewLeadTimeDays"]) == (
        3,
        45,
        "2026-07-17",
        60,
    )
    drafted = await payload(
        api, DRAFT, "draftCoverageStandard", officer, standardVersion="9.2", title="Drafted", criteria=[CRITERION]
    )
    assert drafted["standard"]["dueOn"] == "2026-07-17" and drafted["standard"]["policyVersion"] == 3
    older = await api.data(
        "query($id: ID!) { node(id: $id) { ... on CoverageStandard { policyVersion dueOn } } }",
        {"id": pending_standard["standard"]["id"]},
        token=officer,
    )
    assert older["node"] == {"policyVersion": 2, "dueOn": "2026-07-02"}

    events = await api.data(
        "{ events(filter: {kinds: [POLICY_VERSION, POLICY]}) { edges { node { entityKind action fromState toState"
        " actorAgency { code } } } } }",
        token=officer,
    )
    assert [
        (
            e["node"]["entityKind"],
            e["node"]["action"],
            e["node"]["toState"],
            (e["node"]["actorAgency"] or {}).get("code"),
        )
        for e in events["events"]["edges"]
    ] == [
        ("POLICY_VERSION", "PROPOSED", "PROPOSED", "CISA"),
        ("POLICY_VERSION", "CONCURRED", "PROPOSED", "NIST"),
        ("POLICY_VERSION", "SUPERSEDED", "SUPERSEDED", None),
        ("POLICY_VERSION", "TOOK_EFFECT", "IN_EFFECT", "NIST"),
        ("POLICY", "UPDATED", None, "NIST"),
    ]


async def test_nobody_cuts_an_agency_out_of_the_required_signoffs_alone(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    nist = await api.token(agency="NIST", role="ADMIN")
    cut = await payload(
        api, UPDATE, "updatePolicy", cisa, expectedVersion=1, requiredSignoffs=["CISA"], reason="CISA alone"
    )
    assert cut["errors"] == [] and cut["policyVersion"]["requiredSignoffs"] == ["CISA"]
    # NIST is in the sign-offs of the version in effect: its concurrence is needed, and nothing else will do
    assert cut["policyVersion"]["concurrenceNeeded"] == ["CISA", "NIST"]
    assert cut["policyVersion"]["state"] == "PROPOSED" and cut["policy"]["requiredSignoffs"] == ["CISA", "NIST"]
    assert (await row(api.url, "select required_signoffs from policy"))[0] == ["CISA", "NIST"]
    # a second CISA admin cannot stand in for NIST
    other_cisa = await api.token(agency="CISA", role="ADMIN", name="another CISA admin")
    twice = await payload(api, CONCUR, "concurPolicyChange", other_cisa, number=3, expectedVersion=1)
    assert twice["errors"][0]["code"] == "ALREADY_SIGNED"
    assert (await policy(api, cisa))["pendingChange"]["state"] == "PROPOSED"
    # NIST's admin concurs: only now do the sign-offs change
    agreed = await payload(api, CONCUR, "concurPolicyChange", nist, number=3, expectedVersion=1)
    assert agreed["errors"] == [] and agreed["policy"]["requiredSignoffs"] == ["CISA"]
    # a change from here needs CISA alone, as the sign-offs now say
    alone = await payload(api, UPDATE, "updatePolicy", cisa, expectedVersion=2, standardDueDays=40)
    assert alone["errors"] == [] and alone["policyVersion"]["state"] == "IN_EFFECT"
    assert alone["policy"]["number"] == 4 and alone["policy"]["standardDueDays"] == 40
    refused = await api.query(UPDATE, {"input": {"expectedVersion": 3, "standardDueDays": 41}}, token=nist)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_only_admins_of_the_signing_agencies_propose_concur_and_withdraw(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    cisa_officer = await api.token(agency="CISA", role="OFFICER")
    nist_officer = await api.token(agency="NIST", role="OFFICER")
    treasury_admin = await api.token(agency="TREASURY", role="ADMIN")
    liaison = await api.token(lab="Anthropic", role="LAB_LIAISON")
    for token in (cisa_officer, treasury_admin, liaison):
        refused = await api.query(UPDATE, {"input": {"expectedVersion": 1, "standardDueDays": 20}}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    proposed = await payload(api, UPDATE, "updatePolicy", cisa, expectedVersion=1, standardDueDays=20)
    assert proposed["errors"] == []
    for token in (nist_officer, treasury_admin, liaison):
        refused = await api.query(CONCUR, {"input": {"number": 3, "expectedVersion": 1}}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    nist = await api.token(agency="NIST", role="ADMIN")
    for token in (nist, cisa_officer, treasury_admin):
        refused = await api.query(WITHDRAW, {"input": {"number": 3, "expectedVersion": 1}}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
    snapshot = await row(api.url, "select version, state from policy_versions where number = 3")
    assert tuple(snapshot) == (1, "PROPOSED")
    missing = await payload(api, CONCUR, "concurPolicyChange", nist, number=99, expectedVersion=1)
    assert [(e["field"], e["code"]) for e in missing["errors"]] == [("input.number", "NOT_FOUND")]


async def test_a_stale_expected_version_writes_nothing(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    nist = await api.token(agency="NIST", role="ADMIN")
    stale = await payload(api, UPDATE, "updatePolicy", cisa, expectedVersion=7, standardDueDays=20)
    assert [(e["field"], e["code"]) for e in stale["errors"]] == [("input.expectedVersion", "STALE_VERSION")]
    assert await row(api.url, "select count(*) from policy_versions") == (2,)
    proposed = await payload(api, UPDATE, "updatePolicy", cisa, expectedVersion=1, standardDueDays=20)
    assert proposed["errors"] == []
    stale = await payload(api, CONCUR, "concurPolicyChange", nist, number=3, expectedVersion=2)
    assert [(e["field"], e["code"]) for e in stale["errors"]] == [("input.expectedVersion", "STALE_VERSION")]
    assert await row(api.url, "select count(*) from policy_version_signatures where policy_version = 3") == (1,)
    nothing = await payload(api, UPDATE, "updatePolicy", nist, expectedVersion=1)
    assert [(e["field"], e["code"]) for e in nothing["errors"]] == [("input", "BAD_USER_INPUT")]


async def test_the_proposing_agency_withdraws_and_the_version_in_effect_stays(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    nist = await api.token(agency="NIST", role="ADMIN")
    proposed = await payload(api, UPDATE, "updatePolicy", nist, expectedVersion=1, previewLeadTimeDays=90)
    assert proposed["errors"] == []
    withdrawn = await payload(
        api, WITHDRAW, "withdrawPolicyChange", nist, number=3, expectedVersion=1, reason="not now"
    )
    assert withdrawn["errors"] == [] and withdrawn["policyVersion"]["state"] == "WITHDRAWN"
    assert withdrawn["policyVersion"]["endedAt"] is not None
    assert withdrawn["policy"]["number"] == 2 and withdrawn["policy"]["pendingChange"] is None
    late = await payload(api, CONCUR, "concurPolicyChange", cisa, number=3, expectedVersion=2)
    assert [(e["field"], e["code"]) for e in late["errors"]] == [("input.number", "INVALID_TRANSITION")]
    # the next change may be proposed
    next_change = await payload(api, UPDATE, "updatePolicy", cisa, expectedVersion=1, previewLeadTimeDays=45)
    assert next_change["errors"] == [] and next_change["policyVersion"]["number"] == 4


async def test_a_change_agreed_for_a_later_day_takes_effect_through_the_scheduler(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    nist = await api.token(agency="NIST", role="ADMIN")
    today = datetime.now(UTC).date()
    on = today + timedelta(days=10)
    past = await payload(
        api, UPDATE, "updatePolicy", cisa, expectedVersion=1, standardDueDays=20, effectiveOn="2026-01-01"
    )
    assert [(e["field"], e["code"]) for e in past["errors"]] == [("input.effectiveOn", "BAD_USER_INPUT")]
    proposed = await payload(
        api, UPDATE, "updatePolicy", cisa, expectedVersion=1, standardDueDays=20, effectiveOn=on.isoformat()
    )
    assert proposed["errors"] == []
    agreed = await payload(api, CONCUR, "concurPolicyChange", nist, number=3, expectedVersion=1)
    assert agreed["errors"] == []
    # every agency concurred; it waits for its day
    assert agreed["policyVersion"]["state"] == "PROPOSED" and agreed["policyVersion"]["agreedAt"] is not None
    assert agreed["policy"]["number"] == 2 and agreed["policy"]["standardDueDays"] == 30
    con = await db.connect(api.url)
    try:
        early = await run_pass(con, now=datetime.combine(on - timedelta(days=1), datetime.min.time(), tzinfo=UTC))
        assert early.policy_versions_in_effect == []
        due = await run_pass(con, now=datetime.combine(on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1))
        assert due.policy_versions_in_effect == [3]
        again = await run_pass(con, now=datetime.combine(on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2))
        assert again.policy_versions_in_effect == []
        copied = await con.fetchrow("select policy_version, standard_due_days from policy")
        assert tuple(copied) == (3, 20)
        events = await con.fetch(
            "select action, actor_principal_id from events where entity_kind = 'POLICY_VERSION' order by id"
        )
        assert [(e["action"], e["actor_principal_id"] is None) for e in events] == [
            ("PROPOSED", False),
            ("CONCURRED", False),
            ("AGREED", False),
            ("SUPERSEDED", True),
            ("TOOK_EFFECT", True),
        ]
    finally:
        await con.close()
    read = await policy(api, cisa)
    assert read["number"] == 3 and read["effectiveOn"] == on.isoformat() and read["standardDueDays"] == 20
    assert isinstance(date.fromisoformat(read["effectiveOn"]), date)
