"""Every mutation in the schema, fed hostile input where it would otherwise succeed: real ids of records in a state
the mutation accepts, sent by a principal whose remit allows the write, so that the hostile value itself is what
validation and the store see.

Each text, number and list of texts in each input (walked from the schema, so a new field is covered the day it is
added) gets, one at a time: control characters and an oversized text, refused as BAD_USER_INPUT naming the field;
SQL metacharacters, refused the same way where the field has a format (an id of a catalogue, a code, an address) and
otherwise stored verbatim and returned unchanged; and a negative number, refused naming the field (STALE_VERSION for
expectedVersion). A refused request writes nothing at all (tests/writes.py); an accepted one writes the mutation's
own tables only."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)

from hub import db
from schema import schema
from schema.common import to_global_id
from tests.conftest import Api
from tests.writes import write_snapshot

MUTATIONS = sorted(schema._schema.mutation_type.fields) if schema._schema.mutation_type else []

CONTROL = "esc\x1b[31m red"
OVERSIZED = "x" * 20_001  # longer than any text the hub takes


def sql_text(n: int) -> str:
    """SQL and JSON metacharacters, unique per use (names are unique), short enough for every free-text field."""
    return f"x'); drop table findings; -- $1 \\ \" % {n}"


# The texts with a format, under the input: SQL metacharacters in them are refused naming the field. Every other text
# is free: stored verbatim, returned unchanged.
FORMATTED = {
    "country",
    "website",
    "cveId",
    "cvss.version",
    "cvss.vector",
    "cwes[0]",
    "d3fendIds[0]",
    "attackIds[0]",
    "nist80053Controls[0]",
    "requiredSignoffs[0]",
    "criteria[0].designatingAgencies[0]",
    "evidenceSha256",
    "sourceUrl",
    "url",
    "actions[0]",
    "toStates[0]",
    "fromCursor",
}
# free texts that the payload does not show (the event and the idempotency key hold them)
NOT_RETURNED = {"reason", "idempotencyKey"}
# and per mutation: a lab's answer to a request returns the request; the agreement it creates holds the consent
NOT_RETURNED_BY = {"answerEarlyAccessRequest": {"labConsentRef"}}
# the tables each mutation writes when it succeeds (an idempotency key adds idempotency_keys)
WRITES = {
    "updatePolicy": {"policy_versions", "policy_version_signatures", "events"},
    "concurPolicyChange": {"policy_versions", "policy_version_signatures", "events"},
    "withdrawPolicyChange": {"policy_versions", "events"},
    "createToken": {"principals", "api_tokens", "events"},
    "registerLab": {"labs", "events"},
    "updateLab": {"labs", "events"},
    "setLabParticipation": {"labs", "events"},
    "registerModel": {"frontier_models", "events"},
    "recordPublicModel": {"frontier_models", "events"},
    "updateModel": {"frontier_models", "events"},
    "setModelReleaseStatus": {"frontier_models", "events"},
    "offerEarlyAccess": {"early_access_agreements", "agreement_agencies", "events"},
    "acceptEarlyAccess": {"early_access_agreements", "agreement_agencies", "events"},
    "withdrawEarlyAccess": {"early_access_agreements", "events"},
    "terminateEarlyAccess": {"early_access_agreements", "agreement_agencies", "events"},
    "removeEarlyAccessAgency": {"early_access_agreements", "agreement_agencies", "events"},
    "requestEarlyAccess": {"early_access_requests", "events"},
    "answerEarlyAccessRequest": {"early_access_requests", "early_access_agreements", "agreement_agencies", "events"},
    "withdrawEarlyAccessRequest": {"early_access_requests", "events"},
    "draftCoverageStandard": {"coverage_standards", "coverage_criteria", "events"},
    "submitCoverageStandard": {"coverage_standards", "events"},
    "signCoverageStandard": {"coverage_standards", "coverage_signoffs", "events"},
    "withdrawCoverageStandard": {"coverage_standards", "events"},
    "requestCoverageDetermination": {"coverage_decisions", "coverage_screenings", "events"},
    "startCoverageAssessment": {"coverage_decisions", "events"},
    "decideCoverage": {"coverage_decisions", "coverage_screenings", "coverage_decision_signatures", "events"},
    "concurCoverageDecision": {"coverage_decisions", "coverage_decision_signatures", "events"},
    "objectToCoverageDecision": {"coverage_decisions", "coverage_decision_signatures", "events"},
    "rescreenCoverage": {"coverage_decisions", "coverage_screenings", "events"},
    "requestCoverageReconsideration": {"coverage_decisions", "coverage_screenings", "events"},
    "withdrawCoverageRequest": {"coverage_decisions", "events"},
    "reportFinding": {"findings", "events"},
    "updateFinding": {"findings", "events"},
    "transitionFinding": {"findings", "events"},
    "shareFinding": {"findings", "events"},
    "takeOverFinding": {"findings", "events"},
    "planMeasure": {"cyber_measures", "events"},
    "updateMeasure": {"cyber_measures", "events"},
    "transitionMeasure": {"cyber_measures", "events"},
    "openEngagement": {"infrastructure_engagements", "engagement_milestones", "events"},
    "updateEngagement": {"infrastructure_engagements", "events"},
    "addEngagementMilestone": {"infrastructure_engagements", "engagement_milestones", "events"},
    "completeEngagementMilestone": {"infrastructure_engagements", "engagement_milestones", "events"},
    "transitionEngagement": {"infrastructure_engagements", "events"},
    "acceptEngagement": {"infrastructure_engagements", "events"},
    "recordCounterpartConsent": {"infrastructure_engagements", "events"},
    "registerInfrastructureCounterpart": {"infrastructure_counterparts", "events"},
    "updateInfrastructureCounterpart": {"infrastructure_counterparts", "events"},
    "reportComputeEstimate": {"compute_estimates", "events"},
    "registerEvaluationSuite": {"evaluation_suites", "events"},
    "recordEvaluationResult": {"evaluation_results", "events"},
    "designateModel": {"model_designations", "events"},
    "withdrawDesignation": {"model_designations", "events"},
    "registerWebhook": {"webhook_endpoints", "events"},
    "updateWebhook": {"webhook_endpoints", "events"},
    "rotateWebhookSecret": {"webhook_endpoints", "events"},
    "transitionWebhook": {"webhook_endpoints", "events"},
    "redeliverWebhook": {"webhook_endpoints", "events"},
}
# further base inputs for a mutation with more than one path, each run like the first (after it)
VARIANTS: dict[str, list[Callable[[Context], Awaitable[Base]]]] = {}
# mutations whose input has no text or number to make hostile (only the id of the record)
NOTHING_TO_SEND = {"revokeToken"}


# ------------------------------------------------------------------------------------------------ the inputs


@dataclass
class Context:
    """The test's database (read as the owner, to find records in the state a mutation needs) and tokens."""

    api: Api
    con: asyncpg.Connection
    ids: dict[str, int]
    serial: int = 0
    # something was written since the last snapshot (a new token, a record a base input needs)
    dirty: bool = True
    tokens: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def next(self) -> int:
        self.serial += 1
        return self.serial

    async def token(self, *, agency: str | None = None, lab: str | None = None, role: str) -> str:
        key = (agency, lab, role)
        if key not in self.tokens:
            self.tokens[key] = await self.api.token(agency=agency, lab=lab, role=role, name=f"hostile {key}")
            self.dirty = True
        return self.tokens[key]

    async def cisa(self) -> str:
        return await self.token(agency="CISA", role="ADMIN")

    async def liaison(self, lab_id: int) -> str:
        name = await self.con.fetchval("select name from labs where id = $1", lab_id)
        return await self.token(lab=name, role="LAB_LIAISON")

    async def one(self, sql: str, *args: Any) -> asyncpg.Record:
        row = await self.con.fetchrow(sql, *args)
        assert row is not None, f"the demo data has no record for: {sql}"
        return row


def gid(type_name: str, pk: int) -> str:
    return str(to_global_id(type_name, pk))


def window() -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=1)
    return {"accessStart": start.isoformat(), "accessEnd": (start + timedelta(days=10)).isoformat()}


Base = tuple[str, dict[str, Any]]


async def update_policy(c: Context) -> Base:
    # one change is proposed at a time: the change an earlier case proposed is withdrawn first, as its proposing
    # agency could (withdrawPolicyChange); it writes the tables updatePolicy writes
    await c.con.execute("update policy_versions set state = 'WITHDRAWN', ended_at = now() where state = 'PROPOSED'")
    row = await c.one("select version, standard_due_days from policy")
    days = row["standard_due_days"] + (1 if row["standard_due_days"] < 365 else -1)
    return await c.cisa(), {
        "expectedVersion": row["version"],
        "standardDueDays": days,
        "requiredSignoffs": ["CISA", "NIST"],
    }


async def proposed_policy_change(c: Context) -> asyncpg.Record:
    """The change to the policy proposed by CISA's admin: proposed through the hub when none is."""
    row = await c.con.fetchrow("select number, version from policy_versions where state = 'PROPOSED'")
    if row is None:
        token, fields = await update_policy(c)
        body = await c.api.data(
            "mutation($i: UpdatePolicyInput!) { updatePolicy(input: $i) { errors { code } } }",
            {"i": {k: v for k, v in fields.items() if k != "requiredSignoffs"}},
            token=token,
        )
        assert body["updatePolicy"]["errors"] == [], body
        c.dirty = True
        row = await c.one("select number, version from policy_versions where state = 'PROPOSED'")
    return row


async def concur_policy_change(c: Context) -> Base:
    row = await proposed_policy_change(c)
    return await c.token(agency="NIST", role="ADMIN"), {"number": row["number"], "expectedVersion": row["version"]}


async def withdraw_policy_change(c: Context) -> Base:
    row = await proposed_policy_change(c)
    return await c.cisa(), {"number": row["number"], "expectedVersion": row["version"], "reason": "not now"}


async def create_token(c: Context) -> Base:
    return await c.cisa(), {"name": f"hostile holder {c.next()}", "role": "VIEWER"}


async def register_lab(c: Context) -> Base:
    return await c.cisa(), {"name": f"Hostile Lab {c.next()}", "country": "US"}


async def update_lab(c: Context) -> Base:
    row = await c.one("select id, version from labs where id = $1", c.ids["updated lab"])
    return await c.cisa(), {"id": gid("Lab", row["id"]), "expectedVersion": row["version"], "legalName": f"L{c.next()}"}


async def set_lab_participation(c: Context) -> Base:
    row = await c.one("select id, version, participation from labs where id = $1", c.ids["moved lab"])
    to = {"INVITED": "ENGAGED", "ENGAGED": "PARTICIPATING", "PARTICIPATING": "WITHDRAWN", "DECLINED": "INVITED"}
    return await c.liaison(row["id"]), {
        "id": gid("Lab", row["id"]),
        "expectedVersion": row["version"],
        "to": to.get(row["participation"], "INVITED"),
    }


async def register_model(c: Context) -> Base:
    lab = c.ids["model lab"]
    return await c.liaison(lab), {
        "labId": gid("Lab", lab),
        "name": f"Hostile model {c.next()}",
        "modality": "TEXT",
        "releaseStatus": "IN_DEVELOPMENT",
    }


async def record_public_model(c: Context) -> Base:
    return await c.cisa(), {
        "labId": gid("Lab", c.ids["model lab"]),
        "name": f"Hostile public model {c.next()}",
        "modality": "TEXT",
        "releaseStatus": "GENERALLY_AVAILABLE",
        "sourceUrl": "https://lab.example/announcement",
    }


async def update_model(c: Context) -> Base:
    row = await c.one("select id, version, lab_id from frontier_models where id = $1", c.ids["updated model"])
    return await c.liaison(row["lab_id"]), {
        "id": gid("FrontierModel", row["id"]),
        "expectedVersion": row["version"],
        "description": f"described {c.next()}",
    }


async def set_model_release_status(c: Context) -> Base:
    row = await c.one(
        "select id, version, lab_id, release_status from frontier_models where id = $1", c.ids["previewed model"]
    )
    to = "RESTRICTED_PREVIEW" if row["release_status"] == "IN_DEVELOPMENT" else "IN_DEVELOPMENT"
    return await c.liaison(row["lab_id"]), {
        "id": gid("FrontierModel", row["id"]),
        "expectedVersion": row["version"],
        "to": to,
    }


async def offer_early_access(c: Context) -> Base:
    row = await c.one("select id, lab_id from frontier_models where id = $1", c.ids["updated model"])
    return await c.liaison(row["lab_id"]), {
        "modelId": gid("FrontierModel", row["id"]),
        "agencyIds": [gid("Agency", c.ids["CISA"])],
        "accessKinds": ["API"],
        **window(),
    }


# open, and no answer to a request (whose moves would write the request too)
OPEN_AGREEMENT = "state in ('PROPOSED', 'ACTIVE') and access_end > now() + interval '1 day' and request_id is null"


async def accept_early_access(c: Context) -> Base:
    row = await c.one(
        f"""select g.id, g.version, a.code from early_access_agreements g
              join agreement_agencies aa on aa.agreement_id = g.id join agencies a on a.id = aa.agency_id
             where g.{OPEN_AGREEMENT} and aa.accepted_at is null and aa.left_at is null order by g.id limit 1"""
    )
    token = await c.token(agency=row["code"], role="OFFICER")
    return token, {"id": gid("EarlyAccessAgreement", row["id"]), "expectedVersion": row["version"]}


async def withdraw_early_access(c: Context) -> Base:
    row = await c.one(f"select id, version, lab_id from early_access_agreements where {OPEN_AGREEMENT} order by id")
    return await c.liaison(row["lab_id"]), {
        "id": gid("EarlyAccessAgreement", row["id"]),
        "expectedVersion": row["version"],
    }


async def terminate_early_access(c: Context) -> Base:
    row = await c.one(
        f"""select g.id, g.version, a.code from early_access_agreements g
              join agreement_agencies aa on aa.agreement_id = g.id join agencies a on a.id = aa.agency_id
             where g.{OPEN_AGREEMENT} and aa.left_at is null order by g.id desc limit 1"""
    )
    token = await c.token(agency=row["code"], role="OFFICER")
    return token, {
        "id": gid("EarlyAccessAgreement", row["id"]),
        "expectedVersion": row["version"],
        "reason": "terms not kept",
    }


async def remove_early_access_agency(c: Context) -> Base:
    # an agreement with two agencies still on it, one of which the lab removes
    row = await c.one(
        f"""select g.id, g.version, g.lab_id, min(aa.agency_id) as agency_id from early_access_agreements g
              join agreement_agencies aa on aa.agreement_id = g.id and aa.left_at is null
             where g.{OPEN_AGREEMENT} group by g.id having count(*) >= 2 order by g.id limit 1"""
    )
    return await c.liaison(row["lab_id"]), {
        "id": gid("EarlyAccessAgreement", row["id"]),
        "agencyId": gid("Agency", row["agency_id"]),
        "expectedVersion": row["version"],
        "reason": "the evaluation it asked for is done",
    }


async def request_early_access(c: Context) -> Base:
    # a model of a lab taking part that CISA has no open request on
    row = await c.one(
        """select m.id from frontier_models m join labs l on l.id = m.lab_id
            where l.participation in ('ENGAGED', 'PARTICIPATING') and m.release_status <> 'DEPRECATED'
              and not exists (select 1 from early_access_requests r where r.model_id = m.id
                                and r.requesting_agency_id = $1 and r.state in ('OPEN', 'COUNTER_PROPOSED'))
            order by m.id limit 1""",
        c.ids["CISA"],
    )
    return await c.cisa(), {
        "modelId": gid("FrontierModel", row["id"]),
        "accessKinds": ["API"],
        "leadTimeDays": 30,
        "message": f"asked {c.next()}",
    }


async def answer_early_access_request(c: Context) -> Base:
    row = await c.one(
        """select r.id, r.version, r.lab_id from early_access_requests r join labs l on l.id = r.lab_id
            where r.state = 'OPEN' and l.participation in ('ENGAGED', 'PARTICIPATING') order by r.id limit 1"""
    )
    return await c.liaison(row["lab_id"]), {
        "id": gid("EarlyAccessRequest", row["id"]),
        "expectedVersion": row["version"],
        "answer": "COUNTER_PROPOSE",
        "labConsentRef": f"consent {c.next()}",
        **window(),
    }


async def withdraw_early_access_request(c: Context) -> Base:
    row = await c.one(
        """select r.id, r.version, a.code from early_access_requests r
              join agencies a on a.id = r.requesting_agency_id
            where r.state = 'OPEN' order by r.id desc limit 1"""
    )
    token = await c.token(agency=row["code"], role="OFFICER")
    return token, {"id": gid("EarlyAccessRequest", row["id"]), "expectedVersion": row["version"]}


async def draft_coverage_standard(c: Context) -> Base:
    return await c.cisa(), {
        "standardVersion": f"9.{c.next()}",
        "title": "hostile standard",
        "criteria": [{"metric": "DESIGNATION", "unit": "DESIGNATIONS", "threshold": "1", "description": "designated"}],
    }


async def a_standard(c: Context, states: tuple[str, ...]) -> asyncpg.Record | None:
    return await c.con.fetchrow(
        "select id, version from coverage_standards where state = any($1::text[]) order by id desc limit 1",
        list(states),
    )


async def submit_coverage_standard(c: Context) -> Base:
    row = await a_standard(c, ("DRAFT",)) or await drafted(c)
    return await c.cisa(), {"id": gid("CoverageStandard", row["id"]), "expectedVersion": row["version"]}


async def drafted(c: Context, *, submitted: bool = False) -> asyncpg.Record:
    """A standard of its own, drafted (and submitted) through the hub: signing one of the demo's would adopt it."""
    token, fields = await draft_coverage_standard(c)
    body = await c.api.data(
        "mutation($i: DraftCoverageStandardInput!) { draftCoverageStandard(input: $i) { standard { id version } } }",
        {"i": fields},
        token=token,
    )
    standard = body["draftCoverageStandard"]["standard"]
    if submitted:
        body = await c.api.data(
            """mutation($i: SubmitCoverageStandardInput!) {
                 submitCoverageStandard(input: $i) { standard { id version } } }""",
            {"i": {"id": standard["id"], "expectedVersion": standard["version"]}},
            token=token,
        )
        standard = body["submitCoverageStandard"]["standard"]
    c.dirty = True
    return await c.one("select id, version from coverage_standards order by id desc limit 1")


async def sign_coverage_standard(c: Context) -> Base:
    # IN_REVIEW, needing CISA and another agency that has not signed: CISA's signature is not the last
    row = await c.con.fetchrow(
        """select s.id, s.version from coverage_standards s
            where s.state = 'IN_REVIEW' and 'CISA' = any(s.required_signoffs)
              and cardinality(s.required_signoffs) - 1 > (select count(*) from coverage_signoffs g
                                                            where g.standard_id = s.id)
              and not exists (select 1 from coverage_signoffs g join agencies a on a.id = g.agency_id
                               where g.standard_id = s.id and a.code = 'CISA')
            order by s.id desc limit 1"""
    )
    row = row or await drafted(c, submitted=True)
    return await c.token(agency="CISA", role="OFFICER"), {
        "id": gid("CoverageStandard", row["id"]),
        "expectedVersion": row["version"],
    }


async def withdraw_coverage_standard(c: Context) -> Base:
    row = await a_standard(c, ("DRAFT", "IN_REVIEW")) or await drafted(c)
    return await c.cisa(), {"id": gid("CoverageStandard", row["id"]), "expectedVersion": row["version"]}


async def request_coverage_determination(c: Context) -> Base:
    row = await c.one(
        """select m.id from frontier_models m join labs l on l.id = m.lab_id
            where l.participation in ('ENGAGED', 'PARTICIPATING')
              and not exists (select 1 from coverage_decisions d join coverage_standards s on s.id = d.standard_id
                               where d.model_id = m.id and s.state = 'ADOPTED'
                                 and d.state in ('REQUESTED', 'UNDER_ASSESSMENT', 'RECONSIDERATION_REQUESTED'))
            order by m.id limit 1"""
    )
    return await c.cisa(), {"modelId": gid("FrontierModel", row["id"])}


async def a_decision(c: Context, *states: str) -> asyncpg.Record:
    return await c.one(
        """select d.id, d.version, m.lab_id from coverage_decisions d join frontier_models m on m.id = d.model_id
            where d.state = any($1::text[]) order by d.id limit 1""",
        list(states),
    )


async def start_coverage_assessment(c: Context) -> Base:
    row = await a_decision(c, "REQUESTED")
    return await c.cisa(), {"id": gid("CoverageDecision", row["id"]), "expectedVersion": row["version"]}


async def decide_coverage(c: Context) -> Base:
    # an override of the outcome its screening proposes (the inputs stand still in this database), with its reason
    row = await c.one(
        """select d.id, d.version, s.proposed_outcome from coverage_decisions d
             join coverage_screenings s on s.id = d.latest_screening_id
            where d.state = 'UNDER_ASSESSMENT' order by d.id limit 1"""
    )
    return await c.cisa(), {
        "id": gid("CoverageDecision", row["id"]),
        "expectedVersion": row["version"],
        "outcome": "NOT_COVERED" if row["proposed_outcome"] != "NOT_COVERED" else "COVERED",
        "rationale": "meets the compute criterion",
        "overrideReason": "the lab's own red-team report shows more",
    }


async def concur_coverage_decision(c: Context) -> Base:
    row = await a_decision(c, "AWAITING_CONCURRENCE")
    return await c.token(agency="NIST", role="OFFICER"), {
        "id": gid("CoverageDecision", row["id"]),
        "expectedVersion": row["version"],
        "reason": "NIST concurs",
    }


async def object_to_coverage_decision(c: Context) -> Base:
    row = await a_decision(c, "AWAITING_CONCURRENCE")
    return await c.token(agency="NIST", role="OFFICER"), {
        "id": gid("CoverageDecision", row["id"]),
        "expectedVersion": row["version"],
        "reason": "the estimate is stale",
    }


async def rescreen_coverage(c: Context) -> Base:
    row = await a_decision(c, "REQUESTED", "UNDER_ASSESSMENT")
    return await c.cisa(), {"id": gid("CoverageDecision", row["id"]), "expectedVersion": row["version"]}


async def request_coverage_reconsideration(c: Context) -> Base:
    row = await c.one(
        """select d.id, d.version, m.lab_id, e.id as estimate_id from coverage_decisions d
             join frontier_models m on m.id = d.model_id join labs l on l.id = m.lab_id
             join compute_estimates e on e.model_id = d.model_id
            where d.state = 'DECIDED' and l.participation in ('ENGAGED', 'PARTICIPATING')
            order by d.id, e.id limit 1"""
    )
    return await c.liaison(row["lab_id"]), {
        "id": gid("CoverageDecision", row["id"]),
        "expectedVersion": row["version"],
        "reason": "new evaluations",
        "evidence": [gid("ComputeEstimate", row["estimate_id"])],
    }


async def withdraw_coverage_request(c: Context) -> Base:
    row = await a_decision(c, "REQUESTED", "UNDER_ASSESSMENT", "RECONSIDERATION_REQUESTED")
    return await c.liaison(row["lab_id"]), {"id": gid("CoverageDecision", row["id"]), "expectedVersion": row["version"]}


CVSS = {"version": "3.1", "baseScore": 5.3, "vector": "CVSS:3.1/AV:N"}
AFFECTED = {"vendor": "vendor", "product": "product", "versions": "1.0"}


async def report_finding(c: Context) -> Base:
    return await c.cisa(), {
        "title": f"hostile finding {c.next()}",
        "discoveredBy": "AGENCY",
        "tlp": "GREEN",
        "cvss": CVSS,
        "affected": AFFECTED,
    }


async def a_model_taking_part(c: Context) -> asyncpg.Record:
    """A model whose lab takes part in the program (its liaisons report findings about it)."""
    return await c.one(
        """select m.id, m.lab_id from frontier_models m join labs l on l.id = m.lab_id
            where l.participation in ('ENGAGED', 'PARTICIPATING') order by m.id limit 1"""
    )


async def report_finding_as_liaison(c: Context) -> Base:
    """reportFinding's other path: a lab's liaison about the lab's own model; the lab owns the finding."""
    model = await a_model_taking_part(c)
    return await c.liaison(model["lab_id"]), {
        "title": f"hostile lab finding {c.next()}",
        "modelId": gid("FrontierModel", model["id"]),
        "discoveredBy": "MODEL",
        "tlp": "GREEN",
        "cvss": CVSS,
        "affected": AFFECTED,
    }


async def take_over_finding(c: Context) -> Base:
    """A GREEN finding a lab owns (its liaison reports one when none is left), taken over by CISA."""
    query = "select id, version from findings where owner_lab_id is not null and tlp = 'GREEN' order by id limit 1"
    row = await c.con.fetchrow(query)
    if row is None:
        token, base = await report_finding_as_liaison(c)
        body = await c.api.data(
            "mutation($input: ReportFindingInput!) { reportFinding(input: $input) { errors { message } } }",
            {"input": base},
            token=token,
        )
        assert body["reportFinding"]["errors"] == [], body
        c.dirty = True
        row = await c.one(query)
    return await c.cisa(), {
        "id": gid("Finding", row["id"]),
        "expectedVersion": row["version"],
        "reason": "CISA coordinates the disclosure",
    }


async def a_cisa_finding(c: Context, state: str | None = None) -> asyncpg.Record:
    return await c.one(
        """select id, version, tlp from findings where owner_agency_id = $1 and ($2::text is null or state = $2)
              and tlp <> 'RED' order by id limit 1""",
        c.ids["CISA"],
        state,
    )


async def update_finding(c: Context) -> Base:
    row = await a_cisa_finding(c)
    return await c.cisa(), {
        "id": gid("Finding", row["id"]),
        "expectedVersion": row["version"],
        "title": f"retitled {c.next()}",
        "cvss": CVSS,
        "affected": AFFECTED,
    }


async def transition_finding(c: Context) -> Base:
    row = await a_cisa_finding(c, "REPORTED")
    return await c.cisa(), {"id": gid("Finding", row["id"]), "expectedVersion": row["version"], "to": "TRIAGED"}


async def share_finding(c: Context) -> Base:
    row = await a_cisa_finding(c)
    return await c.cisa(), {
        "id": gid("Finding", row["id"]),
        "expectedVersion": row["version"],
        "tlp": "AMBER" if row["tlp"] == "GREEN" else "GREEN",
    }


async def dod(c: Context) -> str:
    return await c.token(agency="DOD", role="OFFICER")


async def plan_measure(c: Context) -> Base:
    return await dod(c), {
        "title": f"hostile measure {c.next()}",
        "kind": "DETECT",
        "systemScope": "scope",
        "ownerComponent": "CYBERCOM",
        "tlp": "GREEN",
    }


async def a_dod_measure(c: Context, state: str | None = None) -> asyncpg.Record:
    return await c.one(
        """select id, version from cyber_measures where owner_agency_id = $1 and ($2::text is null or state = $2)
            order by id limit 1""",
        c.ids["DOD"],
        state,
    )


async def update_measure(c: Context) -> Base:
    row = await a_dod_measure(c)
    return await dod(c), {
        "id": gid("CyberMeasure", row["id"]),
        "expectedVersion": row["version"],
        "title": f"retitled {c.next()}",
    }


async def transition_measure(c: Context) -> Base:
    row = await a_dod_measure(c, "PLANNED")
    return await dod(c), {"id": gid("CyberMeasure", row["id"]), "expectedVersion": row["version"], "to": "DEPLOYING"}


async def open_engagement(c: Context) -> Base:
    # an engagement is proposed only to a lab taking part in the program
    lab = await c.con.fetchval(
        "select id from labs where participation in ('ENGAGED', 'PARTICIPATING') order by id limit 1"
    )
    counterpart = await c.con.fetchval(
        "select id from infrastructure_counterparts where owner_agency_id = $1 order by id limit 1", c.ids["CISA"]
    )
    return await c.cisa(), {
        "title": f"hostile engagement {c.next()}",
        "labId": gid("Lab", lab),
        "sector": "ENERGY",
        "counterpartId": gid("InfrastructureCounterpart", counterpart),
        "kind": "ADVISORY",
        "tlp": "GREEN",
        "milestones": [{"title": "kick-off"}],
    }


async def a_cisa_engagement(c: Context, *states: str) -> asyncpg.Record:
    return await c.one(
        """select id, version from infrastructure_engagements where owner_agency_id = $1 and state = any($2::text[])
            and tlp <> 'RED' order by id limit 1""",
        c.ids["CISA"],
        list(states),
    )


async def update_engagement(c: Context) -> Base:
    row = await a_cisa_engagement(c, "PROPOSED", "SCOPING", "ACTIVE", "PAUSED")
    return await c.cisa(), {
        "id": gid("InfrastructureEngagement", row["id"]),
        "expectedVersion": row["version"],
        "title": f"retitled {c.next()}",
    }


async def add_engagement_milestone(c: Context) -> Base:
    row = await a_cisa_engagement(c, "PROPOSED", "SCOPING", "ACTIVE", "PAUSED")
    return await c.cisa(), {
        "id": gid("InfrastructureEngagement", row["id"]),
        "expectedVersion": row["version"],
        "title": "milestone",
    }


async def complete_engagement_milestone(c: Context) -> Base:
    row = await c.one(
        """select e.id, e.version, m.id as milestone from infrastructure_engagements e
              join engagement_milestones m on m.engagement_id = e.id
             where e.owner_agency_id = $1 and e.tlp <> 'RED' and m.completed_on is null order by e.id limit 1""",
        c.ids["CISA"],
    )
    return await c.cisa(), {
        "id": gid("InfrastructureEngagement", row["id"]),
        "expectedVersion": row["version"],
        "milestoneId": gid("EngagementMilestone", row["milestone"]),
        "completedOn": date.today().isoformat(),
    }


async def transition_engagement(c: Context) -> Base:
    row = await a_cisa_engagement(c, "PROPOSED")
    return await c.cisa(), {
        "id": gid("InfrastructureEngagement", row["id"]),
        "expectedVersion": row["version"],
        "to": "SCOPING",
    }


async def accept_engagement(c: Context) -> Base:
    # one the lab has not accepted yet, that its liaisons see, of a lab taking part (Anthropic's first)
    row = await c.one(
        """select e.id, e.version, l.name from infrastructure_engagements e join labs l on l.id = e.lab_id
            where e.lab_accepted_at is null and e.state in ('PROPOSED', 'SCOPING', 'PAUSED')
              and e.tlp in ('CLEAR', 'GREEN') and l.participation in ('ENGAGED', 'PARTICIPATING')
            order by l.name = 'Anthropic' desc, l.id, e.id limit 1"""
    )
    liaison = await c.token(lab=row["name"], role="LAB_LIAISON")
    return liaison, {"id": gid("InfrastructureEngagement", row["id"]), "expectedVersion": row["version"]}


async def record_counterpart_consent(c: Context) -> Base:
    row = await a_cisa_engagement(c, "PROPOSED", "SCOPING")
    return await c.cisa(), {
        "id": gid("InfrastructureEngagement", row["id"]),
        "expectedVersion": row["version"],
        "consented": True,
        "consentRef": f"consent {c.next()}",
    }


async def register_infrastructure_counterpart(c: Context) -> Base:
    return await c.cisa(), {
        "name": f"hostile utility {c.next()} (fictional)",
        "kind": "WATER_UTILITY",
        "sector": "WATER_AND_WASTEWATER_SYSTEMS",
    }


async def update_infrastructure_counterpart(c: Context) -> Base:
    row = await c.one(
        "select id, version from infrastructure_counterparts where owner_agency_id = $1 order by id limit 1",
        c.ids["CISA"],
    )
    return await c.cisa(), {
        "id": gid("InfrastructureCounterpart", row["id"]),
        "expectedVersion": row["version"],
        "name": f"renamed {c.next()} (fictional)",
    }


async def report_compute_estimate(c: Context) -> Base:
    return await c.cisa(), {
        "modelId": gid("FrontierModel", c.ids["updated model"]),
        "preTraining": {"low": "1e25", "high": "2e25"},
        "methodNote": f"estimated {c.next()}",
    }


async def register_evaluation_suite(c: Context) -> Base:
    return await c.cisa(), {
        "name": f"hostile suite {c.next()}",
        "suiteVersion": "1",
        "capabilityArea": "CYBER_OFFENSE",
        "scoreUnit": "PERCENT",
    }


async def record_evaluation_result(c: Context) -> Base:
    suite = await c.con.fetchval("select id from evaluation_suites order by id limit 1")
    if suite is None:  # a suite of its own, registered through the hub
        token, fields = await register_evaluation_suite(c)
        await c.api.data(
            "mutation($i: RegisterEvaluationSuiteInput!) { registerEvaluationSuite(input: $i) { errors { code } } }",
            {"i": fields},
            token=token,
        )
        c.dirty = True
        suite = await c.con.fetchval("select id from evaluation_suites order by id limit 1")
    return await c.cisa(), {
        "modelId": gid("FrontierModel", c.ids["updated model"]),
        "suiteId": gid("EvaluationSuite", suite),
        # 50 percent, whatever the suite's unit: a PERCENT or FRACTION suite converts it, a POINTS one counts 50
        "score": "50",
        "unit": await c.con.fetchval(
            """select case score_unit when 'POINTS' then 'POINTS' else 'PERCENT' end
                 from evaluation_suites where id = $1""",
            suite,
        ),
        "ranOn": date.today().isoformat(),
        "modelVersion": f"v{c.next()}",
        "evidenceRef": "report",
        "evidenceSha256": "ab" * 32,
    }


async def designate_model(c: Context) -> Base:
    # a model CISA has no designation in force on: each accepted case designates one
    row = await c.one(
        """select m.id from frontier_models m
            where not exists (select 1 from model_designations d
                               where d.model_id = m.id and d.agency_id = $1 and d.state = 'IN_FORCE')
            order by m.id limit 1""",
        c.ids["CISA"],
    )
    return await c.cisa(), {"modelId": gid("FrontierModel", row["id"]), "reason": f"designated {c.next()}"}


async def withdraw_designation(c: Context) -> Base:
    row = await c.con.fetchrow(
        "select id, version from model_designations where agency_id = $1 and state = 'IN_FORCE' order by id limit 1",
        c.ids["CISA"],
    )
    if row is None:  # a designation of its own, made through the hub
        token, fields = await designate_model(c)
        await c.api.data(
            "mutation($i: DesignateModelInput!) { designateModel(input: $i) { errors { code } } }",
            {"i": fields},
            token=token,
        )
        c.dirty = True
        row = await c.one(
            "select id, version from model_designations where agency_id = $1 and state = 'IN_FORCE' order by id",
            c.ids["CISA"],
        )
    return await c.cisa(), {
        "id": gid("ModelDesignation", row["id"]),
        "expectedVersion": row["version"],
        "reason": "no longer needed",
    }


async def register_webhook(c: Context) -> Base:
    return await c.cisa(), {"url": f"https://example.org/hooks/{c.next()}", "actions": ["TRANSITIONED"]}


async def a_cisa_webhook(c: Context) -> asyncpg.Record:
    """An endpoint of CISA's that is not deleted: registered through the hub when there is none."""
    find = "select id, version, state from webhook_endpoints where owner_agency_id = $1 and state <> 'DELETED'"
    row = await c.con.fetchrow(find + " order by id limit 1", c.ids["CISA"])
    if row is None:
        token, fields = await register_webhook(c)
        body = await c.api.data(
            "mutation($i: RegisterWebhookInput!) { registerWebhook(input: $i) { errors { code } } }",
            {"i": fields},
            token=token,
        )
        assert body["registerWebhook"]["errors"] == [], body
        c.dirty = True
        row = await c.one(find + " order by id limit 1", c.ids["CISA"])
    return row


async def update_webhook(c: Context) -> Base:
    row = await a_cisa_webhook(c)
    return await c.cisa(), {
        "id": gid("WebhookEndpoint", row["id"]),
        "expectedVersion": row["version"],
        "description": f"intake {c.next()}",
        "url": f"https://example.org/hooks/{c.next()}",
    }


async def rotate_webhook_secret(c: Context) -> Base:
    row = await a_cisa_webhook(c)
    return await c.cisa(), {"id": gid("WebhookEndpoint", row["id"]), "expectedVersion": row["version"]}


async def transition_webhook(c: Context) -> Base:
    row = await a_cisa_webhook(c)
    return await c.cisa(), {
        "id": gid("WebhookEndpoint", row["id"]),
        "expectedVersion": row["version"],
        "to": "DISABLED" if row["state"] == "ENABLED" else "ENABLED",
    }


async def redeliver_webhook(c: Context) -> Base:
    row = await a_cisa_webhook(c)
    endpoint = gid("WebhookEndpoint", row["id"])
    return await c.cisa(), {"id": endpoint, "expectedVersion": row["version"], "fromCursor": "1"}


VARIANTS["reportFinding"] = [report_finding_as_liaison]

BASES: dict[str, Callable[[Context], Awaitable[Base]]] = {
    "updatePolicy": update_policy,
    "concurPolicyChange": concur_policy_change,
    "withdrawPolicyChange": withdraw_policy_change,
    "createToken": create_token,
    "registerLab": register_lab,
    "updateLab": update_lab,
    "setLabParticipation": set_lab_participation,
    "registerModel": register_model,
    "recordPublicModel": record_public_model,
    "updateModel": update_model,
    "setModelReleaseStatus": set_model_release_status,
    "offerEarlyAccess": offer_early_access,
    "acceptEarlyAccess": accept_early_access,
    "withdrawEarlyAccess": withdraw_early_access,
    "terminateEarlyAccess": terminate_early_access,
    "removeEarlyAccessAgency": remove_early_access_agency,
    "requestEarlyAccess": request_early_access,
    "answerEarlyAccessRequest": answer_early_access_request,
    "withdrawEarlyAccessRequest": withdraw_early_access_request,
    "draftCoverageStandard": draft_coverage_standard,
    "submitCoverageStandard": submit_coverage_standard,
    "signCoverageStandard": sign_coverage_standard,
    "withdrawCoverageStandard": withdraw_coverage_standard,
    "requestCoverageDetermination": request_coverage_determination,
    "startCoverageAssessment": start_coverage_assessment,
    "decideCoverage": decide_coverage,
    "concurCoverageDecision": concur_coverage_decision,
    "objectToCoverageDecision": object_to_coverage_decision,
    "rescreenCoverage": rescreen_coverage,
    "requestCoverageReconsideration": request_coverage_reconsideration,
    "withdrawCoverageRequest": withdraw_coverage_request,
    "reportFinding": report_finding,
    "updateFinding": update_finding,
    "transitionFinding": transition_finding,
    "shareFinding": share_finding,
    "takeOverFinding": take_over_finding,
    "planMeasure": plan_measure,
    "updateMeasure": update_measure,
    "transitionMeasure": transition_measure,
    "openEngagement": open_engagement,
    "updateEngagement": update_engagement,
    "addEngagementMilestone": add_engagement_milestone,
    "completeEngagementMilestone": complete_engagement_milestone,
    "transitionEngagement": transition_engagement,
    "acceptEngagement": accept_engagement,
    "recordCounterpartConsent": record_counterpart_consent,
    "registerInfrastructureCounterpart": register_infrastructure_counterpart,
    "updateInfrastructureCounterpart": update_infrastructure_counterpart,
    "reportComputeEstimate": report_compute_estimate,
    "registerEvaluationSuite": register_evaluation_suite,
    "recordEvaluationResult": record_evaluation_result,
    "designateModel": designate_model,
    "withdrawDesignation": withdraw_designation,
    "registerWebhook": register_webhook,
    "updateWebhook": update_webhook,
    "rotateWebhookSecret": rotate_webhook_secret,
    "transitionWebhook": transition_webhook,
    "redeliverWebhook": redeliver_webhook,
}


# ------------------------------------------------------------------------------------------------ the schema


Path = tuple[str | int, ...]


def leaves(input_type: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(path, scalar name) of every text, number and list of texts in an input type; a list of input objects by
    its first item."""
    for name, input_field in get_named_type(input_type).fields.items():
        graphql_type = input_field.type.of_type if isinstance(input_field.type, GraphQLNonNull) else input_field.type
        named = get_named_type(graphql_type)
        here = (*path, name, 0) if isinstance(graphql_type, GraphQLList) else (*path, name)
        if isinstance(named, GraphQLInputObjectType):
            yield from leaves(named, here)
        elif isinstance(named, GraphQLScalarType) and named.name in ("String", "Int", "Float"):
            yield here, named.name


def field_name(path: Path) -> str:
    """input.criteria[0].description, as the hub names a field."""
    return "input" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def put(base: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A copy of `base` with `value` at `path`: a list of texts the base leaves out is made; the parents of any
    other nested field must be in the base."""
    copy = json.loads(json.dumps(base))
    target: Any = copy
    for index, part in enumerate(path[:-1]):
        if isinstance(part, str) and part not in target:
            assert index + 2 == len(path) and path[-1] == 0, (
                f"add {part} to the base, so that {field_name(path)} is sent"
            )
            target[part] = [None]
        target = target[part]
    target[path[-1]] = value
    return dict(copy)


def selection(payload_type: Any) -> str:
    """The payload's record with its texts (and those of the objects it embeds), and its errors."""

    def texts(object_type: GraphQLObjectType, depth: int) -> str:
        parts = []
        for name, object_field in object_type.fields.items():
            if any(isinstance(a.type, GraphQLNonNull) and a.default_value is None for a in object_field.args.values()):
                continue
            named = get_named_type(object_field.type)
            if isinstance(named, GraphQLScalarType) and named.name in ("String", "ID"):
                parts.append(name)
            elif isinstance(named, GraphQLObjectType) and depth == 0:
                if not any(i.name == "Node" for i in named.interfaces) and (inner := texts(named, 1)):
                    parts.append(f"{name} {{ {inner} }}")
        return " ".join(parts)

    records = [
        f"{name} {{ {texts(get_named_type(f.type), 0)} }}"
        for name, f in get_named_type(payload_type).fields.items()
        if isinstance(get_named_type(f.type), GraphQLObjectType) and name != "errors"
    ]
    return " ".join(records) + " errors { field code message }"


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


async def rows_holding(con: asyncpg.Connection, tables: set[str], text: str, since: int) -> dict[str, int]:
    """How many rows of each table, written after transaction `since`, hold exactly `text` in a column (or in a list
    or JSON document of one)."""
    counts = ", ".join(
        f"(select count(*) from {table} t where t.xmin::text::bigint > $2"
        f" and jsonb_path_exists(to_jsonb(t), '$.** ? (@ == $v)', jsonb_build_object('v', $1::text))) as {table}"
        for table in sorted(tables)
    )
    return dict(await con.fetchrow(f"select {counts}", text, since))


# ------------------------------------------------------------------------------------------------ the test


@dataclass
class Case:
    """One hostile value at one field of one mutation, and what must come of it."""

    path: Path
    value: Any
    # (field, code) of the refusal; None when the value is to be stored verbatim
    refusal: tuple[str, str] | None

    def __str__(self) -> str:
        shown = self.value[:40] if isinstance(self.value, str) else self.value
        return f"{field_name(self.path)} = {shown!r}"


def cases_of(mutation: str, serial: Callable[[], int]) -> tuple[list[Case], list[Case]]:
    """The values to be refused and those to be stored, for each field of the mutation's input."""
    input_type = schema._schema.mutation_type.fields[mutation].args["input"].type
    refused, stored = [], []
    for path, scalar in leaves(input_type):
        name = field_name(path)
        if scalar != "String":
            code = "STALE_VERSION" if path == ("expectedVersion",) else "BAD_USER_INPUT"
            refused.append(Case(path, -1 if scalar == "Int" else -1.5, (name, code)))
            continue
        refused += [Case(path, text, (name, "BAD_USER_INPUT")) for text in (CONTROL, OVERSIZED)]
        if name.removeprefix("input.") in FORMATTED:
            refused.append(Case(path, sql_text(serial()), (name, "BAD_USER_INPUT")))
        else:
            stored.append(Case(path, sql_text(serial()), None))
    return refused, stored


class Sender:
    """Sends one mutation's cases, each on a base input made afresh, and reads what they wrote."""

    def __init__(self, c: Context, mutation: str, base: Callable[[Context], Awaitable[Base]] | None = None) -> None:
        self.c = c
        self.mutation = mutation
        self.base = base or BASES[mutation]
        field = schema._schema.mutation_type.fields[mutation]
        variables = f"$input: {field.args['input'].type}"
        self.query = f"mutation({variables}) {{ {mutation}(input: $input) {{ {selection(field.type)} }} }}"
        self.before: dict[str, str] = {}

    async def snapshot(self) -> dict[str, str]:
        return await write_snapshot(self.c.api.url)

    async def send(self, case: Case, *, first: bool) -> dict[str, Any]:
        """The payload of the mutation with the case's value in an input that would otherwise be accepted."""
        token, base = await self.base(self.c)
        if self.c.dirty:  # a token or a record the base needed: the snapshot starts after it
            # only before the first case of a run: one snapshot after the run covers them all
            assert first, (self.mutation, str(case), "the base input needed a write after the first case")
            self.before = await self.snapshot()
            self.c.dirty = False
        response = await self.c.api.post(self.query, {"input": put(base, case.path, case.value)}, token=token)
        assert response.status_code == 200, (self.mutation, str(case), response.text[:500])
        body = response.json()
        assert "errors" not in body, (self.mutation, str(case), body["errors"])
        return dict(body["data"][self.mutation])

    async def refusals(self, cases: list[Case]) -> None:
        """Each case refused naming its field; none of them wrote anything (one snapshot after them all)."""
        self.c.dirty = True
        for index, case in enumerate(cases):
            payload = await self.send(case, first=index == 0)
            assert [(e["field"], e["code"]) for e in payload["errors"]] == [case.refusal], (
                self.mutation,
                str(case),
                payload,
            )
            assert case.refusal and case.refusal[0] in payload["errors"][0]["message"], (self.mutation, payload)
        after = await self.snapshot()
        assert {t for t in after if after[t] != self.before[t]} == set(), (self.mutation, "a refused request wrote")

    async def acceptances(self, cases: list[Case]) -> None:
        """Each case stored verbatim in a row it wrote and returned unchanged; all of them together wrote the
        mutation's own tables and nothing else (one snapshot after them all)."""
        expected = set()
        for index, case in enumerate(cases):
            since = int(await self.c.con.fetchval("select txid_current()"))
            payload = await self.send(case, first=index == 0)
            assert payload["errors"] == [], (self.mutation, str(case), payload)
            text = case.value
            if case.path[-1] not in NOT_RETURNED | NOT_RETURNED_BY.get(self.mutation, set()):
                assert text in set(strings_in(payload)), (self.mutation, str(case), "not returned unchanged", payload)
            tables = WRITES[self.mutation] | ({"idempotency_keys"} if case.path == ("idempotencyKey",) else set())
            holding = await rows_holding(self.c.con, tables, text, since)
            assert sum(holding.values()) >= 1, (self.mutation, str(case), "not stored verbatim", holding)
            expected |= tables
        after = await self.snapshot()
        assert {t for t in after if after[t] != self.before[t]} == expected, (self.mutation, "wrote")
        self.before = after


async def test_every_mutation_refuses_hostile_input_naming_the_field_and_stores_free_text_verbatim(api: Api) -> None:
    assert len(MUTATIONS) >= 20, MUTATIONS
    assert set(MUTATIONS) == set(BASES) | NOTHING_TO_SEND, "a mutation without a base input here"
    assert set(WRITES) == set(BASES)
    con = await db.connect(api.url)
    try:
        named = {r["name"]: r["id"] for r in await con.fetch("select id, name from labs")}
        agencies = {r["code"]: r["id"] for r in await con.fetch("select id, code from agencies")}
        # a model of a lab that takes part: its liaison and agencies may write for it (docs/design.md, "Participation")
        model = await con.fetchrow(
            """select m.id, m.lab_id from frontier_models m join labs l on l.id = m.lab_id
                where m.release_status = 'IN_DEVELOPMENT' and l.participation in ('ENGAGED', 'PARTICIPATING')
                order by m.id limit 1"""
        )
        assert model is not None
        ids = {
            **agencies,
            "updated lab": named["Kestrel Research (fictional)"],
            # an invited lab: it moves on to ENGAGED, and its leaving (which would close what it has open) is
            # tests/test_participation.py's
            "moved lab": await con.fetchval("select id from labs where participation = 'INVITED' order by id limit 1"),
            "model lab": model["lab_id"],
            "updated model": model["id"],
            "previewed model": model["id"],
        }
        c = Context(api, con, ids)
        sent = {"refused": 0, "stored": 0}
        for mutation in sorted(BASES):
            for base in [BASES[mutation], *VARIANTS.get(mutation, [])]:
                refused, stored = cases_of(mutation, c.next)
                assert refused, mutation
                sender = Sender(c, mutation, base)
                await sender.refusals(refused)
                await sender.acceptances(stored)
                sent["refused"] += len(refused)
                sent["stored"] += len(stored)
    finally:
        await con.close()
    # hostile values in every field of every mutation but NOTHING_TO_SEND; free texts stored as well as refused
    assert sent["refused"] > 250 and sent["stored"] > 80, sent


async def test_missing_and_unknown_input_fields_are_validation_errors(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="OFFICER")
    for name in MUTATIONS:
        missing = await demo_api.post(f"mutation {{ {name} {{ __typename }} }}", token=token)
        assert missing.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", name
        unknown = await demo_api.post(f"mutation {{ {name}(input: {{bogus: 1}}) {{ __typename }} }}", token=token)
        assert "bogus" in unknown.json()["errors"][0]["message"], name
