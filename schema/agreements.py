"""Early-access agreements."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from hub.store import agreements as store
from hub.store.agencies import AGENCY
from hub.store.labs import LAB
from hub.store.models import MODEL
from hub.store.requests import REQUEST
from schema.agencies import Agency
from schema.aggregates import aggregate_field, aggregate_types, enum_key, id_key, time_keys
from schema.common import (
    Connection,
    Node,
    OrderDirection,
    Record,
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
from schema.relations import ById, Rows

# the states of the registry (hub/kinds.py), in its order
if TYPE_CHECKING:
    from schema.lead_times import PreviewLeadTime

if TYPE_CHECKING:
    from schema.requests import EarlyAccessRequest

    EarlyAccessAgreementState = Enum
else:
    EarlyAccessAgreementState = state_enum("AGREEMENT")


@strawberry.enum
class AccessKind(Enum):
    API = "API"
    WEIGHTS = "WEIGHTS"
    SANDBOX = "SANDBOX"


@strawberry.enum
class Protection(Enum):
    CONFIDENTIALITY = "CONFIDENTIALITY"
    CYBERSECURITY = "CYBERSECURITY"
    INSIDER_RISK = "INSIDER_RISK"
    INTELLECTUAL_PROPERTY = "INTELLECTUAL_PROPERTY"
    USE = "USE"
    NONDISCLOSURE = "NONDISCLOSURE"


@strawberry.type(
    description="An agency named on an agreement: when it joined (accepted) and, if it has, when it left and why."
)
class AgreementParty:
    agency_pk: strawberry.Private[int]
    accepted_at: datetime | None = strawberry.field(description="When the agency accepted; the same as joinedAt.")
    joined_at: datetime | None = strawberry.field(
        description="When the agency joined: its acceptance, or the agreement's creation for the agency whose "
        "request the lab accepted (it consented by asking). Null until it joins."
    )
    left_at: datetime | None = strawberry.field(
        description="When the agency left the agreement or the lab removed it; it still sees the agreement, no "
        "longer the model's confidential data."
    )
    left_reason: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgreementParty:
        return cls(
            agency_pk=row["agency_id"],
            accepted_at=row["accepted_at"],
            joined_at=row["accepted_at"],
            left_at=row["left_at"],
            left_reason=row["left_reason"],
        )

    agency: Agency = relation_field(ById(AGENCY, "agency_pk"))


@register_node("EarlyAccessAgreement", store.AGREEMENT)
@strawberry.type(
    description="Preview access to a model that its lab gives named agencies, for as long as the lab chooses: offered "
    "unasked, or in answer to an agency's request."
)
class EarlyAccessAgreement(Node, Record):
    KIND = "AGREEMENT"
    available_transitions = transitions_field("AGREEMENT", EarlyAccessAgreementState)
    model_pk: strawberry.Private[int]
    lab_pk: strawberry.Private[int]
    state: EarlyAccessAgreementState
    access_kinds: list[AccessKind]
    access_start: datetime
    access_end: datetime = strawberry.field(description="After accessStart; as long after as the lab chooses.")
    request_pk: strawberry.Private[int | None]
    lead_time_asked_days: int = strawberry.field(
        description="The preview lead time the program asked for when the agreement was made "
        "(policy.previewLeadTimeDays then): what leadTimes is measured against."
    )
    protections: list[Protection]
    lab_consent_ref: str | None
    notes: str | None
    policy_version: int = strawberry.field(description="The number of the policy version it was made under.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EarlyAccessAgreement:
        return cls(
            id=to_global_id("EarlyAccessAgreement", row["id"]),
            model_pk=row["model_id"],
            lab_pk=row["lab_id"],
            state=EarlyAccessAgreementState(row["state"]),
            access_kinds=[AccessKind(k) for k in row["access_kinds"]],
            access_start=row["access_start"],
            access_end=row["access_end"],
            lead_time_asked_days=row["lead_time_asked_days"],
            request_pk=row["request_id"],
            protections=[Protection(k) for k in row["protections"]],
            lab_consent_ref=row["lab_consent_ref"],
            notes=row["notes"],
            policy_version=row["policy_version"],
            **record_fields(row),
        )

    model: FrontierModel | None = relation_field(
        ById(MODEL, "model_pk"), description="The model; null if you may not see it."
    )

    lab: Lab = relation_field(ById(LAB, "lab_pk"))

    parties: list[AgreementParty] = relation_field(
        Rows("parties"),
        most=store.MAX_AGENCIES,
        description="The agencies named on the agreement, those that left included.",
    )

    request: Annotated[EarlyAccessRequest, strawberry.lazy("schema.requests")] | None = relation_field(
        ById(REQUEST, "request_pk"),
        description="The agency's request the agreement answers (the lab accepted it, or proposed these terms); null "
        "for an offer made unasked.",
    )

    lead_times: list[Annotated[PreviewLeadTime, strawberry.lazy("schema.lead_times")]] = relation_field(
        Rows("lead_times"),
        most=store.MAX_AGENCIES,
        description="Each named agency's preview lead time: days from its access start to general availability "
        "(docs/workflows.md, Preview lead time, measured).",
    )


@strawberry.enum
class EarlyAccessAgreementOrderField(Enum):
    ACCESS_START = "ACCESS_START"
    ACCESS_END = "ACCESS_END"
    STATE = "STATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class EarlyAccessAgreementOrder:
    field: EarlyAccessAgreementOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class EarlyAccessAgreementFilter:
    state: list[EarlyAccessAgreementState] | None = None
    model_ids: list[strawberry.ID] | None = None
    lab_ids: list[strawberry.ID] | None = None
    agency_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Agreements naming any of these."
    )
    access_kinds: list[AccessKind] | None = None
    access_start_from: datetime | None = None
    access_start_before: datetime | None = None
    access_end_from: datetime | None = None
    access_end_before: datetime | None = None


def agreement_filters(f: EarlyAccessAgreementFilter) -> dict[str, Any]:
    return {
        "state": values(f.state),
        "model_ids": decode_ids(f.model_ids, "FrontierModel", field="filter.modelIds"),
        "lab_ids": decode_ids(f.lab_ids, "Lab", field="filter.labIds"),
        "agency_ids": decode_ids(f.agency_ids, "Agency", field="filter.agencyIds"),
        "access_kinds": values(f.access_kinds),
        "access_start_from": f.access_start_from,
        "access_start_before": f.access_start_before,
        "access_end_from": f.access_end_from,
        "access_end_before": f.access_end_before,
    }


AGREEMENT_AGGREGATES = aggregate_types(
    "AGREEMENT",
    "EarlyAccessAgreement",
    {
        "state": enum_key(EarlyAccessAgreementState),
        "lab_id": id_key("lab", LAB, "Lab", Lab),
        "model_id": id_key("model", MODEL, "FrontierModel", FrontierModel),
        **time_keys("access_start", "access_end"),
    },
    {"lead_time_asked_days": float, "lead_time_given_days": float},
)


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class EarlyAccessAgreementConnection(Connection[EarlyAccessAgreement]):
    """The connection of EarlyAccessAgreements, root and nested: where their own fields (aggregates) go."""

    aggregate = aggregate_field(AGREEMENT_AGGREGATES)


@strawberry.type
class EarlyAccessAgreementQuery:
    @strawberry.field(description="Early-access agreements you are party to, by window end unless ordered otherwise.")
    async def agreements(
        self,
        info: strawberry.Info,
        filter: EarlyAccessAgreementFilter | None = None,
        order_by: EarlyAccessAgreementOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> EarlyAccessAgreementConnection:
        filters = agreement_filters(filter or EarlyAccessAgreementFilter())
        return await resolve_connection(
            info,
            store.AGREEMENT,
            EarlyAccessAgreement,
            connection=EarlyAccessAgreementConnection,
            filters=filters,
            where=store.where_agreements,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class OfferEarlyAccessInput:
    model_id: strawberry.ID
    agency_ids: list[strawberry.ID] = strawberry.field(description="The agencies offered access: 1 to 20.")
    access_kinds: list[AccessKind] = strawberry.field(description="At least one.")
    access_start: datetime = strawberry.field(description="With a time zone offset.")
    access_end: datetime = strawberry.field(description="After accessStart, as long after as the lab chooses.")
    protections: list[Protection] | None = None
    lab_consent_ref: str | None = strawberry.field(default=None, description="The lab's reference for its consent.")
    notes: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key returns the first result instead of offering twice."
    )


@strawberry.input
class AcceptEarlyAccessInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class WithdrawEarlyAccessInput:
    id: strawberry.ID
    expected_version: int
    reason: str | None = None


@strawberry.input
class TerminateEarlyAccessInput:
    id: strawberry.ID
    expected_version: int
    reason: str


@strawberry.input
class RemoveEarlyAccessAgencyInput:
    id: strawberry.ID
    agency_id: strawberry.ID = strawberry.field(description="The agency to remove; it must not have left already.")
    expected_version: int
    reason: str


@strawberry.type
class EarlyAccessAgreementPayload:
    agreement: EarlyAccessAgreement | None
    errors: list[UserError]


async def agreement_payload(info: strawberry.Info, action: Any) -> EarlyAccessAgreementPayload:
    row, errors = await run_mutation(info, action, store.AGREEMENT)
    return EarlyAccessAgreementPayload(agreement=EarlyAccessAgreement.from_row(row) if row else None, errors=errors)


@strawberry.type
class EarlyAccessAgreementMutation:
    @strawberry.mutation(
        description="Offer named agencies preview access to one of your lab's models, unasked, for as long as you "
        "choose (lab liaisons; your lab ENGAGED or PARTICIPATING); never a hold on the release."
    )
    async def offer_early_access(
        self, info: strawberry.Info, input: OfferEarlyAccessInput
    ) -> EarlyAccessAgreementPayload:
        offer = {
            "model_id": record_id(input.model_id, "FrontierModel", "input.modelId"),
            "agency_ids": decode_ids(input.agency_ids, "Agency", field="input.agencyIds") or [],
            "access_kinds": values(input.access_kinds) or [],
            "access_start": input.access_start,
            "access_end": input.access_end,
            "protections": values(input.protections) or [],
            "lab_consent_ref": input.lab_consent_ref,
            "notes": input.notes,
            "idempotency_key": input.idempotency_key,
        }
        return await agreement_payload(info, lambda con, p: store.offer_early_access(con, p, offer))

    @strawberry.mutation(
        description="Accept an agreement for your agency, which joins it (officers and admins of an agency named on "
        "it); the first acceptance makes it ACTIVE. The lab's counter-proposal to a request is the requesting "
        "agency's to accept first: that makes the request ACCEPTED."
    )
    async def accept_early_access(
        self, info: strawberry.Info, input: AcceptEarlyAccessInput
    ) -> EarlyAccessAgreementPayload:
        agreement_id = record_id(input.id, "EarlyAccessAgreement")
        return await agreement_payload(
            info,
            lambda con, p: store.accept_early_access(con, p, agreement_id, input.expected_version, input.reason),
        )

    @strawberry.mutation(
        description="Withdraw your lab's offer or agreement for every agency on it, at any time (lab liaisons). "
        "Withdrawing a counter-proposal puts its request back to OPEN."
    )
    async def withdraw_early_access(
        self, info: strawberry.Info, input: WithdrawEarlyAccessInput
    ) -> EarlyAccessAgreementPayload:
        agreement_id = record_id(input.id, "EarlyAccessAgreement")
        return await agreement_payload(
            info,
            lambda con, p: store.withdraw_early_access(con, p, agreement_id, input.expected_version, input.reason),
        )

    @strawberry.mutation(
        description="Leave an agreement for your agency, with a reason (officers and admins of an agency named on "
        "it); it goes on for the other agencies and is TERMINATED when no agency is left. Leaving the lab's "
        "counter-proposal to your agency's request declines the lab's terms."
    )
    async def terminate_early_access(
        self, info: strawberry.Info, input: TerminateEarlyAccessInput
    ) -> EarlyAccessAgreementPayload:
        agreement_id = record_id(input.id, "EarlyAccessAgreement")
        return await agreement_payload(
            info,
            lambda con, p: store.terminate_early_access(con, p, agreement_id, input.expected_version, input.reason),
        )

    @strawberry.mutation(
        description="Remove one agency from your lab's agreement, with a reason (lab liaisons); it goes on for the "
        "other agencies and is TERMINATED when no agency is left."
    )
    async def remove_early_access_agency(
        self, info: strawberry.Info, input: RemoveEarlyAccessAgencyInput
    ) -> EarlyAccessAgreementPayload:
        values = {
            "id": record_id(input.id, "EarlyAccessAgreement"),
            "agency_id": record_id(input.agency_id, "Agency", "input.agencyId"),
            "expected_version": input.expected_version,
            "reason": input.reason,
        }
        return await agreement_payload(info, lambda con, p: store.remove_early_access_agency(con, p, values))


register_connection("EarlyAccessAgreement", agreement_filters, store.where_agreements)
