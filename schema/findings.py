"""Findings: vulnerabilities that advanced models create or find."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import findings as store
from hub.store.agencies import AGENCY
from hub.store.engagements import ENGAGEMENTS_BY_FINDING
from hub.store.labs import LAB
from hub.store.measures import MEASURES_BY_FINDING
from hub.store.models import MODEL
from schema.agencies import Agency
from schema.aggregates import aggregate_field, aggregate_types, enum_key, id_key, time_keys
from schema.common import (
    Connection,
    Node,
    OrderDirection,
    Record,
    Sector,
    Tlp,
    computed_field,
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
from schema.mutations import UserError, optional_id, record_id, run_mutation
from schema.relations import ById, Related
from schema.sharing import SharedRecord, sharing_fields, sharing_values

if TYPE_CHECKING:
    from schema.engagements import InfrastructureEngagement
    from schema.measures import CyberMeasure


# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    FindingState = Enum
else:
    FindingState = state_enum("FINDING")


@strawberry.enum
class Severity(Enum):
    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


@strawberry.enum(
    description="Who found it: a model, an agency, a lab, or CISA's Known Exploited Vulnerabilities catalogue (a "
    "finding grounded in a catalogue entry, with the entry's facts as published)."
)
class DiscovererKind(Enum):
    MODEL = "MODEL"
    AGENCY = "AGENCY"
    LAB = "LAB"
    KEV_CATALOGUE = "KEV_CATALOGUE"


@strawberry.type(description="CVSS v3.1 or v4.0 base metrics.")
class Cvss:
    version: str
    vector: str | None
    base_score: float
    severity: Severity


@strawberry.type(description="The entry in CISA's Known Exploited Vulnerabilities catalog, if listed.")
class Kev:
    date_added: date
    due_date: date | None
    known_ransomware_campaign_use: bool
    required_action: str | None


@strawberry.type
class Affected:
    vendor: str | None
    product: str | None
    versions: str | None


@strawberry.type(description="Who discovered a finding: a model, an agency or a lab.")
class Discoverer:
    kind: DiscovererKind
    model_pk: strawberry.Private[int | None]
    agency_pk: strawberry.Private[int | None]
    lab_pk: strawberry.Private[int | None]

    model: FrontierModel | None = relation_field(ById(MODEL, "model_pk"))

    agency: Agency | None = relation_field(ById(AGENCY, "agency_pk"))

    lab: Lab | None = relation_field(ById(LAB, "lab_pk"))


FROM_ROW = "built by from_row from the finding's own columns"


@register_node("Finding", store.FINDING)
@strawberry.type(description="A vulnerability that an advanced model created or found.")
class Finding(Node, Record, SharedRecord):
    KIND = "FINDING"
    available_transitions = transitions_field("FINDING", FindingState)
    model_pk: strawberry.Private[int | None]
    lab_pk: strawberry.Private[int | None]
    owner_lab_pk: strawberry.Private[int | None]
    duplicate_of_pk: strawberry.Private[int | None]
    title: str
    description: str | None
    state: FindingState
    cve_id: str | None
    cvss: Cvss | None = computed_field(FROM_ROW)
    kev: Kev | None = computed_field(FROM_ROW)
    cwes: list[str]
    affected: Affected = computed_field(FROM_ROW)
    sectors: list[Sector]
    discovered_by: Discoverer = computed_field(FROM_ROW)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Finding:
        score: Decimal | None = row["cvss_base_score"]
        return cls(
            id=to_global_id("Finding", row["id"]),
            model_pk=row["model_id"],
            lab_pk=row["lab_id"],
            owner_lab_pk=row["owner_lab_id"],
            duplicate_of_pk=row["duplicate_of_id"],
            title=row["title"],
            description=row["description"],
            state=FindingState(row["state"]),
            cve_id=row["cve_id"],
            cvss=Cvss(
                version=row["cvss_version"] or "3.1",
                vector=row["cvss_vector"],
                base_score=float(score),
                severity=Severity(row["cvss_severity"]),
            )
            if score is not None
            else None,
            kev=Kev(
                date_added=row["kev_date_added"],
                due_date=row["kev_due_date"],
                known_ransomware_campaign_use=row["kev_known_ransomware_campaign_use"] == "KNOWN",
                required_action=row["kev_required_action"],
            )
            if row["kev_date_added"] is not None
            else None,
            cwes=list(row["cwes"]),
            affected=Affected(
                vendor=row["affected_vendor"], product=row["affected_product"], versions=row["affected_versions"]
            ),
            sectors=[Sector(s) for s in row["sectors"]],
            discovered_by=Discoverer(
                kind=DiscovererKind(row["discovered_by_kind"]),
                model_pk=row["model_id"] if row["discovered_by_kind"] == DiscovererKind.MODEL.value else None,
                agency_pk=row["discovered_by_agency_id"],
                lab_pk=row["discovered_by_lab_id"],
            ),
            **sharing_fields(row),
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(
        ById(MODEL, "model_pk"), description="The model the finding is about; null if none or you may not see it."
    )

    lab: Lab | None = relation_field(ById(LAB, "lab_pk"), description="The lab the finding concerns.")

    owner_lab: Lab | None = relation_field(
        ById(LAB, "owner_lab_pk"),
        description="The lab that owns the finding, when its liaison reported it about the lab's own model (and no "
        "agency has taken it over): the lab decides whom it is shared with, in the owning agency's place. Null when "
        "an agency owns it (ownerAgency).",
    )

    duplicate_of: Finding | None = relation_field(
        ById(store.FINDING, "duplicate_of_pk"), description="The finding this one duplicates, if you may see it."
    )

    measures: list[Annotated[CyberMeasure, strawberry.lazy("schema.measures")]] = relation_field(
        Related(MEASURES_BY_FINDING),
        first=100,
        description="DoD measures against the finding that you may see.",
        deprecation_reason="Use measuresConnection, which pages, filters, orders and counts.",
    )

    measures_connection = connection_field(MEASURES_BY_FINDING, "CyberMeasure")

    engagements: list[Annotated[InfrastructureEngagement, strawberry.lazy("schema.engagements")]] = relation_field(
        Related(ENGAGEMENTS_BY_FINDING),
        first=100,
        description="CISA engagements that handle the finding that you may see.",
        deprecation_reason="Use engagementsConnection, which pages, filters, orders and counts.",
    )

    engagements_connection = connection_field(ENGAGEMENTS_BY_FINDING, "InfrastructureEngagement")


@strawberry.enum
class FindingOrderField(Enum):
    NAME = "NAME"
    BASE_SCORE = "BASE_SCORE"
    KEV_DUE_DATE = "KEV_DUE_DATE"
    STATE = "STATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class FindingOrder:
    field: FindingOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class FindingFilter:
    state: list[FindingState] | None = None
    severity: list[Severity] | None = None
    min_base_score: float | None = None
    sectors: list[Sector] | None = strawberry.field(default=None, description="Findings touching any of these.")
    tlp: list[Tlp] | None = None
    model_ids: list[strawberry.ID] | None = None
    lab_ids: list[strawberry.ID] | None = None
    owner_agency_ids: list[strawberry.ID] | None = None
    owner_lab_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Findings owned by any of these labs (reported by their liaisons)."
    )
    cve_ids: list[str] | None = None
    known_exploited: bool | None = strawberry.field(default=None, description="Listed in CISA's KEV catalog.")
    search: str | None = strawberry.field(
        default=None, description="Words that start words of title, CVE, vendor or product."
    )
    created_from: datetime | None = None
    created_before: datetime | None = None
    kev_due_from: date | None = None
    kev_due_before: date | None = None


def finding_filters(f: FindingFilter) -> dict[str, Any]:
    return {
        "state": values(f.state),
        "severity": values(f.severity),
        "min_base_score": Decimal(str(f.min_base_score)) if f.min_base_score is not None else None,
        "sectors": values(f.sectors),
        "tlp": values(f.tlp),
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "owner_agency_ids": decode_ids(f.owner_agency_ids, "Agency", field="filter.ownerAgencyIds"),
        "owner_lab_ids": decode_ids(f.owner_lab_ids, "Lab", field="filter.ownerLabIds"),
        "cve_ids": [c.upper() for c in f.cve_ids] if f.cve_ids is not None else None,
        "known_exploited": f.known_exploited,
        "search": f.search,
        "created_from": f.created_from,
        "created_before": f.created_before,
        "kev_due_from": f.kev_due_from,
        "kev_due_before": f.kev_due_before,
    }


FINDING_AGGREGATES = aggregate_types(
    "FINDING",
    "Finding",
    {
        "state": enum_key(FindingState),
        "severity": enum_key(Severity),
        "sector": enum_key(Sector),
        "tlp": enum_key(Tlp),
        "lab_id": id_key("lab", LAB, "Lab", Lab),
        "model_id": id_key("model", MODEL, "FrontierModel", FrontierModel),
        "owner_agency_id": id_key("owner_agency", AGENCY, "Agency", Agency),
        "owner_lab_id": id_key("owner_lab", LAB, "Lab", Lab),
        **time_keys("reported", "kev_due"),
    },
    {"cvss_base_score": float, "days_to_mitigation_available": float},
)


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class FindingConnection(Connection[Finding]):
    """The connection of Findings, root and nested: where their own fields (aggregates) go."""

    aggregate = aggregate_field(FINDING_AGGREGATES)


@strawberry.type
class FindingQuery:
    @strawberry.field(description="Findings you may see, in creation order unless ordered otherwise.")
    async def findings(
        self,
        info: strawberry.Info,
        filter: FindingFilter | None = None,
        order_by: FindingOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> FindingConnection:
        return await resolve_connection(
            info,
            store.FINDING,
            Finding,
            connection=FindingConnection,
            filters=finding_filters(filter or FindingFilter()),
            where=store.where_findings,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class CvssInput:
    version: str = "3.1"
    vector: str | None = None
    base_score: float
    severity: Severity | None = strawberry.field(default=None, description="Derived from the score when omitted.")


@strawberry.input
class AffectedInput:
    vendor: str | None = None
    product: str | None = None
    versions: str | None = None


@strawberry.input
class ReportFindingInput:
    title: str
    description: str | None = None
    model_id: strawberry.ID | None = strawberry.field(default=None, description="The model it is about.")
    discovered_by: DiscovererKind = DiscovererKind.AGENCY
    discovered_by_lab_id: strawberry.ID | None = None
    cve_id: str | None = None
    cvss: CvssInput | None = None
    cwes: list[str] | None = None
    affected: AffectedInput | None = None
    sectors: list[Sector] | None = None
    tlp: Tlp = Tlp.AMBER
    share_with_agency_ids: list[strawberry.ID] | None = None
    share_with_lab_ids: list[strawberry.ID] | None = None
    recipient_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Principals, for TLP:RED.")
    reason: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of reporting twice."
    )


@strawberry.input
class UpdateFindingInput:
    id: strawberry.ID
    expected_version: int
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    cve_id: str | None = strawberry.UNSET
    cvss: CvssInput | None = strawberry.UNSET
    cwes: list[str] | None = strawberry.UNSET
    affected: AffectedInput | None = strawberry.UNSET
    sectors: list[Sector] | None = strawberry.UNSET
    reason: str | None = None


@strawberry.input
class TransitionFindingInput:
    id: strawberry.ID
    to: FindingState
    expected_version: int
    reason: str | None = None
    duplicate_of_id: strawberry.ID | None = strawberry.field(default=None, description="With to: DUPLICATE.")


@strawberry.input
class ShareFindingInput:
    id: strawberry.ID
    expected_version: int
    tlp: Tlp
    share_with_agency_ids: list[strawberry.ID] | None = None
    share_with_lab_ids: list[strawberry.ID] | None = None
    recipient_ids: list[strawberry.ID] | None = None
    reason: str | None = None


@strawberry.input
class TakeOverFindingInput:
    id: strawberry.ID
    expected_version: int
    reason: str = strawberry.field(description="Why the agency takes the finding over (kept in the event).")


@strawberry.type
class FindingPayload:
    finding: Finding | None
    errors: list[UserError]


def _cvss(cvss: CvssInput | None) -> dict[str, Any] | None:
    if cvss is None:
        return None
    return {
        "version": cvss.version,
        "vector": cvss.vector,
        "base_score": cvss.base_score,
        "severity": cvss.severity.value if cvss.severity else None,
    }


def _description_values(data: ReportFindingInput | UpdateFindingInput) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("title", "description", "cve_id", "cwes"):
        value = getattr(data, name)
        if value is not strawberry.UNSET:
            out[name] = value
    if data.cvss is not strawberry.UNSET:
        out["cvss"] = _cvss(data.cvss)
    if data.affected is not strawberry.UNSET:
        affected = data.affected or AffectedInput()
        out.update(
            affected_vendor=affected.vendor, affected_product=affected.product, affected_versions=affected.versions
        )
    if data.sectors is not strawberry.UNSET:
        out["sectors"] = values(data.sectors) or []
    return out


async def finding_payload(info: strawberry.Info, action: Any) -> FindingPayload:
    row, errors = await run_mutation(info, action, store.FINDING)
    return FindingPayload(finding=Finding.from_row(row) if row else None, errors=errors)


@strawberry.type
class FindingMutation:
    @strawberry.mutation(
        description="Report a finding on a model you can see; your agency owns it. A lab's liaison reports one about "
        "the lab's own model (discoveredBy LAB or MODEL), and the lab owns it."
    )
    async def report_finding(self, info: strawberry.Info, input: ReportFindingInput) -> FindingPayload:
        values = {
            **_description_values(input),
            **sharing_values(input),
            "model_id": optional_id(input.model_id, "FrontierModel", "input.modelId"),
            "discovered_by": input.discovered_by.value,
            "discovered_by_lab_id": optional_id(input.discovered_by_lab_id, "Lab", "input.discoveredByLabId"),
            "reason": input.reason,
            "idempotency_key": input.idempotency_key,
        }
        return await finding_payload(info, lambda con, p: store.report_finding(con, p, values))

    @strawberry.mutation(description="Change a finding's description, CVE, CVSS, CWEs, affected products or sectors.")
    async def update_finding(self, info: strawberry.Info, input: UpdateFindingInput) -> FindingPayload:
        finding_id = record_id(input.id, "Finding")
        values = {**_description_values(input), "reason": input.reason}
        return await finding_payload(
            info, lambda con, p: store.update_finding(con, p, finding_id, input.expected_version, values)
        )

    @strawberry.mutation(description="Move a finding through the disclosure states.")
    async def transition_finding(self, info: strawberry.Info, input: TransitionFindingInput) -> FindingPayload:
        finding_id = record_id(input.id, "Finding")
        duplicate_of = optional_id(input.duplicate_of_id, "Finding", "input.duplicateOfId")
        return await finding_payload(
            info,
            lambda con, p: store.transition_finding(
                con, p, finding_id, input.to.value, input.expected_version, input.reason, duplicate_of
            ),
        )

    @strawberry.mutation(
        description="Set a finding's TLP, shareWith and RED recipients (the owning agency's officers, or the owning "
        "lab's liaisons)."
    )
    async def share_finding(self, info: strawberry.Info, input: ShareFindingInput) -> FindingPayload:
        finding_id = record_id(input.id, "Finding")
        values = {**sharing_values(input), "reason": input.reason}
        return await finding_payload(
            info, lambda con, p: store.share_finding(con, p, finding_id, input.expected_version, values)
        )

    @strawberry.mutation(
        description="Take over a finding a lab owns (one you can see): your agency owns it from then on, and the lab "
        "stays on its shareWith."
    )
    async def take_over_finding(self, info: strawberry.Info, input: TakeOverFindingInput) -> FindingPayload:
        finding_id = record_id(input.id, "Finding")
        return await finding_payload(
            info, lambda con, p: store.take_over_finding(con, p, finding_id, input.expected_version, input.reason)
        )


register_connection("Finding", finding_filters, store.where_findings)
