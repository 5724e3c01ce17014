"""The inputs of a coverage screening: compute estimates, evaluation suites and their results, and designations
(hub/store/evidence.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal as PyDecimal
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from hub.quantities import COMPUTE_UNITS, EXACT, SCORE_UNITS
from hub.store import evidence as store
from hub.store.agencies import AGENCY
from hub.store.labs import LAB
from hub.store.models import MODEL
from schema.agencies import Agency
from schema.common import (
    Connection,
    Decimal,
    Node,
    OrderDirection,
    Record,
    connection_field,
    decode_ids,
    record_fields,
    register_connection,
    register_node,
    relation_field,
    resolve_connection,
    state_enum,
    to_global_id,
    transitions_field,
    values,
)
from schema.labs import Lab
from schema.models import FrontierModel
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import ById, Related

# the states of the registry (hub/kinds.py), in its order; the units of hub/quantities.py, in its order
if TYPE_CHECKING:
    ModelDesignationState = Enum
    ComputeUnit = Enum
    ScoreUnit = Enum
else:
    ModelDesignationState = state_enum("DESIGNATION")
    ComputeUnit = strawberry.enum(
        Enum("ComputeUnit", [(unit, unit) for unit in COMPUTE_UNITS]),
        description="A unit of training compute: operations (FLOP, not per second) and their decimal multiples "
        "(GFLOP = 10^9 FLOP ... YFLOP = 10^24 FLOP); PFLOP_S_DAY is 10^15 operations a second for a day "
        "(8.64 x 10^19 FLOP). Stored in FLOP.",
    )
    ScoreUnit = strawberry.enum(
        Enum("ScoreUnit", [(unit, unit) for unit in SCORE_UNITS]),
        description="The unit of a suite's scores: PERCENT (0 to 100) and FRACTION (0 to 1) convert into each "
        "other; POINTS are the suite's own scale and convert to nothing else.",
    )


@strawberry.enum(description="The capability an evaluation suite measures.")
class CapabilityArea(Enum):
    CYBER_OFFENSE = "CYBER_OFFENSE"
    CYBER_DEFENSE = "CYBER_DEFENSE"
    CBRN = "CBRN"
    AUTONOMY = "AUTONOMY"
    PERSUASION = "PERSUASION"
    GENERAL = "GENERAL"


@strawberry.enum(
    description="Who a compute estimate or an evaluation result is from: LAB_REPORTED, the model's lab (written by "
    "its liaison); AGENCY_ESTIMATED, an agency (estimated or run by it)."
)
class EvidenceMethod(Enum):
    LAB_REPORTED = "LAB_REPORTED"
    AGENCY_ESTIMATED = "AGENCY_ESTIMATED"


INPUT_SIGHT = (
    "Seen by the model's lab, the agency that made it, the agencies party to an ACTIVE or COMPLETED agreement on the "
    "model, and, once the lab has asked for a coverage determination on the model, the officers and admins of the "
    "agencies whose sign-off that standard needs."
)


@register_node("ComputeEstimate", store.COMPUTE_ESTIMATE)
@strawberry.type(
    description="A model's training compute, in FLOP, as its lab reported it or an agency estimated it. " + INPUT_SIGHT
)
class ComputeEstimate(Node, Record):
    KIND = "COMPUTE_ESTIMATE"
    model_pk: strawberry.Private[int]
    lab_pk: strawberry.Private[int]
    author_agency_pk: strawberry.Private[int | None]
    method: EvidenceMethod
    pre_training_low: Decimal = strawberry.field(description="Pre-training compute in FLOP, the low end.")
    pre_training_high: Decimal = strawberry.field(
        description="Pre-training compute in FLOP, the high end (the low one for a single value)."
    )
    post_training_low: Decimal | None = strawberry.field(
        description="Post-training compute (fine-tuning, reinforcement learning) in FLOP, the low end; null when "
        "not reported."
    )
    post_training_high: Decimal | None = strawberry.field(
        description="Post-training compute in FLOP, the high end; null when not reported."
    )
    total_low: Decimal = strawberry.field(
        description="Training compute in all, in FLOP, the low end: pre-training plus post-training (pre-training "
        "alone when post-training is not reported, which is then a lower bound)."
    )
    total_high: Decimal | None = strawberry.field(
        description="Training compute in all, in FLOP, the high end; null when post-training is not reported (no "
        "upper bound is known)."
    )
    method_note: str | None = strawberry.field(description="How the figures were arrived at; always given by agencies.")
    as_of: date = strawberry.field(description="The date the figures are as of.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ComputeEstimate:
        post_reported = row["post_training_low"] is not None
        return cls(
            id=to_global_id("ComputeEstimate", row["id"]),
            model_pk=row["model_id"],
            lab_pk=row["lab_id"],
            author_agency_pk=row["author_agency_id"],
            method=EvidenceMethod(row["method"]),
            pre_training_low=row["pre_training_low"],
            pre_training_high=row["pre_training_high"],
            post_training_low=row["post_training_low"],
            post_training_high=row["post_training_high"],
            total_low=Decimal(EXACT.add(row["pre_training_low"], row["post_training_low"] or PyDecimal(0))),
            total_high=Decimal(EXACT.add(row["pre_training_high"], row["post_training_high"]))
            if post_reported
            else None,
            method_note=row["method_note"],
            as_of=row["as_of"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))

    lab: Lab | None = relation_field(ById(LAB, "lab_pk"))

    author_agency: Agency | None = relation_field(
        ById(AGENCY, "author_agency_pk"), description="The estimating agency; null for what the lab reported."
    )


@register_node("EvaluationSuite", store.EVAL_SUITE)
@strawberry.type(description="An evaluation suite at a version, in the register every agency and lab may read.")
class EvaluationSuite(Node, Record):
    KIND = "EVAL_SUITE"
    owner_agency_pk: strawberry.Private[int]
    name: str
    suite_version: str
    capability_area: CapabilityArea
    score_unit: ScoreUnit = strawberry.field(description="The unit every result on the suite is recorded in.")
    description: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EvaluationSuite:
        return cls(
            id=to_global_id("EvaluationSuite", row["id"]),
            owner_agency_pk=row["owner_agency_id"],
            name=row["name"],
            suite_version=row["suite_version"],
            capability_area=CapabilityArea(row["capability_area"]),
            score_unit=ScoreUnit(row["score_unit"]),
            description=row["description"],
            **record_fields(row),
        )

    owner_agency: Agency | None = relation_field(
        ById(AGENCY, "owner_agency_pk"), description="The agency that registered the suite."
    )

    results: list[EvaluationResult] = relation_field(
        Related(store.RESULTS_BY_SUITE),
        first=100,
        description="Results on the suite that you may see, oldest first.",
        deprecation_reason="Use resultsConnection, which pages, filters, orders and counts.",
    )

    results_connection = connection_field(store.RESULTS_BY_SUITE, "EvaluationResult")


@register_node("EvaluationResult", store.EVAL_RESULT)
@strawberry.type(
    description="A model's score on an evaluation suite, as its lab reported it or an agency ran it. " + INPUT_SIGHT
)
class EvaluationResult(Node, Record):
    KIND = "EVAL_RESULT"
    model_pk: strawberry.Private[int]
    lab_pk: strawberry.Private[int]
    suite_pk: strawberry.Private[int]
    run_by_agency_pk: strawberry.Private[int | None]
    method: EvidenceMethod
    score: Decimal = strawberry.field(description="The score, in scoreUnit (the suite's).")
    score_unit: ScoreUnit = strawberry.field(description="The suite's unit, which the score is in.")
    ran_on: date
    model_version: str = strawberry.field(
        description="The model version the suite ran against, as the runner wrote it."
    )
    evidence_ref: str = strawberry.field(description="Where the evidence is (a report, a document reference).")
    evidence_sha256: str | None = strawberry.field(description="The SHA-256 of the evidence, lowercase hexadecimal.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EvaluationResult:
        return cls(
            id=to_global_id("EvaluationResult", row["id"]),
            model_pk=row["model_id"],
            lab_pk=row["lab_id"],
            suite_pk=row["suite_id"],
            run_by_agency_pk=row["run_by_agency_id"],
            method=EvidenceMethod(row["method"]),
            score=row["score"],
            score_unit=ScoreUnit(row["score_unit"]),
            ran_on=row["ran_on"],
            model_version=row["model_version"],
            evidence_ref=row["evidence_ref"],
            evidence_sha256=row["evidence_sha256"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))

    lab: Lab | None = relation_field(ById(LAB, "lab_pk"))

    suite: EvaluationSuite | None = relation_field(ById(store.EVAL_SUITE, "suite_pk"))

    run_by_agency: Agency | None = relation_field(
        ById(AGENCY, "run_by_agency_pk"), description="The agency that ran it; null for what the lab reported."
    )


@register_node("ModelDesignation", store.DESIGNATION)
@strawberry.type(
    description="An agency's designation of a model as one the program should cover; one in force per model and "
    "agency. Seen by every agency principal and the model's lab."
)
class ModelDesignation(Node, Record):
    KIND = "DESIGNATION"
    available_transitions = transitions_field("DESIGNATION", ModelDesignationState)
    model_pk: strawberry.Private[int]
    lab_pk: strawberry.Private[int]
    agency_pk: strawberry.Private[int]
    state: ModelDesignationState
    reason: str
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelDesignation:
        return cls(
            id=to_global_id("ModelDesignation", row["id"]),
            model_pk=row["model_id"],
            lab_pk=row["lab_id"],
            agency_pk=row["agency_id"],
            state=ModelDesignationState(row["state"]),
            reason=row["reason"],
            withdrawn_at=row["withdrawn_at"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))

    lab: Lab | None = relation_field(ById(LAB, "lab_pk"))

    agency: Agency | None = relation_field(ById(AGENCY, "agency_pk"), description="The designating agency.")


# ------------------------------------------------------------------------------------------------ lists


@strawberry.enum
class ComputeEstimateOrderField(Enum):
    AS_OF = "AS_OF"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class ComputeEstimateOrder:
    field: ComputeEstimateOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class ComputeEstimateFilter:
    model_ids: list[strawberry.ID] | None = None
    lab_ids: list[strawberry.ID] | None = None
    method: list[EvidenceMethod] | None = None


@strawberry.enum
class EvaluationSuiteOrderField(Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class EvaluationSuiteOrder:
    field: EvaluationSuiteOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class EvaluationSuiteFilter:
    capability_area: list[CapabilityArea] | None = None
    search: str | None = strawberry.field(default=None, description="Words that start words of the name or version.")


@strawberry.enum
class EvaluationResultOrderField(Enum):
    RAN_ON = "RAN_ON"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class EvaluationResultOrder:
    field: EvaluationResultOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class EvaluationResultFilter:
    model_ids: list[strawberry.ID] | None = None
    suite_ids: list[strawberry.ID] | None = None
    method: list[EvidenceMethod] | None = None


@strawberry.enum
class ModelDesignationOrderField(Enum):
    STATE = "STATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class ModelDesignationOrder:
    field: ModelDesignationOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class ModelDesignationFilter:
    model_ids: list[strawberry.ID] | None = None
    agency_ids: list[strawberry.ID] | None = None
    state: list[ModelDesignationState] | None = None


def compute_estimate_filters(f: ComputeEstimateFilter) -> dict[str, Any]:
    return {
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "method": values(f.method),
    }


def evaluation_suite_filters(f: EvaluationSuiteFilter) -> dict[str, Any]:
    return {"capability_area": values(f.capability_area), "search": f.search}


def evaluation_result_filters(f: EvaluationResultFilter) -> dict[str, Any]:
    return {
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "suite_ids": decode_ids(f.suite_ids, "EvaluationSuite", field="filter.suiteIds"),
        "method": values(f.method),
    }


def designation_filters(f: ModelDesignationFilter) -> dict[str, Any]:
    return {
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "agency_ids": decode_ids(f.agency_ids, "Agency", field="filter.agencyIds"),
        "state": values(f.state),
    }


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class ComputeEstimateConnection(Connection[ComputeEstimate]):
    """The connection of ComputeEstimates, root and nested."""


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class EvaluationSuiteConnection(Connection[EvaluationSuite]):
    """The connection of EvaluationSuites, root and nested."""


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class EvaluationResultConnection(Connection[EvaluationResult]):
    """The connection of EvaluationResults, root and nested."""


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class ModelDesignationConnection(Connection[ModelDesignation]):
    """The connection of ModelDesignations, root and nested."""


@strawberry.type
class EvidenceQuery:
    @strawberry.field(description="Compute estimates you may see, in creation order unless ordered otherwise.")
    async def compute_estimates(
        self,
        info: strawberry.Info,
        filter: ComputeEstimateFilter | None = None,
        order_by: ComputeEstimateOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ComputeEstimateConnection:
        filters = compute_estimate_filters(filter or ComputeEstimateFilter())
        return await resolve_connection(
            info,
            store.COMPUTE_ESTIMATE,
            ComputeEstimate,
            filters=filters,
            where=store.where_compute_estimates,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="The register of evaluation suites, in creation order unless ordered otherwise.")
    async def evaluation_suites(
        self,
        info: strawberry.Info,
        filter: EvaluationSuiteFilter | None = None,
        order_by: EvaluationSuiteOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EvaluationSuiteConnection:
        filters = evaluation_suite_filters(filter or EvaluationSuiteFilter())
        return await resolve_connection(
            info,
            store.EVAL_SUITE,
            EvaluationSuite,
            filters=filters,
            where=store.where_evaluation_suites,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="Evaluation results you may see, in creation order unless ordered otherwise.")
    async def evaluation_results(
        self,
        info: strawberry.Info,
        filter: EvaluationResultFilter | None = None,
        order_by: EvaluationResultOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EvaluationResultConnection:
        filters = evaluation_result_filters(filter or EvaluationResultFilter())
        return await resolve_connection(
            info,
            store.EVAL_RESULT,
            EvaluationResult,
            filters=filters,
            where=store.where_evaluation_results,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="Designations of models, in creation order unless ordered otherwise.")
    async def designations(
        self,
        info: strawberry.Info,
        filter: ModelDesignationFilter | None = None,
        order_by: ModelDesignationOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ModelDesignationConnection:
        filters = designation_filters(filter or ModelDesignationFilter())
        return await resolve_connection(
            info,
            store.DESIGNATION,
            ModelDesignation,
            filters=filters,
            where=store.where_designations,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input(description="A figure of compute: a value (high omitted) or a range from low to high.")
class ComputeRangeInput:
    low: Decimal
    high: Decimal | None = strawberry.field(
        default=None, description="At least low; omitted: a single value (high = low)."
    )


@strawberry.input
class ReportComputeEstimateInput:
    model_id: strawberry.ID
    pre_training: ComputeRangeInput
    post_training: ComputeRangeInput | None = strawberry.field(
        default=None, description="Post-training compute (fine-tuning, reinforcement learning); omitted: not reported."
    )
    unit: ComputeUnit = strawberry.field(
        default=ComputeUnit("FLOP"), description="The unit of the figures; stored converted to FLOP."
    )
    method_note: str | None = strawberry.field(
        default=None, description="How the figures were arrived at; required of agencies (up to 5,000 characters)."
    )
    as_of: date | None = strawberry.field(default=None, description="The date the figures are as of; default today.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of reporting twice."
    )


@strawberry.input
class RegisterEvaluationSuiteInput:
    name: str
    suite_version: str = strawberry.field(description="Unique with the name; a new version is a new suite.")
    capability_area: CapabilityArea
    score_unit: ScoreUnit
    description: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of registering twice."
    )


@strawberry.input
class RecordEvaluationResultInput:
    model_id: strawberry.ID
    suite_id: strawberry.ID
    score: Decimal
    unit: ScoreUnit | None = strawberry.field(
        default=None,
        description="The unit the score is written in; default the suite's. PERCENT and FRACTION convert into each "
        "other, POINTS into nothing else.",
    )
    ran_on: date = strawberry.field(description="The day the suite ran; not in the future.")
    model_version: str = strawberry.field(description="The model version the suite ran against.")
    evidence_ref: str = strawberry.field(description="Where the evidence is (a report, a document reference).")
    evidence_sha256: str | None = strawberry.field(
        default=None, description="The SHA-256 of the evidence: 64 hexadecimal characters."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of recording twice."
    )


@strawberry.input
class DesignateModelInput:
    model_id: strawberry.ID
    reason: str = strawberry.field(description="Why the program should cover the model (up to 5,000 characters).")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of designating twice."
    )


@strawberry.input
class WithdrawDesignationInput:
    id: strawberry.ID
    expected_version: int
    reason: str


@strawberry.type
class ComputeEstimatePayload:
    compute_estimate: ComputeEstimate | None
    errors: list[UserError]


@strawberry.type
class EvaluationSuitePayload:
    evaluation_suite: EvaluationSuite | None
    errors: list[UserError]


@strawberry.type
class EvaluationResultPayload:
    evaluation_result: EvaluationResult | None
    errors: list[UserError]


@strawberry.type
class ModelDesignationPayload:
    designation: ModelDesignation | None
    errors: list[UserError]


def exact(value: PyDecimal) -> PyDecimal:
    """The value in its shortest form, every digit kept (Decimal's default context would round to 28)."""
    return value.normalize(EXACT)


def compute_range(value: ComputeRangeInput | None) -> dict[str, Any] | None:
    # normalized: the same value however written (1e26, 10^26) is the same input to an idempotency key
    if value is None:
        return None
    return {"low": exact(value.low), "high": exact(value.high) if value.high is not None else None}


async def designation_payload(info: strawberry.Info, action: Any) -> ModelDesignationPayload:
    row, errors = await run_mutation(info, action, store.DESIGNATION)
    return ModelDesignationPayload(designation=ModelDesignation.from_row(row) if row else None, errors=errors)


@strawberry.type
class EvidenceMutation:
    @strawberry.mutation(
        description="Report a model's training compute: a liaison of its lab (LAB_REPORTED), or an agency analyst, "
        "officer or admin (AGENCY_ESTIMATED, with a methodNote). Figures are converted to FLOP."
    )
    async def report_compute_estimate(
        self, info: strawberry.Info, input: ReportComputeEstimateInput
    ) -> ComputeEstimatePayload:
        values = {
            "model_id": record_id(input.model_id, "FrontierModel", "input.modelId"),
            "pre_training": compute_range(input.pre_training),
            "post_training": compute_range(input.post_training),
            "unit": input.unit.value,
            "method_note": input.method_note,
            "as_of": input.as_of,
            "idempotency_key": input.idempotency_key,
        }
        row, errors = await run_mutation(
            info, lambda con, p: store.report_compute_estimate(con, p, values), store.COMPUTE_ESTIMATE
        )
        return ComputeEstimatePayload(compute_estimate=ComputeEstimate.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Register an evaluation suite at a version (agency analysts, officers and admins); your agency "
        "owns it, and every agency and lab may read it."
    )
    async def register_evaluation_suite(
        self, info: strawberry.Info, input: RegisterEvaluationSuiteInput
    ) -> EvaluationSuitePayload:
        values = {
            "name": input.name,
            "suite_version": input.suite_version,
            "capability_area": input.capability_area.value,
            "score_unit": input.score_unit.value,
            "description": input.description,
            "idempotency_key": input.idempotency_key,
        }
        row, errors = await run_mutation(
            info, lambda con, p: store.register_evaluation_suite(con, p, values), store.EVAL_SUITE
        )
        return EvaluationSuitePayload(evaluation_suite=EvaluationSuite.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Record a model's score on a suite: a liaison of its lab (LAB_REPORTED), or an agency analyst, "
        "officer or admin (AGENCY_ESTIMATED). The score is stored in the suite's unit."
    )
    async def record_evaluation_result(
        self, info: strawberry.Info, input: RecordEvaluationResultInput
    ) -> EvaluationResultPayload:
        values = {
            "model_id": record_id(input.model_id, "FrontierModel", "input.modelId"),
            "suite_id": record_id(input.suite_id, "EvaluationSuite", "input.suiteId"),
            "score": exact(input.score),
            "unit": input.unit.value if input.unit is not None else None,
            "ran_on": input.ran_on,
            "model_version": input.model_version,
            "evidence_ref": input.evidence_ref,
            "evidence_sha256": input.evidence_sha256,
            "idempotency_key": input.idempotency_key,
        }
        row, errors = await run_mutation(
            info, lambda con, p: store.record_evaluation_result(con, p, values), store.EVAL_RESULT
        )
        return EvaluationResultPayload(evaluation_result=EvaluationResult.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(
        description="Designate a model as one the program should cover, for your agency (officers and admins); one "
        "designation in force per model and agency."
    )
    async def designate_model(self, info: strawberry.Info, input: DesignateModelInput) -> ModelDesignationPayload:
        values = {
            "model_id": record_id(input.model_id, "FrontierModel", "input.modelId"),
            "reason": input.reason,
            "idempotency_key": input.idempotency_key,
        }
        return await designation_payload(info, lambda con, p: store.designate_model(con, p, values))

    @strawberry.mutation(
        description="Withdraw your agency's designation (its officers and admins): IN_FORCE -> WITHDRAWN, with a "
        "reason."
    )
    async def withdraw_designation(
        self, info: strawberry.Info, input: WithdrawDesignationInput
    ) -> ModelDesignationPayload:
        designation_id = record_id(input.id, "ModelDesignation")
        return await designation_payload(
            info,
            lambda con, p: store.withdraw_designation(con, p, designation_id, input.expected_version, input.reason),
        )


register_connection("ComputeEstimate", compute_estimate_filters, store.where_compute_estimates)
register_connection("EvaluationSuite", evaluation_suite_filters, store.where_evaluation_suites)
register_connection("EvaluationResult", evaluation_result_filters, store.where_evaluation_results)
register_connection("ModelDesignation", designation_filters, store.where_designations)
