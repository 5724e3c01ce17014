"""Events: every change, as the audit trail and the feed for subscriptions."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from hub.kinds import event_kinds
from hub.loaders import Loaders
from hub.store import events as store
from hub.store.agencies import AGENCY
from hub.store.base import Entity
from hub.store.labs import LAB
from schema.agencies import Agency
from schema.common import (
    NODE_TYPES,
    Connection,
    EntityKind,
    HubError,
    Node,
    OrderDirection,
    ctx,
    decode_ids,
    from_global_id,
    relation_field,
    resolve_connection,
    to_global_id,
    values,
)
from schema.labs import Lab
from schema.relations import ById, ByKind

# EntityKind -> GraphQL type name of the record, for the kinds whose records are nodes (hub/kinds.py)
KIND_TYPES = {k.name: str(k.type_name) for k in event_kinds() if k.node}
# a client that does not read its events is disconnected with this code (policy violation)
SLOW_CONSUMER_CLOSE_CODE = 1008

TYPE_KINDS = {type_name: kind for kind, type_name in KIND_TYPES.items()}
# kinds whose records have global ids (principals are not nodes, but their id is one)
ID_TYPES = {k.name: str(k.type_name) for k in event_kinds() if k.ids}


@strawberry.type(description="One change to one record. Append-only and hash-chained.")
class Event(Node):
    pk: strawberry.Private[int]
    entity_pk: strawberry.Private[int]
    actor_agency_pk: strawberry.Private[int | None]
    actor_lab_pk: strawberry.Private[int | None]
    cursor: str = strawberry.field(description="Resume a subscription or a page after this event.")
    at: datetime
    entity_kind: EntityKind
    entity_id: strawberry.ID | None = strawberry.field(description="The global id of the record (null for POLICY).")
    action: str
    from_state: str | None
    to_state: str | None
    reason: str | None
    details: JSON = strawberry.field(description="What changed, in the words of the action (never a secret).")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        kind = row["entity_kind"]
        return cls(
            id=to_global_id("Event", row["id"]),
            pk=row["id"],
            entity_pk=row["entity_id"],
            actor_agency_pk=row["actor_agency_id"],
            actor_lab_pk=row["actor_lab_id"],
            cursor=str(row["id"]),
            at=row["at"],
            entity_kind=EntityKind(kind),
            entity_id=to_global_id(ID_TYPES[kind], row["entity_id"]) if kind in ID_TYPES else None,
            action=row["action"],
            from_state=row["from_state"],
            to_state=row["to_state"],
            reason=row["reason"],
            details=cast(JSON, {k: v for k, v in (row["details"] or {}).items() if k != "before"}),
        )

    actor_agency: Agency | None = relation_field(
        ById(AGENCY, "actor_agency_pk"), description="The agency of the principal who made the change."
    )

    actor_lab: Lab | None = relation_field(
        ById(LAB, "actor_lab_pk"), description="The lab of the liaison who made the change."
    )

    entity: Node | None = relation_field(
        ByKind("entity_kind", "entity_pk", lambda kind: record_of_kind(kind)),
        description="The record, as you may see it now; null if you no longer may.",
    )


def record_of_kind(kind: str) -> tuple[Entity, Any] | None:
    """The store entity and the record type of an EntityKind; None for the kinds that are not records (POLICY,
    PRINCIPAL)."""
    type_name = KIND_TYPES.get(kind)
    return None if type_name is None else NODE_TYPES[type_name]


NODE_TYPES["Event"] = (store.EVENT, Event)


@strawberry.enum
class EventOrderField(Enum):
    ID = "ID"


@strawberry.input
class EventOrder:
    field: EventOrderField = EventOrderField.ID
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input
class EventFilter:
    kinds: list[EntityKind] | None = None
    entity_id: strawberry.ID | None = strawberry.field(default=None, description="Events of one record.")
    actions: list[str] | None = None
    actor_agency_ids: list[strawberry.ID] | None = None
    at_from: datetime | None = None
    at_before: datetime | None = None


@strawberry.type
class EventQuery:
    @strawberry.field(description="Events on records you may see, oldest first unless ordered otherwise.")
    async def events(
        self,
        info: strawberry.Info,
        filter: EventFilter | None = None,
        order_by: EventOrder | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Connection[Event]:
        f = filter or EventFilter()
        entity = None
        if f.entity_id is not None:
            type_name, pk = from_global_id(f.entity_id, field="filter.entityId")
            if type_name not in TYPE_KINDS:
                raise HubError(
                    "filter.entityId: events are kept for domain records only",
                    "BAD_USER_INPUT",
                    field="filter.entityId",
                )
            entity = (TYPE_KINDS[type_name], pk)
        filters = {
            "kinds": values(f.kinds),
            "actions": f.actions,
            "actor_agency_ids": decode_ids(f.actor_agency_ids, "Agency", field="filter.actorAgencyIds"),
            "at_from": f.at_from,
            "at_before": f.at_before,
            "entity": entity,
        }
        return await resolve_connection(
            info,
            store.EVENT,
            Event,
            filters=filters,
            where=store.where_events,
            order=order_by,
            first=first,
            after=after,
        )


# ------------------------------------------------------------------------------------------------ subscriptions


@strawberry.type
class EventSubscription:
    @strawberry.subscription(
        description="Status changes on records you may see, as they happen. With `since` (an event's cursor), "
        "first every such event after it, in order, then the live ones, with no gap and no duplicate. When you lose "
        "sight of a record you get one ACCESS_REVOKED event for it (entity null) and nothing about it after."
    )
    async def status_changed(
        self, info: strawberry.Info, kinds: list[EntityKind] | None = None, since: str | None = None
    ) -> AsyncGenerator[Event, None]:
        from hub.events import SubscriptionClosed, TooManySubscriptions

        context = ctx(info)
        if context.events is None:
            raise HubError(
                "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql", "BAD_USER_INPUT"
            )
        after = None
        if since is not None:
            if not since.isdigit() or len(since) > 18:
                raise HubError("since: not an event cursor (use an event's `cursor`)", "BAD_USER_INPUT", field="since")
            after = int(since)
        try:
            subscription = context.events.subscribe(context.principal, kinds=values(kinds), since=after)
            async with subscription as stream:
                async for row in stream:
                    # each event is resolved afresh: nothing cached from an earlier one, visibility judged now
                    context.loaders = Loaders(context.db)
                    yield Event.from_row(row)
        except TooManySubscriptions as error:
            raise HubError(str(error), "RATE_LIMITED") from None
        except SubscriptionClosed as closed:
            if context.websocket is not None and "slow consumer" in str(closed):
                await context.websocket.close(code=SLOW_CONSUMER_CLOSE_CODE, reason=str(closed)[:120])
