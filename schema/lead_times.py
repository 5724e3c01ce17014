"""Preview lead time, measured: per agency on each agreement, and the report over them (hub/store/lead_times.py)."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import lead_times as store
from hub.store.agencies import AGENCY
from hub.store.agreements import AGREEMENT
from hub.store.base import UserInputError
from schema.agencies import Agency
from schema.common import Connection, Edge, PageInfo, bad_input, ctx, decode_ids, relation_field, values
from schema.relations import ById

if TYPE_CHECKING:
    from schema.agreements import EarlyAccessAgreement


@strawberry.enum(description="Which general-availability date a lead time is measured to.")
class LeadTimeBasis(Enum):
    ACTUAL = strawberry.enum_value(
        "ACTUAL", description="The date the lab recorded the model became generally available."
    )
    PLANNED = strawberry.enum_value(
        "PLANNED",
        description="The lab's planned date (plannedGeneralAvailabilityOn): shown only to those who may see the "
        "model's confidential data (the lab, and agencies party to an ACTIVE or COMPLETED agreement on it).",
    )
    UNKNOWN = strawberry.enum_value("UNKNOWN", description="No date that you may see: no days are computed.")


@strawberry.type(
    description="How many days before the model's general availability an agency on an agreement had access: the "
    "general-availability date minus the UTC date of the agency's access start, in whole days. A fact the program "
    "reports, never a limit on what a lab gives."
)
class PreviewLeadTime:
    agreement_pk: strawberry.Private[int]
    agency_pk: strawberry.Private[int]
    joined_at: datetime | None = strawberry.field(
        description="When the agency joined the agreement (accepted it); null while it has not."
    )
    access_start: datetime | None = strawberry.field(
        description="The agency's access start: the agreement's accessStart, or joinedAt when later; null while the "
        "agency has not joined."
    )
    access_start_on: date | None = strawberry.field(description="The UTC date of accessStart.")
    general_availability_on: date | None = strawberry.field(
        description="The general-availability date measured to (see basis); null when UNKNOWN."
    )
    basis: LeadTimeBasis
    days: int | None = strawberry.field(
        description="generalAvailabilityOn minus accessStartOn, in whole days (zero or negative when access starts "
        "on or after general availability); null when either is unknown."
    )
    asked_days: int = strawberry.field(
        description="The lead time the program asked for when the agreement was made (policy.previewLeadTimeDays)."
    )
    given: bool | None = strawberry.field(description="Whether days >= askedDays; null when days is unknown.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PreviewLeadTime:
        return cls(
            agreement_pk=row["agreement_id"],
            agency_pk=row["agency_id"],
            joined_at=row["joined_at"],
            access_start=row["access_start"],
            access_start_on=row["access_start_on"],
            general_availability_on=row["general_availability_on"],
            basis=LeadTimeBasis(row["basis"]),
            days=row["days"],
            asked_days=row["asked_days"],
            given=row["given"],
        )

    agency: Agency = relation_field(ById(AGENCY, "agency_pk"))

    agreement: Annotated[EarlyAccessAgreement, strawberry.lazy("schema.agreements")] | None = relation_field(
        ById(AGREEMENT, "agreement_pk"), description="The agreement (which you may see: the row says so)."
    )


@strawberry.input
class PreviewLeadTimeFilter:
    agency_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Rows of these agencies.")
    model_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Agreements on these models.")
    lab_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Agreements of these labs.")
    given: bool | None = strawberry.field(
        default=None, description="true: the lead time asked for was given; false: it was not (rows with days)."
    )
    basis: list[LeadTimeBasis] | None = None


@strawberry.type
class PreviewLeadTimeQuery:
    @strawberry.field(
        description="The preview lead time of each agency on each agreement you may see, by agreement then agency "
        "code: how many days before general availability it had access, against what the program asked for."
    )
    async def preview_lead_times(
        self,
        info: strawberry.Info,
        filter: PreviewLeadTimeFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[PreviewLeadTime]:
        f = filter or PreviewLeadTimeFilter()
        filters = {
            "agency_ids": decode_ids(f.agency_ids, "Agency", field="filter.agencyIds"),
            "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
            "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
            "basis": values(f.basis),
            "given": f.given,
        }
        context = ctx(info)
        try:
            result = await store.report(context.db, context.principal, filters, first=first, after=after)
        except UserInputError as error:
            raise bad_input(error) from None
        edges = [
            Edge(cursor=c, node=PreviewLeadTime.from_row(r)) for c, r in zip(result.cursors, result.rows, strict=True)
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=result.has_next_page,
                has_previous_page=after is not None,
                start_cursor=result.cursors[0] if result.cursors else None,
                end_cursor=result.cursors[-1] if result.cursors else None,
            ),
            _count=result.count,
        )
