"""DoD cyber measures against vulnerabilities that advanced models create or find."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from hub.store import measures as store
from hub.store.agencies import AGENCY
from hub.store.findings import FINDINGS_BY_MEASURE
from hub.store.models import MODELS_BY_MEASURE
from schema.agencies import Agency
from schema.aggregates import KeyField, aggregate_field, aggregate_types, enum_key, id_key, time_keys
from schema.common import (
    Connection,
    InputError,
    Node,
    OrderDirection,
    Record,
    Tlp,
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
from schema.findings import Finding
from schema.models import FrontierModel
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import Related
from schema.sharing import SharedRecord, sharing_fields, sharing_values

# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    CyberMeasureState = Enum
else:
    CyberMeasureState = state_enum("MEASURE")


@strawberry.enum(description="MITRE D3FEND's defensive tactics.")
class MeasureKind(Enum):
    MODEL = "MODEL"
    HARDEN = "HARDEN"
    DETECT = "DETECT"
    ISOLATE = "ISOLATE"
    DECEIVE = "DECEIVE"
    EVICT = "EVICT"
    RESTORE = "RESTORE"


@register_node("CyberMeasure", store.MEASURE)
@strawberry.type(description="A DoD cybersecurity measure deployed against model-found or model-made vulnerabilities.")
class CyberMeasure(Node, Record, SharedRecord):
    KIND = "MEASURE"
    available_transitions = transitions_field("MEASURE", CyberMeasureState)
    title: str
    description: str | None
    kind: MeasureKind
    state: CyberMeasureState
    system_scope: str
    owner_component: str = strawberry.field(description="The DoD component that owns the measure (e.g. CYBERCOM).")
    d3fend_ids: list[str]
    attack_ids: list[str] = strawberry.field(description="MITRE ATT&CK technique ids.")
    nist80053_controls: list[str]
    evidence: str | None = strawberry.field(description="Evidence of effect; VERIFIED needs it.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CyberMeasure:
        return cls(
            id=to_global_id("CyberMeasure", row["id"]),
            title=row["title"],
            description=row["description"],
            kind=MeasureKind(row["kind"]),
            state=CyberMeasureState(row["state"]),
            system_scope=row["system_scope"],
            owner_component=row["owner_component"],
            d3fend_ids=list(row["d3fend_ids"]),
            attack_ids=list(row["attack_ids"]),
            nist80053_controls=list(row["nist80053_controls"]),
            evidence=row["evidence"],
            **sharing_fields(row),
            **record_fields(row),
        )

    findings: list[Finding] = relation_field(
        Related(FINDINGS_BY_MEASURE),
        first=100,
        description="Findings the measure addresses that you may see.",
        deprecation_reason="Use findingsConnection, which pages, filters, orders and counts.",
    )

    findings_connection = connection_field(FINDINGS_BY_MEASURE, "Finding")

    models: list[FrontierModel] = relation_field(
        Related(MODELS_BY_MEASURE),
        first=100,
        description="Models the measure concerns that you may see.",
        deprecation_reason="Use modelsConnection, which pages, filters, orders and counts.",
    )

    models_connection = connection_field(MODELS_BY_MEASURE, "FrontierModel")


@strawberry.enum
class CyberMeasureOrderField(Enum):
    NAME = "NAME"
    STATE = "STATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class CyberMeasureOrder:
    field: CyberMeasureOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class CyberMeasureFilter:
    state: list[CyberMeasureState] | None = None
    kind: list[MeasureKind] | None = None
    tlp: list[Tlp] | None = None
    owner_agency_ids: list[strawberry.ID] | None = None
    finding_ids: list[strawberry.ID] | None = None
    model_ids: list[strawberry.ID] | None = None
    search: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None


def measure_filters(f: CyberMeasureFilter) -> dict[str, Any]:
    return {
        "state": values(f.state),
        "kind": values(f.kind),
        "tlp": values(f.tlp),
        "owner_agency_ids": decode_ids(f.owner_agency_ids, "Agency", field="filter.ownerAgencyIds"),
        "finding_ids": decode_ids(f.finding_ids, "Finding", field="filter.findingIds"),
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "search": f.search,
        "created_from": f.created_from,
        "created_before": f.created_before,
    }


MEASURE_AGGREGATES = aggregate_types(
    "MEASURE",
    "CyberMeasure",
    {
        "state": enum_key(CyberMeasureState),
        "kind": enum_key(MeasureKind),
        "owner_component": KeyField(str | None),
        "tlp": enum_key(Tlp),
        "owner_agency_id": id_key("owner_agency", AGENCY, "Agency", Agency),
        **time_keys("created"),
    },
    {},
)


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class CyberMeasureConnection(Connection[CyberMeasure]):
    """The connection of CyberMeasures, root and nested: where their own fields (aggregates) go."""

    aggregate = aggregate_field(MEASURE_AGGREGATES)


@strawberry.type
class CyberMeasureQuery:
    @strawberry.field(description="DoD cyber measures you may see.")
    async def measures(
        self,
        info: strawberry.Info,
        filter: CyberMeasureFilter | None = None,
        order_by: CyberMeasureOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> CyberMeasureConnection:
        filters = measure_filters(filter or CyberMeasureFilter())
        return await resolve_connection(
            info,
            store.MEASURE,
            CyberMeasure,
            connection=CyberMeasureConnection,
            filters=filters,
            where=store.where_measures,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class PlanMeasureInput:
    title: str
    description: str | None = None
    kind: MeasureKind
    system_scope: str
    owner_component: str = strawberry.field(description="The DoD component that owns it, e.g. CYBERCOM or DISA.")
    d3fend_ids: list[str] | None = None
    attack_ids: list[str] | None = None
    nist80053_controls: list[str] | None = None
    finding_ids: list[strawberry.ID] | None = None
    model_ids: list[strawberry.ID] | None = None
    tlp: Tlp = Tlp.AMBER
    share_with_agency_ids: list[strawberry.ID] | None = None
    share_with_lab_ids: list[strawberry.ID] | None = None
    recipient_ids: list[strawberry.ID] | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateMeasureInput:
    id: strawberry.ID
    expected_version: int
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    kind: MeasureKind | None = strawberry.UNSET
    system_scope: str | None = strawberry.UNSET
    owner_component: str | None = strawberry.UNSET
    d3fend_ids: list[str] | None = strawberry.UNSET
    attack_ids: list[str] | None = strawberry.UNSET
    nist80053_controls: list[str] | None = strawberry.UNSET
    evidence: str | None = strawberry.UNSET
    finding_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Replaces the findings.")
    model_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Replaces the models.")
    tlp: Tlp | None = strawberry.field(default=None, description="With the share lists: replaces the sharing.")
    share_with_agency_ids: list[strawberry.ID] | None = None
    share_with_lab_ids: list[strawberry.ID] | None = None
    recipient_ids: list[strawberry.ID] | None = None
    reason: str | None = None


@strawberry.input
class TransitionMeasureInput:
    id: strawberry.ID
    to: CyberMeasureState
    expected_version: int
    reason: str | None = None
    evidence: str | None = strawberry.field(default=None, description="VERIFIED needs evidence (here or already).")


@strawberry.type
class CyberMeasurePayload:
    measure: CyberMeasure | None
    errors: list[UserError]


def measure_values(data: PlanMeasureInput | UpdateMeasureInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (
        "title",
        "description",
        "system_scope",
        "owner_component",
        "d3fend_ids",
        "attack_ids",
        "nist80053_controls",
        "evidence",
    ):
        value = getattr(data, name, strawberry.UNSET)
        if value is not strawberry.UNSET:
            out[name] = value
    if data.kind is not strawberry.UNSET:
        if data.kind is None:
            raise InputError("input.kind must not be null", "input.kind")
        out["kind"] = data.kind.value
    out["finding_ids"] = decode_ids(data.finding_ids, "Finding", field="input.findingIds")
    out["model_ids"] = decode_ids(data.model_ids, "FrontierModel", field="input.modelIds")
    if data.tlp is not None:
        out.update(sharing_values(data))
    out["reason"] = data.reason
    return out


async def measure_payload(info: strawberry.Info, action: Any) -> CyberMeasurePayload:
    row, errors = await run_mutation(info, action, store.MEASURE)
    return CyberMeasurePayload(measure=CyberMeasure.from_row(row) if row else None, errors=errors)


@strawberry.type
class CyberMeasureMutation:
    @strawberry.mutation(description="DoD officers plan a measure against findings and models; DoD owns it.")
    async def plan_measure(self, info: strawberry.Info, input: PlanMeasureInput) -> CyberMeasurePayload:
        values = {**measure_values(input), "idempotency_key": input.idempotency_key}
        return await measure_payload(info, lambda con, p: store.plan_measure(con, p, values))

    @strawberry.mutation(description="Change a measure's description, references, evidence, links or sharing.")
    async def update_measure(self, info: strawberry.Info, input: UpdateMeasureInput) -> CyberMeasurePayload:
        measure_id = record_id(input.id, "CyberMeasure")
        values = measure_values(input)
        return await measure_payload(
            info, lambda con, p: store.update_measure(con, p, measure_id, input.expected_version, values)
        )

    @strawberry.mutation(description="Move a measure through its states; VERIFIED needs evidence.")
    async def transition_measure(self, info: strawberry.Info, input: TransitionMeasureInput) -> CyberMeasurePayload:
        measure_id = record_id(input.id, "CyberMeasure")
        return await measure_payload(
            info,
            lambda con, p: store.transition_measure(
                con, p, measure_id, input.to.value, input.expected_version, input.reason, input.evidence
            ),
        )


register_connection("CyberMeasure", measure_filters, store.where_measures)
