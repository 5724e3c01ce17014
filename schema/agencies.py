"""Agencies."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import agencies as store
from hub.store.agreements import AGREEMENTS_BY_AGENCY
from hub.store.engagements import ENGAGEMENTS_BY_OWNER_AGENCY
from hub.store.evidence import SUITES_BY_OWNER_AGENCY
from hub.store.findings import FINDINGS_BY_OWNER_AGENCY
from hub.store.measures import MEASURES_BY_OWNER_AGENCY
from schema.common import (
    Connection,
    Node,
    OrderDirection,
    Record,
    connection_field,
    record_fields,
    register_node,
    relation_field,
    resolve_connection,
    to_global_id,
)
from schema.relations import Related

if TYPE_CHECKING:
    from schema.agreements import EarlyAccessAgreement
    from schema.engagements import InfrastructureEngagement
    from schema.evidence import EvaluationSuite
    from schema.findings import Finding
    from schema.measures import CyberMeasure


@register_node("Agency", store.AGENCY)
@strawberry.type(description="A federal agency taking part in the program (CISA, NIST, DOD ...).")
class Agency(Node, Record):
    KIND = "AGENCY"
    code: str
    name: str
    aliases: list[str]
    description: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Agency:
        return cls(
            id=to_global_id("Agency", row["id"]),
            code=row["code"],
            name=row["name"],
            aliases=list(row["aliases"]),
            description=row["description"],
            **record_fields(row),
        )

    agreements: list[Annotated[EarlyAccessAgreement, strawberry.lazy("schema.agreements")]] = relation_field(
        Related(AGREEMENTS_BY_AGENCY),
        first=100,
        description="Early-access agreements that name this agency.",
        deprecation_reason="Use agreementsConnection, which pages, filters, orders and counts.",
    )

    agreements_connection = connection_field(AGREEMENTS_BY_AGENCY, "EarlyAccessAgreement")

    owned_findings: list[Annotated[Finding, strawberry.lazy("schema.findings")]] = relation_field(
        Related(FINDINGS_BY_OWNER_AGENCY),
        first=100,
        description="Findings this agency owns.",
        deprecation_reason="Use ownedFindingsConnection, which pages, filters, orders and counts.",
    )

    owned_findings_connection = connection_field(FINDINGS_BY_OWNER_AGENCY, "Finding")

    owned_measures: list[Annotated[CyberMeasure, strawberry.lazy("schema.measures")]] = relation_field(
        Related(MEASURES_BY_OWNER_AGENCY),
        first=100,
        description="Cyber measures this agency owns.",
        deprecation_reason="Use ownedMeasuresConnection, which pages, filters, orders and counts.",
    )

    owned_measures_connection = connection_field(MEASURES_BY_OWNER_AGENCY, "CyberMeasure")

    owned_engagements: list[Annotated[InfrastructureEngagement, strawberry.lazy("schema.engagements")]] = (
        relation_field(
            Related(ENGAGEMENTS_BY_OWNER_AGENCY),
            first=100,
            description="Infrastructure engagements this agency owns.",
            deprecation_reason="Use ownedEngagementsConnection, which pages, filters, orders and counts.",
        )
    )

    owned_engagements_connection = connection_field(ENGAGEMENTS_BY_OWNER_AGENCY, "InfrastructureEngagement")

    owned_evaluation_suites: list[Annotated[EvaluationSuite, strawberry.lazy("schema.evidence")]] = relation_field(
        Related(SUITES_BY_OWNER_AGENCY),
        first=100,
        description="Evaluation suites this agency registered, oldest first.",
        deprecation_reason="Use ownedEvaluationSuitesConnection, which pages, filters, orders and counts.",
    )

    owned_evaluation_suites_connection = connection_field(SUITES_BY_OWNER_AGENCY, "EvaluationSuite")


@strawberry.enum
class AgencyOrderField(Enum):
    CODE = "CODE"
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class AgencyOrder:
    field: AgencyOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class AgencyFilter:
    codes: list[str] | None = None
    search: str | None = strawberry.field(default=None, description="Words that start words of the code or name.")


@strawberry.type
class AgencyQuery:
    @strawberry.field(description="Agencies, by code unless ordered otherwise.")
    async def agencies(
        self,
        info: strawberry.Info,
        filter: AgencyFilter | None = None,
        order_by: AgencyOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Agency]:
        filters = {
            "codes": [c.upper() for c in filter.codes] if filter and filter.codes is not None else None,
            "search": filter.search if filter else None,
        }
        return await resolve_connection(
            info,
            store.AGENCY,
            Agency,
            filters=filters,
            where=store.where_agencies,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )
