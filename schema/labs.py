"""Labs."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import labs as store
from hub.store.agreements import AGREEMENTS_BY_LAB
from hub.store.engagements import ENGAGEMENTS_BY_LAB
from hub.store.findings import FINDINGS_BY_LAB
from hub.store.models import MODELS_BY_LAB
from schema.common import (
    Connection,
    Node,
    OrderDirection,
    Record,
    check_list_limit,
    ctx,
    record_fields,
    register_node,
    resolve_connection,
    to_global_id,
    values,
)

if TYPE_CHECKING:
    from schema.agreements import EarlyAccessAgreement
    from schema.engagements import InfrastructureEngagement
    from schema.findings import Finding
    from schema.models import FrontierModel


@strawberry.enum(description="A lab's participation in the voluntary program; never a compliance status.")
class LabState(Enum):
    INVITED = "INVITED"
    ENGAGED = "ENGAGED"
    PARTICIPATING = "PARTICIPATING"
    DECLINED = "DECLINED"
    WITHDRAWN = "WITHDRAWN"


@register_node("Lab", store.LAB)
@strawberry.type(description="An AI lab that may take part in the program.")
class Lab(Node, Record):
    KIND = "LAB"
    name: str
    legal_name: str | None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    website: str | None
    participation: LabState

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Lab:
        return cls(
            id=to_global_id("Lab", row["id"]),
            name=row["name"],
            legal_name=row["legal_name"],
            country=row["country"],
            website=row["website"],
            participation=LabState(row["participation"]),
            **record_fields(row),
        )

    @strawberry.field(description="The lab's models that you may see.")
    async def models(
        self, info: strawberry.Info, first: int = 100
    ) -> list[Annotated[FrontierModel, strawberry.lazy("schema.models")]]:
        from schema.models import FrontierModel

        check_list_limit(first)
        rows = await ctx(info).loaders.related(MODELS_BY_LAB, first).load(self.pk)
        return [FrontierModel.from_row(r) for r in rows]

    @strawberry.field(description="Early-access agreements the lab offered that you may see.")
    async def agreements(
        self, info: strawberry.Info, first: int = 100
    ) -> list[Annotated[EarlyAccessAgreement, strawberry.lazy("schema.agreements")]]:
        from schema.agreements import EarlyAccessAgreement

        check_list_limit(first)
        rows = await ctx(info).loaders.related(AGREEMENTS_BY_LAB, first).load(self.pk)
        return [EarlyAccessAgreement.from_row(r) for r in rows]

    @strawberry.field(description="Findings concerning the lab that you may see.")
    async def findings(
        self, info: strawberry.Info, first: int = 100
    ) -> list[Annotated[Finding, strawberry.lazy("schema.findings")]]:
        from schema.findings import Finding

        check_list_limit(first)
        rows = await ctx(info).loaders.related(FINDINGS_BY_LAB, first).load(self.pk)
        return [Finding.from_row(r) for r in rows]

    @strawberry.field(description="CISA infrastructure engagements with the lab that you may see.")
    async def engagements(
        self, info: strawberry.Info, first: int = 100
    ) -> list[Annotated[InfrastructureEngagement, strawberry.lazy("schema.engagements")]]:
        from schema.engagements import InfrastructureEngagement

        check_list_limit(first)
        rows = await ctx(info).loaders.related(ENGAGEMENTS_BY_LAB, first).load(self.pk)
        return [InfrastructureEngagement.from_row(r) for r in rows]


async def load_lab(info: strawberry.Info, pk: int | None) -> Lab | None:
    if pk is None:
        return None
    row = await ctx(info).loaders.by_id(store.LAB).load(pk)
    return Lab.from_row(row) if row else None


@strawberry.enum
class LabOrderField(Enum):
    NAME = "NAME"
    PARTICIPATION = "PARTICIPATION"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class LabOrder:
    field: LabOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class LabFilter:
    participation: list[LabState] | None = None
    countries: list[str] | None = None
    search: str | None = strawberry.field(default=None, description="Words that start words of the name.")
    created_from: datetime | None = None
    created_before: datetime | None = None


@strawberry.type
class LabQuery:
    @strawberry.field(description="Labs, by name unless ordered otherwise.")
    async def labs(
        self,
        info: strawberry.Info,
        filter: LabFilter | None = None,
        order_by: LabOrder | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[Lab]:
        f = filter or LabFilter()
        filters = {
            "participation": values(f.participation),
            "countries": [c.upper() for c in f.countries] if f.countries is not None else None,
            "search": f.search,
            "created_from": f.created_from,
            "created_before": f.created_before,
        }
        return await resolve_connection(
            info, store.LAB, Lab, filters=filters, where=store.where_labs, order=order_by, first=first, after=after
        )
