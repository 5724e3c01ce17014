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
from hub.store.requests import REQUESTS_BY_LAB
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
    state_enum,
    to_global_id,
    transitions_field,
    values,
)
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import Related

if TYPE_CHECKING:
    from schema.agreements import EarlyAccessAgreement
    from schema.engagements import InfrastructureEngagement
    from schema.findings import Finding
    from schema.models import FrontierModel
    from schema.requests import EarlyAccessRequest


# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    LabState = Enum
else:
    LabState = state_enum("LAB")


@register_node("Lab", store.LAB)
@strawberry.type(description="An AI lab that may take part in the program.")
class Lab(Node, Record):
    KIND = "LAB"
    available_transitions = transitions_field("LAB", LabState)
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

    models: list[Annotated[FrontierModel, strawberry.lazy("schema.models")]] = relation_field(
        Related(MODELS_BY_LAB),
        first=100,
        description="The lab's models that you may see.",
        deprecation_reason="Use modelsConnection, which pages, filters, orders and counts.",
    )

    models_connection = connection_field(MODELS_BY_LAB, "FrontierModel")

    agreements: list[Annotated[EarlyAccessAgreement, strawberry.lazy("schema.agreements")]] = relation_field(
        Related(AGREEMENTS_BY_LAB),
        first=100,
        description="Early-access agreements the lab offered that you may see.",
        deprecation_reason="Use agreementsConnection, which pages, filters, orders and counts.",
    )

    agreements_connection = connection_field(AGREEMENTS_BY_LAB, "EarlyAccessAgreement")

    early_access_requests: list[Annotated[EarlyAccessRequest, strawberry.lazy("schema.requests")]] = relation_field(
        Related(REQUESTS_BY_LAB),
        first=100,
        description="Agencies' requests for early access to the lab's models that you may see, oldest first.",
        deprecation_reason="Use earlyAccessRequestsConnection, which pages, filters, orders and counts.",
    )

    early_access_requests_connection = connection_field(REQUESTS_BY_LAB, "EarlyAccessRequest")

    findings: list[Annotated[Finding, strawberry.lazy("schema.findings")]] = relation_field(
        Related(FINDINGS_BY_LAB),
        first=100,
        description="Findings concerning the lab that you may see.",
        deprecation_reason="Use findingsConnection, which pages, filters, orders and counts.",
    )

    findings_connection = connection_field(FINDINGS_BY_LAB, "Finding")

    engagements: list[Annotated[InfrastructureEngagement, strawberry.lazy("schema.engagements")]] = relation_field(
        Related(ENGAGEMENTS_BY_LAB),
        first=100,
        description="CISA infrastructure engagements with the lab that you may see.",
        deprecation_reason="Use engagementsConnection, which pages, filters, orders and counts.",
    )

    engagements_connection = connection_field(ENGAGEMENTS_BY_LAB, "InfrastructureEngagement")


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


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class RegisterLabInput:
    name: str = strawberry.field(description="Unique regardless of case.")
    legal_name: str | None = None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2 code, e.g. US.")
    website: str | None = strawberry.field(default=None, description="An http:// or https:// address.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of registering twice."
    )


@strawberry.input
class UpdateLabInput:
    id: strawberry.ID
    expected_version: int
    name: str | None = strawberry.UNSET
    legal_name: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    reason: str | None = None


@strawberry.input
class SetLabParticipationInput:
    id: strawberry.ID
    to: LabState
    expected_version: int
    reason: str | None = None


@strawberry.type
class LabPayload:
    lab: Lab | None
    errors: list[UserError]


async def lab_payload(info: strawberry.Info, action: Any) -> LabPayload:
    row, errors = await run_mutation(info, action, store.LAB)
    return LabPayload(lab=Lab.from_row(row) if row else None, errors=errors)


@strawberry.type
class LabMutation:
    @strawberry.mutation(
        description="Invite a lab to the voluntary program (CISA and NIST officers); it starts INVITED."
    )
    async def register_lab(self, info: strawberry.Info, input: RegisterLabInput) -> LabPayload:
        values = {
            "name": input.name,
            "legal_name": input.legal_name,
            "country": input.country,
            "website": input.website,
            "idempotency_key": input.idempotency_key,
        }
        return await lab_payload(info, lambda con, p: store.register_lab(con, p, values))

    @strawberry.mutation(description="Change a lab's name, legal name, country or website (its liaisons, CISA, NIST).")
    async def update_lab(self, info: strawberry.Info, input: UpdateLabInput) -> LabPayload:
        lab_id = record_id(input.id, "Lab")
        values: dict[str, Any] = {"reason": input.reason}
        for name in ("name", "legal_name", "country", "website"):
            value = getattr(input, name)
            if value is not strawberry.UNSET:
                values[name] = value
        return await lab_payload(info, lambda con, p: store.update_lab(con, p, lab_id, input.expected_version, values))

    @strawberry.mutation(
        description="Change a lab's participation: its liaisons may decline or withdraw at any time; CISA and NIST "
        "officers may only invite it again."
    )
    async def set_lab_participation(self, info: strawberry.Info, input: SetLabParticipationInput) -> LabPayload:
        lab_id = record_id(input.id, "Lab")
        return await lab_payload(
            info,
            lambda con, p: store.set_lab_participation(
                con, p, lab_id, input.to.value, input.expected_version, input.reason
            ),
        )
