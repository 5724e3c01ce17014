"""Events: every change, as the audit trail and the feed for subscriptions."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from enum import Enum
from inspect import isawaitable
from typing import Any, cast

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
    is_object_type,
    is_union_type,
    print_ast,
    visit,
)
from graphql.language import Visitor
from graphql.type import GraphQLNamedType
from graphql.utilities import ast_from_value, type_from_ast, value_from_ast_untyped
from strawberry.scalars import JSON
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.utils.str_converters import to_camel_case

from hub.access import EVERYONE_SEES
from hub.events import LIVE_SENDER, Executed, Selection, shown_details
from hub.kinds import event_kinds
from hub.loaders import Loaders
from hub.store import events as store
from hub.store.agencies import AGENCY
from hub.store.base import Entity, Session
from hub.store.labs import LAB
from schema.agencies import Agency
from schema.common import (
    NODE_TYPES,
    Connection,
    Context,
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
            details=cast(JSON, shown_details(row["details"])),
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
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
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
            last=last,
            before=before,
        )


# ------------------------------------------------------------------------------------------------ subscriptions

# The record types every principal sees alike (hub/access.py, EVERYONE_SEES): a selection may reach them below the
# event and still be shared within a sight.
SIGHT_TYPES = frozenset({"Agency", "Lab"})


class SharedExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor (strawberry's), which hands a subscriber an event its selection was executed for
    already, once for its whole sight (hub/events.py, Executed), instead of executing it again."""

    def build_per_event_executor(self, payload: Any) -> Any:
        if isinstance(payload, Executed):
            return _Executed(payload.result)
        return super().build_per_event_executor(payload)


class _Executed:
    """A per-event executor whose result is there already: each subscriber gets its own result object around the
    shared data (the error policy may rewrite a result's errors)."""

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        result = self.result
        return ExecutionResult(result.data, list(result.errors) if result.errors else None, result.extensions)


def _variables_in(node: Any) -> list[str]:
    names: list[str] = []

    class Collect(Visitor):
        def enter_variable(self, variable: VariableNode, *_: Any) -> None:
            names.append(variable.name.value)

    visit(node, Collect())
    return names


def _alike_within_sight(named: GraphQLNamedType) -> bool:
    """Is a value of this type the same for every principal of a sight, its own fields aside (which the caller
    checks in turn)? The records everyone sees (SIGHT_TYPES) and the values that are no records (a finding's CVSS,
    a party to an agreement: object types that are not nodes); not another record, nor an interface (Node)."""
    if named.name in SIGHT_TYPES:
        return True
    if is_object_type(named):
        return all(interface.name != "Node" for interface in named.interfaces)
    if is_union_type(named):
        return all(_alike_within_sight(member) for member in named.types)
    return False


def _reaches_beyond_sight(
    schema: GraphQLSchema,
    parent: GraphQLNamedType,
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> bool:
    """Does this selection (on `parent`) reach a record other than the event's own `entity` and the records
    everyone sees alike (SIGHT_TYPES), whose visibility may then differ within a sight (a RED one)?"""
    if selections is None:
        return False
    for node in selections.selections:
        if isinstance(node, InlineFragmentNode):
            on = schema.get_type(node.type_condition.name.value) if node.type_condition else parent
            if on is None or _reaches_beyond_sight(schema, on, node.selection_set, fragments, seen):
                return True
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            on = schema.get_type(fragment.type_condition.name.value)
            if on is None or _reaches_beyond_sight(schema, on, fragment.selection_set, fragments, seen | {name}):
                return True
        elif isinstance(node, FieldNode):
            name = node.name.value
            if name.startswith("__"):
                continue
            fields = getattr(parent, "fields", {})
            definition = fields.get(name)
            if definition is None:
                return True
            named = get_named_type(definition.type)
            if not is_composite_type(named):
                continue
            if not (parent.name == "Event" and name == "entity") and not _alike_within_sight(named):
                return True
            if _reaches_beyond_sight(schema, named, node.selection_set, fragments, seen):
                return True
    return False


# The kinds of event whose record every principal sees alike (hub/access.py, EVERYONE_SEES), by the record's type
# (those whose records are nodes): a selection that reads nothing of such an event but leaves (of the event, its
# record and the agencies and labs around it) executes alike for every sight.
UNIVERSAL_KINDS = {kind: ID_TYPES[kind] for kind in EVERYONE_SEES if kind in ID_TYPES}


def _applies(schema: GraphQLSchema, condition: Any, on: GraphQLNamedType) -> bool:
    """Does a fragment with this type condition apply to a value of type `on`?"""
    if condition is None:
        return True
    named = schema.get_type(condition.name.value)
    if named is None:
        return False
    if named.name == on.name:
        return True
    if is_union_type(named):
        return any(member.name == on.name for member in named.types)
    return any(interface.name == named.name for interface in getattr(on, "interfaces", ()))


def _stored(on: GraphQLNamedType) -> frozenset[str]:
    """The fields of a record type that are its row's own values (no resolver: nothing read, nothing judged for
    whoever asks), by their GraphQL names; not `availableTransitions`, say, which depends on who asks."""
    definition = (on.extensions or {}).get("strawberry-definition")
    if definition is None:
        return frozenset()
    return frozenset(
        field.graphql_name or to_camel_case(field.python_name)
        for field in definition.fields
        if field.base_resolver is None
    )


def _leaves_only(
    schema: GraphQLSchema,
    on: GraphQLNamedType,
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> bool:
    """Does this selection read nothing of a value of type `on` but the values its row holds (no field with a
    resolver of its own, no composite)?"""
    if selections is None:
        return True
    fields = getattr(on, "fields", {})
    stored = _stored(on)
    for node in selections.selections:
        if isinstance(node, InlineFragmentNode):
            if _applies(schema, node.type_condition, on) and not _leaves_only(
                schema, on, node.selection_set, fragments, seen
            ):
                return False
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            if fragment is None or node.name.value in seen:
                continue
            if _applies(schema, fragment.type_condition, on) and not _leaves_only(
                schema, on, fragment.selection_set, fragments, seen | {node.name.value}
            ):
                return False
        elif isinstance(node, FieldNode) and not node.name.value.startswith("__"):
            definition = fields.get(node.name.value)
            if definition is None or node.name.value not in stored:
                return False
            if is_composite_type(get_named_type(definition.type)):
                return False
    return True


def _universal_kinds(
    schema: GraphQLSchema,
    event: GraphQLNamedType,
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """The kinds of UNIVERSAL_KINDS whose events this selection (on Event) executes alike for every principal: it
    reads the event's own fields, leaves of its actor's agency and lab, and leaves of the record (hub/events.py,
    Selection.universal)."""
    kinds = set(UNIVERSAL_KINDS)
    if selections is None:
        return frozenset(kinds)
    fields = getattr(event, "fields", {})
    for node in selections.selections:
        if isinstance(node, InlineFragmentNode | FragmentSpreadNode):
            if isinstance(node, InlineFragmentNode):
                inner = node.selection_set
            else:
                fragment = fragments.get(node.name.value)
                if fragment is None or node.name.value in seen:
                    continue
                inner, seen = fragment.selection_set, seen | {node.name.value}
            kinds &= _universal_kinds(schema, event, inner, fragments, seen)
            continue
        if not isinstance(node, FieldNode) or node.name.value.startswith("__"):
            continue
        definition = fields.get(node.name.value)
        if definition is None:
            return frozenset()
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            if node.name.value not in _stored(event):
                return frozenset()
            continue
        if node.name.value == "entity":
            for kind, type_name in UNIVERSAL_KINDS.items():
                record = schema.get_type(type_name)
                if record is None or not _leaves_only(schema, record, node.selection_set, fragments):
                    kinds.discard(kind)
        elif named.name in SIGHT_TYPES:
            if not _leaves_only(schema, named, node.selection_set, fragments):
                return frozenset()
        else:
            return frozenset()
    return frozenset(kinds)


def selection_of(info: strawberry.Info) -> Selection:
    """What the subscription selects of each event, for shared execution (hub/events.py, Selection): the document
    and the variables, less those only the root field's arguments read (`since`, `kinds`: they choose the events,
    not what is made of each); personal when it reaches records whose visibility may differ within a sight."""
    raw = info._raw_info
    schema: GraphQLSchema = raw.schema
    operation = raw.operation
    fragments = dict(raw.fragments)
    document = DocumentNode(definitions=(operation, *fragments.values()))
    root = raw.field_nodes[0]
    in_arguments = [name for argument in root.arguments or () for name in _variables_in(argument)]
    # (not their definitions: where they are read)
    everywhere = _variables_in(operation.selection_set) + [
        name for f in fragments.values() for name in _variables_in(f)
    ]
    everywhere += [name for directive in operation.directives or () for name in _variables_in(directive)]
    # the variables as a client would send them, for an executor of the group's own
    # (strawberry's resolve info carries the coerced values as a plain dict)
    coerced = cast(dict[str, Any], raw.variable_values or {})
    sent: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in coerced:
            variable_type: Any = type_from_ast(schema, definition.type)
            literal = ast_from_value(coerced[name], variable_type) if variable_type is not None else None
            sent[name] = value_from_ast_untyped(literal) if literal is not None else None
    keyed = {name: value for name, value in sent.items() if everywhere.count(name) > in_arguments.count(name)}
    event_type = get_named_type(raw.return_type)
    personal = _reaches_beyond_sight(schema, event_type, root.selection_set, fragments)
    text = print_ast(document)
    key = (text, operation.name.value if operation.name else None, json.dumps(keyed, sort_keys=True, default=str))
    settings = ctx(info).settings

    def prepare(session: Session, scratch: dict[str, Any]) -> Callable[[dict[str, Any]], Awaitable[Any]]:
        context = scratch.get("context")
        if context is None:
            # one context, one session and one set of loaders for every selection of the sight and batch
            context = scratch["context"] = Context(
                db=session, loaders=Loaders(session), principal=session.principal, settings=settings
            )
        executor = SharedExecutor.build(
            schema,
            document,
            context_value=context,
            raw_variable_values=sent,
            operation_name=operation.name.value if operation.name else None,
        )
        if isinstance(executor, list):
            raise executor[0]

        async def run(row: dict[str, Any]) -> Any:
            try:
                result = executor.build_per_event_executor(Event.from_row(row)).execute_operation(False)
                return await result if isawaitable(result) else result
            except Exception as error:  # noqa: BLE001 - the group's subscribers get it as an error, as they would alone
                return ExecutionResult(None, [GraphQLError(str(error), original_error=error)])

        return run

    universal = frozenset() if personal else _universal_kinds(schema, event_type, root.selection_set, fragments)
    return Selection(key=key, personal=personal, prepare=prepare, universal=universal)


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
        # the socket's own sender of encoded payloads (hub/app.py, TransportWSHandler.run_operation)
        send_encoded = LIVE_SENDER.get()
        after = None
        if since is not None:
            if not since.isdigit() or len(since) > 18:
                raise HubError("since: not an event cursor (use an event's `cursor`)", "BAD_USER_INPUT", field="since")
            after = int(since)
        try:
            subscription = context.events.subscribe(
                context.principal, kinds=values(kinds), since=after, selection=selection_of(info)
            )
            async with subscription as stream:
                async for item in stream:
                    if isinstance(item, Executed):
                        if send_encoded is not None and (payload := item.payload_json()) is not None:
                            # executed and encoded once for the subscriber's group: sent as it is
                            await send_encoded(payload)
                            continue
                        # executed once for the subscriber's sight (SharedExecutor hands it over as it is)
                        yield cast(Event, item)
                        continue
                    # a replayed event is resolved afresh: nothing cached from an earlier one, visibility judged now
                    context.loaders = Loaders(context.db)
                    yield Event.from_row(item)
        except TooManySubscriptions as error:
            raise HubError(str(error), "RATE_LIMITED") from None
        except SubscriptionClosed as closed:
            if context.websocket is not None and "slow consumer" in str(closed):
                await context.websocket.close(code=SLOW_CONSUMER_CLOSE_CODE, reason=str(closed)[:120])
