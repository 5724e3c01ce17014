"""Frontier models."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.access import STANDING_DECISION_STATES
from hub.store import models as store
from hub.store.agencies import AGENCY
from hub.store.agreements import AGREEMENTS_BY_MODEL
from hub.store.coverage import DECISIONS_BY_MODEL
from hub.store.evidence import DESIGNATIONS_BY_MODEL, ESTIMATES_BY_MODEL, RESULTS_BY_MODEL
from hub.store.findings import FINDINGS_BY_MODEL
from hub.store.labs import LAB
from hub.store.measures import MEASURES_BY_MODEL
from hub.store.requests import REQUESTS_BY_MODEL
from schema.agencies import Agency
from schema.aggregates import aggregate_field, aggregate_types, enum_key, id_key, time_keys
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
from schema.labs import Lab, LabState
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import ById, Related

if TYPE_CHECKING:
    from schema.agreements import EarlyAccessAgreement
    from schema.coverage import CoverageDecision, CoverageOutcome
    from schema.evidence import ComputeEstimate, EvaluationResult, ModelDesignation
    from schema.findings import Finding
    from schema.measures import CyberMeasure
    from schema.requests import EarlyAccessRequest


# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    FrontierModelState = Enum
else:
    FrontierModelState = state_enum("MODEL")


@strawberry.enum
class Modality(Enum):
    TEXT = "TEXT"
    CODE = "CODE"
    IMAGE = "IMAGE"
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"
    MULTIMODAL = "MULTIMODAL"


CONFIDENTIAL = (
    "Confidential to the lab and to agencies party to an ACTIVE or COMPLETED agreement on the model; "
    "null for everyone else."
)
PLANNED_GA = "The date the lab plans the model to become generally available (the preview lead time's PLANNED basis)."
ACTUAL_GA = (
    "The date the model became generally available, as the lab recorded it (setModelReleaseStatus records it on "
    "the move to GENERALLY_AVAILABLE); not after today (UTC)."
)


@register_node("FrontierModel", store.MODEL)
@strawberry.type(description="A frontier AI model of a lab.")
class FrontierModel(Node, Record):
    KIND = "MODEL"
    available_transitions = transitions_field("MODEL", FrontierModelState)
    lab_pk: strawberry.Private[int]
    recorded_by_agency_pk: strawberry.Private[int | None]
    name: str
    model_version: str = strawberry.field(description="The lab's version label (e.g. '2025-06' or '1.5').")
    modality: Modality
    description: str | None
    capabilities: list[str] = strawberry.field(description="Public capability tags.")
    release_status: FrontierModelState
    announced_on: date | None
    source_url: str | None = strawberry.field(
        description="For a model an agency recorded (recordedBy): the address of the lab's public announcement."
    )
    corrected_by_lab_at: datetime | None = strawberry.field(
        description="For a model an agency recorded: when the lab's liaisons last corrected the record."
    )
    confidential_visible: bool = strawberry.field(description="Whether the confidential fields are shown to you.")
    training_compute_flop: float | None = strawberry.field(description=CONFIDENTIAL)
    capability_details: str | None = strawberry.field(description=CONFIDENTIAL)
    planned_release_on: date | None = strawberry.field(description=CONFIDENTIAL)
    planned_general_availability_on: date | None = strawberry.field(description=PLANNED_GA + " " + CONFIDENTIAL)
    general_availability_on: date | None = strawberry.field(description=ACTUAL_GA)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FrontierModel:
        return cls(
            id=to_global_id("FrontierModel", row["id"]),
            lab_pk=row["lab_id"],
            recorded_by_agency_pk=row["recorded_by_agency_id"],
            name=row["name"],
            model_version=row["model_version"],
            modality=Modality(row["modality"]),
            description=row["description"],
            capabilities=list(row["capabilities"]),
            release_status=FrontierModelState(row["release_status"]),
            announced_on=row["announced_on"],
            source_url=row["source_url"],
            corrected_by_lab_at=row["corrected_by_lab_at"],
            confidential_visible=bool(row["confidential_visible"]),
            training_compute_flop=row["training_compute_flop"],
            capability_details=row["capability_details"],
            planned_release_on=row["planned_release_on"],
            planned_general_availability_on=row["planned_general_availability_on"],
            general_availability_on=row["general_availability_on"],
            **record_fields(row),
        )

    lab: Lab = relation_field(ById(LAB, "lab_pk"))

    recorded_by: Agency | None = relation_field(
        ById(AGENCY, "recorded_by_agency_pk"),
        description="The agency that recorded the model from its lab's public announcement (recordPublicModel); "
        "null for a model its lab registered.",
    )

    agreements: list[Annotated[EarlyAccessAgreement, strawberry.lazy("schema.agreements")]] = relation_field(
        Related(AGREEMENTS_BY_MODEL),
        first=100,
        description="Early-access agreements on the model that you may see.",
        deprecation_reason="Use agreementsConnection, which pages, filters, orders and counts.",
    )

    agreements_connection = connection_field(AGREEMENTS_BY_MODEL, "EarlyAccessAgreement")

    early_access_requests: list[Annotated[EarlyAccessRequest, strawberry.lazy("schema.requests")]] = relation_field(
        Related(REQUESTS_BY_MODEL),
        first=100,
        description="Agencies' requests for early access to the model that you may see (your agency is on them, or "
        "the model is your lab's), oldest first.",
        deprecation_reason="Use earlyAccessRequestsConnection, which pages, filters, orders and counts.",
    )

    early_access_requests_connection = connection_field(REQUESTS_BY_MODEL, "EarlyAccessRequest")

    coverage_decisions: list[Annotated[CoverageDecision, strawberry.lazy("schema.coverage")]] = relation_field(
        Related(DECISIONS_BY_MODEL),
        first=100,
        description="Coverage determinations on the model, oldest first.",
        deprecation_reason="Use coverageDecisionsConnection, which pages, filters, orders and counts.",
    )

    coverage_decisions_connection = connection_field(DECISIONS_BY_MODEL, "CoverageDecision")

    coverage_outcome: Annotated[CoverageOutcome, strawberry.lazy("schema.coverage")] | None = relation_field(
        Related(DECISIONS_BY_MODEL),
        page=100,
        convert=lambda rows: _latest_outcome(rows),
        description="The outcome standing now: that of the newest decision in effect, which stands through a "
        "reconsideration and a revision of the standard until a newer decision is in effect.",
    )

    findings: list[Annotated[Finding, strawberry.lazy("schema.findings")]] = relation_field(
        Related(FINDINGS_BY_MODEL),
        first=100,
        description="Findings on the model that you may see.",
        deprecation_reason="Use findingsConnection, which pages, filters, orders and counts.",
    )

    findings_connection = connection_field(FINDINGS_BY_MODEL, "Finding")

    measures: list[Annotated[CyberMeasure, strawberry.lazy("schema.measures")]] = relation_field(
        Related(MEASURES_BY_MODEL),
        first=100,
        description="DoD cyber measures linked to the model that you may see.",
        deprecation_reason="Use measuresConnection, which pages, filters, orders and counts.",
    )

    measures_connection = connection_field(MEASURES_BY_MODEL, "CyberMeasure")

    compute_estimates: list[Annotated[ComputeEstimate, strawberry.lazy("schema.evidence")]] = relation_field(
        Related(ESTIMATES_BY_MODEL),
        first=100,
        description="Compute estimates of the model that you may see, oldest first (the order they were reported).",
        deprecation_reason="Use computeEstimatesConnection, which pages, filters, orders and counts.",
    )

    compute_estimates_connection = connection_field(ESTIMATES_BY_MODEL, "ComputeEstimate")

    evaluation_results: list[Annotated[EvaluationResult, strawberry.lazy("schema.evidence")]] = relation_field(
        Related(RESULTS_BY_MODEL),
        first=100,
        description="Evaluation results of the model that you may see, oldest first (the order they were recorded).",
        deprecation_reason="Use evaluationResultsConnection, which pages, filters, orders and counts.",
    )

    evaluation_results_connection = connection_field(RESULTS_BY_MODEL, "EvaluationResult")

    designations: list[Annotated[ModelDesignation, strawberry.lazy("schema.evidence")]] = relation_field(
        Related(DESIGNATIONS_BY_MODEL),
        first=100,
        description="Agencies' designations of the model, in force and withdrawn, oldest first.",
        deprecation_reason="Use designationsConnection, which pages, filters, orders and counts.",
    )

    designations_connection = connection_field(DESIGNATIONS_BY_MODEL, "ModelDesignation")


def _latest_outcome(rows: list[dict[str, Any]]) -> Any:
    from schema.coverage import CoverageOutcome

    decided = [r for r in rows if r["outcome"] is not None and r["state"] in STANDING_DECISION_STATES]
    if not decided:
        return None
    return CoverageOutcome(max(decided, key=lambda r: (r["decided_at"], r["id"]))["outcome"])


@strawberry.enum
class FrontierModelOrderField(Enum):
    NAME = "NAME"
    RELEASE_STATUS = "RELEASE_STATUS"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class FrontierModelOrder:
    field: FrontierModelOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.enum(
    description="Where a model stands for early access: for your agency, over the requests and agreements it is on; "
    "for your lab, over those on its models."
)
class EarlyAccessStatus(Enum):
    NOT_ASKED = strawberry.enum_value(
        "NOT_ASKED", description="No request and no agreement on the model that your agency is on."
    )
    ASKED = strawberry.enum_value(
        "ASKED", description="Your agency is on a request the lab has not answered (open, or withdrawn before it did)."
    )
    ANSWERED = strawberry.enum_value(
        "ANSWERED",
        description="The lab answered a request your agency is on (accepted, proposed other terms or declined), or "
        "your agency is named on an agreement on the model.",
    )


@strawberry.input
class FrontierModelFilter:
    release_status: list[FrontierModelState] | None = None
    modality: list[Modality] | None = None
    lab_ids: list[strawberry.ID] | None = None
    lab_participation: list[LabState] | None = strawberry.field(
        default=None,
        description="Models whose lab's participation is one of these: [ENGAGED, PARTICIPATING], the labs that have "
        "chosen to take part, are those an agency may ask for early access.",
    )
    coverage_outcome: list[Annotated[CoverageOutcome, strawberry.lazy("schema.coverage")]] | None = strawberry.field(
        default=None, description="Models whose standing coverage outcome (coverageOutcome) is one of these."
    )
    early_access_status: list[EarlyAccessStatus] | None = strawberry.field(
        default=None,
        description="Models whose early-access status is one of these: for an agency, judged over the requests and "
        "agreements it is on (with coverageOutcome: [COVERED], the covered models it has not yet asked about); for a "
        "lab, over those on its own models.",
    )
    search: str | None = strawberry.field(default=None, description="Words that start words of the name or version.")
    created_from: datetime | None = None
    created_before: datetime | None = None


def model_filters(f: FrontierModelFilter) -> dict[str, Any]:
    return {
        "release_status": values(f.release_status),
        "modality": values(f.modality),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "lab_participation": values(f.lab_participation),
        "coverage_outcome": values(f.coverage_outcome),
        "early_access_status": values(f.early_access_status),
        "search": f.search,
        "created_from": f.created_from,
        "created_before": f.created_before,
    }


MODEL_AGGREGATES = aggregate_types(
    "MODEL",
    "FrontierModel",
    {
        "release_status": enum_key(FrontierModelState),
        "lab_id": id_key("lab", LAB, "Lab", Lab),
        "modality": enum_key(Modality),
        **time_keys("announced", "general_availability", "planned_release"),
    },
    {"training_compute_flop": Decimal},
)


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class FrontierModelConnection(Connection[FrontierModel]):
    """The connection of FrontierModels, root and nested: where their own fields (aggregates) go."""

    aggregate = aggregate_field(MODEL_AGGREGATES)


@strawberry.type
class FrontierModelQuery:
    @strawberry.field(description="Frontier models, by name unless ordered otherwise.")
    async def models(
        self,
        info: strawberry.Info,
        filter: FrontierModelFilter | None = None,
        order_by: FrontierModelOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> FrontierModelConnection:
        filters = model_filters(filter or FrontierModelFilter())
        return await resolve_connection(
            info,
            store.MODEL,
            FrontierModel,
            connection=FrontierModelConnection,
            filters=filters,
            where=store.where_models,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class RegisterModelInput:
    lab_id: strawberry.ID
    name: str
    model_version: str = strawberry.field(default="", description="The lab's version label; unique with the name.")
    modality: Modality
    description: str | None = None
    capabilities: list[str] | None = strawberry.field(default=None, description="Public capability tags.")
    training_compute_flop: float | None = strawberry.field(default=None, description=CONFIDENTIAL)
    capability_details: str | None = strawberry.field(default=None, description=CONFIDENTIAL)
    planned_release_on: date | None = strawberry.field(default=None, description=CONFIDENTIAL)
    planned_general_availability_on: date | None = strawberry.field(
        default=None, description=PLANNED_GA + " " + CONFIDENTIAL
    )
    general_availability_on: date | None = strawberry.field(default=None, description=ACTUAL_GA)
    release_status: FrontierModelState = FrontierModelState("IN_DEVELOPMENT")
    announced_on: date | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of registering twice."
    )


@strawberry.input
class UpdateModelInput:
    id: strawberry.ID
    expected_version: int
    name: str | None = strawberry.UNSET
    model_version: str | None = strawberry.UNSET
    modality: Modality | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    capabilities: list[str] | None = strawberry.UNSET
    training_compute_flop: float | None = strawberry.field(default=strawberry.UNSET, description=CONFIDENTIAL)
    capability_details: str | None = strawberry.field(default=strawberry.UNSET, description=CONFIDENTIAL)
    planned_release_on: date | None = strawberry.field(default=strawberry.UNSET, description=CONFIDENTIAL)
    planned_general_availability_on: date | None = strawberry.field(
        default=strawberry.UNSET, description=PLANNED_GA + " " + CONFIDENTIAL
    )
    general_availability_on: date | None = strawberry.field(default=strawberry.UNSET, description=ACTUAL_GA)
    announced_on: date | None = strawberry.UNSET
    reason: str | None = None


@strawberry.input(
    description="A model its lab has publicly released, as the public announcement says: public facts only."
)
class RecordPublicModelInput:
    lab_id: strawberry.ID
    name: str
    model_version: str = strawberry.field(default="", description="The lab's version label; unique with the name.")
    modality: Modality
    capabilities: list[str] | None = strawberry.field(default=None, description="Public capability tags.")
    release_status: FrontierModelState = strawberry.field(
        description="What the announcement says: RESTRICTED_PREVIEW or GENERALLY_AVAILABLE."
    )
    announced_on: date | None = None
    source_url: str = strawberry.field(description="The address (http or https) of the lab's public announcement.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of recording twice."
    )


@strawberry.input
class SetModelReleaseStatusInput:
    id: strawberry.ID
    to: FrontierModelState
    expected_version: int
    reason: str | None = None
    general_availability_on: date | None = strawberry.field(
        default=None,
        description="With to: GENERALLY_AVAILABLE, the date it happened (not after today, UTC); by default the date "
        "already recorded, else today's UTC date.",
    )


@strawberry.type
class FrontierModelPayload:
    model: FrontierModel | None
    errors: list[UserError]


MODEL_FIELDS = (
    "name",
    "model_version",
    "description",
    "capabilities",
    "training_compute_flop",
    "capability_details",
    "planned_release_on",
    "planned_general_availability_on",
    "general_availability_on",
    "announced_on",
)


def _model_values(data: RegisterModelInput | UpdateModelInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in MODEL_FIELDS:
        value = getattr(data, name)
        if value is not strawberry.UNSET:
            out[name] = value
    if data.modality is not strawberry.UNSET:
        out["modality"] = data.modality.value if data.modality is not None else None
    return out


async def model_payload(info: strawberry.Info, action: Any) -> FrontierModelPayload:
    row, errors = await run_mutation(info, action, store.MODEL)
    return FrontierModelPayload(model=FrontierModel.from_row(row) if row else None, errors=errors)


@strawberry.type
class FrontierModelMutation:
    @strawberry.mutation(description="Register a model of a lab: its liaisons, while the lab takes part.")
    async def register_model(self, info: strawberry.Info, input: RegisterModelInput) -> FrontierModelPayload:
        values = {
            **_model_values(input),
            "lab_id": record_id(input.lab_id, "Lab", "input.labId"),
            "release_status": input.release_status.value,
            "idempotency_key": input.idempotency_key,
        }
        return await model_payload(info, lambda con, p: store.register_model(con, p, values))

    @strawberry.mutation(
        description="Change a model's descriptive or confidential fields (its lab's liaisons, while the lab takes "
        "part; a correction of a model an agency recorded); not its release status."
    )
    async def update_model(self, info: strawberry.Info, input: UpdateModelInput) -> FrontierModelPayload:
        model_id = record_id(input.id, "FrontierModel")
        values = {**_model_values(input), "reason": input.reason}
        return await model_payload(
            info, lambda con, p: store.update_model(con, p, model_id, input.expected_version, values)
        )

    @strawberry.mutation(
        description="Record a model its lab has publicly released, from the public announcement (agency officers "
        "and admins, while the lab takes part): marked as recorded by your agency, public facts only; the lab "
        "corrects it and sets the rest."
    )
    async def record_public_model(self, info: strawberry.Info, input: RecordPublicModelInput) -> FrontierModelPayload:
        values = {
            "lab_id": record_id(input.lab_id, "Lab", "input.labId"),
            "name": input.name,
            "model_version": input.model_version,
            "modality": input.modality.value,
            "capabilities": input.capabilities,
            "release_status": input.release_status.value,
            "announced_on": input.announced_on,
            "source_url": input.source_url,
            "idempotency_key": input.idempotency_key,
        }
        return await model_payload(info, lambda con, p: store.record_public_model(con, p, values))

    @strawberry.mutation(
        description="Set a model's release status: the lab's liaisons alone, never dependent on a coverage decision, "
        "an agreement or a finding. A move to GENERALLY_AVAILABLE records the date and, on each PROPOSED or ACTIVE "
        "agreement on the model, an event stating each agency's preview lead time."
    )
    async def set_model_release_status(
        self, info: strawberry.Info, input: SetModelReleaseStatusInput
    ) -> FrontierModelPayload:
        model_id = record_id(input.id, "FrontierModel")
        return await model_payload(
            info,
            lambda con, p: store.set_model_release_status(
                con, p, model_id, input.to.value, input.expected_version, input.reason, input.general_availability_on
            ),
        )


register_connection("FrontierModel", model_filters, store.where_models)
