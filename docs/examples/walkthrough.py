"""Walk one model through the whole program, with tokens of different agencies, against a running hub.

    HUB_URL=http://127.0.0.1:8000/graphql LAB_TOKEN=... CISA_TOKEN=... NIST_TOKEN=... DOD_TOKEN=... \\
        .venv/bin/python docs/examples/walkthrough.py

The lab (Anthropic's liaison) registers a model and offers early access; CISA and NIST accept; CISA and NIST adopt
a coverage standard; the lab requests a determination and CISA records a decision; DoD, the model now covered, asks
the lab for early access itself and the lab accepts; DoD reports a finding, then plans, deploys and verifies a
measure; CISA proposes an engagement, the lab accepts it, the counterpart consents and CISA completes it; the lab
releases the model, and each agency reads the preview lead time it had. Then it prints the history of each record.
Every step is an ordinary GraphQL mutation; any error stops the script with the server's message.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

URL = os.environ.get("HUB_URL", "http://127.0.0.1:8000/graphql")
TOKENS = {who: os.environ[f"{who}_TOKEN"] for who in ("LAB", "CISA", "NIST", "DOD")}
RUN = time.strftime("%Y%m%d-%H%M%S")


def call(who: str, query: str, **variables: Any) -> dict[str, Any]:
    """Run one operation as `who`; stop on any error."""
    response = httpx.post(
        URL,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {TOKENS[who]}"},
        timeout=30,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        sys.exit(f"{who}: {body.get('errors')}")
    data = body["data"]
    for payload in data.values():
        if isinstance(payload, dict) and payload.get("errors"):
            sys.exit(f"{who}: {payload['errors']}")
    return dict(data)


def mutate(
    who: str, mutation: str, input_type: str, record: str, fields: str, /, **input_fields: Any
) -> dict[str, Any]:
    """Run mutation `mutation` as `who` with `input_fields` as its input; returns the record's `fields`."""
    selection = f"{record} {{ {fields} }} errors {{ field code message }}"
    query = f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ {selection} }} }}"
    result = call(who, query, input=input_fields)[mutation][record]
    print(f"{who:>4} {mutation:<32} -> {result}")
    return dict(result)


def main() -> None:
    lab_id = call("LAB", "{ me { lab { id name } } }")["me"]["lab"]["id"]
    agencies = {
        e["node"]["code"]: e["node"]["id"]
        for e in call("CISA", "{ agencies(first: 20) { edges { node { id code } } } }")["agencies"]["edges"]
    }

    model = mutate(
        "LAB",
        "registerModel",
        "RegisterModelInput",
        "model",
        "id version name releaseStatus",
        labId=lab_id,
        name="Walkthrough model (fictional)",
        modelVersion=RUN,
        modality="TEXT",
        capabilities=["code", "vulnerability-discovery"],
        trainingComputeFlop=2.0e25,
    )
    start = datetime.now(UTC)
    agreement = mutate(
        "LAB",
        "offerEarlyAccess",
        "OfferEarlyAccessInput",
        "agreement",
        "id version state",
        modelId=model["id"],
        agencyIds=[agencies["CISA"], agencies["NIST"], agencies["DOD"]],
        accessKinds=["API", "SANDBOX"],
        accessStart=start.isoformat(),
        accessEnd=(start + timedelta(days=21)).isoformat(),
        protections=["CONFIDENTIALITY", "CYBERSECURITY"],
        labConsentRef=f"LAB-CONSENT-{RUN}",
    )
    for who in ("CISA", "NIST"):
        agreement = mutate(
            who,
            "acceptEarlyAccess",
            "AcceptEarlyAccessInput",
            "agreement",
            "id version state",
            id=agreement["id"],
            expectedVersion=agreement["version"],
        )

    standard = mutate(
        "CISA",
        "draftCoverageStandard",
        "DraftCoverageStandardInput",
        "standard",
        "id version state",
        standardVersion=f"walkthrough-{RUN}",
        title="Frontier model coverage (walkthrough)",
        # a typed criterion: an exact threshold written as a string (never a float), in a unit, with what it counts
        criteria=[
            {
                "metric": "TRAINING_COMPUTE",
                "computeScope": "TOTAL",
                "threshold": "10^25",
                "unit": "FLOP",
                "description": "Trained with more than 10^25 FLOP",
            }
        ],
    )
    standard = mutate(
        "CISA",
        "submitCoverageStandard",
        "SubmitCoverageStandardInput",
        "standard",
        "id version state",
        id=standard["id"],
        expectedVersion=standard["version"],
    )
    for who in ("CISA", "NIST"):
        standard = mutate(
            who,
            "signCoverageStandard",
            "SignCoverageStandardInput",
            "standard",
            "id version state",
            id=standard["id"],
            expectedVersion=standard["version"],
        )

    decision = mutate(
        "LAB",
        "requestCoverageDetermination",
        "RequestCoverageDeterminationInput",
        "decision",
        "id version state latestScreening { proposedOutcome }",
        modelId=model["id"],
        standardId=standard["id"],
    )
    # every request is screened; an outcome other than the screening's proposal is an override, with its reason
    proposed = decision["latestScreening"]["proposedOutcome"]
    override = None if proposed == "COVERED" else "The lab's compute report, on file with CISA, is above 10^25 FLOP."
    decision = mutate(
        "NIST",
        "startCoverageAssessment",
        "StartCoverageAssessmentInput",
        "decision",
        "id version state",
        id=decision["id"],
        expectedVersion=decision["version"],
    )
    decision = mutate(
        "CISA",
        "decideCoverage",
        "DecideCoverageInput",
        "decision",
        "id version state pendingOutcome",
        id=decision["id"],
        expectedVersion=decision["version"],
        outcome="COVERED",
        rationale="Training compute above the standard's threshold.",
        overrideReason=override,
    )
    # CISA signed for CISA; the decision is in effect once NIST, the other agency the standard names, concurs
    decision = mutate(
        "NIST",
        "concurCoverageDecision",
        "ConcurCoverageDecisionInput",
        "decision",
        "id version state outcome isOverride",
        id=decision["id"],
        expectedVersion=decision["version"],
    )

    # the model is covered: DoD, on no agreement yet, asks the lab for early access itself; the lab accepts, for as
    # long as it chooses, and DoD has joined the agreement by asking
    request = mutate(
        "DOD",
        "requestEarlyAccess",
        "RequestEarlyAccessInput",
        "request",
        "id version state leadTimeDays",
        modelId=model["id"],
        accessKinds=["SANDBOX"],
        message="Sandbox access ahead of general availability, for a red-team exercise",
    )
    request = mutate(
        "LAB",
        "answerEarlyAccessRequest",
        "AnswerEarlyAccessRequestInput",
        "request",
        "id version state answer agreements { id state }",
        id=request["id"],
        expectedVersion=request["version"],
        answer="ACCEPT",
        accessStart=start.isoformat(),
        accessEnd=(start + timedelta(days=45)).isoformat(),
        protections=["CONFIDENTIALITY"],
    )

    finding = mutate(
        "DOD",
        "reportFinding",
        "ReportFindingInput",
        "finding",
        "id version state",
        title="Model-found deserialization flaw in a hospital PACS (fictional)",
        modelId=model["id"],
        discoveredBy="MODEL",
        cvss={"baseScore": 9.1},
        sectors=["HEALTHCARE_AND_PUBLIC_HEALTH"],
        tlp="GREEN",
    )
    measure = mutate(
        "DOD",
        "planMeasure",
        "PlanMeasureInput",
        "measure",
        "id version state",
        title="Detect exploitation attempts of the PACS flaw",
        kind="DETECT",
        systemScope="Military treatment facility imaging networks (fictional)",
        ownerComponent="DHA",
        attackIds=["T1190"],
        nist80053Controls=["SI-4"],
        findingIds=[finding["id"]],
        modelIds=[model["id"]],
        tlp="GREEN",
    )
    for to, extra in (
        ("DEPLOYING", {}),
        ("DEPLOYED", {}),
        ("VERIFIED", {"evidence": "Replay of the exploit raised an alert within 2 minutes"}),
    ):
        measure = mutate(
            "DOD",
            "transitionMeasure",
            "TransitionMeasureInput",
            "measure",
            "id version state",
            id=measure["id"],
            to=to,
            expectedVersion=measure["version"],
            **extra,
        )

    # CISA proposes, the lab accepts, the counterpart consents: only then can the engagement become ACTIVE
    counterpart = mutate(
        "CISA",
        "registerInfrastructureCounterpart",
        "RegisterInfrastructureCounterpartInput",
        "infrastructureCounterpart",
        "id",
        name="Rural hospital network (fictional)",
        kind="RURAL_HOSPITAL",
        sector="HEALTHCARE_AND_PUBLIC_HEALTH",
        region="Kansas",
    )
    engagement = mutate(
        "CISA",
        "openEngagement",
        "OpenEngagementInput",
        "engagement",
        "id version state",
        title="Fix the PACS flaw at rural hospitals",
        labId=lab_id,
        sector="HEALTHCARE_AND_PUBLIC_HEALTH",
        counterpartId=counterpart["id"],
        kind="CVD_COORDINATION",
        findingIds=[finding["id"]],
        tlp="GREEN",
    )
    engagement = mutate(
        "LAB",
        "acceptEngagement",
        "AcceptEngagementInput",
        "engagement",
        "id version state",
        id=engagement["id"],
        expectedVersion=engagement["version"],
    )
    engagement = mutate(
        "CISA",
        "recordCounterpartConsent",
        "RecordCounterpartConsentInput",
        "engagement",
        "id version state",
        id=engagement["id"],
        expectedVersion=engagement["version"],
        consented=True,
        consentRef="Signed letter of the hospital network's CIO (fictional)",
    )
    for to in ("SCOPING", "ACTIVE", "COMPLETED"):
        engagement = mutate(
            "CISA",
            "transitionEngagement",
            "TransitionEngagementInput",
            "engagement",
            "id version state",
            id=engagement["id"],
            to=to,
            expectedVersion=engagement["version"],
        )

    # the lab releases when it chooses; each agency reads the lead time it had against the one it asked for
    model = mutate(
        "LAB",
        "setModelReleaseStatus",
        "SetModelReleaseStatusInput",
        "model",
        "id version releaseStatus generalAvailabilityOn",
        id=model["id"],
        to="GENERALLY_AVAILABLE",
        expectedVersion=call(
            "LAB", "query($id: ID!) { node(id: $id) { ... on FrontierModel { version } } }", id=model["id"]
        )["node"]["version"],
    )
    print("\npreview lead times:")
    for who in ("CISA", "DOD"):
        report = call(
            who,
            """query($model: [ID!]) { previewLeadTimes(filter: {modelIds: $model}) { edges { node {
                agency { code } accessStartOn generalAvailabilityOn basis days askedDays given } } } }""",
            model=[model["id"]],
        )["previewLeadTimes"]["edges"]
        for edge in report:
            row = edge["node"]
            span = f"from {row['accessStartOn']} to {row['generalAvailabilityOn']}"
            print(
                f"  as {who:<4} {row['agency']['code']:<4} {span}: {row['days']} days ({row['basis']}),"
                f" {row['askedDays']} asked, given: {row['given']}"
            )

    print("\nhistory, as CISA sees it:")
    records = {
        "model": model,
        "agreement": agreement,
        "standard": standard,
        "decision": decision,
        "finding": finding,
        "measure": measure,
        "engagement": engagement,
    }
    ids = [r["id"] for r in records.values()]
    nodes = call(
        "CISA",
        """query($ids: [ID!]!) { nodes(ids: $ids) { id __typename
        ... on FrontierModel { history { action fromState toState actorAgency { code } actorLab { name } } }
        ... on EarlyAccessAgreement { history { action fromState toState actorAgency { code } actorLab { name } } }
        ... on CoverageStandard { history { action fromState toState actorAgency { code } actorLab { name } } }
        ... on CoverageDecision { history { action fromState toState actorAgency { code } actorLab { name } } }
        ... on Finding { history { action fromState toState actorAgency { code } actorLab { name } } }
        ... on CyberMeasure { history { action fromState toState actorAgency { code } actorLab { name } } }
        ... on InfrastructureEngagement { history { action fromState toState actorAgency { code } actorLab { name } } }
    } }""",
        ids=ids,
    )["nodes"]
    for name, node in zip(records, nodes, strict=True):
        steps = []
        for event in node["history"]:
            actor = (event["actorAgency"] or {}).get("code") or (event["actorLab"] or {}).get("name") or "hub"
            move = f"{event['fromState'] or ''}->{event['toState']}" if event["toState"] else ""
            steps.append(f"{event['action']}{'(' + move + ')' if move else ''} by {actor}")
        print(f"  {name:<11} {'; '.join(steps)}")


if __name__ == "__main__":
    main()
