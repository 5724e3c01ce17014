"""Coverage standards (CISA and NIST) and coverage decisions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any

import strawberry

from hub.store import coverage as store
from hub.store.agencies import AGENCY
from hub.store.models import MODEL
from schema.agencies import Agency
from schema.common import (
    Connection,
    Node,
    OrderDirection,
    Record,
    computed_field,
    decode_ids,
    record_fields,
    register_node,
    relation_field,
    resolve_connection,
    state_enum,
    to_global_id,
    transitions_field,
    values,
)
from schema.models import FrontierModel
from schema.mutations import UserError, optional_id, record_id, run_mutation
from schema.relations import ById, Related, Rows

# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    CoverageStandardState = Enum
else:
    CoverageStandardState = state_enum("STANDARD")


# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    CoverageDecisionState = Enum
else:
    CoverageDecisionState = state_enum("DECISION")


@strawberry.enum(description="COVERED only makes a model eligible for an invitation to the program.")
class CoverageOutcome(Enum):
    COVERED = "COVERED"
    NOT_COVERED = "NOT_COVERED"
    INSUFFICIENT_INFORMATION = "INSUFFICIENT_INFORMATION"


@strawberry.enum
class CriterionKind(Enum):
    COMPUTE_THRESHOLD = "COMPUTE_THRESHOLD"
    CAPABILITY_EVAL = "CAPABILITY_EVAL"
    DESIGNATION = "DESIGNATION"


@strawberry.type
class CoverageCriterion:
    kind: CriterionKind
    description: str
    threshold: float | None = strawberry.field(description="For COMPUTE_THRESHOLD: training compute in FLOP.")


@strawberry.type
class Signoff:
    agency_pk: strawberry.Private[int]
    signed_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Signoff:
        return cls(agency_pk=row["agency_id"], signed_at=row["signed_at"])

    agency: Agency = relation_field(ById(AGENCY, "agency_pk"))


@register_node("CoverageStandard", store.STANDARD)
@strawberry.type(description="The standard that decides which models the program covers.")
class CoverageStandard(Node, Record):
    KIND = "STANDARD"
    available_transitions = transitions_field("STANDARD", CoverageStandardState)
    owner_agency_pk: strawberry.Private[int]
    superseded_by_pk: strawberry.Private[int | None]
    standard_version: str
    title: str
    summary: str | None
    state: CoverageStandardState
    criteria: list[CoverageCriterion] = computed_field("built by from_row from the standard's criteria column")
    required_signoffs: list[str] = strawberry.field(
        description="Codes of the agencies whose sign-off adoption needs (from the policy when drafted)."
    )
    due_on: date = strawberry.field(description="The order date plus the policy's standardDueDays.")
    adopted_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CoverageStandard:
        return cls(
            id=to_global_id("CoverageStandard", row["id"]),
            owner_agency_pk=row["owner_agency_id"],
            superseded_by_pk=row["superseded_by_id"],
            standard_version=row["standard_version"],
            title=row["title"],
            summary=row["summary"],
            state=CoverageStandardState(row["state"]),
            criteria=[
                CoverageCriterion(
                    kind=CriterionKind(c["kind"]), description=c["description"], threshold=c.get("threshold")
                )
                for c in row["criteria"]
            ],
            required_signoffs=list(row["required_signoffs"]),
            due_on=row["due_on"],
            adopted_at=row["adopted_at"],
            **record_fields(row),
        )

    owner_agency: Agency | None = relation_field(ById(AGENCY, "owner_agency_pk"))

    signoffs: list[Signoff] = relation_field(Rows("signoffs"), description="Sign-offs so far, oldest first.")

    superseded_by: CoverageStandard | None = relation_field(
        ById(store.STANDARD, "superseded_by_pk"),
        description="The standard that superseded this one, if you may see it.",
    )

    decisions: list[CoverageDecision] = relation_field(
        Related(store.DECISIONS_BY_STANDARD), first=100, description="Determinations made under this standard."
    )


@register_node("CoverageDecision", store.DECISION)
@strawberry.type(description="A coverage determination on a model under a standard.")
class CoverageDecision(Node, Record):
    KIND = "DECISION"
    available_transitions = transitions_field("DECISION", CoverageDecisionState)
    model_pk: strawberry.Private[int]
    standard_pk: strawberry.Private[int]
    decided_by_agency_pk: strawberry.Private[int | None]
    state: CoverageDecisionState
    outcome: CoverageOutcome | None
    rationale: str | None
    request_note: str | None
    decided_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CoverageDecision:
        return cls(
            id=to_global_id("CoverageDecision", row["id"]),
            model_pk=row["model_id"],
            standard_pk=row["standard_id"],
            decided_by_agency_pk=row["decided_by_agency_id"],
            state=CoverageDecisionState(row["state"]),
            outcome=CoverageOutcome(row["outcome"]) if row["outcome"] else None,
            rationale=row["rationale"],
            request_note=row["request_note"],
            decided_at=row["decided_at"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))

    standard: CoverageStandard | None = relation_field(ById(store.STANDARD, "standard_pk"))

    decided_by: Agency | None = relation_field(
        ById(AGENCY, "decided_by_agency_pk"), description="The agency whose officer recorded the decision."
    )


@strawberry.enum
class CoverageStandardOrderField(Enum):
    NAME = "NAME"
    VERSION = "VERSION"
    DUE_ON = "DUE_ON"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class CoverageStandardOrder:
    field: CoverageStandardOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class CoverageStandardFilter:
    state: list[CoverageStandardState] | None = None
    search: str | None = None
    due_from: date | None = None
    due_before: date | None = None


@strawberry.enum
class CoverageDecisionOrderField(Enum):
    STATE = "STATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class CoverageDecisionOrder:
    field: CoverageDecisionOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class CoverageDecisionFilter:
    state: list[CoverageDecisionState] | None = None
    outcome: list[CoverageOutcome] | None = None
    model_ids: list[strawberry.ID] | None = None
    standard_ids: list[strawberry.ID] | None = None
    lab_ids: list[strawberry.ID] | None = None
    decided_from: datetime | None = None
    decided_before: datetime | None = None


@strawberry.type
class CoverageQuery:
    @strawberry.field(description="Coverage standards, in creation order unless ordered otherwise.")
    async def coverage_standards(
        self,
        info: strawberry.Info,
        filter: CoverageStandardFilter | None = None,
        order_by: CoverageStandardOrder | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[CoverageStandard]:
        f = filter or CoverageStandardFilter()
        filters = {"state": values(f.state), "search": f.search, "due_from": f.due_from, "due_before": f.due_before}
        return await resolve_connection(
            info,
            store.STANDARD,
            CoverageStandard,
            filters=filters,
            where=store.where_standards,
            order=order_by,
            first=first,
            after=after,
        )

    @strawberry.field(description="Coverage determinations.")
    async def coverage_decisions(
        self,
        info: strawberry.Info,
        filter: CoverageDecisionFilter | None = None,
        order_by: CoverageDecisionOrder | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[CoverageDecision]:
        f = filter or CoverageDecisionFilter()
        filters = {
            "state": values(f.state),
            "outcome": values(f.outcome),
            "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
            "standard_ids": decode_ids(f.standard_ids, "CoverageStandard", field="filter.standardIds"),
            "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
            "decided_from": f.decided_from,
            "decided_before": f.decided_before,
        }
        return await resolve_connection(
            info,
            store.DECISION,
            CoverageDecision,
            filters=filters,
            where=store.where_decisions,
            order=order_by,
            first=first,
            after=after,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class CoverageCriterionInput:
    kind: CriterionKind
    description: str
    threshold: float | None = strawberry.field(
        default=None, description="0 or more; required for COMPUTE_THRESHOLD (training compute in FLOP)."
    )


@strawberry.input
class DraftCoverageStandardInput:
    standard_version: str = strawberry.field(description="Unique, e.g. 1.3; a change to a standard is a new one.")
    title: str
    summary: str | None = None
    criteria: list[CoverageCriterionInput] = strawberry.field(description="1 to 50 criteria.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of drafting twice."
    )


@strawberry.input
class SubmitCoverageStandardInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class SignCoverageStandardInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class WithdrawCoverageStandardInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class RequestCoverageDeterminationInput:
    model_id: strawberry.ID
    standard_id: strawberry.ID | None = strawberry.field(
        default=None, description="The adopted standard (the default); naming it guards against a newer one."
    )
    note: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of requesting twice."
    )


@strawberry.input
class StartCoverageAssessmentInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class DecideCoverageInput:
    id: strawberry.ID
    expected_version: int
    outcome: CoverageOutcome
    rationale: str = strawberry.field(description="Why, up to 10,000 characters.")


@strawberry.input
class RequestCoverageReconsiderationInput:
    id: strawberry.ID
    expected_version: int
    reason: str


@strawberry.input
class WithdrawCoverageRequestInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.type
class CoverageStandardPayload:
    standard: CoverageStandard | None
    errors: list[UserError]


@strawberry.type
class CoverageDecisionPayload:
    decision: CoverageDecision | None
    errors: list[UserError]


async def standard_payload(info: strawberry.Info, action: Any) -> CoverageStandardPayload:
    row, errors = await run_mutation(info, action, store.STANDARD)
    return CoverageStandardPayload(standard=CoverageStandard.from_row(row) if row else None, errors=errors)


async def standard_move(
    info: strawberry.Info, input: Any, move: Callable[..., Awaitable[int]]
) -> CoverageStandardPayload:
    """A mutation that moves a standard: `move(con, principal, standard_id, expected_version, reason)`."""
    standard_id = record_id(input.id, "CoverageStandard")
    return await standard_payload(info, lambda con, p: move(con, p, standard_id, input.expected_version, input.reason))


async def decision_payload(info: strawberry.Info, action: Any) -> CoverageDecisionPayload:
    row, errors = await run_mutation(info, action, store.DECISION)
    return CoverageDecisionPayload(decision=CoverageDecision.from_row(row) if row else None, errors=errors)


@strawberry.type
class CoverageMutation:
    @strawberry.mutation(
        description="Draft a coverage standard (CISA and NIST officers); the policy in force now "
        "names the agencies that must sign it and its due date."
    )
    async def draft_coverage_standard(
        self, info: strawberry.Info, input: DraftCoverageStandardInput
    ) -> CoverageStandardPayload:
        values = {
            "standard_version": input.standard_version,
            "title": input.title,
            "summary": input.summary,
            "criteria": [
                {"kind": c.kind.value, "description": c.description, "threshold": c.threshold} for c in input.criteria
            ],
            "idempotency_key": input.idempotency_key,
        }
        return await standard_payload(info, lambda con, p: store.draft_standard(con, p, values))

    @strawberry.mutation(description="Submit a draft standard for review: DRAFT -> IN_REVIEW.")
    async def submit_coverage_standard(
        self, info: strawberry.Info, input: SubmitCoverageStandardInput
    ) -> CoverageStandardPayload:
        return await standard_move(info, input, partial(store.move_standard, mutation="submitCoverageStandard"))

    @strawberry.mutation(
        description="Sign a standard in review for your agency; the last required signature "
        "adopts it and supersedes the standard in force and its decisions."
    )
    async def sign_coverage_standard(
        self, info: strawberry.Info, input: SignCoverageStandardInput
    ) -> CoverageStandardPayload:
        return await standard_move(info, input, store.sign_standard)

    @strawberry.mutation(description="Withdraw a draft or a standard in review.")
    async def withdraw_coverage_standard(
        self, info: strawberry.Info, input: WithdrawCoverageStandardInput
    ) -> CoverageStandardPayload:
        return await standard_move(info, input, partial(store.move_standard, mutation="withdrawCoverageStandard"))

    @strawberry.mutation(
        description="Ask whether the adopted standard covers a model (the model's lab, or CISA "
        "and NIST officers on its behalf)."
    )
    async def request_coverage_determination(
        self, info: strawberry.Info, input: RequestCoverageDeterminationInput
    ) -> CoverageDecisionPayload:
        values = {
            "model_id": record_id(input.model_id, "FrontierModel", "input.modelId"),
            "standard_id": optional_id(input.standard_id, "CoverageStandard", "input.standardId"),
            "note": input.note,
            "idempotency_key": input.idempotency_key,
        }
        return await decision_payload(info, lambda con, p: store.request_determination(con, p, values))

    @strawberry.mutation(description="Start assessing a request: REQUESTED -> UNDER_ASSESSMENT.")
    async def start_coverage_assessment(
        self, info: strawberry.Info, input: StartCoverageAssessmentInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info, lambda con, p: store.start_assessment(con, p, decision_id, input.expected_version, input.reason)
        )

    @strawberry.mutation(
        description="Record the outcome and its rationale. COVERED only makes the model eligible "
        "for an invitation; the model's release status never depends on it."
    )
    async def decide_coverage(self, info: strawberry.Info, input: DecideCoverageInput) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info,
            lambda con, p: store.decide(
                con, p, decision_id, input.expected_version, input.outcome.value, input.rationale
            ),
        )

    @strawberry.mutation(description="The model's lab asks for a decision to be reconsidered.")
    async def request_coverage_reconsideration(
        self, info: strawberry.Info, input: RequestCoverageReconsiderationInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info,
            lambda con, p: store.request_reconsideration(con, p, decision_id, input.expected_version, input.reason),
        )

    @strawberry.mutation(description="The model's lab withdraws its coverage request.")
    async def withdraw_coverage_request(
        self, info: strawberry.Info, input: WithdrawCoverageRequestInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info, lambda con, p: store.withdraw_request(con, p, decision_id, input.expected_version, input.reason)
        )
