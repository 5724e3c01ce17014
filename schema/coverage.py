"""Coverage standards (CISA and NIST) and coverage decisions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal as _Decimal
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.kinds import KINDS
from hub.quantities import COMPUTE_UNITS, DESIGNATION_UNITS, SCORE_UNITS
from hub.screening import CriterionResult as CriterionResultData
from hub.screening import Screening as ScreeningData
from hub.screening import dry_run, screen
from hub.store import coverage as store
from hub.store.agencies import AGENCY
from hub.store.base import MAX_PAGE_SIZE
from hub.store.evidence import EVAL_SUITE
from hub.store.models import MODEL
from schema.agencies import Agency
from schema.aggregates import aggregate_field, aggregate_types, enum_key, id_key, time_keys
from schema.common import (
    Connection,
    Decimal,
    HubError,
    InputError,
    Node,
    OrderDirection,
    PageInfo,
    Record,
    computed_field,
    connection_field,
    ctx,
    decode_ids,
    from_global_id,
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
from schema.models import FrontierModel
from schema.mutations import UserError, optional_id, record_id, run_mutation
from schema.relations import ById, Related, Rows

# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    from schema.evidence import EvaluationSuite

    CoverageStandardState = Enum
else:
    CoverageStandardState = state_enum("STANDARD")


# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    CoverageDecisionState = Enum
else:
    CoverageDecisionState = state_enum("DECISION")


@strawberry.enum(description="COVERED means the program asks the lab for early access; the lab decides.")
class CoverageOutcome(Enum):
    COVERED = "COVERED"
    NOT_COVERED = "NOT_COVERED"
    INSUFFICIENT_INFORMATION = "INSUFFICIENT_INFORMATION"


@strawberry.enum(description="The kind of a criterion as free criteria named it; `metric` says more.")
class CriterionKind(Enum):
    COMPUTE_THRESHOLD = "COMPUTE_THRESHOLD"
    CAPABILITY_EVAL = "CAPABILITY_EVAL"
    DESIGNATION = "DESIGNATION"


@strawberry.enum(description="What a criterion measures.")
class CriterionMetric(Enum):
    TRAINING_COMPUTE = "TRAINING_COMPUTE"
    EVALUATION_SCORE = "EVALUATION_SCORE"
    DESIGNATION = "DESIGNATION"


@strawberry.enum(description="Which training compute a criterion counts.")
class ComputeScope(Enum):
    PRE_TRAINING = "PRE_TRAINING"
    POST_TRAINING = "POST_TRAINING"
    TOTAL = "TOTAL"


@strawberry.enum(description="How a criterion compares the model's value with its threshold.")
class ComparisonOperator(Enum):
    GTE = "GTE"
    GT = "GT"
    LTE = "LTE"
    LT = "LT"


@strawberry.enum(description="Which input counts where several exist.")
class EvidenceSource(Enum):
    LAB_REPORTED = "LAB_REPORTED"
    AGENCY_ESTIMATED = "AGENCY_ESTIMATED"
    HIGHER_OF_TWO = "HIGHER_OF_TWO"


@strawberry.enum(description="How a standard combines its criteria.")
class CriteriaCombination(Enum):
    ANY_OF = "ANY_OF"
    ALL_OF = "ALL_OF"


# the units of hub/quantities.py, in its order: compute, scores, designations
if TYPE_CHECKING:
    CriterionUnit = Enum
else:
    CriterionUnit = strawberry.enum(
        Enum("CriterionUnit", [(u, u) for u in (*COMPUTE_UNITS, *SCORE_UNITS, *DESIGNATION_UNITS)]),
        description="A criterion's unit. Compute: FLOP (operations, not per second) and its multiples, and "
        "PFLOP_S_DAY (a petaFLOP/s for a day, 8.64e19 FLOP); scores: PERCENT and FRACTION (which convert), POINTS; "
        "DESIGNATIONS.",
    )


@strawberry.enum(description="A criterion's result on a model.")
class CriterionResultValue(Enum):
    MET = "MET"
    NOT_MET = "NOT_MET"
    UNKNOWN = "UNKNOWN"


@strawberry.enum(description="What a kept screening was made for.")
class ScreeningTrigger(Enum):
    REQUESTED = "REQUESTED"
    RESCREENED = "RESCREENED"
    RECONSIDERATION = "RECONSIDERATION"
    ADOPTION = "ADOPTION"
    DECIDED = "DECIDED"


@strawberry.enum(description="A model's proposal under a draft standard beside its proposal under the adopted one.")
class CoverageChange(Enum):
    NEWLY_COVERED = "NEWLY_COVERED"
    NO_LONGER_COVERED = "NO_LONGER_COVERED"
    NOW_UNKNOWN = "NOW_UNKNOWN"
    NOW_NOT_COVERED = "NOW_NOT_COVERED"
    UNCHANGED = "UNCHANGED"


@strawberry.enum(description="What a signature on a coverage decision says.")
class SignatureAction(Enum):
    DECIDED = "DECIDED"
    CONCURRED = "CONCURRED"
    OBJECTED = "OBJECTED"


_KIND_OF_METRIC = {
    "TRAINING_COMPUTE": "COMPUTE_THRESHOLD",
    "EVALUATION_SCORE": "CAPABILITY_EVAL",
    "DESIGNATION": "DESIGNATION",
}


@strawberry.type(description="A typed criterion of a standard: checked when drafted, applied by screening.")
class CoverageCriterion:
    suite_pk: strawberry.Private[int | None]
    position: int
    metric: CriterionMetric
    compute_scope: ComputeScope | None
    suite_id: strawberry.ID | None = strawberry.field(description="The evaluation suite (EVALUATION_SCORE).")
    suite_name: str | None
    suite_version: str | None
    designating_agencies: list[str] = strawberry.field(
        description="DESIGNATION: the agencies whose designations count (empty: any agency)."
    )
    unit: CriterionUnit = strawberry.field(description="The unit the threshold is stored and compared in.")
    operator: ComparisonOperator
    threshold: Decimal = strawberry.field(description="Exact, in `unit`.")
    written_as: str = strawberry.field(
        description="The comparison in the unit the drafter chose, e.g. '>= 1E26 FLOP' or '>= 50 PERCENT'."
    )
    source: EvidenceSource
    description: str | None
    kind: CriterionKind = strawberry.field(deprecation_reason="Use `metric`; removed after 2027-06-01.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CoverageCriterion:
        return cls(
            suite_pk=row["suite_id"],
            position=row["position"],
            metric=CriterionMetric(row["metric"]),
            compute_scope=ComputeScope(row["compute_scope"]) if row["compute_scope"] else None,
            suite_id=to_global_id("EvaluationSuite", row["suite_id"]) if row["suite_id"] else None,
            suite_name=row["suite_name"],
            suite_version=row["suite_version"],
            designating_agencies=list(row["designating_agencies"]),
            unit=CriterionUnit(row["unit"]),
            operator=ComparisonOperator(row["operator"]),
            threshold=row["threshold"],
            written_as=row["written_as"],
            source=EvidenceSource(row["source"]),
            description=row["description"],
            kind=CriterionKind(_KIND_OF_METRIC[row["metric"]]),
        )

    suite: Annotated[EvaluationSuite, strawberry.lazy("schema.evidence")] | None = relation_field(
        ById(EVAL_SUITE, "suite_pk"), description="EVALUATION_SCORE: the suite at its version."
    )


@strawberry.type(description="An input a criterion read: a ComputeEstimate, an EvaluationResult or a ModelDesignation.")
class ScreeningInput:
    kind: str
    id: strawberry.ID
    method: str | None
    low: Decimal | None
    high: Decimal | None


@strawberry.type(description="One criterion's result on one model.")
class CriterionResult:
    position: int
    result: CriterionResultValue
    low: Decimal | None = strawberry.field(description="The value judged: the low end of its interval.")
    high: Decimal | None = strawberry.field(description="The high end; null when there is no upper bound.")
    missing: str | None = strawberry.field(description="When UNKNOWN: what is missing, in words.")
    inputs: list[ScreeningInput] = computed_field("built from the screening's results")

    @classmethod
    def of(cls, r: CriterionResultData) -> CriterionResult:
        inputs = []
        for i in r.inputs:
            type_name = KINDS[i["kind"]].type_name
            assert type_name is not None
            inputs.append(
                ScreeningInput(
                    kind=type_name,
                    id=to_global_id(type_name, i["id"]),
                    method=i.get("method"),
                    low=None if i.get("low") is None else _Decimal(i["low"]),  # type: ignore[arg-type]
                    high=None if i.get("high") is None else _Decimal(i["high"]),  # type: ignore[arg-type]
                )
            )
        return cls(
            position=r.position,
            result=CriterionResultValue(r.result),
            low=r.low,  # type: ignore[arg-type]
            high=r.high,  # type: ignore[arg-type]
            missing=r.missing,
            inputs=inputs,
        )


@strawberry.type(description="A model screened against a standard now, on the inputs you may see; nothing is kept.")
class ScreeningResult:
    model_pk: strawberry.Private[int]
    standard_pk: strawberry.Private[int]
    proposed_outcome: CoverageOutcome
    criteria: list[CriterionResult] = computed_field("built from the screening statement's results")

    @classmethod
    def of(cls, s: ScreeningData) -> ScreeningResult:
        return cls(
            model_pk=s.model_id,
            standard_pk=s.standard_id,
            proposed_outcome=CoverageOutcome(s.proposed_outcome),
            criteria=[CriterionResult.of(r) for r in s.results],
        )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))
    standard: CoverageStandard | None = relation_field(ById(store.STANDARD, "standard_pk"))


@strawberry.type
class Signoff:
    agency_pk: strawberry.Private[int]
    signed_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Signoff:
        return cls(agency_pk=row["agency_id"], signed_at=row["signed_at"])

    agency: Agency = relation_field(ById(AGENCY, "agency_pk"))


@strawberry.type(description="A signature on a coverage decision, for an agency the standard names.")
class DecisionSignature:
    agency_pk: strawberry.Private[int]
    round: int = strawberry.field(description="Each decide starts a round; a concurrence or objection answers it.")
    action: SignatureAction
    outcome: CoverageOutcome = strawberry.field(description="The outcome signed for (or objected to).")
    reason: str | None
    signed_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DecisionSignature:
        return cls(
            agency_pk=row["agency_id"],
            round=row["round"],
            action=SignatureAction(row["action"]),
            outcome=CoverageOutcome(row["outcome"]),
            reason=row["reason"],
            signed_at=row["signed_at"],
        )

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
    combine: CriteriaCombination = strawberry.field(description="How the criteria combine into the proposal.")
    untyped_criteria: list[str] = strawberry.field(
        description="Free criteria of before typed criteria that could not be typed (a capability evaluation that "
        "named no suite): kept as written, never screened."
    )
    required_signoffs: list[str] = strawberry.field(
        description="Codes of the agencies whose sign-off adoption needs (from the policy when drafted)."
    )
    due_on: date = strawberry.field(description="The order date plus the policy's standardDueDays.")
    adopted_at: datetime | None
    policy_version: int = strawberry.field(description="The number of the policy version it was drafted under.")

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
            combine=CriteriaCombination(row["combine"]),
            untyped_criteria=[str(c.get("description") or c.get("kind")) for c in row["criteria"]],
            required_signoffs=list(row["required_signoffs"]),
            due_on=row["due_on"],
            adopted_at=row["adopted_at"],
            policy_version=row["policy_version"],
            **record_fields(row),
        )

    owner_agency: Agency | None = relation_field(ById(AGENCY, "owner_agency_pk"))

    signoffs: list[Signoff] = relation_field(Rows("signoffs"), description="Sign-offs so far, oldest first.")

    criteria: list[CoverageCriterion] = relation_field(
        Rows("criteria"), description="The typed criteria, in order, combined by `combine`."
    )

    superseded_by: CoverageStandard | None = relation_field(
        ById(store.STANDARD, "superseded_by_pk"),
        description="The standard that superseded this one, if you may see it.",
    )

    decisions: list[CoverageDecision] = relation_field(
        Related(store.DECISIONS_BY_STANDARD),
        first=100,
        description="Determinations made under this standard.",
        deprecation_reason="Use decisionsConnection, which pages, filters, orders and counts.",
    )

    decisions_connection = connection_field(store.DECISIONS_BY_STANDARD, "CoverageDecision")


@register_node("CoverageDecision", store.DECISION)
@strawberry.type(description="A coverage determination on a model under a standard.")
class CoverageDecision(Node, Record):
    KIND = "DECISION"
    available_transitions = transitions_field("DECISION", CoverageDecisionState)
    model_pk: strawberry.Private[int]
    standard_pk: strawberry.Private[int]
    decided_by_agency_pk: strawberry.Private[int | None]
    screening_pk: strawberry.Private[int | None]
    latest_screening_pk: strawberry.Private[int | None]
    pending_screening_pk: strawberry.Private[int | None]
    state: CoverageDecisionState
    outcome: CoverageOutcome | None = strawberry.field(
        description="The outcome in effect; it stands through a reconsideration and a revision of the standard "
        "until a newer decision is in effect."
    )
    rationale: str | None
    proposed_outcome: CoverageOutcome | None = strawberry.field(
        description="What the screening the outcome was decided on proposed."
    )
    is_override: bool = strawberry.field(description="The outcome differs from the proposal (with overrideReason).")
    override_reason: str | None
    pending_outcome: CoverageOutcome | None = strawberry.field(
        description="AWAITING_CONCURRENCE: the outcome signed for, in effect once every agency named has signed."
    )
    pending_rationale: str | None
    pending_override_reason: str | None
    signature_round: int = strawberry.field(description="The round of signatures: each decide starts one.")
    request_note: str | None
    decided_at: datetime | None
    policy_version: int = strawberry.field(description="The number of the policy version it was requested under.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CoverageDecision:
        return cls(
            id=to_global_id("CoverageDecision", row["id"]),
            model_pk=row["model_id"],
            standard_pk=row["standard_id"],
            decided_by_agency_pk=row["decided_by_agency_id"],
            screening_pk=row["screening_id"],
            latest_screening_pk=row["latest_screening_id"],
            pending_screening_pk=row["pending_screening_id"],
            state=CoverageDecisionState(row["state"]),
            outcome=CoverageOutcome(row["outcome"]) if row["outcome"] else None,
            rationale=row["rationale"],
            proposed_outcome=CoverageOutcome(row["proposed_outcome"]) if row["proposed_outcome"] else None,
            is_override=row["is_override"],
            override_reason=row["override_reason"],
            pending_outcome=CoverageOutcome(row["pending_outcome"]) if row["pending_outcome"] else None,
            pending_rationale=row["pending_rationale"],
            pending_override_reason=row["pending_override_reason"],
            signature_round=row["signature_round"],
            request_note=row["request_note"],
            decided_at=row["decided_at"],
            policy_version=row["policy_version"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))

    standard: CoverageStandard | None = relation_field(ById(store.STANDARD, "standard_pk"))

    decided_by: Agency | None = relation_field(
        ById(AGENCY, "decided_by_agency_pk"), description="The agency whose officer recorded the decision."
    )

    screening: CoverageScreening | None = relation_field(
        ById(store.SCREENING, "screening_pk"),
        description="The screening the outcome in effect was decided on, with its inputs as used, if you may see it.",
    )

    latest_screening: CoverageScreening | None = relation_field(
        ById(store.SCREENING, "latest_screening_pk"), description="The newest screening, if you may see it."
    )

    pending_screening: CoverageScreening | None = relation_field(
        ById(store.SCREENING, "pending_screening_pk"),
        description="AWAITING_CONCURRENCE: the screening the pending outcome was decided on.",
    )

    screenings: list[CoverageScreening] = relation_field(
        Related(store.SCREENINGS_BY_DECISION),
        first=100,
        description="Every screening kept, oldest first.",
        deprecation_reason="Use screeningsConnection, which pages, filters, orders and counts.",
    )

    screenings_connection = connection_field(store.SCREENINGS_BY_DECISION, "CoverageScreening")

    signatures: list[DecisionSignature] = relation_field(
        Rows("signatures"), description="Every signature, every round, oldest first."
    )


@register_node("CoverageScreening", store.SCREENING)
@strawberry.type(
    description="A screening kept for a decision: each criterion's result with the inputs exactly as used. Seen by "
    "the model's lab, the officers of the agencies the standard names, and the agency that screened."
)
class CoverageScreening(Node, Record):
    KIND = "SCREENING"
    decision_pk: strawberry.Private[int | None]
    model_pk: strawberry.Private[int]
    standard_pk: strawberry.Private[int]
    screened_by_agency_pk: strawberry.Private[int | None]
    proposed_outcome: CoverageOutcome
    trigger: ScreeningTrigger
    criteria: list[CriterionResult] = computed_field("built by from_row from the screening's results column")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CoverageScreening:
        results = row["results"]
        if isinstance(results, str):
            results = json.loads(results)
        return cls(
            id=to_global_id("CoverageScreening", row["id"]),
            decision_pk=row["decision_id"],
            model_pk=row["model_id"],
            standard_pk=row["standard_id"],
            screened_by_agency_pk=row["screened_by_agency_id"],
            proposed_outcome=CoverageOutcome(row["proposed_outcome"]),
            trigger=ScreeningTrigger(row["trigger"]),
            criteria=[CriterionResult.of(CriterionResultData.from_json(r)) for r in results],
            **record_fields(row),
        )

    decision: CoverageDecision | None = relation_field(ById(store.DECISION, "decision_pk"))
    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))
    standard: CoverageStandard | None = relation_field(ById(store.STANDARD, "standard_pk"))
    screened_by: Agency | None = relation_field(
        ById(AGENCY, "screened_by_agency_pk"), description="The agency whose principal's write made it."
    )


@strawberry.type(description="One model in a dry run.")
class CoverageDryRunRow:
    model_pk: strawberry.Private[int]
    standing_standard_pk: strawberry.Private[int | None]
    change: CoverageChange
    draft: ScreeningResult = computed_field(
        "built from the dry run's statement", description="The model screened under the draft."
    )
    adopted: ScreeningResult | None = computed_field(
        "built from the dry run's statement", description="Under the adopted standard, on the same inputs."
    )
    standing_outcome: CoverageOutcome | None = strawberry.field(
        description="The outcome of the decision standing now, if any."
    )

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))
    standing_standard: CoverageStandard | None = relation_field(
        ById(store.STANDARD, "standing_standard_pk"), description="The standard the standing outcome is under."
    )


@strawberry.type(description="How many models each change concerns.")
class CoverageChangeCounts:
    newly_covered: int
    no_longer_covered: int
    now_unknown: int
    now_not_covered: int
    unchanged: int


@strawberry.type(
    description="A draft standard applied to every model you may see, beside the adopted standard: one statement."
)
class CoverageDryRun:
    standard_pk: strawberry.Private[int]
    adopted_pk: strawberry.Private[int | None]
    total_count: int = strawberry.field(description="Every model dry-run, before the filter on changes.")
    counts: CoverageChangeCounts = computed_field("counted by the dry run's statement")
    nodes: list[CoverageDryRunRow] = computed_field(
        "the dry run's statement's page", description="A page of models, by id; see pageInfo."
    )
    page_info: PageInfo

    standard: CoverageStandard | None = relation_field(
        ById(store.STANDARD, "standard_pk"), description="The standard dry-run."
    )
    adopted_standard: CoverageStandard | None = relation_field(
        ById(store.STANDARD, "adopted_pk"), description="The standard in force, compared with."
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
    is_override: bool | None = strawberry.field(
        default=None, description="Decisions whose outcome overrides the screening's proposal (or does not)."
    )
    awaiting_rescreening: bool | None = strawberry.field(
        default=None,
        description="The rescreening queue: decisions standing under a standard no longer in force, whose model "
        "waits for a decision in effect under the adopted one.",
    )


def decision_filters(f: CoverageDecisionFilter) -> dict[str, Any]:
    return {
        "state": values(f.state),
        "outcome": values(f.outcome),
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "standard_ids": decode_ids(f.standard_ids, "CoverageStandard", field="filter.standardIds"),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "decided_from": f.decided_from,
        "decided_before": f.decided_before,
        "is_override": f.is_override,
        "awaiting_rescreening": f.awaiting_rescreening,
    }


async def _newest_pending_standard(info: strawberry.Info) -> int:
    """The newest DRAFT or IN_REVIEW standard the principal may see."""
    rows = await store.standards_in(ctx(info).db, sorted(store.PENDING_STANDARD_STATES))
    if not rows:
        raise HubError("standardId: no draft standard to dry-run; name one", "BAD_USER_INPUT", field="standardId")
    return int(rows[0]["id"])


async def _adopted_standard_id(info: strawberry.Info) -> int | None:
    rows = await store.standards_in(ctx(info).db, ["ADOPTED"])
    return int(rows[0]["id"]) if rows else None


def decode_id(global_id: strawberry.ID, type_name: str, *, field: str) -> int:
    ids = decode_ids([global_id], type_name, field=field)
    assert ids is not None
    return ids[0]


# the kinds a reconsideration's evidence may be, by GraphQL type
EVIDENCE_TYPES = {KINDS[kind].type_name: kind for kind in store.EVIDENCE_KINDS}


def evidence_of(global_id: strawberry.ID, field: str) -> tuple[str, int]:
    """(kind, id) of a ComputeEstimate or EvaluationResult id."""
    type_name, pk = from_global_id(global_id, field=field)
    if type_name not in EVIDENCE_TYPES:
        raise InputError(f"{field}: evidence is a ComputeEstimate or an EvaluationResult, not a {type_name}", field)
    return EVIDENCE_TYPES[type_name], pk


async def _visible_standard(info: strawberry.Info, global_id: strawberry.ID, field: str) -> int:
    standard_id = decode_id(global_id, "CoverageStandard", field=field)
    if await ctx(info).loaders.by_id(store.STANDARD).load(standard_id) is None:
        raise HubError(f"{field}: no such coverage standard", "NOT_FOUND", field=field)
    return standard_id


DECISION_AGGREGATES = aggregate_types(
    "DECISION",
    "CoverageDecision",
    {
        "state": enum_key(CoverageDecisionState),
        "outcome": enum_key(CoverageOutcome),
        "standard_id": id_key("standard", store.STANDARD, "CoverageStandard", CoverageStandard),
        "model_id": id_key("model", MODEL, "FrontierModel", FrontierModel),
        **time_keys("decided"),
    },
    {},
)


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class CoverageDecisionConnection(Connection[CoverageDecision]):
    """The connection of CoverageDecisions, root and nested: where their own fields (aggregates) go."""

    aggregate = aggregate_field(DECISION_AGGREGATES)


@strawberry.type
class CoverageQuery:
    @strawberry.field(
        description="Screen a model against a standard (the adopted one by default) now, on the inputs you may see: "
        "each criterion's result and the proposed outcome. Nothing is kept; a decision keeps its own screenings."
    )
    async def coverage_screening(
        self, info: strawberry.Info, model_id: strawberry.ID, standard_id: strawberry.ID | None = None
    ) -> ScreeningResult | None:
        model = decode_id(model_id, "FrontierModel", field="modelId")
        if await ctx(info).loaders.by_id(MODEL).load(model) is None:
            raise HubError("modelId: no such model", "NOT_FOUND", field="modelId")
        if standard_id is not None:
            standard = await _visible_standard(info, standard_id, "standardId")
        else:
            adopted = await _adopted_standard_id(info)
            if adopted is None:
                raise HubError("standardId: no standard is adopted yet; name one", "BAD_USER_INPUT", field="standardId")
            standard = adopted
        found = await screen(ctx(info).db, ctx(info).principal, [standard], [model])
        return ScreeningResult.of(found[0]) if found else None

    @strawberry.field(
        description="Apply a draft standard (the newest DRAFT or IN_REVIEW one by default) to every model you may "
        "see, beside the adopted standard, on the same inputs: per model the proposal under each and the change, "
        "with counts over all of them. One SQL statement; page with first and after."
    )
    async def coverage_dry_run(
        self,
        info: strawberry.Info,
        standard_id: strawberry.ID | None = None,
        changes: list[CoverageChange] | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> CoverageDryRun:
        if not 0 <= first <= MAX_PAGE_SIZE:
            raise HubError(f"first: must be between 0 and {MAX_PAGE_SIZE}", "BAD_USER_INPUT", field="first")
        start = 0
        if after is not None:
            start = decode_id(strawberry.ID(after), "FrontierModel", field="after")
        draft = (
            await _visible_standard(info, standard_id, "standardId")
            if standard_id is not None
            else await _newest_pending_standard(info)
        )
        adopted = await _adopted_standard_id(info)
        result = await dry_run(
            ctx(info).db,
            ctx(info).principal,
            draft,
            adopted,
            changes=None if changes is None else [c.value for c in changes],
            after=start,
            first=first,
        )
        rows = [
            CoverageDryRunRow(
                model_pk=r.model_id,
                standing_standard_pk=r.standing_standard_id,
                change=CoverageChange(r.change),
                draft=ScreeningResult.of(r.draft),
                adopted=ScreeningResult.of(r.adopted) if r.adopted else None,
                standing_outcome=CoverageOutcome(r.standing_outcome) if r.standing_outcome else None,
            )
            for r in result.rows
        ]
        counts = {c.lower(): n for c, n in result.counts.items()}
        return CoverageDryRun(
            standard_pk=draft,
            adopted_pk=adopted,
            total_count=result.total,
            counts=CoverageChangeCounts(**counts),
            nodes=rows,
            page_info=PageInfo(
                has_next_page=result.has_next_page,
                has_previous_page=after is not None,
                start_cursor=to_global_id("FrontierModel", rows[0].model_pk) if rows else None,
                end_cursor=to_global_id("FrontierModel", rows[-1].model_pk) if rows else None,
            ),
        )

    @strawberry.field(description="Coverage standards, in creation order unless ordered otherwise.")
    async def coverage_standards(
        self,
        info: strawberry.Info,
        filter: CoverageStandardFilter | None = None,
        order_by: CoverageStandardOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
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
            last=last,
            before=before,
        )

    @strawberry.field(description="Coverage determinations.")
    async def coverage_decisions(
        self,
        info: strawberry.Info,
        filter: CoverageDecisionFilter | None = None,
        order_by: CoverageDecisionOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> CoverageDecisionConnection:
        filters = decision_filters(filter or CoverageDecisionFilter())
        return await resolve_connection(
            info,
            store.DECISION,
            CoverageDecision,
            connection=CoverageDecisionConnection,
            filters=filters,
            where=store.where_decisions,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input(
    description="A typed criterion; one the hub could not evaluate is refused with CRITERION_NOT_EVALUABLE."
)
class CoverageCriterionInput:
    metric: CriterionMetric
    threshold: Decimal = strawberry.field(description='Exact, as a string: "1e26", "10^26" or the digits.')
    unit: CriterionUnit = strawberry.field(
        description="Compute: FLOP or a multiple (converted to FLOP); a score: the suite's unit, or PERCENT for a "
        "FRACTION suite and back; DESIGNATIONS for a designation."
    )
    operator: ComparisonOperator = ComparisonOperator.GTE
    source: EvidenceSource = EvidenceSource.HIGHER_OF_TWO
    compute_scope: ComputeScope | None = strawberry.field(default=None, description="TRAINING_COMPUTE only.")
    suite_id: strawberry.ID | None = strawberry.field(default=None, description="EVALUATION_SCORE only.")
    designating_agencies: list[str] | None = strawberry.field(
        default=None, description="DESIGNATION only: agency codes whose designations count (default: any)."
    )
    description: str | None = None


@strawberry.input
class DraftCoverageStandardInput:
    standard_version: str = strawberry.field(description="Unique, e.g. 1.3; a change to a standard is a new one.")
    title: str
    summary: str | None = None
    criteria: list[CoverageCriterionInput] = strawberry.field(description="1 to 50 typed criteria.")
    combine: CriteriaCombination = strawberry.field(
        default=CriteriaCombination.ANY_OF, description="Covered when any criterion is met, or only when all are."
    )
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
    override_reason: str | None = strawberry.field(
        default=None,
        description="Required when the outcome differs from the screening's proposal (an override), refused when not.",
    )


@strawberry.input
class ConcurCoverageDecisionInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class ObjectToCoverageDecisionInput:
    id: strawberry.ID
    expected_version: int
    reason: str = strawberry.field(description="Why; the decision goes back to UNDER_ASSESSMENT.")


@strawberry.input
class RescreenCoverageInput:
    id: strawberry.ID
    expected_version: int


@strawberry.input
class RequestCoverageReconsiderationInput:
    id: strawberry.ID
    expected_version: int
    reason: str
    evidence: list[strawberry.ID] = strawberry.field(
        description="The new evidence: ComputeEstimate or EvaluationResult ids on the model (1 to 50)."
    )


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
            "combine": input.combine.value,
            "criteria": [
                {
                    "metric": c.metric.value,
                    "threshold": c.threshold,
                    "unit": c.unit.value,
                    "operator": c.operator.value,
                    "source": c.source.value,
                    "compute_scope": c.compute_scope.value if c.compute_scope else None,
                    "suite_id": optional_id(c.suite_id, "EvaluationSuite", f"input.criteria[{i}].suiteId"),
                    "designating_agencies": c.designating_agencies,
                    "description": c.description,
                }
                for i, c in enumerate(input.criteria)
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
        "and NIST officers on its behalf), while the lab takes part (ENGAGED or PARTICIPATING)."
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
        description="Decide, signing for your agency: the hub screens the model now; an outcome that differs from the "
        "proposal needs overrideReason. In effect once every agency the standard names has signed "
        "(AWAITING_CONCURRENCE until then). COVERED means the program asks the lab for early access; the lab "
        "decides, and the model's release status never depends on it."
    )
    async def decide_coverage(self, info: strawberry.Info, input: DecideCoverageInput) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info,
            lambda con, p: store.decide(
                con, p, decision_id, input.expected_version, input.outcome.value, input.rationale, input.override_reason
            ),
        )

    @strawberry.mutation(
        description="Concur with a decision awaiting concurrence, for your agency; the last concurrence puts it in "
        "effect and supersedes the model's decisions under older standards."
    )
    async def concur_coverage_decision(
        self, info: strawberry.Info, input: ConcurCoverageDecisionInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info, lambda con, p: store.concur(con, p, decision_id, input.expected_version, input.reason)
        )

    @strawberry.mutation(
        description="Object to a decision awaiting concurrence, with a reason: back to UNDER_ASSESSMENT."
    )
    async def object_to_coverage_decision(
        self, info: strawberry.Info, input: ObjectToCoverageDecisionInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info, lambda con, p: store.object_to(con, p, decision_id, input.expected_version, input.reason)
        )

    @strawberry.mutation(
        description="Screen a decision's model again on the inputs as they stand; kept, with an event."
    )
    async def rescreen_coverage(self, info: strawberry.Info, input: RescreenCoverageInput) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(info, lambda con, p: store.rescreen(con, p, decision_id, input.expected_version))

    @strawberry.mutation(
        description="The model's lab answers a decision with new evidence: a new screening starts, and the outcome "
        "stands until the next decision is in effect."
    )
    async def request_coverage_reconsideration(
        self, info: strawberry.Info, input: RequestCoverageReconsiderationInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        evidence = [evidence_of(value, f"input.evidence[{i}]") for i, value in enumerate(input.evidence)]
        return await decision_payload(
            info,
            lambda con, p: store.request_reconsideration(
                con, p, decision_id, input.expected_version, input.reason, evidence
            ),
        )

    @strawberry.mutation(description="The model's lab withdraws its coverage request.")
    async def withdraw_coverage_request(
        self, info: strawberry.Info, input: WithdrawCoverageRequestInput
    ) -> CoverageDecisionPayload:
        decision_id = record_id(input.id, "CoverageDecision")
        return await decision_payload(
            info, lambda con, p: store.withdraw_request(con, p, decision_id, input.expected_version, input.reason)
        )


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class CoverageScreeningConnection(Connection[CoverageScreening]):
    """The connection of CoverageScreenings, root and nested."""


register_connection("CoverageDecision", decision_filters, store.where_decisions)
register_connection("CoverageScreening")
