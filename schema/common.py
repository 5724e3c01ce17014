"""What every domain module shares: Node and global ids, connections, errors, the request context, shared enums."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal as _Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, NewType, TypeVar

import strawberry
from graphql import GraphQLError

from hub.access import Params
from hub.auth import Principal
from hub.kinds import KINDS, allowed_moves, event_kinds
from hub.loaders import Loaders, now_or_later
from hub.quantities import QuantityError, decimal_text, parse_decimal
from hub.settings import Settings
from hub.store.base import MAX_PAGE_SIZE, Entity, Page, PageArguments, Session, UserInputError, page, page_sql
from hub.store.base import Relation as StoreRelation
from schema.lookahead import preload_page
from schema.relations import (
    COMPUTED,
    RELATION,
    Declared,
    History,
    Loads,
    Paged,
    Planned,
    PlannedConnection,
    Planning,
)

if TYPE_CHECKING:
    from schema.events import Event

log = logging.getLogger(__name__)

# An exact decimal, written as a string ("1e26", "10^26", "100000000000000000000000000"); never a Float, which
# cannot hold such values exactly (hub/quantities.py).
Decimal = NewType("Decimal", _Decimal)
DECIMAL_SCALAR = strawberry.scalar(
    name="Decimal",
    description='An exact, non-negative decimal written as a string: "1e26", "10^26" and '
    '"100000000000000000000000000" are the same value. A Float is refused: it cannot hold such values exactly.',
    serialize=decimal_text,
    parse_value=lambda value: _decimal_input(value),
)


def _decimal_input(value: object) -> _Decimal:
    """A Decimal input, or an error the client reads as it is (a GraphQLError: its own mistake, never INTERNAL)."""
    try:
        return parse_decimal(value)
    except QuantityError as error:
        raise GraphQLError(f"Expected a Decimal: {error}") from None


# ------------------------------------------------------------------------------------------------ context


@dataclass(eq=False)  # kept in a WeakSet per worker (open sockets): identity, not value
class Context:
    """What every resolver gets as `info.context`: the request's session, loaders and principal."""

    db: Session
    loaders: Loaders
    principal: Principal
    settings: Settings
    # over WebSocket: the worker's event fan-out, and the connection_init payload
    events: Any = None
    connection_params: dict[str, Any] | None = None
    websocket: Any = None
    # over WebSocket: the id of the token the socket was opened with (rechecked while it is open), never the token
    token_id: int | None = None
    # over HTTP: the request's id, which every error carries (hub/errors.py); over WebSocket one per operation
    request_id: str | None = None


def ctx(info: strawberry.Info) -> Context:
    return info.context  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------------ errors


class HubError(GraphQLError):
    """An error a client should expect, with `extensions.code` (and `extensions.field` where one is at fault)."""

    def __init__(self, message: str, code: str, *, field: str | None = None) -> None:
        extensions: dict[str, Any] = {"code": code}
        if field:
            extensions["field"] = field
        super().__init__(message, extensions=extensions)


class InputError(HubError):
    """A value the caller sent that the hub refuses (a malformed id, an id of another type, a number out of range),
    with code BAD_USER_INPUT naming the field. In a query it is a GraphQL error; in a mutation's input the mutation
    reports it in its payload's `errors` instead (schema/mutations.py, InputErrorsInPayload)."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message, "BAD_USER_INPUT", field=field)
        self.field = field


def bad_input(error: UserInputError) -> InputError:
    return InputError(str(error), error.field)


# ------------------------------------------------------------------------------------------------ ids

# GraphQL type name -> (store entity, strawberry type); filled by each domain module.
NODE_TYPES: dict[str, tuple[Entity, Any]] = {}
# Types with global ids that are not nodes.
OTHER_ID_TYPES = {"Principal", "EngagementMilestone", "ApiToken"}


def register_node(type_name: str, entity: Entity) -> Callable[[Any], Any]:
    def register(cls: Any) -> Any:
        NODE_TYPES[type_name] = (entity, cls)
        return cls

    return register


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("="))


def from_global_id(global_id: str, *, field: str = "id") -> tuple[str, int]:
    """(type name, primary key) of a global id; BAD_USER_INPUT naming `field` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode((global_id + "=" * (-len(global_id) % 4)).encode()).decode()
        type_name, _, pk = raw.partition(":")
        if (type_name not in NODE_TYPES and type_name not in OTHER_ID_TYPES) or not pk.isdigit() or len(pk) > 18:
            raise ValueError
        return type_name, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InputError(f"{field}: {global_id[:80]!r} is not a valid id", field) from None


def decode_ids(global_ids: Sequence[strawberry.ID] | None, type_name: str, *, field: str) -> list[int] | None:
    """Primary keys of ids that must all be of `type_name`."""
    if global_ids is None:
        return None
    if len(global_ids) > MAX_PAGE_SIZE:
        raise InputError(f"{field}: at most {MAX_PAGE_SIZE} ids", field)
    keys = []
    for global_id in global_ids:
        got_type, pk = from_global_id(global_id, field=field)
        if got_type != type_name:
            raise InputError(f"{field}: expected an id of a {type_name}, got one of a {got_type}", field)
        keys.append(pk)
    return keys


@strawberry.interface(description="An object with a global id, fetchable through `node(id:)`.")
class Node:
    id: strawberry.ID


# ------------------------------------------------------------------------------------------------ enums


@strawberry.enum(description="Traffic Light Protocol 2.0 label.")
class Tlp(Enum):
    CLEAR = "CLEAR"
    GREEN = "GREEN"
    AMBER = "AMBER"
    AMBER_STRICT = "AMBER_STRICT"
    RED = "RED"


@strawberry.enum(description="The 16 critical infrastructure sectors (CISA).")
class Sector(Enum):
    CHEMICAL = "CHEMICAL"
    COMMERCIAL_FACILITIES = "COMMERCIAL_FACILITIES"
    COMMUNICATIONS = "COMMUNICATIONS"
    CRITICAL_MANUFACTURING = "CRITICAL_MANUFACTURING"
    DAMS = "DAMS"
    DEFENSE_INDUSTRIAL_BASE = "DEFENSE_INDUSTRIAL_BASE"
    EMERGENCY_SERVICES = "EMERGENCY_SERVICES"
    ENERGY = "ENERGY"
    FINANCIAL_SERVICES = "FINANCIAL_SERVICES"
    FOOD_AND_AGRICULTURE = "FOOD_AND_AGRICULTURE"
    GOVERNMENT_FACILITIES = "GOVERNMENT_FACILITIES"
    HEALTHCARE_AND_PUBLIC_HEALTH = "HEALTHCARE_AND_PUBLIC_HEALTH"
    INFORMATION_TECHNOLOGY = "INFORMATION_TECHNOLOGY"
    NUCLEAR_REACTORS_MATERIALS_AND_WASTE = "NUCLEAR_REACTORS_MATERIALS_AND_WASTE"
    TRANSPORTATION_SYSTEMS = "TRANSPORTATION_SYSTEMS"
    WATER_AND_WASTEWATER_SYSTEMS = "WATER_AND_WASTEWATER_SYSTEMS"


SECTOR_LABELS = {
    Sector.CHEMICAL: "Chemical",
    Sector.COMMERCIAL_FACILITIES: "Commercial Facilities",
    Sector.COMMUNICATIONS: "Communications",
    Sector.CRITICAL_MANUFACTURING: "Critical Manufacturing",
    Sector.DAMS: "Dams",
    Sector.DEFENSE_INDUSTRIAL_BASE: "Defense Industrial Base",
    Sector.EMERGENCY_SERVICES: "Emergency Services",
    Sector.ENERGY: "Energy",
    Sector.FINANCIAL_SERVICES: "Financial Services",
    Sector.FOOD_AND_AGRICULTURE: "Food and Agriculture",
    Sector.GOVERNMENT_FACILITIES: "Government Facilities",
    Sector.HEALTHCARE_AND_PUBLIC_HEALTH: "Healthcare and Public Health",
    Sector.INFORMATION_TECHNOLOGY: "Information Technology",
    Sector.NUCLEAR_REACTORS_MATERIALS_AND_WASTE: "Nuclear Reactors, Materials, and Waste",
    Sector.TRANSPORTATION_SYSTEMS: "Transportation Systems",
    Sector.WATER_AND_WASTEWATER_SYSTEMS: "Water and Wastewater Systems",
}


def state_enum(kind: str) -> type[Enum]:
    """The GraphQL enum of the states of `kind`, as the kinds registry has them (hub/kinds.py): its name, its
    description and its values in the registry's order."""
    registered = KINDS[kind]
    assert registered.state_enum is not None, f"{kind} has no states"
    values = Enum(registered.state_enum, [(state, state) for state in registered.states])  # type: ignore[misc]
    return strawberry.enum(values, description=registered.state_description)


def transitions_field(kind: str, states: type[Enum]) -> Any:
    """The field `availableTransitions: [<Type>State!]!` of the records of `kind` (whose state enum is `states`):
    the moves the caller may make on the record, read from the registry's machine and remits (hub/kinds.py,
    allowed_moves), so that a frontend never copies the rules (docs/workflows.md, "State machines")."""

    def available_transitions(self: Any, info: strawberry.Info) -> Any:
        principal = ctx(info).principal
        return now_or_later(
            ctx(info).loaders.facts,
            (kind, self.pk),
            lambda facts: [] if facts is None else [states(s) for s in allowed_moves(principal, kind, facts)],
        )

    available_transitions.__annotations__ = {
        "self": Any,
        "info": strawberry.Info,
        "return": list.__class_getitem__(states),
    }
    return strawberry.field(
        resolver=available_transitions,
        description="The states you may move this record to next, in the order of its state machine: the moves the "
        "machine allows from its state that your remit lets you make. A listed move is never refused as FORBIDDEN "
        "or INVALID_TRANSITION (its mutation may still refuse its input); the hub's own moves are never listed.",
    )


# the kinds events are about, from the registry (hub/kinds.py)
if TYPE_CHECKING:
    EntityKind = Enum
else:
    EntityKind = strawberry.enum(
        Enum("EntityKind", [(k.name, k.name) for k in event_kinds()]),
        description="The kinds of record that events are about.",
    )


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


def values(enums: Sequence[Enum] | None) -> list[str] | None:
    return None if enums is None else [e.value for e in enums]


# ------------------------------------------------------------------------------------------------ connections

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A Relay connection: a page of edges, its page info and the total count.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Any]]
    # what the connection reads (its entity and filter, and the parent it is under when nested), for the fields that
    # read the same records otherwise (the aggregates); None for the connections that are not of a store entity
    _source: strawberry.Private[ConnectionSource | None] = None

    @strawberry.field(description="How many records match the filter (that you may see), over all pages.")
    async def total_count(self) -> int:
        return int(await self._count())

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


@dataclass(frozen=True)
class ConnectionSource:
    """The records a connection pages through: the visible rows of `entity` that `build_where` keeps (and, for a
    nested connection, those under its parent: `within` is the store relation and the parent's id)."""

    entity: Entity
    build_where: Callable[..., None]
    within: tuple[Any, int] | None = None


async def resolve_connection(
    info: strawberry.Info,
    entity: Entity,
    node_type: Any,
    *,
    filters: dict[str, Any],
    where: Callable[..., None],
    order: Any | None,
    first: int | None,
    after: str | None,
    connection: type[Connection[Any]] | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Any:
    """A root connection: one page of visible rows of `entity` as `node_type`s (as a `connection`, the node type's
    own connection class when it has one: FindingConnection, ...)."""
    context = ctx(info)
    order_field = order.field.value if order is not None else None
    descending = order is not None and order.direction == OrderDirection.DESC
    if isinstance(context, Planning):
        # the SQL compiler asks what this connection would read (schema/compiler/)
        raise Planned(
            PlannedConnection(
                entity, node_type, lambda w: where(w, filters), order_field, descending, first, after, last, before
            )
        )
    try:
        result: Page = await page(
            context.db,
            entity,
            build_where=lambda w: where(w, filters),
            order=order_field,
            descending=descending,
            first=first,
            after=after,
            last=last,
            before=before,
        )
    except UserInputError as error:
        raise bad_input(error) from None
    context.loaders.prime(entity, result.rows)
    edges = [Edge(cursor=c, node=node_type.from_row(r)) for c, r in zip(result.cursors, result.rows, strict=True)]
    # load what the nested fields will ask for, for the whole page, so that they answer synchronously
    await look_ahead(preload_page(info, [edge.node for edge in edges]))
    return (connection or Connection)(
        edges=edges,
        page_info=PageInfo(
            has_next_page=result.has_next_page,
            has_previous_page=result.has_previous_page,
            start_cursor=result.cursors[0] if result.cursors else None,
            end_cursor=result.cursors[-1] if result.cursors else None,
        ),
        _count=result.count,
        _source=ConnectionSource(entity, lambda w: where(w, filters)),
    )


async def look_ahead(preloading: Awaitable[None]) -> None:
    """Run a look-ahead (schema/lookahead.py); should it fail unexpectedly, the fields load as they run instead."""
    try:
        await preloading
    except Exception:
        log.warning("the look-ahead failed; the fields load as they run", exc_info=True)


def check_list_limit(first: int, field: str = "first") -> None:
    if first < 0 or first > MAX_PAGE_SIZE:
        raise InputError(f"{field} must be between 0 and {MAX_PAGE_SIZE}, not {first}", field)


# ------------------------------------------------------------------------------------------------ nested fields
# A nested field that loads records declares its relation (schema/relations.py): its resolver is made of the
# declaration, and returns its records now when the look-ahead loaded them (schema/lookahead.py), else an awaitable:
# a plain function, so that graphql-core makes no asyncio task for the fields that answer at once.


def relation_field(
    loads: Loads,
    *,
    first: int | None = None,
    page: int | None = None,
    most: int | None = None,
    convert: Callable[..., Any] | None = None,
    description: str | None = None,
    deprecation_reason: str | None = None,
) -> Any:
    """A nested field that loads `loads`: the strawberry field, its resolver, and the declaration that the SQL
    compiler, the look-ahead and the cost model read. With `first`, the field takes a `first` argument (this its
    default, checked as every list's) that sizes the relation; see schema/relations.py's Declared for the rest."""
    declared = Declared(loads, first=first, page=page, most=most, convert=convert, check=check_list_limit)
    resolve: Callable[..., Any]
    if first is None:

        def fixed(self: Any, info: strawberry.Info) -> Any:
            return declared.value(self, info.context.loaders, page)

        resolve = fixed
    else:
        default = first

        def sized(self: Any, info: strawberry.Info, first: int = default) -> Any:
            check_list_limit(first)
            return declared.value(self, info.context.loaders, first)

        resolve = sized
    declared.field = strawberry.field(
        resolver=resolve,
        description=description,
        deprecation_reason=deprecation_reason,
        metadata={RELATION: declared},
    )
    return declared.field


# ------------------------------------------------------------------------------------------------ nested connections
# A nested list of records (`relation_field(Related(...))`) has a Relay connection beside it, `<name>Connection`,
# that pages, filters, orders and counts as the root connection of its node type: same filter and order inputs,
# same decoding and errors (docs/frontends.md). Each root connection registers what its nested ones reuse.


@dataclass(frozen=True)
class ConnectionSpec:
    """What the root connection of a node type reads its arguments with, for the nested connections of that type:
    its connection class (and the module that defines it, for lazy references), filter and order inputs, how a
    filter input becomes the store's filters (raising the root field's errors), and the store's `where_*`."""

    node: str
    module: str
    connection: str
    filter_input: str | None = None
    order_input: str | None = None
    decode: Callable[[Any], dict[str, Any]] | None = None
    where: Callable[..., None] | None = None


CONNECTIONS: dict[str, ConnectionSpec] = {}


def register_connection(
    node: str, decode: Callable[[Any], dict[str, Any]] | None = None, where: Callable[..., None] | None = None
) -> None:
    """Register how the root connection of `node` decodes its filter (`decode`, raising its errors) and builds its
    conditions (`where`), for the nested connections of that type (their names: NODE_MODULES)."""
    module, filtered = NODE_MODULES[node]
    filter_input, order_input = (f"{node}Filter", f"{node}Order") if filtered else (None, None)
    CONNECTIONS[node] = ConnectionSpec(node, module, f"{node}Connection", filter_input, order_input, decode, where)


def _filter_key(filters: dict[str, Any]) -> str:
    return repr(sorted(filters.items()))


def connection_field(relation: StoreRelation, node: str, *, description: str | None = None) -> Any:
    """`<name>Connection`: the visible records of `relation` under the record, as a Relay connection of `node` (a
    node type's GraphQL name; its ConnectionSpec, registered by its module, gives the connection type, the filter
    and order inputs). The declaration (schema/relations.py, Paged) is what the compiler and the cost model read."""
    from strawberry.types.lazy_type import LazyType

    declared = Declared(Paged(relation, node))

    def spec() -> ConnectionSpec:
        if node not in CONNECTIONS:
            import importlib

            importlib.import_module(NODE_MODULES[node][0])
        return CONNECTIONS[node]

    async def resolve(
        self: Any,
        info: strawberry.Info,
        filter: Any = None,
        order_by: Any = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Any:
        return await resolve_nested(
            info,
            self,
            relation,
            spec(),
            filter=filter,
            order=order_by,
            first=first,
            after=after,
            last=last,
            before=before,
        )

    async def resolve_unfiltered(
        self: Any,
        info: strawberry.Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Any:
        return await resolve_nested(info, self, relation, spec(), first=first, after=after, last=last, before=before)

    # the node type's module may not be imported yet: its names come from NODE_MODULES, the lazy references
    module, filtered = NODE_MODULES[node]
    function: Callable[..., Any] = resolve if filtered else resolve_unfiltered
    annotations: dict[str, Any] = {
        "self": Any,
        "info": strawberry.Info,
        "first": int | None,
        "after": str | None,
        "last": int | None,
        "before": str | None,
        "return": LazyType(f"{node}Connection", module),
    }
    if filtered:
        annotations["filter"] = LazyType(f"{node}Filter", module) | None
        annotations["order_by"] = LazyType(f"{node}Order", module) | None
    function.__annotations__ = annotations
    declared.field = strawberry.field(
        resolver=function,
        description=(description or f"The {node} records of the relation that you may see")
        + ", as a Relay connection: filtered and ordered as the root connection of its type, paged with first/after "
        "or last/before (the first 50 when neither first nor last is given), counted by totalCount.",
        metadata={RELATION: declared},
    )
    return declared.field


# node type -> the module that defines it, its `<Node>Connection` and (but for CoverageScreening, which has no root
# connection: paging and totalCount only) its `<Node>Filter` and `<Node>Order`, the inputs of its root connection
NODE_MODULES: dict[str, tuple[str, bool]] = {
    "Finding": ("schema.findings", True),
    "CyberMeasure": ("schema.measures", True),
    "InfrastructureEngagement": ("schema.engagements", True),
    "EarlyAccessAgreement": ("schema.agreements", True),
    "CoverageDecision": ("schema.coverage", True),
    "FrontierModel": ("schema.models", True),
    "EarlyAccessRequest": ("schema.requests", True),
    "ComputeEstimate": ("schema.evidence", True),
    "EvaluationResult": ("schema.evidence", True),
    "EvaluationSuite": ("schema.evidence", True),
    "ModelDesignation": ("schema.evidence", True),
    "CoverageScreening": ("schema.coverage", False),
}


async def resolve_nested(
    info: strawberry.Info,
    parent: Any,
    relation: StoreRelation,
    spec: ConnectionSpec,
    *,
    filter: Any = None,
    order: Any = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Any:
    """A nested connection's page under `parent`: the pages of every parent of the level in one statement (the
    request's loader per field and arguments), the counts in one grouped statement when asked."""
    context = ctx(info)
    entity = relation.entity
    filters: dict[str, Any] = {}
    if spec.decode is not None and spec.filter_input is not None:
        filters = spec.decode(filter if filter is not None else _empty_filter(spec))
    where = spec.where

    def build_where(w: Any) -> None:
        if where is not None:
            where(w, filters)

    order_field = order.field.value if order is not None else None
    descending = order is not None and order.direction == OrderDirection.DESC
    try:
        # the page's SQL for one parent, only to refuse bad arguments as the root field does, before any batch
        page_sql(
            context.principal,
            Params(),
            entity,
            build_where=build_where,
            order=order_field,
            descending=descending,
            first=first,
            after=after,
            last=last,
            before=before,
            within=(relation, "0"),
        )
    except UserInputError as error:
        raise bad_input(error) from None
    arguments = PageArguments(build_where, order_field, descending, first, after, last, before)
    key = (_filter_key(filters), order_field, descending, first, after, last, before)
    result: Page = await context.loaders.pages(relation, arguments, key).load(parent.pk)
    node_type = NODE_TYPES[spec.node][1]
    context.loaders.prime(entity, result.rows)
    edges = [Edge(cursor=c, node=node_type.from_row(r)) for c, r in zip(result.cursors, result.rows, strict=True)]
    await look_ahead(preload_page(info, [edge.node for edge in edges]))
    connection_class = _connection_class(spec)
    return connection_class(
        edges=edges,
        page_info=PageInfo(
            has_next_page=result.has_next_page,
            has_previous_page=result.has_previous_page,
            start_cursor=result.cursors[0] if result.cursors else None,
            end_cursor=result.cursors[-1] if result.cursors else None,
        ),
        _count=result.count,
        _source=ConnectionSource(entity, build_where, within=(relation, parent.pk)),
    )


def _empty_filter(spec: ConnectionSpec) -> Any:
    import importlib

    assert spec.filter_input is not None
    return getattr(importlib.import_module(spec.module), spec.filter_input)()


def _connection_class(spec: ConnectionSpec) -> Any:
    import importlib

    return getattr(importlib.import_module(spec.module), spec.connection)


def computed_field(why: str, *, description: str | None = None) -> Any:
    """A nested field that loads nothing (`why` says what makes it), as schema/relations.py asks it to be marked."""
    return strawberry.field(description=description, metadata={COMPUTED: why})


# ------------------------------------------------------------------------------------------------ records


@strawberry.type
class Record:
    """Fields every entity has; not a GraphQL type of its own."""

    KIND: ClassVar[str] = ""
    pk: strawberry.Private[int]
    created_at: datetime
    updated_at: datetime
    version: int = strawberry.field(description="Optimistic concurrency: name it as expectedVersion when writing.")

    history: list[Annotated[Event, strawberry.lazy("schema.events")]] = relation_field(
        History(), first=100, description="The record's events, oldest first, under the same visibility rule."
    )


def record_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "pk": row["id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "version": row["version"],
    }
