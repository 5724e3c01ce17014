"""DoD measures and CISA engagements as workflows; the policy and tokens; writers racing on one record."""

from __future__ import annotations

import asyncio
from typing import Any

from hub import db
from schema.common import from_global_id, to_global_id
from tests.conftest import Api

PLAN = """mutation($input: PlanMeasureInput!) { planMeasure(input: $input) {
  measure { id version state title kind findings { id } models { id } ownerAgency { code } evidence }
  errors { field code message } } }"""
MOVE_MEASURE = """mutation($input: TransitionMeasureInput!) { transitionMeasure(input: $input) {
  measure { id version state evidence } errors { field code message allowed } } }"""
UPDATE_MEASURE = """mutation($input: UpdateMeasureInput!) { updateMeasure(input: $input) {
  measure { id version title attackIds } errors { field code message currentVersion } } }"""
OPEN = """mutation($input: OpenEngagementInput!) { openEngagement(input: $input) {
  engagement { id version state sector counterpart { name kind } lab { name } findings { id }
               milestones { id title dueOn completedOn } }
  errors { field code message } } }"""
MOVE_ENGAGEMENT = """mutation($input: TransitionEngagementInput!) { transitionEngagement(input: $input) {
  engagement { id version state } errors { field code message allowed } } }"""


async def first_id(api: Api, token: str, query: str) -> str:
    data = await api.data(query, token=token)
    root = next(iter(data.values()))
    return str(root["edges"][0]["node"]["id"])


async def test_dod_plans_deploys_and_verifies_a_measure(api: Api) -> None:
    dod = await api.token(agency="DOD", role="OFFICER")
    finding = await first_id(api, dod, "{ findings(first: 1, filter: {tlp: [GREEN]}) { edges { node { id } } } }")
    model = await first_id(api, dod, "{ models(first: 1) { edges { node { id } } } }")
    planned = (
        await api.data(
            PLAN,
            {
                "input": {
                    "title": "Egress filtering for model-found RCE",
                    "kind": "ISOLATE",
                    "systemScope": "DoDIN enclave (fictional)",
                    "ownerComponent": "DISA",
                    "d3fendIds": ["D3-NTF"],
                    "attackIds": ["T1190"],
                    "nist80053Controls": ["SC-7"],
                    "findingIds": [finding],
                    "modelIds": [model],
                    "tlp": "GREEN",
                }
            },
            token=dod,
        )
    )["planMeasure"]
    assert planned["errors"] == []
    measure = planned["measure"]
    assert measure["state"] == "PLANNED" and measure["ownerAgency"]["code"] == "DOD"
    assert measure["findings"] == [{"id": finding}] and measure["models"] == [{"id": model}]
    version = measure["version"]
    for to in ("DEPLOYING", "DEPLOYED"):
        moved = (
            await api.data(
                MOVE_MEASURE, {"input": {"id": measure["id"], "to": to, "expectedVersion": version}}, token=dod
            )
        )["transitionMeasure"]
        assert moved["errors"] == [], moved
        version = moved["measure"]["version"]
    no_evidence = (
        await api.data(
            MOVE_MEASURE, {"input": {"id": measure["id"], "to": "VERIFIED", "expectedVersion": version}}, token=dod
        )
    )["transitionMeasure"]
    assert no_evidence["errors"][0]["field"] == "input.evidence"
    verified = (
        await api.data(
            MOVE_MEASURE,
            {
                "input": {
                    "id": measure["id"],
                    "to": "VERIFIED",
                    "expectedVersion": version,
                    "evidence": "Red-team replay blocked at the boundary",
                }
            },
            token=dod,
        )
    )["transitionMeasure"]
    assert verified["errors"] == [] and verified["measure"]["state"] == "VERIFIED"
    # the finding now lists the measure
    back = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Finding { measures { id } } } }", {"id": finding}, token=dod
    )
    assert {"id": measure["id"]} in back["node"]["measures"]

    cisa = await api.token(agency="CISA", role="OFFICER")
    refused = await api.query(
        PLAN, {"input": {"title": "x", "kind": "DETECT", "systemScope": "s", "ownerComponent": "c"}}, token=cisa
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = (
        await api.data(
            UPDATE_MEASURE,
            {
                "input": {
                    "id": measure["id"],
                    "expectedVersion": verified["measure"]["version"],
                    "attackIds": ["not-a-technique"],
                }
            },
            token=dod,
        )
    )["updateMeasure"]
    assert bad["errors"][0]["field"] == "input.attackIds[0]"


REGISTER = """mutation($input: RegisterInfrastructureCounterpartInput!) {
  registerInfrastructureCounterpart(input: $input) {
    infrastructureCounterpart { id } errors { field code message } } }"""


async def a_counterpart(api: Api, token: str, name: str, kind: str, sector: str) -> str:
    payload = (await api.data(REGISTER, {"input": {"name": name, "kind": kind, "sector": sector}}, token=token))[
        "registerInfrastructureCounterpart"
    ]
    assert payload["errors"] == [], payload
    return str(payload["infrastructureCounterpart"]["id"])


async def taking_part(api: Api, lab: str) -> str:
    """The lab of that name, made PARTICIPATING (an engagement is proposed only to a lab taking part): its id."""
    con = await db.connect(api.url)
    try:
        pk = await con.fetchval("update labs set participation = 'PARTICIPATING' where name = $1 returning id", lab)
    finally:
        await con.close()
    return str(to_global_id("Lab", pk))


async def test_cisa_opens_runs_and_completes_an_engagement_the_lab_may_decline(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    lab_id = await taking_part(api, "Anthropic")
    hospital = await a_counterpart(
        api, cisa, "County hospital in Kansas (fictional)", "RURAL_HOSPITAL", "HEALTHCARE_AND_PUBLIC_HEALTH"
    )
    water = await a_counterpart(
        api, cisa, "Town water works (fictional)", "WATER_UTILITY", "WATER_AND_WASTEWATER_SYSTEMS"
    )
    opened = (
        await api.data(
            OPEN,
            {
                "input": {
                    "title": "Patch triage for a rural hospital network",
                    "labId": lab_id,
                    "sector": "HEALTHCARE_AND_PUBLIC_HEALTH",
                    "counterpartId": hospital,
                    "kind": "CVD_COORDINATION",
                    "tlp": "GREEN",
                    "milestones": [{"title": "Kick-off", "dueOn": "2027-01-10"}],
                }
            },
            token=cisa,
        )
    )["openEngagement"]
    assert opened["errors"] == []
    engagement = opened["engagement"]
    assert engagement["lab"]["name"] == "Anthropic" and engagement["state"] == "PROPOSED"
    assert engagement["counterpart"] == {"name": "County hospital in Kansas (fictional)", "kind": "RURAL_HOSPITAL"}
    milestone = engagement["milestones"][0]
    version = engagement["version"]
    added = (
        await api.data(
            """mutation($input: AddEngagementMilestoneInput!) { addEngagementMilestone(input: $input) {
        engagement { version milestones { title } } errors { message } } }""",
            {
                "input": {
                    "id": engagement["id"],
                    "expectedVersion": version,
                    "title": "Scan results",
                    "dueOn": "2027-02-01",
                }
            },
            token=cisa,
        )
    )["addEngagementMilestone"]
    assert [m["title"] for m in added["engagement"]["milestones"]] == ["Kick-off", "Scan results"]
    version = added["engagement"]["version"]
    done = (
        await api.data(
            """mutation($input: CompleteEngagementMilestoneInput!) {
        completeEngagementMilestone(input: $input) {
          engagement { version milestones { completedOn } } errors { message } } }""",
            {
                "input": {
                    "id": engagement["id"],
                    "expectedVersion": version,
                    "milestoneId": milestone["id"],
                    "completedOn": "2027-01-09",
                }
            },
            token=cisa,
        )
    )["completeEngagementMilestone"]
    assert done["engagement"]["milestones"][0]["completedOn"] == "2027-01-09"
    version = done["engagement"]["version"]
    # CISA proposes, the lab accepts, the counterpart consents (tests/test_engagement_opt_in.py has the refusals)
    anthropic = await api.token(lab="Anthropic", role="LAB_LIAISON")
    accepted = (
        await api.data(
            """mutation($input: AcceptEngagementInput!) { acceptEngagement(input: $input) {
        engagement { version labAcceptedAt } errors { message } } }""",
            {"input": {"id": engagement["id"], "expectedVersion": version}},
            token=anthropic,
        )
    )["acceptEngagement"]
    assert accepted["errors"] == [] and accepted["engagement"]["labAcceptedAt"]
    consented = (
        await api.data(
            """mutation($input: RecordCounterpartConsentInput!) { recordCounterpartConsent(input: $input) {
        engagement { version counterpartConsent } errors { message } } }""",
            {
                "input": {
                    "id": engagement["id"],
                    "expectedVersion": accepted["engagement"]["version"],
                    "consented": True,
                    "consentRef": "Letter of the hospital's CEO (fictional)",
                }
            },
            token=cisa,
        )
    )["recordCounterpartConsent"]
    assert consented["errors"] == [] and consented["engagement"]["counterpartConsent"] is True
    version = consented["engagement"]["version"]
    for to in ("SCOPING", "ACTIVE", "COMPLETED"):
        moved = (
            await api.data(
                MOVE_ENGAGEMENT, {"input": {"id": engagement["id"], "to": to, "expectedVersion": version}}, token=cisa
            )
        )["transitionEngagement"]
        assert moved["errors"] == [], moved
        version = moved["engagement"]["version"]
    final = (
        await api.data(
            MOVE_ENGAGEMENT, {"input": {"id": engagement["id"], "to": "ACTIVE", "expectedVersion": version}}, token=cisa
        )
    )["transitionEngagement"]
    assert final["errors"][0]["code"] == "INVALID_TRANSITION" and final["errors"][0]["allowed"] == []

    # another engagement: the lab declines it (voluntary), another lab may not
    second = (
        await api.data(
            OPEN,
            {
                "input": {
                    "title": "Water utility scan",
                    "labId": lab_id,
                    "sector": "WATER_AND_WASTEWATER_SYSTEMS",
                    "counterpartId": water,
                    "kind": "CLEARINGHOUSE_SCAN",
                    "tlp": "GREEN",
                }
            },
            token=cisa,
        )
    )["openEngagement"]["engagement"]
    other_lab = await api.token(lab="OpenAI", role="LAB_LIAISON")
    hidden = (
        await api.data(
            MOVE_ENGAGEMENT, {"input": {"id": second["id"], "to": "DECLINED", "expectedVersion": 1}}, token=other_lab
        )
    )["transitionEngagement"]
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    declined = (
        await api.data(
            MOVE_ENGAGEMENT, {"input": {"id": second["id"], "to": "DECLINED", "expectedVersion": 1}}, token=anthropic
        )
    )["transitionEngagement"]
    assert declined["errors"] == [] and declined["engagement"]["state"] == "DECLINED"
    scoping = await api.query(
        MOVE_ENGAGEMENT, {"input": {"id": engagement["id"], "to": "PAUSED", "expectedVersion": 1}}, token=anthropic
    )
    assert scoping["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_policy_changes_are_proposed_only_by_standard_setting_admins(api: Api) -> None:
    """updatePolicy proposes a version (tests/test_policy_versions.py follows it to its effect)."""
    query = """mutation($input: UpdatePolicyInput!) { updatePolicy(input: $input) {
        policy { previewLeadTimeDays requiredSignoffs version }
        policyVersion { number state previewLeadTimeDays }
        errors { field code message } } }"""
    officer = await api.token(agency="CISA", role="OFFICER")
    treasury_admin = await api.token(agency="TREASURY", role="ADMIN")
    for token in (officer, treasury_admin):
        refused = await api.query(query, {"input": {"expectedVersion": 1, "previewLeadTimeDays": 60}}, token=token)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    admin = await api.token(agency="NIST", role="ADMIN")
    bad = (await api.data(query, {"input": {"expectedVersion": 1, "requiredSignoffs": ["CISA", "NOPE"]}}, token=admin))[
        "updatePolicy"
    ]
    assert bad["errors"][0]["field"] == "input.requiredSignoffs"
    done = (
        await api.data(
            query, {"input": {"expectedVersion": 1, "previewLeadTimeDays": 45, "reason": "revised order"}}, token=admin
        )
    )["updatePolicy"]
    assert done["errors"] == [] and done["policyVersion"] == {
        "number": 3,
        "state": "PROPOSED",
        "previewLeadTimeDays": 45,
    }
    # proposed, not in effect: the policy in force is unchanged until CISA concurs
    assert done["policy"] == {"previewLeadTimeDays": 30, "requiredSignoffs": ["CISA", "NIST"], "version": 1}
    stale = await api.data(query, {"input": {"expectedVersion": 0, "previewLeadTimeDays": 30}}, token=admin)
    assert stale["updatePolicy"]["errors"][0]["code"] == "STALE_VERSION"
    events = await api.data(
        "{ events(filter: {kinds: [POLICY_VERSION]}) { edges { node { action reason actorAgency { code } } } } }",
        token=officer,
    )
    assert events["events"]["edges"][-1]["node"] == {
        "action": "PROPOSED",
        "reason": "revised order",
        "actorAgency": {"code": "NIST"},
    }


async def test_admins_create_and_revoke_tokens_of_their_agency(api: Api) -> None:
    admin = await api.token(agency="EPA", role="ADMIN")
    created = (
        await api.data(
            """mutation { createToken(input: {name: "EPA script", role: ANALYST, expiresInDays: 30}) {
        token apiToken { id prefix expiresAt } principal { name role agency { code } } errors { message } } }""",
            token=admin,
        )
    )["createToken"]
    assert created["errors"] == [] and created["principal"] == {
        "name": "EPA script",
        "role": "ANALYST",
        "agency": {"code": "EPA"},
    }
    secret = created["token"]
    assert secret.startswith(created["apiToken"]["prefix"]) and created["apiToken"]["expiresAt"]
    assert (await api.data("{ me { name } }", token=secret))["me"]["name"] == "EPA script"
    listed = (await api.data("{ apiTokens { id prefix holder revokedAt } }", token=admin))["apiTokens"]
    assert {
        "id": created["apiToken"]["id"],
        "prefix": created["apiToken"]["prefix"],
        "holder": "EPA script",
        "revokedAt": None,
    } in listed
    assert all(secret not in str(t) for t in listed)
    own = (await api.data("{ apiTokens { holder } }", token=secret))["apiTokens"]
    assert own == [{"holder": "EPA script"}]
    viewer = await api.token(agency="EPA", role="VIEWER")
    refused = await api.query('mutation { createToken(input: {name: "x", role: ADMIN}) { token } }', token=viewer)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other_admin = await api.token(agency="DOE", role="ADMIN")
    revoke = "mutation($id: ID!) { revokeToken(input: {id: $id}) { apiToken { revokedAt } errors { code } } }"
    hidden = (await api.data(revoke, {"id": created["apiToken"]["id"]}, token=other_admin))["revokeToken"]
    assert hidden["errors"][0]["code"] == "NOT_FOUND"
    revoked = (await api.data(revoke, {"id": created["apiToken"]["id"]}, token=admin))["revokeToken"]
    assert revoked["errors"] == [] and revoked["apiToken"]["revokedAt"]
    assert (await api.post("{ me { name } }", token=secret)).status_code == 401
    history = await api.data("{ events(filter: {kinds: [PRINCIPAL]}) { edges { node { action } } } }", token=admin)
    assert [e["node"]["action"] for e in history["events"]["edges"]][-2:] == ["PRINCIPAL_CREATED", "TOKEN_REVOKED"]
    assert secret not in str(history)


async def test_fifty_concurrent_writers_lose_nothing(api: Api) -> None:
    """50 writers race to update one finding, each naming the version it read. Every accepted write is in the history,
    every refused one got STALE_VERSION, and the final version counts exactly the accepted writes."""
    cisa = await api.token(agency="CISA", role="ANALYST")
    report = """mutation { reportFinding(input: {title: "contended", tlp: GREEN}) { finding { id version } } }"""
    finding = (await api.data(report, token=cisa))["reportFinding"]["finding"]
    update = """mutation($input: UpdateFindingInput!) { updateFinding(input: $input) {
        finding { version title } errors { code currentVersion } } }"""

    async def writer(n: int) -> dict[str, Any]:
        body = await api.data(
            update, {"input": {"id": finding["id"], "expectedVersion": 1, "title": f"writer {n}"}}, token=cisa
        )
        return dict(body["updateFinding"])

    # one version read by all: exactly one write can succeed; then writers retry from what they read
    results = await asyncio.gather(*(writer(n) for n in range(50)))
    accepted = [r for r in results if not r["errors"]]
    refused = [r for r in results if r["errors"]]
    assert len(accepted) == 1
    assert all(r["errors"][0]["code"] == "STALE_VERSION" and r["errors"][0]["currentVersion"] >= 2 for r in refused)

    async def retrying_writer(n: int) -> int:
        attempts = 0
        while True:
            attempts += 1
            current = await api.data(
                "query($id: ID!) { node(id: $id) { ... on Finding { version } } }", {"id": finding["id"]}, token=cisa
            )
            body = await api.data(
                update,
                {
                    "input": {
                        "id": finding["id"],
                        "expectedVersion": current["node"]["version"],
                        "title": f"retrying writer {n}",
                    }
                },
                token=cisa,
            )
            if not body["updateFinding"]["errors"]:
                return attempts
            assert body["updateFinding"]["errors"][0]["code"] == "STALE_VERSION"

    await asyncio.gather(*(retrying_writer(n) for n in range(50)))
    con = await db.connect(api.url)
    try:
        _, pk = from_global_id(finding["id"])
        version = await con.fetchval("select version from findings where id = $1", pk)
        titles = [
            r["details"]
            for r in await con.fetch(
                "select details from events where entity_kind = 'FINDING' and entity_id = $1 and action = 'UPDATED'", pk
            )
        ]
    finally:
        await con.close()
    assert version == 1 + 1 + 50  # created, the first race's winner, then every retrying writer once
    assert len(titles) == 51


async def count_rows(url: str) -> tuple[Any, ...]:
    con = await db.connect(url)
    try:
        counts = []
        for table in (
            "findings",
            "cyber_measures",
            "infrastructure_engagements",
            "infrastructure_counterparts",
            "engagement_milestones",
            "measure_findings",
            "engagement_findings",
            "principals",
            "api_tokens",
            "policy",
        ):
            counts.append(await con.fetchval(f"select count(*) from {table}"))
        # the chain's head: the last event's hash (PostgreSQL 15 has no max() of bytea)
        head = "select count(*), max(id), (select hash from events order by id desc limit 1) from events"
        counts.append(tuple(await con.fetchrow(head)))
        counts.append(await con.fetchval("select sum(version) from findings"))
        return tuple(counts)
    finally:
        await con.close()


async def test_hostile_input_is_refused_with_the_field_named_and_nothing_written(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    dod = await api.token(agency="DOD", role="OFFICER")
    finding = await first_id(api, cisa, "{ findings(first: 1, filter: {tlp: [GREEN]}) { edges { node { id } } } }")
    lab_id = await taking_part(api, "OpenAI")
    counterpart = await a_counterpart(api, cisa, "Dam operator (fictional)", "OTHER", "DAMS")
    before = await count_rows(api.url)
    huge = "A" * 10_000
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (dod, PLAN, {"title": huge, "kind": "DETECT", "systemScope": "s", "ownerComponent": "c"}, "input.title"),
        (dod, PLAN, {"title": "t\x07", "kind": "DETECT", "systemScope": "s", "ownerComponent": "c"}, "input.title"),
        (
            dod,
            PLAN,
            {
                "title": "t",
                "kind": "DETECT",
                "systemScope": "s",
                "ownerComponent": "c",
                "findingIds": [to_global_id("Finding", 10**12)],
            },
            "input.findingIds",
        ),
        (
            dod,
            PLAN,
            {"title": "t", "kind": "DETECT", "systemScope": "s", "ownerComponent": "c", "findingIds": [lab_id]},
            "input.findingIds",
        ),
        (
            dod,
            PLAN,
            {
                "title": "t",
                "kind": "DETECT",
                "systemScope": "s",
                "ownerComponent": "c",
                "findingIds": [finding, to_global_id("Finding", 10**12)],
            },
            "input.findingIds",
        ),
        (
            cisa,
            OPEN,
            {
                "title": "t",
                "labId": to_global_id("Lab", 10**9),
                "sector": "DAMS",
                "counterpartId": counterpart,
                "kind": "ADVISORY",
            },
            "input.labId",
        ),
        (
            cisa,
            OPEN,
            {
                "title": "t",
                "labId": lab_id,
                "sector": "DAMS",
                "counterpartId": counterpart,
                "kind": "ADVISORY",
                "milestones": [{"title": ""}],
            },
            "input.milestones[0].title",
        ),
        (
            cisa,
            OPEN,
            {
                "title": "t",
                "labId": lab_id,
                "sector": "DAMS",
                "counterpartId": counterpart,
                "kind": "ADVISORY",
                "tlp": "RED",
            },
            "input.recipientIds",
        ),
        (
            cisa,
            OPEN,
            {
                "title": "t",
                "labId": lab_id,
                "sector": "DAMS",
                "counterpartId": counterpart,
                "kind": "ADVISORY",
                "findingIds": ["%27%3B--"],
            },
            "input.findingIds",
        ),
    ]
    for token, mutation, fields, field in cases:
        body = await api.data(mutation, {"input": fields}, token=token)
        errors = next(iter(body.values()))["errors"]
        assert errors and errors[0]["field"] == field, (fields, errors)
    assert await count_rows(api.url) == before
