"""CISA's engagements with labs to fix vulnerabilities in critical infrastructure."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry

from hub.store import engagements as store
from hub.store.findings import FINDINGS_BY_ENGAGEMENT
from schema.common import (
    SECTOR_LABELS,
    Connection,
    Node,
    OrderDirection,
    Record,
    Sector,
    Tlp,
    check_list_limit,
    ctx,
    decode_ids,
    record_fields,
    register_node,
    resolve_connection,
    to_global_id,
    values,
)
from schema.findings import Finding, FindingFilter, finding_filters
from schema.labs import Lab, load_lab
from schema.sharing import SharedRecord, sharing_fields


@strawberry.enum
class InfrastructureEngagementState(Enum):
    PROPOSED = "PROPOSED"
    SCOPING = "SCOPING"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    PAUSED = "PAUSED"
    DECLINED = "DECLINED"
    WITHDRAWN = "WITHDRAWN"


@strawberry.enum
class EngagementKind(Enum):
    TOOL_ACCESS = "TOOL_ACCESS"
    CVD_COORDINATION = "CVD_COORDINATION"
    CLEARINGHOUSE_SCAN = "CLEARINGHOUSE_SCAN"
    SECURE_BY_DESIGN = "SECURE_BY_DESIGN"
    ADVISORY = "ADVISORY"


@strawberry.type
class Milestone:
    title: str
    due_on: date | None
    completed_on: date | None
    created_at: datetime


@register_node("InfrastructureEngagement", store.ENGAGEMENT)
@strawberry.type(
    description="CISA working with a lab to fix vulnerabilities at a critical infrastructure counterparty."
)
class InfrastructureEngagement(Node, Record, SharedRecord):
    KIND = "ENGAGEMENT"
    lab_pk: strawberry.Private[int]
    title: str
    summary: str | None
    sector: Sector
    counterparty: str = strawberry.field(description="The infrastructure operator (e.g. a rural hospital).")
    kind: EngagementKind
    state: InfrastructureEngagementState

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> InfrastructureEngagement:
        return cls(
            id=to_global_id("InfrastructureEngagement", row["id"]),
            lab_pk=row["lab_id"],
            title=row["title"],
            summary=row["summary"],
            sector=Sector(row["sector"]),
            counterparty=row["counterparty"],
            kind=EngagementKind(row["kind"]),
            state=InfrastructureEngagementState(row["state"]),
            **sharing_fields(row),
            **record_fields(row),
        )

    @strawberry.field
    async def lab(self, info: strawberry.Info) -> Lab:
        lab = await load_lab(info, self.lab_pk)
        assert lab is not None
        return lab

    @strawberry.field(description="Findings the engagement handles that you may see.")
    async def findings(self, info: strawberry.Info, first: int = 100) -> list[Finding]:
        check_list_limit(first)
        rows = await ctx(info).loaders.related(FINDINGS_BY_ENGAGEMENT, first).load(self.pk)
        return [Finding.from_row(r) for r in rows]

    @strawberry.field(description="Milestones in due order.")
    async def milestones(self, info: strawberry.Info) -> list[Milestone]:
        rows = await ctx(info).loaders.milestones.load(self.pk)
        return [
            Milestone(title=r["title"], due_on=r["due_on"], completed_on=r["completed_on"], created_at=r["created_at"])
            for r in rows
        ]


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
    search: str | None = None
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
        "search": f.search,
        "created_from": f.created_from,
        "created_before": f.created_before,
    }


@strawberry.type(description="One of the 16 critical infrastructure sectors, with what touches it.")
class SectorInfo:
    sector: Sector
    label: str

    @strawberry.field(description="Engagements in the sector that you may see.")
    async def engagements(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> Connection[InfrastructureEngagement]:
        filters = engagement_filters(InfrastructureEngagementFilter(sectors=[self.sector]))
        return await resolve_connection(
            info,
            store.ENGAGEMENT,
            InfrastructureEngagement,
            filters=filters,
            where=store.where_engagements,
            order=None,
            first=first,
            after=after,
        )

    @strawberry.field(description="Findings touching the sector that you may see.")
    async def findings(self, info: strawberry.Info, first: int = 50, after: str | None = None) -> Connection[Finding]:
        from hub.store.findings import FINDING, where_findings

        filters = finding_filters(FindingFilter(sectors=[self.sector]))
        return await resolve_connection(
            info, FINDING, Finding, filters=filters, where=where_findings, order=None, first=first, after=after
        )


@strawberry.type
class InfrastructureEngagementQuery:
    @strawberry.field(description="CISA infrastructure engagements you may see.")
    async def engagements(
        self,
        info: strawberry.Info,
        filter: InfrastructureEngagementFilter | None = None,
        order_by: InfrastructureEngagementOrder | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[InfrastructureEngagement]:
        return await resolve_connection(
            info,
            store.ENGAGEMENT,
            InfrastructureEngagement,
            filters=engagement_filters(filter or InfrastructureEngagementFilter()),
            where=store.where_engagements,
            order=order_by,
            first=first,
            after=after,
        )

    @strawberry.field(description="The 16 critical infrastructure sectors.")
    def sectors(self) -> list[SectorInfo]:
        return [SectorInfo(sector=s, label=SECTOR_LABELS[s]) for s in Sector]
