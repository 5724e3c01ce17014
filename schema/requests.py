"""Early-access requests: an agency asks a lab for early access to a model, the lab answers (docs/design.md,
"Early access")."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import requests as store
from hub.store.agencies import AGENCY
from hub.store.agreements import AGREEMENTS_BY_REQUEST
from hub.store.labs import LAB
from hub.store.models import MODEL
from schema.agencies import Agency
from schema.agreements import AccessKind, Protection
from schema.common import (
    Connection,
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
from schema.labs import Lab
from schema.models import FrontierModel
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import ById, EachById, Related

if TYPE_CHECKING:
    from schema.agreements import EarlyAccessAgreement

    EarlyAccessRequestState = Enum
else:
    EarlyAccessRequestState = state_enum("REQUEST")


@strawberry.enum(description="The lab's answer to an early-access request.")
class EarlyAccessAnswer(Enum):
    ACCEPT = "ACCEPT"
    COUNTER_PROPOSE = "COUNTER_PROPOSE"
    DECLINE = "DECLINE"


@register_node("EarlyAccessRequest", store.REQUEST)
@strawberry.type(
    description="An agency's request to a lab for early access to a model, and the lab's answer. Visible to the "
    "agencies on it and the model's lab only; the lab decides."
)
class EarlyAccessRequest(Node, Record):
    KIND = "REQUEST"
    available_transitions = transitions_field("REQUEST", EarlyAccessRequestState)
    model_pk: strawberry.Private[int]
    lab_pk: strawberry.Private[int]
    requesting_agency_pk: strawberry.Private[int]
    agency_pks: strawberry.Private[list[int]]
    state: EarlyAccessRequestState
    access_kinds: list[AccessKind]
    lead_time_days: int = strawberry.field(
        description="How many days before general availability the agencies ask to have the model (the policy's "
        "previewLeadTimeDays unless the request said otherwise)."
    )
    message: str | None
    answer: EarlyAccessAnswer | None = strawberry.field(description="The lab's answer; null while OPEN.")
    answer_reason: str | None = strawberry.field(description="The lab's reason, if it gave one.")
    answered_at: datetime | None
    policy_version: int = strawberry.field(description="The number of the policy version it was made under.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EarlyAccessRequest:
        return cls(
            id=to_global_id("EarlyAccessRequest", row["id"]),
            model_pk=row["model_id"],
            lab_pk=row["lab_id"],
            requesting_agency_pk=row["requesting_agency_id"],
            agency_pks=list(row["agency_ids"]),
            state=EarlyAccessRequestState(row["state"]),
            access_kinds=[AccessKind(k) for k in row["access_kinds"]],
            lead_time_days=row["lead_time_days"],
            message=row["message"],
            answer=EarlyAccessAnswer(row["answer"]) if row["answer"] else None,
            answer_reason=row["answer_reason"],
            answered_at=row["answered_at"],
            policy_version=row["policy_version"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(
        ById(MODEL, "model_pk"), description="The model; null if you may not see it."
    )

    lab: Lab = relation_field(ById(LAB, "lab_pk"))

    requesting_agency: Agency = relation_field(ById(AGENCY, "requesting_agency_pk"))

    agencies: list[Agency] = relation_field(
        EachById(((AGENCY, "agency_pks"),)),
        convert=lambda agencies: [Agency.from_row(r) for r in agencies if r],
        description="The agencies on the request, the requesting agency among them.",
    )

    agreements: list[Annotated[EarlyAccessAgreement, strawberry.lazy("schema.agreements")]] = relation_field(
        Related(AGREEMENTS_BY_REQUEST),
        first=20,
        description="The agreements the lab's answers created: the one its acceptance made ACTIVE, or its "
        "counter-proposals (a withdrawn one among them), oldest first.",
        deprecation_reason="Use agreementsConnection, which pages, filters, orders and counts.",
    )

    agreements_connection = connection_field(AGREEMENTS_BY_REQUEST, "EarlyAccessAgreement")


@strawberry.enum
class EarlyAccessRequestOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    STATE = "STATE"


@strawberry.input
class EarlyAccessRequestOrder:
    field: EarlyAccessRequestOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class EarlyAccessRequestFilter:
    state: list[EarlyAccessRequestState] | None = None
    model_ids: list[strawberry.ID] | None = None
    lab_ids: list[strawberry.ID] | None = None
    requesting_agency_ids: list[strawberry.ID] | None = None
    agency_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Requests naming any of these agencies."
    )
    created_from: datetime | None = None
    created_before: datetime | None = None


def request_filters(f: EarlyAccessRequestFilter) -> dict[str, Any]:
    return {
        "state": values(f.state),
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "requesting_agency_ids": decode_ids(f.requesting_agency_ids, "Agency", field="filter.requestingAgencyIds"),
        "agency_ids": decode_ids(f.agency_ids, "Agency", field="filter.agencyIds"),
        "created_from": f.created_from,
        "created_before": f.created_before,
    }


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class EarlyAccessRequestConnection(Connection[EarlyAccessRequest]):
    """The connection of EarlyAccessRequests, root and nested."""


@strawberry.type
class EarlyAccessRequestQuery:
    @strawberry.field(
        description="Early-access requests your agency is on (or, for a lab, about its models), oldest first unless "
        "ordered otherwise."
    )
    async def early_access_requests(
        self,
        info: strawberry.Info,
        filter: EarlyAccessRequestFilter | None = None,
        order_by: EarlyAccessRequestOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EarlyAccessRequestConnection:
        filters = request_filters(filter or EarlyAccessRequestFilter())
        return await resolve_connection(
            info,
            store.REQUEST,
            EarlyAccessRequest,
            filters=filters,
            where=store.where_requests,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class RequestEarlyAccessInput:
    model_id: strawberry.ID
    agency_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Other agencies on the request; yours is always on it. At most 20 in all."
    )
    access_kinds: list[AccessKind] = strawberry.field(description="At least one.")
    lead_time_days: int | None = strawberry.field(
        default=None,
        description="Days before general availability you ask to have the model; the policy's previewLeadTimeDays "
        "when left out.",
    )
    message: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of asking twice."
    )


@strawberry.input
class AnswerEarlyAccessRequestInput:
    id: strawberry.ID
    expected_version: int
    answer: EarlyAccessAnswer
    access_start: datetime | None = strawberry.field(
        default=None, description="With a time zone offset; for ACCEPT and COUNTER_PROPOSE."
    )
    access_end: datetime | None = strawberry.field(
        default=None, description="After accessStart, as long after as the lab chooses; for ACCEPT and COUNTER_PROPOSE."
    )
    access_kinds: list[AccessKind] | None = strawberry.field(
        default=None, description="The request's access kinds when left out."
    )
    protections: list[Protection] | None = None
    lab_consent_ref: str | None = strawberry.field(default=None, description="The lab's reference for its consent.")
    reason: str | None = strawberry.field(default=None, description="Optional; shown to the agencies on the request.")


@strawberry.input
class WithdrawEarlyAccessRequestInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.type
class EarlyAccessRequestPayload:
    request: EarlyAccessRequest | None
    errors: list[UserError]


async def request_payload(info: strawberry.Info, action: Any) -> EarlyAccessRequestPayload:
    row, errors = await run_mutation(info, action, store.REQUEST)
    return EarlyAccessRequestPayload(request=EarlyAccessRequest.from_row(row) if row else None, errors=errors)


@strawberry.type
class EarlyAccessRequestMutation:
    @strawberry.mutation(
        description="Ask a model's lab for early access, for your agency and any others you name (officers and "
        "admins); the lab must be ENGAGED or PARTICIPATING, and your agency may have one request awaiting an "
        "answer per model."
    )
    async def request_early_access(
        self, info: strawberry.Info, input: RequestEarlyAccessInput
    ) -> EarlyAccessRequestPayload:
        asked = {
            "model_id": record_id(input.model_id, "FrontierModel", "input.modelId"),
            "agency_ids": decode_ids(input.agency_ids, "Agency", field="input.agencyIds") or [],
            "access_kinds": values(input.access_kinds) or [],
            "lead_time_days": input.lead_time_days,
            "message": input.message,
            "idempotency_key": input.idempotency_key,
        }
        return await request_payload(info, lambda con, p: store.request_early_access(con, p, asked))

    @strawberry.mutation(
        description="Answer an OPEN request for your lab's model (lab liaisons): ACCEPT (the agreement, ACTIVE from "
        "accessStart, for the agencies on the request), COUNTER_PROPOSE (your terms, for the requesting agency to "
        "accept or decline) or DECLINE (with an optional reason)."
    )
    async def answer_early_access_request(
        self, info: strawberry.Info, input: AnswerEarlyAccessRequestInput
    ) -> EarlyAccessRequestPayload:
        answer = {
            "id": record_id(input.id, "EarlyAccessRequest"),
            "expected_version": input.expected_version,
            "answer": input.answer.value,
            "access_start": input.access_start,
            "access_end": input.access_end,
            "access_kinds": values(input.access_kinds),
            "protections": values(input.protections) or [],
            "lab_consent_ref": input.lab_consent_ref,
            "reason": input.reason,
        }
        return await request_payload(info, lambda con, p: store.answer_early_access_request(con, p, answer))

    @strawberry.mutation(
        description="Withdraw your agency's request (its officers and admins), OPEN or COUNTER_PROPOSED: withdrawing "
        "a counter-proposed request declines the lab's terms."
    )
    async def withdraw_early_access_request(
        self, info: strawberry.Info, input: WithdrawEarlyAccessRequestInput
    ) -> EarlyAccessRequestPayload:
        request_id = record_id(input.id, "EarlyAccessRequest")
        return await request_payload(
            info,
            lambda con, p: store.withdraw_early_access_request(
                con, p, request_id, input.expected_version, input.reason
            ),
        )


register_connection("EarlyAccessRequest", request_filters, store.where_requests)
