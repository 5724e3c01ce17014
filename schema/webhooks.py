"""Signed webhooks (docs/live.md, "Webhooks"): endpoints an agency's admins or a lab's liaisons register, their state
and their delivery log."""

from __future__ import annotations

import functools
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import strawberry

from hub.settings import Settings
from hub.store import webhooks as store
from hub.store.agencies import AGENCY
from hub.store.base import UserInputError
from hub.store.labs import LAB
from hub.webhooks import http
from hub.webhooks.secrets import SecretBox
from schema.agencies import Agency
from schema.common import (
    Connection,
    Edge,
    EntityKind,
    Node,
    OrderDirection,
    PageInfo,
    Record,
    bad_input,
    ctx,
    record_fields,
    register_node,
    relation_field,
    resolve_connection,
    state_enum,
    to_global_id,
    transitions_field,
    values,
)
from schema.labs import Lab
from schema.mutations import UserError, record_id, run_mutation
from schema.relations import ById

if TYPE_CHECKING:
    WebhookEndpointState = Enum
else:
    WebhookEndpointState = state_enum("WEBHOOK")


@functools.cache
def rules(settings: Settings) -> store.WebhookRules:
    """The operator's key and URL rules, once per settings."""
    return store.WebhookRules(
        box=SecretBox(settings.webhook_key()),
        allow_http=settings.webhook_allow_http,
        allowed_networks=http.parse_networks(settings.webhook_allowed_networks),
    )


@register_node("WebhookEndpoint", store.WEBHOOK)
@strawberry.type(
    description="An endpoint that receives the events its owner (an agency or a lab) may see as signed webhooks "
    "(Standard Webhooks). Seen by the owning agency's admins or the owning lab's liaisons; never its secret."
)
class WebhookEndpoint(Node, Record):
    KIND = "WEBHOOK"
    available_transitions = transitions_field("WEBHOOK", WebhookEndpointState)
    owner_agency_pk: strawberry.Private[int | None]
    owner_lab_pk: strawberry.Private[int | None]
    url: str
    description: str | None
    entity_kinds: list[EntityKind] = strawberry.field(description="The kinds of record it is sent; empty: all.")
    actions: list[str] = strawberry.field(
        description="The events' actions it is sent (TRANSITIONED, UPDATED, ...); empty: all. ACCESS_REVOKED is "
        "always sent."
    )
    to_states: list[str] = strawberry.field(description="Only moves to these states; empty: no such filter.")
    state: WebhookEndpointState
    disabled_reason: str | None = strawberry.field(
        description="Why it is disabled: by whom, or the hub's count of consecutive failed attempts and the last error."
    )
    disabled_at: datetime | None
    cursor: str = strawberry.field(
        description="The delivery cursor: every event up to it has been delivered or was not for this endpoint."
    )
    next_attempt_at: datetime | None = strawberry.field(description="When the next attempt is due after a failure.")
    consecutive_failures: int
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until then deliveries carry a second signature, by the secret before the last rotation."
    )

    owner_agency: Agency | None = relation_field(
        ById(AGENCY, "owner_agency_pk"), description="The agency that owns it (null when a lab does)."
    )
    owner_lab: Lab | None = relation_field(ById(LAB, "owner_lab_pk"), description="The lab that owns it.")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WebhookEndpoint:
        return cls(
            id=to_global_id("WebhookEndpoint", row["id"]),
            owner_agency_pk=row["owner_agency_id"],
            owner_lab_pk=row["owner_lab_id"],
            url=row["url"],
            description=row["description"],
            entity_kinds=[EntityKind(k) for k in row["entity_kinds"]],
            actions=list(row["actions"]),
            to_states=list(row["to_states"]),
            state=WebhookEndpointState(row["state"]),
            disabled_reason=row["disabled_reason"],
            disabled_at=row["disabled_at"],
            cursor=str(row["cursor"]),
            next_attempt_at=row["next_attempt_at"],
            consecutive_failures=row["consecutive_failures"],
            previous_secret_expires_at=row["previous_secret_expires_at"],
            **record_fields(row),
        )


@strawberry.enum(
    description="A delivery: PENDING (being retried), DELIVERED (a 2xx), FAILED (the endpoint was "
    "disabled before it was delivered)."
)
class WebhookDeliveryStatus(Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.type(description="One event sent to an endpoint (in one round: a redelivery starts a new one).")
class WebhookDelivery:
    event_cursor: str = strawberry.field(description="The event's cursor: the webhook-id header.")
    type: str = strawberry.field(description="The body's type, such as finding.transitioned.")
    status: WebhookDeliveryStatus
    attempts: int
    response_status: int | None = strawberry.field(description="The HTTP status of the last attempt.")
    latency_ms: int | None = strawberry.field(description="How long the last attempt took.")
    error: str | None = strawberry.field(description="What went wrong at the last attempt.")
    round: int
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WebhookDelivery:
        return cls(
            event_cursor=str(row["event_id"]),
            type=row["type"],
            status=WebhookDeliveryStatus(row["status"]),
            attempts=row["attempts"],
            response_status=row["response_status"],
            latency_ms=row["latency_ms"],
            error=row["error"],
            round=row["round"],
            first_attempt_at=row["first_attempt_at"],
            last_attempt_at=row["last_attempt_at"],
            delivered_at=row["delivered_at"],
        )


@strawberry.enum
class WebhookEndpointOrderField(Enum):
    NAME = "NAME"
    STATE = "STATE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


@strawberry.input
class WebhookEndpointOrder:
    field: WebhookEndpointOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class WebhookEndpointFilter:
    state: list[WebhookEndpointState] | None = strawberry.field(
        default=None, description="Without it: every state but DELETED."
    )


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Webhook endpoints you manage: your agency's (admins) or your lab's (liaisons).")
    async def webhook_endpoints(
        self,
        info: strawberry.Info,
        filter: WebhookEndpointFilter | None = None,
        order_by: WebhookEndpointOrder | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WebhookEndpoint]:
        f = filter or WebhookEndpointFilter()
        return await resolve_connection(
            info,
            store.WEBHOOK,
            WebhookEndpoint,
            filters={"state": values(f.state)},
            where=store.where_webhooks,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    @strawberry.field(description="The delivery log of an endpoint you manage, newest first.")
    async def webhook_deliveries(
        self,
        info: strawberry.Info,
        endpoint_id: strawberry.ID,
        status: list[WebhookDeliveryStatus] | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        endpoint = record_id(endpoint_id, "WebhookEndpoint", "endpointId")
        context = ctx(info)
        try:
            rows, more, total = await store.deliveries(
                context.db, context.principal, endpoint, first=first, after=after, statuses=values(status)
            )
        except UserInputError as error:
            raise bad_input(error) from None
        cursors = [store.delivery_cursor(r["id"]) for r in rows]

        async def count() -> int:
            return total

        return Connection(
            edges=[Edge(cursor=c, node=WebhookDelivery.from_row(r)) for c, r in zip(cursors, rows, strict=True)],
            page_info=PageInfo(
                has_next_page=more,
                has_previous_page=after is not None,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
            _count=count,
        )


# ------------------------------------------------------------------------------------------------ mutations


@strawberry.input
class RegisterWebhookInput:
    url: str = strawberry.field(description="https://...; private, loopback and link-local addresses are refused.")
    entity_kinds: list[EntityKind] | None = strawberry.field(default=None, description="Empty or none: all kinds.")
    actions: list[str] | None = strawberry.field(default=None, description="Empty or none: all actions.")
    to_states: list[str] | None = strawberry.field(default=None, description="Only moves to these states.")
    description: str | None = None
    reason: str | None = None


@strawberry.input
class UpdateWebhookInput:
    id: strawberry.ID
    expected_version: int
    url: str | None = None
    entity_kinds: list[EntityKind] | None = None
    actions: list[str] | None = None
    to_states: list[str] | None = None
    description: str | None = strawberry.UNSET
    reason: str | None = None


@strawberry.input
class RotateWebhookSecretInput:
    id: strawberry.ID
    expected_version: int
    overlap_hours: int = strawberry.field(
        default=24, description="How long the previous secret signs too (a second signature); 0 to 168."
    )
    reason: str | None = None


@strawberry.input
class TransitionWebhookInput:
    id: strawberry.ID
    to: WebhookEndpointState
    expected_version: int
    reason: str | None = None


@strawberry.input
class RedeliverWebhookInput:
    id: strawberry.ID
    expected_version: int
    from_cursor: str = strawberry.field(description="Send again every event after this cursor (0: from the start).")
    reason: str | None = None


@strawberry.type
class WebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None
    errors: list[UserError]


@strawberry.type
class WebhookSecretPayload:
    webhook_endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (whsec_...), shown this once: verify deliveries with it. Stored encrypted."
    )
    errors: list[UserError]


def subscription_values(data: RegisterWebhookInput | UpdateWebhookInput) -> dict[str, Any]:
    out: dict[str, Any] = {
        "url": data.url,
        "entity_kinds": values(data.entity_kinds),
        "actions": data.actions,
        "to_states": data.to_states,
        "reason": data.reason,
    }
    if data.description is not strawberry.UNSET:
        out["description"] = data.description
    return out


async def endpoint_payload(info: strawberry.Info, action: Any) -> WebhookEndpointPayload:
    row, errors = await run_mutation(info, action, store.WEBHOOK)
    return WebhookEndpointPayload(webhook_endpoint=WebhookEndpoint.from_row(row) if row else None, errors=errors)


async def secret_payload(info: strawberry.Info, action: Any, made: dict[str, Any]) -> WebhookSecretPayload:
    row, errors = await run_mutation(info, action, store.WEBHOOK)
    if not row:
        return WebhookSecretPayload(webhook_endpoint=None, secret=None, errors=errors)
    return WebhookSecretPayload(webhook_endpoint=WebhookEndpoint.from_row(row), secret=made["secret"], errors=[])


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Register a webhook endpoint: an agency admin for the agency, a lab liaison for the lab. It is "
        "sent what happens from now on that its owner may see; the secret is in the payload, this once."
    )
    async def register_webhook(self, info: strawberry.Info, input: RegisterWebhookInput) -> WebhookSecretPayload:
        data = subscription_values(input)
        settings = ctx(info).settings
        made: dict[str, Any] = {}

        async def action(con: Any, p: Any) -> int:
            endpoint_id, made["secret"] = await store.register_webhook(con, p, data, rules(settings))
            return endpoint_id

        return await secret_payload(info, action, made)

    @strawberry.mutation(description="Change an endpoint's URL, description or what it is sent.")
    async def update_webhook(self, info: strawberry.Info, input: UpdateWebhookInput) -> WebhookEndpointPayload:
        endpoint_id = record_id(input.id, "WebhookEndpoint")
        data = subscription_values(input)
        settings = ctx(info).settings
        return await endpoint_payload(
            info,
            lambda con, p: store.update_webhook(con, p, endpoint_id, input.expected_version, data, rules(settings)),
        )

    @strawberry.mutation(
        description="A new signing secret (in the payload, this once); the previous one signs too, as a second "
        "signature, for overlapHours."
    )
    async def rotate_webhook_secret(
        self, info: strawberry.Info, input: RotateWebhookSecretInput
    ) -> WebhookSecretPayload:
        endpoint_id = record_id(input.id, "WebhookEndpoint")
        settings = ctx(info).settings
        made: dict[str, Any] = {}

        async def action(con: Any, p: Any) -> int:
            made["secret"] = await store.rotate_webhook_secret(
                con, p, endpoint_id, input.expected_version, input.overlap_hours, input.reason, rules(settings)
            )
            return endpoint_id

        return await secret_payload(info, action, made)

    @strawberry.mutation(description="Disable, enable (from where its cursor stands) or delete an endpoint.")
    async def transition_webhook(self, info: strawberry.Info, input: TransitionWebhookInput) -> WebhookEndpointPayload:
        endpoint_id = record_id(input.id, "WebhookEndpoint")
        return await endpoint_payload(
            info,
            lambda con, p: store.transition_webhook(
                con, p, endpoint_id, input.to.value, input.expected_version, input.reason
            ),
        )

    @strawberry.mutation(description="Send again the events after a cursor that the endpoint's owner may see now.")
    async def redeliver_webhook(self, info: strawberry.Info, input: RedeliverWebhookInput) -> WebhookEndpointPayload:
        endpoint_id = record_id(input.id, "WebhookEndpoint")
        return await endpoint_payload(
            info,
            lambda con, p: store.redeliver_webhook(
                con, p, endpoint_id, input.expected_version, input.from_cursor, input.reason
            ),
        )
