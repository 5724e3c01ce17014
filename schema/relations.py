"""What a nested field loads, declared where the field is declared (docs/compiler.md).

A field of a record that loads other records names its relation beside its type, and `relation_field` (in
schema/common.py) makes of that one declaration the strawberry field, its resolver and the record of the relation
in the field's metadata:

    lab: Lab = relation_field(ById(store.LAB, "lab_pk"))
    findings: list[Finding] = relation_field(Related(FINDINGS_BY_MODEL), first=100, description="...")

The SQL compiler (schema/compiler/) reads the declaration to join the relation into its statement, the look-ahead
(schema/lookahead.py) to load it for a whole page before the fields run, and the cost model (hub/cost.py) to size a
list that takes no `first`. A nested field that loads nothing (an object built from the record's own columns, say)
is marked `computed_field(why)`; tests/test_relations.py fails on a nested object or list field of a record type
that is neither, and checks that each declaration agrees with its field's type.

Each kind of relation says which of the request's loaders (hub/loaders.py) it reads and the key it looks up there
for a parent record; the resolver answers from the loader's cache at once when the rows are there, else with an
awaitable (`hub.loaders.now_or_later`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from typing import Any, ClassVar

from graphql import GraphQLObjectType, GraphQLSchema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryContainer
from strawberry.types.lazy_type import LazyType

from hub.auth import Principal
from hub.cost import MOST
from hub.loaders import HubLoader, Loaders, now_or_later, now_or_later_many
from hub.selections import Unreadable
from hub.store.base import Entity
from hub.store.base import Relation as StoreRelation

# the keys of a strawberry field's metadata that hold its declaration
RELATION = "hub.relation"
COMPUTED = "hub.computed"

Pairs = list[tuple[HubLoader, Any]]
DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF  # a GraphQL field's strawberry field


class Loads:
    """A kind of relation: the loader it reads and the key it looks up for a parent record."""

    many: ClassVar[bool] = True
    sized: ClassVar[bool] = False  # whether the loader reads a page of a given size

    def loader(self, loaders: Loaders, page: int | None) -> HubLoader:
        raise NotImplementedError

    def key(self, parent: Any) -> Any:
        raise NotImplementedError

    def wants(self, parent: Any, loaders: Loaders, page: int | None) -> Pairs:
        """The (loader, key) pairs the field reads for `parent` (none for a None key)."""
        key = self.key(parent)
        return [] if key is None else [(self.loader(loaders, page), key)]

    def value(self, parent: Any, loaders: Loaders, page: int | None, convert: Callable[[Any], Any]) -> Any:
        """The field's value for `parent`: now when its rows are loaded, else an awaitable of it."""
        return now_or_later(self.loader(loaders, page), self.key(parent), convert)

    def converter(self, record: Any) -> Callable[[Any], Any]:
        """How the loaded value becomes the field's: the rows as records of the field's type."""
        if not hasattr(record, "from_row"):
            raise TypeError(f"{self} needs a convert: {record} is not a record type")
        if self.many:
            return lambda rows: [record.from_row(r) for r in rows]
        return lambda row: record.from_row(row) if row else None


@dataclass(frozen=True)
class ById(Loads):
    """One record of `entity` by id, the parent's attribute `key` (null when None, missing or not visible). The
    compiler reads the id from the parent's column of the same name (`lab_pk`: `lab_id`, `pk`: `id`)."""

    entity: Entity
    key_attribute: str
    many: ClassVar[bool] = False

    def loader(self, loaders: Loaders, page: int | None) -> HubLoader:
        return loaders.by_id(self.entity)

    def key(self, parent: Any) -> Any:
        return getattr(parent, self.key_attribute)


@dataclass(frozen=True)
class Related(Loads):
    """The visible records of a store relation (hub/store/base.py: its table, join and order) under the parent's
    id, a page of them."""

    relation: StoreRelation
    sized: ClassVar[bool] = True

    def loader(self, loaders: Loaders, page: int | None) -> HubLoader:
        assert page is not None
        return loaders.related(self.relation, page)

    def key(self, parent: Any) -> Any:
        return parent.pk


@dataclass(frozen=True)
class Paged(Loads):
    """A nested Relay connection (`connection_field` in schema/common.py): the visible records of a store relation
    under the parent's id, paged, filtered and ordered as the root connection of their node type `node` (its
    GraphQL name) is. Its page depends on the field's arguments, so the look-ahead leaves it to the field, which
    loads the pages of all the parents of a level in one statement (hub.store.base.load_pages)."""

    relation: StoreRelation
    node: str
    many: ClassVar[bool] = False

    def wants(self, parent: Any, loaders: Loaders, page: int | None) -> Pairs:
        return []

    def key(self, parent: Any) -> Any:
        return parent.pk


@dataclass(frozen=True)
class History(Loads):
    """The record's events (hub/store/events.py), a page of them, by its kind and id."""

    sized: ClassVar[bool] = True

    def loader(self, loaders: Loaders, page: int | None) -> HubLoader:
        assert page is not None
        return loaders.history(page)

    def key(self, parent: Any) -> Any:
        return (parent.KIND, parent.pk)


@dataclass(frozen=True)
class Rows(Loads):
    """The rows one of the request's fixed loaders (`parties`, `signoffs`, `milestones`) holds for the parent's
    id."""

    loader_name: str

    def loader(self, loaders: Loaders, page: int | None) -> HubLoader:
        return getattr(loaders, self.loader_name)  # type: ignore[no-any-return]

    def key(self, parent: Any) -> Any:
        return parent.pk


@dataclass(frozen=True)
class EachById(Loads):
    """Records of several entities by the ids the parent lists: (entity, attribute) pairs, one list of rows each
    for the field's convert."""

    parts: tuple[tuple[Entity, str], ...]

    def loads(self, parent: Any, loaders: Loaders) -> list[tuple[HubLoader, list[Any]]]:
        return [(loaders.by_id(entity), getattr(parent, attribute)) for entity, attribute in self.parts]

    def wants(self, parent: Any, loaders: Loaders, page: int | None) -> Pairs:
        return [(loader, key) for loader, keys in self.loads(parent, loaders) for key in keys]

    def value(self, parent: Any, loaders: Loaders, page: int | None, convert: Callable[..., Any]) -> Any:
        return now_or_later_many(self.loads(parent, loaders), convert)

    def converter(self, record: Any) -> Callable[..., Any]:
        raise TypeError("records of several entities need a convert")


@dataclass(frozen=True)
class ByKind(Loads):
    """The record of the kind the parent's attribute `kind` names, by the id in its attribute `key_attribute`;
    `types(kind)` gives that kind's (entity, record type), None for a kind that has no records."""

    kind: str
    key_attribute: str
    types: Callable[[str], tuple[Entity, Any] | None]
    many: ClassVar[bool] = False

    def found(self, parent: Any) -> tuple[Entity, Any] | None:
        kind = getattr(parent, self.kind)
        return self.types(kind.value if isinstance(kind, Enum) else kind)

    def wants(self, parent: Any, loaders: Loaders, page: int | None) -> Pairs:
        found = self.found(parent)
        key = getattr(parent, self.key_attribute)
        return [] if found is None or key is None else [(loaders.by_id(found[0]), key)]

    def value(self, parent: Any, loaders: Loaders, page: int | None, convert: Callable[[Any], Any]) -> Any:
        found = self.found(parent)
        if found is None:
            return None
        entity, record = found
        return now_or_later(loaders.by_id(entity), getattr(parent, self.key_attribute), super().converter(record))

    def converter(self, record: Any) -> Callable[[Any], Any]:
        return lambda row: row  # unused: `value` converts with the record type of the parent's kind


@dataclass(eq=False)
class Declared:
    """A field's relation, as relation_field declares it.

    `first`: the default of the field's `first` argument, which sizes a sized relation (None: the field takes no
    `first`); `page`: the page a sized relation reads when the field takes no `first`; `most`: how many items the
    list holds at most, for the cost model, when it takes no `first`; `convert`: how the loaded value becomes the
    field's, when it is not the rows as records of the field's own type; `check`: refuses a `first` out of range
    (raising the resolver's error)."""

    loads: Loads
    first: int | None = None
    page: int | None = None
    most: int | None = None
    convert: Callable[..., Any] | None = None
    check: Callable[[int], None] | None = None
    field: Any = None  # the strawberry field, once made
    _converter: Callable[..., Any] | None = dataclass_field(default=None, init=False, repr=False)

    def page_of(self, arguments: Mapping[str, Any]) -> int | None:
        """The page the relation reads, from the field's arguments as the resolver gets them; raises the resolver's
        error for a `first` out of range."""
        if self.first is None:
            return self.page
        first = arguments.get("first", self.first)
        if self.check is not None:
            self.check(first)
        return int(first)

    def value(self, parent: Any, loaders: Loaders, page: int | None) -> Any:
        """The field's value for `parent` (the resolver's answer): now when loaded, else an awaitable."""
        convert = self._converter
        if convert is None:
            convert = self._converter = self.convert or self.loads.converter(record_type(self.field.type))
        return self.loads.value(parent, loaders, page, convert)

    def wants(self, parent: Any, loaders: Loaders, page: int | None) -> Pairs:
        return self.loads.wants(parent, loaders, page)


def publish_sizes(graphql_schema: GraphQLSchema) -> None:
    """Put the `most` each relation declares in its GraphQL field's extensions, where the cost model (hub/cost.py,
    which knows nothing of strawberry) reads it."""
    for gql_type in graphql_schema.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType):
            continue
        for field in gql_type.fields.values():
            declared = relation_of((field.extensions or {}).get(DEFINITION_BACKREF))
            if declared is not None and declared.most is not None:
                field.extensions = {**field.extensions, MOST: declared.most}


def record_type(field_type: Any) -> Any:
    """The class of the records a field's strawberry type holds (under lists, optionals and lazy types)."""
    while True:
        if isinstance(field_type, LazyType):
            field_type = field_type.resolve_type()
        elif isinstance(field_type, StrawberryContainer):
            field_type = field_type.of_type
        else:
            return field_type


def relation_of(strawberry_field: Any) -> Declared | None:
    """The relation a strawberry field declares, if any."""
    return (getattr(strawberry_field, "metadata", None) or {}).get(RELATION)


def computed_of(strawberry_field: Any) -> str | None:
    """Why a strawberry field marked computed loads nothing, if it is."""
    return (strawberry_field.metadata or {}).get(COMPUTED)


# ------------------------------------------------------------------------------------------------ root connections
# A root connection's resolver decodes its filter and order itself: the SQL compiler calls it with a Planning
# context, and `resolve_connection` (schema/common.py) raises the page it would read instead of reading it.


@dataclass(frozen=True)
class PlannedConnection:
    """What a root connection's resolver would read: the compiler's answer from `resolve_connection`."""

    entity: Entity
    node_type: Any
    build_where: Any
    order: str | None
    descending: bool
    first: int | None
    after: str | None
    last: int | None = None
    before: str | None = None


class Planned(Exception):
    """Raised by a resolver asked (through `Planning`) what it would read, carrying the answer."""

    def __init__(self, what: Any) -> None:
        super().__init__("planned")
        self.what = what


@dataclass
class Planning:
    """The context a resolver gets when the compiler asks it what it would read."""

    principal: Principal
    settings: Any = None

    @property
    def db(self) -> Any:
        raise Unreadable("the resolver reads the database itself")

    @property
    def loaders(self) -> Any:
        raise Unreadable("the resolver loads records itself")
