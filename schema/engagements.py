"""CISA's engagements with labs to fix vulnerabilities in critical infrastructure."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from hub.store import engagements as store
from hub.store.agencies import AGENCY
from hub.store.findings import FINDINGS_BY_ENGAGEMENT
from hub.store.labs import LAB
from schema.agencies import Agency
from schema.aggregates import aggregate_field, aggregate_types, enum_key, id_key, time_keys
from schema.common import (
    SECTOR_LABELS,
    Connection,
    InputError,
    Node,
    OrderDirection,
    Record,
    Sector,
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
from schema.findings import Finding, FindingConnection, FindingFilter, finding_filters
from schema.labs import Lab
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import ById, Related, Rows
from schema.sharing import SharedRecord, sharing_fields, sharing_values

# the states of the registry (hub/kinds.py), in its order; the counterparts' kinds of the store
if TYPE_CHECKING:
    InfrastructureEngagementState = Enum
    InfrastructureCounterpartKind = Enum
else:
    InfrastructureEngagementState = state_enum("ENGAGEMENT")
    InfrastructureCounterpartKind = strawberry.enum(
        Enum(
            "InfrastructureCounterpartKind",
            [(k, strawberry.enum_value(k, description=d)) for k, d in store.COUNTERPART_KINDS.items()],
        ),
        description="What a critical-infrastructure counterpart is.",
    )


@strawberry.enum
class EngagementKind(Enum):
    TOOL_ACCESS = "TOOL_ACCESS"
    CVD_COORDINATION = "CVD_COORDINATION"
    CLEARINGHOUSE_SCAN = "CLEARINGHOUSE_SCAN"
    SECURE_BY_DESIGN = "SECURE_BY_DESIGN"
    ADVISORY = "ADVISORY"


@strawberry.type
class Milestone:
    id: strawberry.ID
    title: str
    due_on: date | None
    completed_on: date | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Milestone:
        return cls(
            id=to_global_id("EngagementMilestone", row["id"]),
            title=row["title"],
            due_on=row["due_on"],
            completed_on=row["completed_on"],
            created_at=row["created_at"],
        )


@register_node("InfrastructureCounterpart", store.COUNTERPART)
@strawberry.type(
    description="A critical-infrastructure operator CISA works with (a small utility, a rural hospital), registered "
    "by CISA. Seen by the registering agency, and by whoever may see an engagement that names it; nobody else."
)
class InfrastructureCounterpart(Node, Record):
    KIND = "COUNTERPART"
    owner_agency_pk: strawberry.Private[int]
    name: str
    kind: InfrastructureCounterpartKind
    sector: Sector
    region: str | None = strawberry.field(description="The state or region it serves, if recorded.")
    contact_ref: str | None = strawberry.field(
        description="Where CISA keeps the contact for it (a reference, never the contact details themselves)."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> InfrastructureCounterpart:
        return cls(
            id=to_global_id("InfrastructureCounterpart", row["id"]),
            owner_agency_pk=row["owner_agency_id"],
            name=row["name"],
            kind=InfrastructureCounterpartKind(row["kind"]),
            sector=Sector(row["sector"]),
            region=row["region"],
            contact_ref=row["contact_ref"],
            **record_fields(row),
        )

    owner_agency: Agency | None = relation_field(
        ById(AGENCY, "owner_agency_pk"), description="The agency that registered it (CISA)."
    )

    engagements: list[InfrastructureEngagement] = relation_field(
        Related(store.ENGAGEMENTS_BY_COUNTERPART),
        first=100,
        description="Its engagements that you may see.",
        deprecation_reason="Use engagementsConnection, which pages, filters, orders and counts.",
    )

    engagements_connection = connection_field(store.ENGAGEMENTS_BY_COUNTERPART, "InfrastructureEngagement")


@register_node("InfrastructureEngagement", store.ENGAGEMENT)
@strawberry.type(
    description="CISA working with a lab to fix vulnerabilities at a critical-infrastructure counterpart: CISA "
    "proposes, the lab accepts, and it becomes ACTIVE only once the lab has accepted and the counterpart's consent "
    "is recorded as given."
)
class InfrastructureEngagement(Node, Record, SharedRecord):
    KIND = "ENGAGEMENT"
    available_transitions = transitions_field("ENGAGEMENT", InfrastructureEngagementState)
    lab_pk: strawberry.Private[int]
    counterpart_pk: strawberry.Private[int]
    title: str
    summary: str | None
    sector: Sector
    kind: EngagementKind
    state: InfrastructureEngagementState
    lab_accepted_at: datetime | None = strawberry.field(
        description="When the lab's liaison accepted the engagement (acceptEngagement); null until then."
    )
    counterpart_consent: bool | None = strawberry.field(
        description="Whether the counterpart consented to the engagement, as CISA recorded it; null: not recorded."
    )
    counterpart_consent_ref: str | None = strawberry.field(
        description="Where the counterpart's consent is kept (a reference), as recorded."
    )
    counterpart_consent_recorded_at: datetime | None = strawberry.field(
        description="When the counterpart's consent (or its refusal) was recorded; the history says by whom."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> InfrastructureEngagement:
        return cls(
            id=to_global_id("InfrastructureEngagement", row["id"]),
            lab_pk=row["lab_id"],
            counterpart_pk=row["counterpart_id"],
            title=row["title"],
            summary=row["summary"],
            sector=Sector(row["sector"]),
            kind=EngagementKind(row["kind"]),
            state=InfrastructureEngagementState(row["state"]),
            lab_accepted_at=row["lab_accepted_at"],
            counterpart_consent=row["counterpart_consent"],
            counterpart_consent_ref=row["counterpart_consent_ref"],
            counterpart_consent_recorded_at=row["counterpart_consent_recorded_at"],
            **sharing_fields(row),
            **record_fields(row),
        )

    lab: Lab = relation_field(ById(LAB, "lab_pk"))

    counterpart: InfrastructureCounterpart = relation_field(
        ById(store.COUNTERPART, "counterpart_pk"),
        description="The critical-infrastructure operator (whoever may see the engagement may see it).",
    )

    findings: list[Finding] = relation_field(
        Related(FINDINGS_BY_ENGAGEMENT),
        first=100,
        description="Findings the engagement handles that you may see.",
        deprecation_reason="Use findingsConnection, which pages, filters, orders and counts.",
    )

    findings_connection = connection_field(FINDINGS_BY_ENGAGEMENT, "Finding")

    milestones: list[Milestone] = relation_field(Rows("milestones"), description="Milestones in due order.")


@strawberry.enum
class InfrastructureEngagementOrderField(Enum):
    NAME = "NAME"
    STATE = "STATE"
    SECTOR = "SECTOR"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class InfrastructureEngagementOrder:
    field: InfrastructureEngagementOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class InfrastructureEngagementFilter:
    state: list[InfrastructureEngagementState] | None = None
    kind: list[EngagementKind] | None = None
    sectors: list[Sector] | None = None
    tlp: list[Tlp] | None = None
    lab_ids: list[strawberry.ID] | None = None
    owner_agency_ids: list[strawberry.ID] | None = None
    counterpart_ids: list[strawberry.ID] | None = None
    search: str | None = strawberry.field(
        default=None, description="Words that start words of the title or of the counterpart's name or region."
    )
    created_from: datetime | None = None
    created_before: datetime | None = None


def engagement_filters(f: InfrastructureEngagementFilter) -> dict[str, Any]:
    return {
        "state": values(f.state),
        "kind": values(f.kind),
        "sectors": values(f.sectors),
        "tlp": values(f.tlp),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "owner_agency_ids": decode_ids(f.owner_agency_ids, "Agency", field="filter.ownerAgencyIds"),
        "counterpart_ids": decode_ids(f.counterpart_ids, "InfrastructureCounterpart", field="filter.counterpartIds"),
        "search": f.search,
        "created_from": f.created_from,
        "created_before": f.created_before,
    }


@strawberry.enum
class InfrastructureCounterpartOrderField(Enum):
    NAME = "NAME"
    KIND = "KIND"
    SECTOR = "SECTOR"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class InfrastructureCounterpartOrder:
    field: InfrastructureCounterpartOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class InfrastructureCounterpartFilter:
    kind: list[InfrastructureCounterpartKind] | None = None
    sectors: list[Sector] | None = None
    search: str | None = strawberry.field(default=None, description="Words that start words of the name or region.")


@strawberry.type(description="One of the 16 critical infrastructure sectors, with what touches it.")
class SectorInfo:
    sector: Sector
    label: str

    @strawberry.field(description="Engagements in the sector that you may see.")
    async def engagements(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> InfrastructureEngagementConnection:
        filters = engagement_filters(InfrastructureEngagementFilter(sectors=[self.sector]))
        return await resolve_connection(
            info,
            store.ENGAGEMENT,
            InfrastructureEngagement,
            connection=InfrastructureEngagementConnection,
            filters=filters,
            where=store.where_engagements,
            order=None,
            first=first,
            after=after,
        )

    @strawberry.field(description="Findings touching the sector that you may see.")
    async def findings(self, info: strawberry.Info, first: int = 50, after: str | None = None) -> FindingConnection:
        from hub.store.findings import FINDING, where_findings

        filters = finding_filters(FindingFilter(sectors=[self.sector]))
        return await resolve_connection(
            info,
            FINDING,
            Finding,
            filters=filters,
            where=where_findings,
            order=None,
            first=first,
            after=after,
            connection=FindingConnection,
        )


ENGAGEMENT_AGGREGATES = aggregate_types(
    "ENGAGEMENT",
    "InfrastructureEngagement",
    {
        "state": enum_key(InfrastructureEngagementState),
        "sector": enum_key(Sector),
        "kind": enum_key(EngagementKind),
        "counterpart_kind": enum_key(InfrastructureCounterpartKind),
        "lab_id": id_key("lab", LAB, "Lab", Lab),
        "tlp": enum_key(Tlp),
        "owner_agency_id": id_key("owner_agency", AGENCY, "Agency", Agency),
        **time_keys("created"),
    },
    {},
)


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class InfrastructureEngagementConnection(Connection[InfrastructureEngagement]):
    """The connection of InfrastructureEngagements, root and nested: where their own fields (aggregates) go."""

    aggregate = aggregate_field(ENGAGEMENT_AGGREGATES)


@strawberry.type
class InfrastructureEngagementQuery:
    @strawberry.field(description="CISA infrastructure engagements you may see.")
    async def engagements(
        self,
        info: strawberry.Info,
        filter: InfrastructureEngagementFilter | None = None,
        order_by: InfrastructureEngagementOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> InfrastructureEngagementConnection:
        return await resolve_connection(
            info,
            store.ENGAGEMENT,
            InfrastructureEngagement,
            connection=InfrastructureEngagementConnection,
            filters=engagement_filters(filter or InfrastructureEngagementFilter()),
            where=store.where_engagements,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(
        description="Critical-infrastructure counterparts you may see: CISA sees those it registered, anyone else "
        "those named by an engagement they may see."
    )
    async def infrastructure_counterparts(
        self,
        info: strawberry.Info,
        filter: InfrastructureCounterpartFilter | None = None,
        order_by: InfrastructureCounterpartOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[InfrastructureCounterpart]:
        f = filter or InfrastructureCounterpartFilter()
        return await resolve_connection(
            info,
            store.COUNTERPART,
            InfrastructureCounterpart,
            filters={"kind": values(f.kind), "sectors": values(f.sectors), "search": f.search},
            where=store.where_counterparts,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="The 16 critical infrastructure sectors.")
    def sectors(self) -> list[SectorInfo]:
        return [SectorInfo(sector=s, label=SECTOR_LABELS[s]) for s in Sector]


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class MilestoneInput:
    title: str
    due_on: date | None = None
    completed_on: date | None = None


@strawberry.input
class OpenEngagementInput:
    title: str
    summary: str | None = None
    lab_id: strawberry.ID = strawberry.field(description="A lab that is ENGAGED or PARTICIPATING in the program.")
    sector: Sector
    counterpart_id: strawberry.ID = strawberry.field(
        description="The critical-infrastructure counterpart (registerInfrastructureCounterpart)."
    )
    kind: EngagementKind
    finding_ids: list[strawberry.ID] | None = None
    milestones: list[MilestoneInput] | None = None
    tlp: Tlp = Tlp.AMBER
    share_with_agency_ids: list[strawberry.ID] | None = None
    share_with_lab_ids: list[strawberry.ID] | None = None
    recipient_ids: list[strawberry.ID] | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateEngagementInput:
    id: strawberry.ID
    expected_version: int
    title: str | None = strawberry.UNSET
    summary: str | None = strawberry.UNSET
    sector: Sector | None = strawberry.UNSET
    kind: EngagementKind | None = strawberry.UNSET
    finding_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Replaces the findings.")
    tlp: Tlp | None = strawberry.field(default=None, description="With the share lists: replaces the sharing.")
    share_with_agency_ids: list[strawberry.ID] | None = None
    share_with_lab_ids: list[strawberry.ID] | None = None
    recipient_ids: list[strawberry.ID] | None = None
    reason: str | None = None


@strawberry.input
class AddEngagementMilestoneInput:
    id: strawberry.ID
    expected_version: int
    title: str
    due_on: date | None = None


@strawberry.input
class CompleteEngagementMilestoneInput:
    id: strawberry.ID
    expected_version: int
    milestone_id: strawberry.ID
    completed_on: date


@strawberry.input
class TransitionEngagementInput:
    id: strawberry.ID
    to: InfrastructureEngagementState
    expected_version: int
    reason: str | None = None


@strawberry.input
class AcceptEngagementInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class RecordCounterpartConsentInput:
    id: strawberry.ID = strawberry.field(description="The engagement.")
    expected_version: int
    consented: bool = strawberry.field(description="Whether the counterpart consented to the engagement.")
    consent_ref: str | None = strawberry.field(
        default=None, description="Where the consent is kept (a reference); needed when it was given."
    )
    reason: str | None = None


@strawberry.input
class RegisterInfrastructureCounterpartInput:
    name: str
    kind: InfrastructureCounterpartKind
    sector: Sector
    region: str | None = None
    contact_ref: str | None = strawberry.field(
        default=None, description="Where CISA keeps the contact (a reference, never the contact details)."
    )
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class UpdateInfrastructureCounterpartInput:
    id: strawberry.ID
    expected_version: int
    name: str | None = strawberry.UNSET
    kind: InfrastructureCounterpartKind | None = strawberry.UNSET
    sector: Sector | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    contact_ref: str | None = strawberry.UNSET
    reason: str | None = None


@strawberry.type
class InfrastructureCounterpartPayload:
    infrastructure_counterpart: InfrastructureCounterpart | None
    errors: list[UserError]


def counterpart_values(
    data: RegisterInfrastructureCounterpartInput | UpdateInfrastructureCounterpartInput,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("name", "region", "contact_ref"):
        value = getattr(data, name)
        if value is not strawberry.UNSET:
            out[name] = value
    for name in ("kind", "sector"):
        value = getattr(data, name)
        if value is None:
            raise InputError(f"input.{name} must not be null", f"input.{name}")
        if value is not strawberry.UNSET:
            out[name] = value.value
    out["reason"] = data.reason
    return out


async def counterpart_payload(info: strawberry.Info, action: Any) -> InfrastructureCounterpartPayload:
    row, errors = await run_mutation(info, action, store.COUNTERPART)
    return InfrastructureCounterpartPayload(
        infrastructure_counterpart=InfrastructureCounterpart.from_row(row) if row else None, errors=errors
    )


@strawberry.type
class InfrastructureEngagementPayload:
    engagement: InfrastructureEngagement | None
    errors: list[UserError]


def engagement_values(data: OpenEngagementInput | UpdateEngagementInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("title", "summary"):
        value = getattr(data, name)
        if value is not strawberry.UNSET:
            out[name] = value
    for name in ("sector", "kind"):
        value = getattr(data, name)
        if value is None:
            raise InputError(f"input.{name} must not be null", f"input.{name}")
        if value is not strawberry.UNSET:
            out[name] = value.value
    out["finding_ids"] = decode_ids(data.finding_ids, "Finding", field="input.findingIds")
    if data.tlp is not None:
        out.update(sharing_values(data))
    out["reason"] = data.reason
    return out


async def engagement_payload(info: strawberry.Info, action: Any) -> InfrastructureEngagementPayload:
    row, errors = await run_mutation(info, action, store.ENGAGEMENT)
    return InfrastructureEngagementPayload(
        engagement=InfrastructureEngagement.from_row(row) if row else None, errors=errors
    )


@strawberry.type
class InfrastructureEngagementMutation:
    @strawberry.mutation(
        description="CISA officers propose an engagement to a lab that is ENGAGED or PARTICIPATING, for a registered "
        "counterpart. It becomes ACTIVE only once the lab accepted it and the counterpart's consent is recorded."
    )
    async def open_engagement(
        self, info: strawberry.Info, input: OpenEngagementInput
    ) -> InfrastructureEngagementPayload:
        values = {
            **engagement_values(input),
            "lab_id": record_id(input.lab_id, "Lab", "input.labId"),
            "counterpart_id": record_id(input.counterpart_id, "InfrastructureCounterpart", "input.counterpartId"),
            "milestones": [
                {"title": m.title, "due_on": m.due_on, "completed_on": m.completed_on} for m in input.milestones or []
            ],
            "idempotency_key": input.idempotency_key,
        }
        return await engagement_payload(info, lambda con, p: store.open_engagement(con, p, values))

    @strawberry.mutation(description="Change an engagement's description, sector, kind, findings or sharing.")
    async def update_engagement(
        self, info: strawberry.Info, input: UpdateEngagementInput
    ) -> InfrastructureEngagementPayload:
        engagement_id = record_id(input.id, "InfrastructureEngagement")
        values = engagement_values(input)
        return await engagement_payload(
            info, lambda con, p: store.update_engagement(con, p, engagement_id, input.expected_version, values)
        )

    @strawberry.mutation(description="Add a milestone to an engagement.")
    async def add_engagement_milestone(
        self, info: strawberry.Info, input: AddEngagementMilestoneInput
    ) -> InfrastructureEngagementPayload:
        engagement_id = record_id(input.id, "InfrastructureEngagement")
        values = {"title": input.title, "due_on": input.due_on}
        return await engagement_payload(
            info,
            lambda con, p: store.add_engagement_milestone(con, p, engagement_id, input.expected_version, values),
        )

    @strawberry.mutation(description="Mark a milestone of an engagement done.")
    async def complete_engagement_milestone(
        self, info: strawberry.Info, input: CompleteEngagementMilestoneInput
    ) -> InfrastructureEngagementPayload:
        engagement_id = record_id(input.id, "InfrastructureEngagement")
        milestone_id = record_id(input.milestone_id, "EngagementMilestone", "input.milestoneId")
        return await engagement_payload(
            info,
            lambda con, p: store.complete_engagement_milestone(
                con, p, engagement_id, input.expected_version, milestone_id, input.completed_on
            ),
        )

    @strawberry.mutation(description="Move an engagement; the lab may decline or withdraw at any time.")
    async def transition_engagement(
        self, info: strawberry.Info, input: TransitionEngagementInput
    ) -> InfrastructureEngagementPayload:
        engagement_id = record_id(input.id, "InfrastructureEngagement")
        return await engagement_payload(
            info,
            lambda con, p: store.transition_engagement(
                con, p, engagement_id, input.to.value, input.expected_version, input.reason
            ),
        )

    @strawberry.mutation(
        description="The lab's liaisons accept an engagement CISA proposed and shared with the lab: it may become "
        "ACTIVE only after that. The lab may still decline or withdraw at any time (transitionEngagement)."
    )
    async def accept_engagement(
        self, info: strawberry.Info, input: AcceptEngagementInput
    ) -> InfrastructureEngagementPayload:
        engagement_id = record_id(input.id, "InfrastructureEngagement")
        return await engagement_payload(
            info,
            lambda con, p: store.accept_engagement(con, p, engagement_id, input.expected_version, input.reason),
        )

    @strawberry.mutation(
        description="CISA officers record whether the engagement's counterpart consented to it, with a reference to "
        "where the consent is kept; a consent recorded as not given pauses an ACTIVE engagement."
    )
    async def record_counterpart_consent(
        self, info: strawberry.Info, input: RecordCounterpartConsentInput
    ) -> InfrastructureEngagementPayload:
        engagement_id = record_id(input.id, "InfrastructureEngagement")
        values = {"consented": input.consented, "consent_ref": input.consent_ref, "reason": input.reason}
        return await engagement_payload(
            info,
            lambda con, p: store.record_counterpart_consent(con, p, engagement_id, input.expected_version, values),
        )

    @strawberry.mutation(
        description="CISA officers register a critical-infrastructure counterpart (a utility, a rural hospital); "
        "CISA owns the record."
    )
    async def register_infrastructure_counterpart(
        self, info: strawberry.Info, input: RegisterInfrastructureCounterpartInput
    ) -> InfrastructureCounterpartPayload:
        values = {**counterpart_values(input), "idempotency_key": input.idempotency_key}
        return await counterpart_payload(info, lambda con, p: store.register_counterpart(con, p, values))

    @strawberry.mutation(description="Change a counterpart's name, kind, sector, region or contact reference.")
    async def update_infrastructure_counterpart(
        self, info: strawberry.Info, input: UpdateInfrastructureCounterpartInput
    ) -> InfrastructureCounterpartPayload:
        counterpart_id = record_id(input.id, "InfrastructureCounterpart")
        values = counterpart_values(input)
        return await counterpart_payload(
            info, lambda con, p: store.update_counterpart(con, p, counterpart_id, input.expected_version, values)
        )


register_connection("InfrastructureEngagement", engagement_filters, store.where_engagements)
