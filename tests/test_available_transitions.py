"""`availableTransitions`: the moves a caller may make on a record, from the registry's machine and remits.

For records of every kind with states and principals of different remits (the record's lab's liaison, officers,
analysts and viewers of the owning, named and other agencies), the field lists what is expected, and never lies:
every state it lists, the mutation that makes that move takes on a fresh database (or refuses only the record's
data, never the remit or the machine); every state it does not list, that mutation refuses with FORBIDDEN or
INVALID_TRANSITION."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub import db
from hub.kinds import KINDS
from schema.common import to_global_id
from tests.conftest import Api, Server, _api, clone_database, drop_database, per_worker
from tests.writes import mutation_operation

FETCH = """query($id: ID!) { node(id: $id) { __typename ... on %s { version availableTransitions } } }"""

# The mutation that makes a move to each state (None: no mutation makes it), and what else its input needs.
Extra = Callable[[dict[str, Any]], dict[str, Any]]


def nothing(record: dict[str, Any]) -> dict[str, Any]:
    return {}


MOVES: dict[str, Callable[[str], tuple[str, Extra] | None]] = {
    "LAB": lambda to: ("setLabParticipation", lambda r: {"to": to}),
    "MODEL": lambda to: ("setModelReleaseStatus", lambda r: {"to": to}),
    "AGREEMENT": lambda to: {
        "ACTIVE": ("acceptEarlyAccess", nothing),
        "WITHDRAWN_BY_LAB": ("withdrawEarlyAccess", nothing),
        "TERMINATED": ("terminateEarlyAccess", lambda r: {"reason": "ended early"}),
    }.get(to),
    "STANDARD": lambda to: {
        "IN_REVIEW": ("submitCoverageStandard", nothing),
        "WITHDRAWN": ("withdrawCoverageStandard", nothing),
        "ADOPTED": ("signCoverageStandard", nothing),
    }.get(to),
    "DECISION": lambda to: {
        "UNDER_ASSESSMENT": ("startCoverageAssessment", nothing),
        # decideCoverage signs for the officer's agency: AWAITING_CONCURRENCE, or DECIDED when no other must sign
        "AWAITING_CONCURRENCE": ("decideCoverage", lambda r: {"outcome": r["proposal"], "rationale": "As screened."}),
        "DECIDED": ("decideCoverage", lambda r: {"outcome": r["proposal"], "rationale": "As screened."}),
        # a reconsideration names new evidence: without any it is refused for the record's data (BAD_USER_INPUT)
        "RECONSIDERATION_REQUESTED": (
            "requestCoverageReconsideration",
            lambda r: {"reason": "New evals.", "evidence": []},
        ),
        "WITHDRAWN": ("withdrawCoverageRequest", nothing),
    }.get(to),
    "FINDING": lambda to: (
        "transitionFinding",
        lambda r: {"to": to, **({"duplicateOfId": r["other"]} if to == "DUPLICATE" else {})},
    ),
    "MEASURE": lambda to: (
        "transitionMeasure",
        lambda r: {"to": to, **({"evidence": "Blocked 40 of 40 replays."} if to == "VERIFIED" else {})},
    ),
    "ENGAGEMENT": lambda to: ("transitionEngagement", lambda r: {"to": to}),
    "REQUEST": lambda to: {
        "ACCEPTED": ("answerEarlyAccessRequest", lambda r: {"answer": "ACCEPT", **terms()}),
        "COUNTER_PROPOSED": ("answerEarlyAccessRequest", lambda r: {"answer": "COUNTER_PROPOSE", **terms()}),
        "DECLINED": ("answerEarlyAccessRequest", lambda r: {"answer": "DECLINE"}),
        "WITHDRAWN": ("withdrawEarlyAccessRequest", nothing),
    }.get(to),
}


def terms() -> dict[str, str]:
    """A lab's terms for a preview window: from tomorrow, for 45 days."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=45)).isoformat()}


@dataclass(frozen=True)
class Case:
    """A record (the first row `query` selects: its id, the name of its lab, and maybe `other`, a second record of
    its kind) and what each principal may move it to. A principal is "liaison" (of the record's lab) or
    "AGENCY ROLE"."""

    kind: str
    query: str
    expected: dict[str, list[str]]
    # listed moves that the mutation may still refuse for the record's data (documented in docs/workflows.md)
    data_refusals: frozenset[tuple[str, str]] = frozenset()


CASES = [
    Case(
        "LAB",
        "select id, name as lab from labs where name = 'Anthropic'",
        {"liaison": ["WITHDRAWN"], "CISA OFFICER": [], "DOD OFFICER": []},
    ),
    Case(
        "LAB",
        "select id, name as lab from labs where participation = 'DECLINED' order by name limit 1",
        {"liaison": ["INVITED"], "NIST OFFICER": ["INVITED"], "NIST VIEWER": []},
    ),
    Case(
        "MODEL",
        """select m.id, l.name as lab from frontier_models m join labs l on l.id = m.lab_id
            where m.release_status = 'RESTRICTED_PREVIEW' order by m.id limit 1""",
        {"liaison": ["IN_DEVELOPMENT", "GENERALLY_AVAILABLE", "DEPRECATED"], "CISA OFFICER": [], "DOD VIEWER": []},
    ),
    Case(
        "AGREEMENT",
        """select g.id, l.name as lab from early_access_agreements g join labs l on l.id = g.lab_id
            where g.state = 'ACTIVE' and g.access_end > now() + interval '1 day'
              and (select array_agg(a.code) from agreement_agencies aa join agencies a on a.id = aa.agency_id
                    where aa.agreement_id = g.id) @> array['CISA', 'DOD', 'NSA']
            order by g.id limit 1""",
        {
            "liaison": ["WITHDRAWN_BY_LAB"],
            "CISA OFFICER": ["TERMINATED"],
            "DOD ADMIN": ["TERMINATED"],
            "NSA VIEWER": [],
        },
    ),
    Case(
        "AGREEMENT",
        """select g.id, l.name as lab from early_access_agreements g join labs l on l.id = g.lab_id
            where g.state = 'PROPOSED' and g.access_end > now() + interval '1 day'
              and exists (select 1 from agreement_agencies aa join agencies a on a.id = aa.agency_id
                           where aa.agreement_id = g.id and a.code = 'CISA')
            order by g.id limit 1""",
        {"liaison": ["WITHDRAWN_BY_LAB"], "CISA OFFICER": ["ACTIVE", "TERMINATED"], "CISA ANALYST": []},
    ),
    Case(
        "REQUEST",
        """select r.id, l.name as lab from early_access_requests r join labs l on l.id = r.lab_id
            join agencies a on a.id = r.requesting_agency_id
            where r.state = 'OPEN' and a.code = 'CISA' and l.name = 'Anthropic'
              and (select id from agencies where code = 'NIST') = any(r.agency_ids)
            order by r.id limit 1""",
        {
            "liaison": ["ACCEPTED", "COUNTER_PROPOSED", "DECLINED"],
            "CISA OFFICER": ["WITHDRAWN"],
            "NIST OFFICER": [],
            "CISA ANALYST": [],
        },
    ),
    Case(
        "STANDARD",
        "select id, null as lab from coverage_standards where state = 'IN_REVIEW'",
        {"CISA OFFICER": ["ADOPTED", "WITHDRAWN"], "NIST ADMIN": ["ADOPTED", "WITHDRAWN"], "CISA ANALYST": []},
        # NIST has signed this one already: a second signature is refused as BAD_USER_INPUT
        data_refusals=frozenset({("NIST ADMIN", "ADOPTED")}),
    ),
    Case(
        "STANDARD",
        "select id, null as lab from coverage_standards where state = 'DRAFT'",
        {"NIST OFFICER": ["IN_REVIEW", "WITHDRAWN"], "DOD OFFICER": []},
    ),
    Case(
        "DECISION",
        """select d.id, l.name as lab from coverage_decisions d join frontier_models m on m.id = d.model_id
             join labs l on l.id = m.lab_id where d.state = 'UNDER_ASSESSMENT' order by d.id limit 1""",
        {"liaison": ["WITHDRAWN"], "NIST OFFICER": ["AWAITING_CONCURRENCE", "DECIDED"], "DOD OFFICER": []},
    ),
    Case(
        "DECISION",
        """select d.id, l.name as lab from coverage_decisions d join frontier_models m on m.id = d.model_id
             join labs l on l.id = m.lab_id where d.state = 'DECIDED' order by d.id limit 1""",
        {"liaison": ["RECONSIDERATION_REQUESTED"], "CISA OFFICER": []},
        data_refusals=frozenset({("liaison", "RECONSIDERATION_REQUESTED")}),
    ),
    Case(
        "FINDING",
        """select f.id, l.name as lab,
                  (select o.id from findings o where o.tlp = 'GREEN' and o.id <> f.id order by o.id limit 1) as other
             from findings f join labs l on l.id = f.lab_id join agencies a on a.id = f.owner_agency_id
            where a.code = 'CISA' and f.state = 'TRIAGED' and f.tlp = 'GREEN' order by f.id limit 1""",
        {"liaison": [], "CISA ANALYST": ["VALIDATED", "DUPLICATE", "REJECTED"], "CISA VIEWER": [], "DOD OFFICER": []},
    ),
    Case(
        "MEASURE",
        """select t.id, null as lab from cyber_measures t join agencies a on a.id = t.owner_agency_id
            where a.code = 'DOD' and t.state = 'DEPLOYED' and t.tlp = 'GREEN' order by t.id limit 1""",
        {"DOD OFFICER": ["VERIFIED", "SUSPENDED", "RETIRED"], "DOD ANALYST": [], "CISA OFFICER": []},
    ),
    # not accepted by the lab yet: ACTIVE is not offered (its gates, hub/kinds.py), and refused as the gate says
    Case(
        "ENGAGEMENT",
        """select t.id, l.name as lab from infrastructure_engagements t join labs l on l.id = t.lab_id
             join agencies a on a.id = t.owner_agency_id
            where a.code = 'CISA' and t.state = 'SCOPING' and t.tlp = 'GREEN' and t.lab_accepted_at is null
              and l.participation in ('ENGAGED', 'PARTICIPATING') order by t.id limit 1""",
        {
            "liaison": ["DECLINED", "WITHDRAWN"],
            "CISA OFFICER": ["PAUSED", "DECLINED", "WITHDRAWN"],
            "CISA ANALYST": [],
            "DOD OFFICER": [],
        },
    ),
    # accepted by the lab, the counterpart's consent recorded: ACTIVE is offered, and taken
    Case(
        "ENGAGEMENT",
        """select t.id, l.name as lab from infrastructure_engagements t join labs l on l.id = t.lab_id
             join agencies a on a.id = t.owner_agency_id
            where a.code = 'CISA' and t.state = 'PAUSED' and t.tlp = 'GREEN' and t.lab_accepted_at is not null
              and t.counterpart_consent and l.participation in ('ENGAGED', 'PARTICIPATING') order by t.id limit 1""",
        {
            "liaison": ["WITHDRAWN"],
            "CISA OFFICER": ["ACTIVE", "SCOPING", "WITHDRAWN"],
            "CISA ANALYST": [],
        },
    ),
]


async def token(api: Api, who: str, lab: str | None) -> str:
    if who == "liaison":
        assert lab is not None
        return await api.token(lab=lab, role="LAB_LIAISON")
    agency, role = who.split()
    return await api.token(agency=agency, role=role)


async def move(api: Api, kind: str, record: dict[str, Any], who: str, to: str, version: int) -> tuple[str, str]:
    """Send the mutation that moves the record to `to`, as `who`: ("ok", "") or (how it was refused, its code)."""
    made = MOVES[kind](to)
    assert made is not None
    name, extra = made
    input_ = {"id": record["gid"], "expectedVersion": version, **extra(record)}
    body = await api.query(mutation_operation(name), {"input": input_}, token=await token(api, who, record["lab"]))
    if body.get("errors"):
        return "graphql", str(body["errors"][0]["extensions"]["code"])
    errors = body["data"][name]["errors"]
    return ("ok", "") if not errors else ("payload", str(errors[0]["code"]))


async def on_a_fresh_database(pg_server: Server, name: str, action: Callable[[Api], Any]) -> Any:
    url = await clone_database(pg_server, name)
    try:
        async for api in _api(url):
            return await action(api)
    finally:
        await drop_database(pg_server, name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{next(iter(c.expected.values()), '')}")
async def test_available_transitions_list_exactly_the_moves_the_mutations_take(
    api: Api, pg_server: Server, case: Case
) -> None:
    kind = KINDS[case.kind]
    con = await db.connect(api.url)
    try:
        row = await con.fetchrow(case.query)
    finally:
        await con.close()
    assert row is not None, f"the demo data has no record for {case}"
    record = {
        "gid": str(to_global_id(str(kind.type_name), row["id"])),
        "lab": row["lab"],
        "other": str(to_global_id(str(kind.type_name), row["other"])) if "other" in row else None,
        "proposal": None,
    }
    if case.kind == "DECISION":
        # what a screening of the model proposes: the outcome a decision needs no override reason for
        data = await api.data(
            """query($id: ID!) { node(id: $id) { ... on CoverageDecision {
                 model { id } standard { id } } } }""",
            {"id": record["gid"]},
            token=await token(api, "CISA OFFICER", None),
        )
        screened = await api.data(
            "query($m: ID!, $s: ID) { coverageScreening(modelId: $m, standardId: $s) { proposedOutcome } }",
            {"m": data["node"]["model"]["id"], "s": data["node"]["standard"]["id"]},
            token=await token(api, "CISA OFFICER", None),
        )
        record["proposal"] = screened["coverageScreening"]["proposedOutcome"]
    seen: dict[str, tuple[int, list[str]]] = {}
    for who, expected in case.expected.items():
        data = await api.data(FETCH % kind.type_name, {"id": record["gid"]}, token=await token(api, who, record["lab"]))
        assert data["node"] is not None, f"{who} cannot see the record"
        assert data["node"]["availableTransitions"] == expected, who
        seen[who] = (data["node"]["version"], expected)

    for who, (version, listed) in seen.items():
        state = (await current_state(api, case.kind, row["id"]))[0]
        for to in kind.states:
            if to == state or MOVES[case.kind](to) is None:
                continue  # not a move, or one no mutation makes (the hub's, or none yet)
            if to in listed:
                continue
            # refusals write nothing: they share this database
            outcome = await move(api, case.kind, record, who, to, version)
            # a move the machine and the remit allow but the record's data does not yet: refused as its gate says
            gated = {("payload", gate.code) for gate in kind.gates.get(to, ())}
            allowed = {("graphql", "FORBIDDEN"), ("payload", "INVALID_TRANSITION"), *gated}
            assert outcome in allowed, (who, to, outcome)
        assert await current_state(api, case.kind, row["id"]) == (state, version)

    for n, (who, (version, listed)) in enumerate(seen.items()):
        for to in listed:
            # each listed move on a database of its own, as the record was
            outcome = await on_a_fresh_database(
                pg_server,
                per_worker(f"hub_test_moves_{case.kind.lower()}_{row['id']}_{n}_{to.lower()}"),
                lambda fresh, who=who, to=to, version=version: move(fresh, case.kind, record, who, to, version),
            )
            if (who, to) in case.data_refusals:
                assert outcome == ("payload", "BAD_USER_INPUT"), (who, to, outcome)
            else:
                assert outcome == ("ok", ""), (who, to, outcome)


async def current_state(api: Api, kind: str, pk: int) -> tuple[str, int]:
    registered = KINDS[kind]
    con = await db.connect(api.url)
    try:
        row = await con.fetchrow(
            f"select {registered.state_column} as state, version from {registered.table} where id = $1", pk
        )
        assert row is not None
        return str(row["state"]), int(row["version"])
    finally:
        await con.close()


async def test_the_hub_s_own_moves_and_invisible_records_list_nothing(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    nist = await api.token(agency="NIST", role="OFFICER")
    con = await db.connect(api.url)
    try:
        adopted = await con.fetchval("select id from coverage_standards where state = 'ADOPTED'")
        # an agreement that does not name NIST, which NIST cannot see
        hidden = await con.fetchval(
            """select g.id from early_access_agreements g where g.state = 'ACTIVE' and not exists (
                 select 1 from agreement_agencies aa join agencies a on a.id = aa.agency_id
                  where aa.agreement_id = g.id and a.code = 'NIST') order by g.id limit 1"""
        )
    finally:
        await con.close()
    # ADOPTED -> SUPERSEDED is the hub's move, when a newer standard is adopted
    data = await api.data(FETCH % "CoverageStandard", {"id": to_global_id("CoverageStandard", adopted)}, token=cisa)
    assert data["node"]["availableTransitions"] == []
    data = await api.data(
        FETCH % "EarlyAccessAgreement", {"id": to_global_id("EarlyAccessAgreement", hidden)}, token=nist
    )
    assert data["node"] is None
    # on a page of records, one statement per kind answers every record's field
    page = await api.query(
        "{ findings(first: 20, filter: {state: [TRIAGED]}) { nodes { state availableTransitions } } }", token=cisa
    )
    assert "errors" not in page
    assert page["extensions"]["sqlStatements"] == 2  # the page, then the facts of all its findings
    nodes = page["data"]["findings"]["nodes"]
    assert nodes and all(n["availableTransitions"] in ([], ["VALIDATED", "DUPLICATE", "REJECTED"]) for n in nodes)
    assert any(n["availableTransitions"] for n in nodes)
