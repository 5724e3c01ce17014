"""Participation (docs/design.md, "Participation"): every write that acts for a lab is refused with
LAB_NOT_PARTICIPATING while the lab is INVITED, DECLINED or WITHDRAWN, and allowed again once it has chosen to take
part; an agency's own records about a model, the lab's release status and every withdrawal stay allowed; a lab's
leaving closes everything it had open, in one transaction, each record with its event and a neutral reason; an
agency records a model its lab has publicly released, which the lab corrects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from hub import db
from hub.auth import Principal, authenticate
from hub.kinds import KINDS
from hub.participation import CLOSED_ACTION, CLOSED_WHEN_THE_LAB_LEAVES, check_taking_part
from hub.store.base import bind_principal
from hub.store.coverage import request_reconsideration
from hub.summaries import BY_TABLE
from hub.workflow import lock_visible, transition
from schema import schema
from schema.common import from_global_id, to_global_id
from tests.conftest import Api
from tests.writes import mutation_operation, write_snapshot

MUTATIONS = sorted(schema._schema.mutation_type.fields) if schema._schema.mutation_type else []

# Every mutation of the schema, classified: a new one fails test_every_mutation_is_classified until it is put in
# one of these. Acting for a lab: it registers, requests or starts something for a lab (whoever sends it), and is
# refused while the lab does not take part; each has its senders below.
ACTING_FOR_THE_LAB = {
    "registerModel",
    "updateModel",
    "recordPublicModel",
    "requestCoverageDetermination",
    "requestCoverageReconsideration",
    "reportComputeEstimate",  # a liaison's; an agency's estimate is the agency's own record
    "recordEvaluationResult",  # likewise
    "offerEarlyAccess",
    "openEngagement",
    "requestEarlyAccess",
    "answerEarlyAccessRequest",
    "acceptEngagement",
    "reportFinding",  # a liaison's, about the lab's own model; an agency's report is the agency's own record
}
# Not acting for a lab, and why.
NOT_ACTING_FOR_THE_LAB = {
    # the lab's own choices, always open to it
    "setLabParticipation": "the lab's own participation: how it chooses",
    "setModelReleaseStatus": "the lab's own release status, a public fact the lab may always record",
    "withdrawEarlyAccess": "a withdrawal by the lab",
    "withdrawCoverageRequest": "a withdrawal by the lab",
    "transitionEngagement": "the lab's decline or withdrawal, or CISA's move of an engagement the lab's leaving "
    "has closed (nothing open is left to move)",
    # the agencies' invitation and their own records about a model
    "registerLab": "the invitation itself: the lab starts INVITED",
    "updateLab": "the record of the invitation (name, country, website)",
    "designateModel": "the designating agency's own record",
    "withdrawDesignation": "the designating agency's own record",
    "takeOverFinding": "the agency taking a finding over makes it its own record",
    "withdrawEarlyAccessRequest": "a withdrawal by the asking agency",
    "removeEarlyAccessAgency": "the lab ending an agreement for one agency: a withdrawal by the lab",
    "registerInfrastructureCounterpart": "CISA's own record of a counterpart, about no lab",
    "updateInfrastructureCounterpart": "CISA's own record of a counterpart, about no lab",
    "recordCounterpartConsent": "CISA's record of the counterpart's word, which starts nothing for the lab",
    "updateFinding": "the owning agency's own record",
    "transitionFinding": "the owning agency's own record",
    "shareFinding": "the owning agency's own record",
    "planMeasure": "DoD's own record",
    "updateMeasure": "DoD's own record",
    "transitionMeasure": "DoD's own record",
    "updateEngagement": "CISA's own record of an engagement",
    "addEngagementMilestone": "CISA's own record of an engagement",
    "completeEngagementMilestone": "CISA's own record of an engagement",
    "registerEvaluationSuite": "the register of suites, about no lab",
    # moves on what the lab opened: its leaving closes these, so nothing is left to move
    "acceptEarlyAccess": "an agreement the lab offered; closed when the lab leaves",
    "terminateEarlyAccess": "an agency ending an agreement",
    "startCoverageAssessment": "a request the lab (or an agency for it) opened; closed when the lab leaves",
    "rescreenCoverage": "likewise",
    "decideCoverage": "likewise",
    "concurCoverageDecision": "likewise",
    "objectToCoverageDecision": "likewise",
    # the program's own
    "draftCoverageStandard": "the program's standard",
    "submitCoverageStandard": "the program's standard",
    "signCoverageStandard": "the program's standard (its adoption carries requests over only for labs taking part)",
    "withdrawCoverageStandard": "the program's standard",
    "updatePolicy": "the program's policy",
    "concurPolicyChange": "the program's policy",
    "withdrawPolicyChange": "the program's policy",
    "createToken": "an agency's principals",
    "revokeToken": "an agency's principals",
    # a webhook endpoint receives what its owner may see already; registering one starts nothing for a lab
    "registerWebhook": "the owner's own receiver of what it may see (an agency's, or a lab's own)",
    "updateWebhook": "the owner's own receiver",
    "rotateWebhookSecret": "the owner's own receiver",
    "transitionWebhook": "the owner's own receiver",
    "redeliverWebhook": "the owner's own receiver",
}

TODAY = date.today().isoformat()


# ------------------------------------------------------------------------------------------------ helpers


async def sql(api: Api, query: str, *args: Any) -> list[dict[str, Any]]:
    con = await db.connect(api.url)
    try:
        return [dict(r) for r in await con.fetch(query, *args)]
    finally:
        await con.close()


async def one(api: Api, query: str, *args: Any) -> Any:
    rows = await sql(api, query, *args)
    assert len(rows) == 1, (query, rows)
    return next(iter(rows[0].values())) if len(rows[0]) == 1 else rows[0]


async def send(api: Api, name: str, token: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The payload of mutation `name` (its record's id, and its errors); never a GraphQL error."""
    body = await api.query(mutation_operation(name, "id"), {"input": fields}, token=token)
    assert "errors" not in body, (name, body)
    return dict(body["data"][name])


async def ok(api: Api, name: str, token: str, fields: dict[str, Any]) -> str:
    """The global id of what an accepted mutation wrote."""
    payload = await send(api, name, token, fields)
    assert payload["errors"] == [], (name, fields, payload)
    record = next(v for k, v in payload.items() if k != "errors")
    return str(record["id"])


def pk(global_id: str) -> int:
    return from_global_id(global_id)[1]


async def version(api: Api, kind: str, global_id: str) -> int:
    return int(await one(api, f"select version from {KINDS[kind].table} where id = $1", pk(global_id)))


def window() -> dict[str, str]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=10)).isoformat()}


@dataclass
class Lab:
    """A lab of the test's own, its liaison, and the records the senders name."""

    api: Api
    name: str
    id: str
    liaison: str
    records: dict[str, str] = field(default_factory=dict)
    serial: int = 0

    def next(self) -> int:
        self.serial += 1
        return self.serial

    async def move(self, to: str, token: str | None = None) -> dict[str, Any]:
        return await send(
            self.api,
            "setLabParticipation",
            token or self.liaison,
            {"id": self.id, "to": to, "expectedVersion": await version(self.api, "LAB", self.id)},
        )

    async def model(self, name: str) -> str:
        return await ok(self.api, "registerModel", self.liaison, {"labId": self.id, "name": name, "modality": "TEXT"})


async def new_lab(api: Api, name: str, *, to: tuple[str, ...] = ("ENGAGED",)) -> Lab:
    """A fictional lab invited by CISA, moved by its liaison along `to`."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    lab_id = await ok(api, "registerLab", cisa, {"name": name, "country": "US"})
    lab = Lab(api, name, lab_id, await api.token(lab=name, role="LAB_LIAISON"))
    for state in to:
        assert (await lab.move(state))["errors"] == []
    return lab


async def officer(api: Api, code: str = "CISA") -> str:
    return await api.token(agency=code, role="OFFICER")


async def awaiting(api: Api, lab: Lab, model: str) -> str:
    """A coverage decision on the model, on the lab's request, signed by CISA with the screening's outcome and
    awaiting NIST's concurrence (the demo's adopted standard needs both)."""
    decision = await ok(api, "requestCoverageDetermination", lab.liaison, {"modelId": model})
    cisa = await officer(api)
    await ok(api, "startCoverageAssessment", cisa, {"id": decision, "expectedVersion": 1})
    proposed = await one(
        api,
        """select s.proposed_outcome from coverage_decisions d
             join coverage_screenings s on s.id = d.latest_screening_id where d.id = $1""",
        pk(decision),
    )
    await ok(
        api,
        "decideCoverage",
        cisa,
        {"id": decision, "expectedVersion": 2, "outcome": proposed, "rationale": "as screened"},
    )
    assert await one(api, "select state from coverage_decisions where id = $1", pk(decision)) == "AWAITING_CONCURRENCE"
    return decision


async def decided(api: Api, lab: Lab, model: str) -> str:
    """A coverage decision in effect (DECIDED) on the model, on the lab's request, its outcome the screening's."""
    decision = await awaiting(api, lab, model)
    await ok(
        api,
        "concurCoverageDecision",
        await officer(api, "NIST"),
        {"id": decision, "expectedVersion": await version(api, "DECISION", decision)},
    )
    assert await one(api, "select state from coverage_decisions where id = $1", pk(decision)) == "DECIDED"
    return decision


# ------------------------------------------------------------------------------------------------ the senders

# One write acting for the lab: (its mutation, the input field naming the lab or its record, its token and input).
Sender = Callable[[Lab], Awaitable[tuple[str, dict[str, Any]]]]


async def register_model(lab: Lab) -> tuple[str, dict[str, Any]]:
    return lab.liaison, {"labId": lab.id, "name": f"Registered {lab.next()}", "modality": "TEXT"}


async def update_model(lab: Lab) -> tuple[str, dict[str, Any]]:
    model = lab.records["model"]
    return lab.liaison, {
        "id": model,
        "expectedVersion": await version(lab.api, "MODEL", model),
        "description": f"described {lab.next()}",
    }


async def record_public_model(lab: Lab) -> tuple[str, dict[str, Any]]:
    return await officer(lab.api, "DOD"), {
        "labId": lab.id,
        "name": f"Announced {lab.next()}",
        "modality": "TEXT",
        "releaseStatus": "GENERALLY_AVAILABLE",
        "sourceUrl": "https://lab.example/news/announced",
    }


async def request_by_the_lab(lab: Lab) -> tuple[str, dict[str, Any]]:
    return lab.liaison, {"modelId": lab.records["requested by the lab"]}


async def request_by_an_agency(lab: Lab) -> tuple[str, dict[str, Any]]:
    return await officer(lab.api, "NIST"), {"modelId": lab.records["requested by an agency"]}


async def reconsideration(lab: Lab) -> tuple[str, dict[str, Any]]:
    decision = lab.records["decision"]
    return lab.liaison, {
        "id": decision,
        "expectedVersion": await version(lab.api, "DECISION", decision),
        "reason": "new evidence",
        "evidence": [lab.records["estimate"]],
    }


async def estimate_by_the_lab(lab: Lab) -> tuple[str, dict[str, Any]]:
    return lab.liaison, {"modelId": lab.records["model"], "preTraining": {"low": "1e25", "high": "2e25"}}


async def result_by_the_lab(lab: Lab) -> tuple[str, dict[str, Any]]:
    return lab.liaison, {
        "modelId": lab.records["model"],
        "suiteId": lab.records["suite"],
        "score": "50",
        "unit": "PERCENT",
        "ranOn": TODAY,
        "modelVersion": f"v{lab.next()}",
        "evidenceRef": "lab report",
    }


async def offer(lab: Lab) -> tuple[str, dict[str, Any]]:
    cisa = await one(lab.api, "select id from agencies where code = 'CISA'")
    return lab.liaison, {
        "modelId": lab.records["model"],
        "agencyIds": [str(to_global_id("Agency", cisa))],
        "accessKinds": ["API"],
        **window(),
    }


async def counterpart(api: Api) -> str:
    """A fictional counterpart CISA registered, for the engagements the tests open."""
    return await ok(
        api,
        "registerInfrastructureCounterpart",
        await officer(api),
        {
            "name": f"Participation utility {uuid4().hex[:8]} (fictional)",
            "kind": "ELECTRIC_UTILITY",
            "sector": "ENERGY",
        },
    )


async def engagement(lab: Lab) -> tuple[str, dict[str, Any]]:
    return await officer(lab.api), {
        "title": f"Engagement {lab.next()} (fictional)",
        "labId": lab.id,
        "sector": "ENERGY",
        "counterpartId": await counterpart(lab.api),
        "kind": "ADVISORY",
        "tlp": "GREEN",
    }


async def fresh_or_kept(lab: Lab, name: str, key: str, sent: tuple[str, dict[str, Any]]) -> str:
    """A new record of mutation `name` while the lab takes part (each sending needs one still open), else the one
    kept under `key` (its leaving closed it; the participation check comes first all the same)."""
    token, fields = sent
    payload = await send(lab.api, name, token, fields)
    if payload["errors"]:
        return lab.records[key]
    return str(next(v for k, v in payload.items() if k != "errors")["id"])


async def ask(lab: Lab) -> tuple[str, dict[str, Any]]:
    return await officer(lab.api, "NIST"), {"modelId": lab.records["model"], "accessKinds": ["API"]}


async def request_early_access(lab: Lab) -> tuple[str, dict[str, Any]]:
    token, fields = await ask(lab)
    return await officer(lab.api, "DOE"), fields


async def answer(lab: Lab) -> tuple[str, dict[str, Any]]:
    request = await fresh_or_kept(lab, "requestEarlyAccess", "request", await ask(lab))
    return lab.liaison, {
        "id": request,
        "expectedVersion": await version(lab.api, "REQUEST", request),
        "answer": "DECLINE",
    }


async def accept_engagement(lab: Lab) -> tuple[str, dict[str, Any]]:
    proposed = await fresh_or_kept(lab, "openEngagement", "engagement", await engagement(lab))
    return lab.liaison, {"id": proposed, "expectedVersion": await version(lab.api, "ENGAGEMENT", proposed)}


async def finding_by_the_lab(lab: Lab) -> tuple[str, dict[str, Any]]:
    return lab.liaison, {
        "title": f"A flaw the model found {lab.next()} (fictional)",
        "modelId": lab.records["model"],
        "discoveredBy": "MODEL",
    }


# (mutation, the field a refusal names, the sender)
SENDERS: list[tuple[str, str, Sender]] = [
    ("registerModel", "input.labId", register_model),
    ("updateModel", "input.id", update_model),
    ("recordPublicModel", "input.labId", record_public_model),
    ("requestCoverageDetermination", "input.modelId", request_by_the_lab),
    ("requestCoverageDetermination", "input.modelId", request_by_an_agency),
    ("requestCoverageReconsideration", "input.id", reconsideration),
    ("reportComputeEstimate", "input.modelId", estimate_by_the_lab),
    ("recordEvaluationResult", "input.modelId", result_by_the_lab),
    ("offerEarlyAccess", "input.modelId", offer),
    ("openEngagement", "input.labId", engagement),
    ("requestEarlyAccess", "input.modelId", request_early_access),
    ("answerEarlyAccessRequest", "input.id", answer),
    ("acceptEngagement", "input.id", accept_engagement),
    ("reportFinding", "input.modelId", finding_by_the_lab),
]


def test_every_mutation_is_classified() -> None:
    """A mutation acts for a lab or not, and says why not: a new one fails here until it is classified (and, acting
    for a lab, has a sender below and its participation check)."""
    assert not ACTING_FOR_THE_LAB & set(NOT_ACTING_FOR_THE_LAB)
    assert set(MUTATIONS) == ACTING_FOR_THE_LAB | set(NOT_ACTING_FOR_THE_LAB)
    assert {name for name, _, _ in SENDERS} == ACTING_FOR_THE_LAB


async def lab_with_records(api: Api, name: str) -> Lab:
    """An ENGAGED lab with what the senders name: a model, its estimate, a suite, two models to request coverage
    on, and a decision in effect to answer."""
    lab = await new_lab(api, name)
    lab.records["model"] = await lab.model("Participation probe")
    lab.records["requested by the lab"] = await lab.model("Requested by the lab")
    lab.records["requested by an agency"] = await lab.model("Requested by an agency")
    lab.records["suite"] = await ok(
        api,
        "registerEvaluationSuite",
        await api.token(agency="CISA", role="ANALYST"),
        {"name": f"{name} suite", "suiteVersion": "1", "capabilityArea": "CYBER_OFFENSE", "scoreUnit": "PERCENT"},
    )
    answered = await lab.model("Decided")
    lab.records["decision"] = await decided(api, lab, answered)
    # the evidence a reconsideration names, about the decision's model
    lab.records["estimate"] = await ok(
        api, "reportComputeEstimate", lab.liaison, {"modelId": answered, "preTraining": {"low": "4e25"}}
    )
    # a request to answer and an engagement to accept, open until the lab leaves
    token, fields = await ask(lab)
    lab.records["request"] = await ok(api, "requestEarlyAccess", token, fields)
    token, fields = await engagement(lab)
    lab.records["engagement"] = await ok(api, "openEngagement", token, fields)
    return lab


async def refused_while_not_taking_part(api: Api, lab: Lab, state: str) -> None:
    """Every sender refused with LAB_NOT_PARTICIPATING naming its field and the lab's state; nothing written."""
    sent = [(name, field_name, *await sender(lab)) for name, field_name, sender in SENDERS]
    # the senders' tokens exist now: the snapshot starts after them
    before = await write_snapshot(api.url)
    for name, field_name, token, fields in sent:
        payload = await send(api, name, token, fields)
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field_name, "LAB_NOT_PARTICIPATING")], (
            name,
            state,
            payload,
        )
        assert f"is {state} in the program" in payload["errors"][0]["message"], payload
    assert await write_snapshot(api.url) == before, "a refused write wrote"


async def test_a_lab_not_taking_part_has_nothing_written_for_it_until_it_chooses_to(api: Api) -> None:
    lab = await lab_with_records(api, "Declining Lab (fictional)")
    declined = await lab.move("DECLINED")
    assert declined["errors"] == [], declined

    await refused_while_not_taking_part(api, lab, "DECLINED")

    # what stays open: the lab's release status, its withdrawals, the agencies' own records about its model
    model = lab.records["model"]
    await ok(
        api,
        "setModelReleaseStatus",
        lab.liaison,
        {"id": model, "to": "RESTRICTED_PREVIEW", "expectedVersion": await version(api, "MODEL", model)},
    )
    await ok(
        api,
        "reportComputeEstimate",
        await api.token(agency="NIST", role="ANALYST"),
        {"modelId": model, "preTraining": {"low": "5e25"}, "methodNote": "from public reporting"},
    )
    await ok(api, "designateModel", await officer(api, "DOD"), {"modelId": model, "reason": "cyber capability"})
    await ok(
        api,
        "reportFinding",
        await api.token(agency="CISA", role="ANALYST"),
        {"title": "A flaw seen in the model's output (fictional)", "modelId": model, "cvss": {"baseScore": 5.0}},
    )
    # the decision in effect stands (it is a fact about the model under the standard)
    assert await one(api, "select state from coverage_decisions where id = $1", pk(lab.records["decision"])) == (
        "DECIDED"
    )

    # invited again (by CISA): still not chosen, still refused
    invited = await lab.move("INVITED", await officer(api))
    assert invited["errors"] == [], invited
    await refused_while_not_taking_part(api, lab, "INVITED")

    # the lab chooses to take part: every write is accepted again
    assert (await lab.move("ENGAGED"))["errors"] == []
    for name, _, sender in SENDERS:
        token, fields = await sender(lab)
        await ok(api, name, token, fields)


# ------------------------------------------------------------------------------------------------ leaving

EXCLUDED_TABLES = {
    # per-request counters of the rate limiter, written by every request whatever it does
    "rate_limits",
    "schema_migrations",
    # the counts of the summary tables, which follow the records' rows (tests/test_summaries.py holds each equal to
    # recounting its table after writes of every kind)
    *BY_TABLE,
}


async def every_row(api: Api) -> dict[str, dict[str, str]]:
    """Every row of every table, by its id (or, in a table without one, by its whole text), as text."""
    con = await db.connect(api.url)
    try:
        tables = [
            r["tablename"]
            for r in await con.fetch("select tablename from pg_tables where schemaname = 'public' order by 1")
            if r["tablename"] not in EXCLUDED_TABLES
        ]
        with_id = {
            r["table_name"]
            for r in await con.fetch(
                "select table_name from information_schema.columns where table_schema = 'public' and column_name = 'id'"
            )
        }
        out = {}
        for table in tables:
            key = "t.id::text" if table in with_id else "t::text"
            rows = await con.fetch(f"select {key} as key, t::text as row from {table} t")
            out[table] = {r["key"]: r["row"] for r in rows}
        return out
    finally:
        await con.close()


def changes(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> dict[str, dict[str, set[str]]]:
    """Per table with a difference: the keys of rows added, removed and changed."""
    out = {}
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table, {}), after.get(table, {})
        diff = {
            "added": set(a) - set(b),
            "removed": set(b) - set(a),
            "changed": {k for k in set(a) & set(b) if a[k] != b[k]},
        }
        if any(diff.values()):
            out[table] = diff
    return out


async def test_a_lab_leaving_closes_everything_it_had_open_in_one_transaction(api: Api) -> None:
    lab = await new_lab(api, "Leaving Lab (fictional)", to=("ENGAGED", "PARTICIPATING"))
    cisa = await officer(api)
    models = {name: await lab.model(name) for name in ("Offered", "Accepted", "Withdrawn")}
    offered, accepted = models["Offered"], models["Accepted"]
    agreements = {}
    for name, model in models.items():
        lab.records["model"] = model
        token, fields = await offer(lab)
        agreements[name] = await ok(api, "offerEarlyAccess", token, fields)
    await ok(api, "acceptEarlyAccess", cisa, {"id": agreements["Accepted"], "expectedVersion": 1})
    await ok(api, "withdrawEarlyAccess", lab.liaison, {"id": agreements["Withdrawn"], "expectedVersion": 1})

    engagements = {}
    for name in ("Proposed", "Scoping", "Declined"):
        token, fields = await engagement(lab)
        engagements[name] = await ok(api, "openEngagement", token, fields)
    await ok(api, "transitionEngagement", cisa, {"id": engagements["Scoping"], "to": "SCOPING", "expectedVersion": 1})
    await ok(
        api,
        "transitionEngagement",
        lab.liaison,
        {"id": engagements["Declined"], "to": "DECLINED", "expectedVersion": 1},
    )

    # early-access requests: one awaiting the lab's answer, one awaiting the agency's word on the lab's terms (its
    # counter-proposal a PROPOSED agreement, closed as the lab's other offers are), one the lab declined
    asked = {"modelId": offered, "accessKinds": ["API"]}
    opened = await ok(api, "requestEarlyAccess", await officer(api, "NIST"), asked)
    countered = await ok(api, "requestEarlyAccess", await officer(api, "DOE"), asked)
    await ok(
        api,
        "answerEarlyAccessRequest",
        lab.liaison,
        {"id": countered, "expectedVersion": 1, "answer": "COUNTER_PROPOSE", **window()},
    )
    counter_proposal = to_global_id(
        "EarlyAccessAgreement",
        await one(api, "select id from early_access_agreements where request_id = $1", pk(countered)),
    )
    declined_request = await ok(api, "requestEarlyAccess", await officer(api, "DOD"), asked)
    await ok(
        api,
        "answerEarlyAccessRequest",
        lab.liaison,
        {"id": declined_request, "expectedVersion": 1, "answer": "DECLINE"},
    )

    requested = await ok(api, "requestCoverageDetermination", lab.liaison, {"modelId": offered})
    in_effect = await decided(api, lab, accepted)
    signed = await awaiting(api, lab, models["Withdrawn"])
    # the lab withdraws a request awaiting concurrence itself too (its pending round of signatures cleared)
    withdrawn_by_the_lab = await awaiting(api, lab, await lab.model("Withdrawn by the lab"))
    await ok(
        api,
        "withdrawCoverageRequest",
        lab.liaison,
        {"id": withdrawn_by_the_lab, "expectedVersion": await version(api, "DECISION", withdrawn_by_the_lab)},
    )

    open_records = {
        "REQUEST": {opened: "OPEN", countered: "COUNTER_PROPOSED"},
        "AGREEMENT": {
            agreements["Offered"]: "PROPOSED",
            agreements["Accepted"]: "ACTIVE",
            str(counter_proposal): "PROPOSED",
        },
        "ENGAGEMENT": {engagements["Proposed"]: "PROPOSED", engagements["Scoping"]: "SCOPING"},
        "DECISION": {requested: "REQUESTED", signed: "AWAITING_CONCURRENCE"},
    }
    last_event = await one(api, "select max(id) from events")
    before = await every_row(api)

    left = await lab.move("WITHDRAWN")
    assert left["errors"] == [], left

    after = await every_row(api)
    expected_changes = {
        "labs": {str(pk(lab.id))},
        "early_access_requests": {str(pk(g)) for g in open_records["REQUEST"]},
        "early_access_agreements": {str(pk(g)) for g in open_records["AGREEMENT"]},
        "infrastructure_engagements": {str(pk(g)) for g in open_records["ENGAGEMENT"]},
        "coverage_decisions": {str(pk(g)) for g in open_records["DECISION"]},
    }
    found = changes(before, after)
    assert set(found) == {*expected_changes, "events"}, found
    for table, keys in expected_changes.items():
        assert found[table] == {"added": set(), "removed": set(), "changed": keys}, (table, found[table])
    # the lab's move and one event per closed record, nothing else
    assert found["events"]["removed"] == found["events"]["changed"] == set()
    assert len(found["events"]["added"]) == 1 + sum(len(r) for r in open_records.values())

    # one transaction: the lab's row, every closed record and every new event
    xids = set()
    for kind, table in (("LAB", "labs"), *((k, KINDS[k].table) for k in open_records)):
        ids = [pk(lab.id)] if kind == "LAB" else [pk(g) for g in open_records[kind]]
        xids |= {r["x"] for r in await sql(api, f"select xmin::text as x from {table} where id = any($1)", ids)}
    xids |= {r["x"] for r in await sql(api, "select xmin::text as x from events where id > $1", last_event)}
    assert len(xids) == 1, xids

    # each closed record: its state, and its own event with the neutral reason, by the lab's liaison
    today = await one(api, "select (now() at time zone 'UTC')::date::text")
    reason = f"the lab withdrew from the program on {today}"
    targets = {kind: to for kind, _, to in CLOSED_WHEN_THE_LAB_LEAVES}
    for kind, records in open_records.items():
        table, column = KINDS[kind].table, KINDS[kind].state_column
        for record, was in records.items():
            assert await one(api, f"select {column} from {table} where id = $1", pk(record)) == targets[kind]
            events = await sql(
                api,
                """select action, from_state, to_state, reason, actor_lab_id, details from events
                    where entity_kind = $1 and entity_id = $2 and id > $3""",
                kind,
                pk(record),
                last_event,
            )
            assert events == [
                {
                    "action": CLOSED_ACTION,
                    "from_state": was,
                    "to_state": targets[kind],
                    "reason": reason,
                    "actor_lab_id": pk(lab.id),
                    "details": {"labParticipation": "WITHDRAWN"},
                }
            ], (kind, events)
    # what was ended already, and the decision in effect, stand
    for kind, record, state in (
        ("AGREEMENT", agreements["Withdrawn"], "WITHDRAWN_BY_LAB"),
        ("ENGAGEMENT", engagements["Declined"], "DECLINED"),
        ("DECISION", in_effect, "DECIDED"),
        ("DECISION", withdrawn_by_the_lab, "WITHDRAWN"),
        ("REQUEST", declined_request, "DECLINED"),
    ):
        assert await one(api, f"select state from {KINDS[kind].table} where id = $1", pk(record)) == state

    # nothing new for it now; the lab rejoins by its own moves (WITHDRAWN -> INVITED -> ENGAGED) and may write again
    lab.records["model"] = offered
    token, fields = await register_model(lab)
    assert (await send(api, "registerModel", token, fields))["errors"][0]["code"] == "LAB_NOT_PARTICIPATING"
    assert (await lab.move("INVITED"))["errors"] == []
    assert (await send(api, "registerModel", token, fields))["errors"][0]["code"] == "LAB_NOT_PARTICIPATING"
    assert (await lab.move("ENGAGED"))["errors"] == []
    await ok(api, "registerModel", token, fields)
    await ok(api, "requestCoverageDetermination", lab.liaison, {"modelId": offered})


def test_the_leaving_table_moves_each_kind_through_its_machine() -> None:
    """Each row of CLOSED_WHEN_THE_LAB_LEAVES: a kind with a lab, states its machine may move to the target from;
    agreements and engagements close every state that is not final (a new state is closed or the test says so)."""
    for kind, states, to in CLOSED_WHEN_THE_LAB_LEAVES:
        k = KINDS[kind]
        assert k.lab_column or k.lab_sql, kind
        assert states <= k.sources(to), (kind, states - k.sources(to))
        if kind in ("AGREEMENT", "ENGAGEMENT"):
            assert states == set(k.states) - k.final, kind


Rest = Callable[[], Awaitable[None]] | None


async def reconsider(con: asyncpg.Connection, principal: Principal, decision: int, estimate: int) -> Rest:
    """The lab's reconsideration as the mutation runs it, whole: it has recorded its event (the events' chain lock,
    held to commit, orders it before any later writer too) and its screening names the lab."""
    row = await con.fetchrow("select version from coverage_decisions where id = $1", decision)
    evidence = [("COMPUTE_ESTIMATE", estimate)]
    await request_reconsideration(con, principal, decision, row["version"], "new evidence", evidence)
    return None


async def reopen(con: asyncpg.Connection, principal: Principal, decision: int, estimate: int) -> Rest:
    """A write between its participation check and its first write: only the check's FOR SHARE on the lab's row
    orders it before the leaving. Returns the rest of it (the move), run once the leaving waits."""
    lab_id = await con.fetchval(
        "select m.lab_id from coverage_decisions d join frontier_models m on m.id = d.model_id where d.id = $1",
        decision,
    )
    await check_taking_part(con, lab_id, field="input.id", doing="requested")

    async def rest() -> None:
        row = await lock_visible(con, principal, "DECISION", decision)
        await transition(con, principal, "DECISION", row, "RECONSIDERATION_REQUESTED", reason="new evidence")

    return rest


@pytest.mark.parametrize("write", [reconsider, reopen])
async def test_a_write_that_passed_the_check_commits_first_and_is_closed_by_the_leaving(
    api: Api, write: Callable[[asyncpg.Connection, Principal, int, int], Awaitable[Rest]]
) -> None:
    """Two connections: a write for the lab (reopening a decision in effect) has passed the participation check
    (the lab's row FOR SHARE) and not committed; the lab's leaving waits for it (FOR UPDATE on the lab's row), then
    closes the reopened request too. Without the lab's row between them, the leaving would run between the check
    and the write (`reopen`), find the request still DECIDED, and leave it open for a lab that left."""
    lab = await new_lab(api, f"Racing Lab {write.__name__} (fictional)", to=("ENGAGED", "PARTICIPATING"))
    model = await lab.model("Raced")
    decision = await decided(api, lab, model)
    estimate = await ok(api, "reportComputeEstimate", lab.liaison, {"modelId": model, "preTraining": {"low": "6e25"}})
    con = await db.connect(api.url)
    watcher = await db.connect(api.url)
    try:
        principal = await authenticate(con, lab.liaison)
        assert principal is not None
        transaction = con.transaction()
        await transaction.start()
        await bind_principal(con, principal)
        rest = await write(con, principal, pk(decision), pk(estimate))
        leaving = asyncio.create_task(lab.move("WITHDRAWN"))
        # the leaving waits for the write
        waiting = 0
        for _ in range(200):
            waiting = await watcher.fetchval(
                """select count(*) from pg_stat_activity
                    where datname = current_database() and wait_event_type = 'Lock' and state = 'active'"""
            )
            if waiting or leaving.done():
                break
            await asyncio.sleep(0.05)
        assert waiting == 1 and not leaving.done(), (waiting, leaving.done())
        if rest is not None:
            await rest()
        await transaction.commit()
        left = await asyncio.wait_for(leaving, 30)
        assert left["errors"] == [], left
    finally:
        await con.close()
        await watcher.close()
    closed = await sql(
        api,
        """select d.state, e.action, e.from_state, e.reason from coverage_decisions d
             join events e on e.entity_kind = 'DECISION' and e.entity_id = d.id and e.to_state = 'WITHDRAWN'
            where d.id = $1""",
        pk(decision),
    )
    assert [(r["state"], r["action"], r["from_state"]) for r in closed] == [
        ("WITHDRAWN", CLOSED_ACTION, "RECONSIDERATION_REQUESTED")
    ], closed
    assert closed[0]["reason"].startswith("the lab withdrew from the program on ")
    # and after the leaving, a new request is refused
    again = await send(api, "requestCoverageDetermination", lab.liaison, {"modelId": model})
    assert [e["code"] for e in again["errors"]] == ["LAB_NOT_PARTICIPATING"]


# ------------------------------------------------------------------------------------------------ recorded models

RECORDED = """query($id: ID!) { node(id: $id) { ... on FrontierModel {
  name modelVersion releaseStatus sourceUrl correctedByLabAt recordedBy { code } confidentialVisible
  trainingComputeFlop capabilities history { action toState reason actorAgency { code } actorLab { name } } } } }"""


async def test_an_agency_records_a_publicly_released_model_and_the_lab_corrects_it(api: Api) -> None:
    lab = await new_lab(api, "Announcing Lab (fictional)")
    dod = await officer(api, "DOD")
    fields = {
        "labId": lab.id,
        "name": "Announced Model (fictional)",
        "modelVersion": "1",
        "modality": "TEXT",
        "capabilities": ["code"],
        "releaseStatus": "RESTRICTED_PREVIEW",
        "sourceUrl": "https://lab.example/news/announced-model",
    }
    model = await ok(api, "recordPublicModel", dod, {**fields, "idempotencyKey": "announced-1"})
    # a retry with the key records once
    assert await ok(api, "recordPublicModel", dod, {**fields, "idempotencyKey": "announced-1"}) == model
    read = (await api.data(RECORDED, {"id": model}, token=dod))["node"]
    assert read["recordedBy"] == {"code": "DOD"} and read["sourceUrl"] == fields["sourceUrl"]
    assert read["releaseStatus"] == "RESTRICTED_PREVIEW" and read["correctedByLabAt"] is None
    assert read["history"] == [
        {
            "action": "RECORDED_FROM_PUBLIC_SOURCE",
            "toState": "RESTRICTED_PREVIEW",
            "reason": None,
            "actorAgency": {"code": "DOD"},
            "actorLab": None,
        }
    ]

    # public facts only: an unreleased status, a missing or non-web source, a confidential field are refused
    for bad, field_name in (
        ({"releaseStatus": "IN_DEVELOPMENT"}, "input.releaseStatus"),
        ({"releaseStatus": "DEPRECATED"}, "input.releaseStatus"),
        ({"sourceUrl": "ftp://lab.example/x"}, "input.sourceUrl"),
        ({"sourceUrl": " "}, "input.sourceUrl"),
    ):
        payload = await send(api, "recordPublicModel", dod, {**fields, "name": "Other", **bad})
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field_name, "BAD_USER_INPUT")], payload
    body = await api.request_error(
        mutation_operation("recordPublicModel", "id"),
        {"input": {**fields, "name": "Other", "trainingComputeFlop": 1e26}},
        token=dod,
    )
    assert "trainingComputeFlop" in body["errors"][0]["message"], body
    # the same model twice is a conflict; an analyst or a liaison records nothing
    twice = await send(api, "recordPublicModel", dod, fields)
    assert [(e["field"], e["code"]) for e in twice["errors"]] == [("input.name", "CONFLICT")]
    for token in (await api.token(agency="DOD", role="ANALYST"), lab.liaison):
        body = await api.query(mutation_operation("recordPublicModel", "id"), {"input": fields}, token=token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body

    # no agency changes it; the lab corrects it and alone sets its confidential fields
    body = await api.query(
        mutation_operation("updateModel", "id"),
        {"input": {"id": model, "expectedVersion": 1, "description": "x"}},
        token=dod,
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    await ok(
        api,
        "updateModel",
        lab.liaison,
        {"id": model, "expectedVersion": 1, "capabilities": ["code", "reasoning"], "trainingComputeFlop": 2e25},
    )
    read = (await api.data(RECORDED, {"id": model}, token=lab.liaison))["node"]
    assert read["capabilities"] == ["code", "reasoning"] and read["trainingComputeFlop"] == 2e25
    assert read["correctedByLabAt"] is not None and read["recordedBy"] == {"code": "DOD"}
    assert read["history"][-1]["action"] == "UPDATED" and read["history"][-1]["actorLab"] == {"name": lab.name}
    details = await one(
        api,
        "select details from events where entity_kind = 'MODEL' and entity_id = $1 order by id desc limit 1",
        pk(model),
    )
    assert details == {"changed": ["capabilities", "training_compute_flop"], "correctsRecordOf": "DOD"}
    # the agency that recorded it does not see the confidential value the lab set
    assert (await api.data(RECORDED, {"id": model}, token=dod))["node"]["trainingComputeFlop"] is None
