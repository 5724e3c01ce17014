"""The aggregates of a connection (docs/analysts.md, "Aggregates"): `aggregate { count min max avg sum groups(by:) }`
on the connections of findings, measures, engagements, agreements, decisions and models, root and nested alike.

Each kind's GraphQL types are made here from one declaration (its keys and numbers), beside the store's SQL of them
(hub/store/aggregates.py, SPECS): `<Type>Aggregate`, `<Type>Numbers`, `<Type>Group`, `<Type>GroupKeys` and the enum
`<Type>GroupKey`. The resolvers read one statement for the ungrouped figures (count, min, max, avg, sum, shared) and
one per `groups(by:)`; the SQL compiler (schema/compiler/) answers the same fields from the same builder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry

from hub.access import Params
from hub.store import aggregates as store_aggregates
from hub.store.aggregates import MAX_GROUPS, SPECS, TOO_MANY_GROUPS, aggregate_sql, key_column
from hub.store.base import Entity
from schema.common import HubError, computed_field, ctx, relation_field, to_global_id
from schema.relations import ById

ROW = "built from the aggregate's row"
PRIVATE_PK: Any = strawberry.Private[int | None]  # type: ignore[misc]
PRIVATE: Any = strawberry.Private[Any]  # type: ignore[misc]


class Aggregate:
    """The base of each kind's `<Type>Aggregate`: part of the connection machinery (as Connection, Edge and PageInfo
    are), whose fields the resolvers and the compiler answer from hub/store/aggregates.py, not records."""


@dataclass(frozen=True)
class KeyField:
    """How a key's value reads in GraphQL: its field type and the conversion of the SQL value; for a foreign key,
    the related record (entity, GraphQL type name, strawberry type) answered beside its id."""

    gql_type: Any
    convert: Callable[[Any], Any] = lambda value: value
    related: tuple[str, Entity, str, Any] | None = None  # (field name, entity, type name, strawberry type)


def enum_key(enum: Any) -> KeyField:
    return KeyField(enum | None, enum)


def date_key() -> KeyField:
    from datetime import date

    return KeyField(date | None)


def time_keys(*names: str) -> dict[str, KeyField]:
    """The day, week and month keys of each of `names` (hub.store.aggregates.buckets)."""
    return {f"{name}_{size}": date_key() for name in names for size in ("day", "week", "month")}


def id_key(field_name: str, entity: Entity, type_name: str, record: Any) -> KeyField:
    return KeyField(
        strawberry.ID | None,
        lambda pk: to_global_id(type_name, pk),
        related=(field_name, entity, type_name, record),
    )


@dataclass(frozen=True)
class AggregateTypes:
    """The strawberry types of one kind's aggregates."""

    kind: str
    aggregate: Any
    group: Any
    numbers: Any | None
    keys: Any
    group_key: Any
    key_fields: dict[str, KeyField]
    number_types: dict[str, Any]

    def numbers_of(self, row: Any, function: str) -> Any:
        assert self.numbers is not None
        return self.numbers(**{name: _number(row[f"{function}_{name}"]) for name in self.number_types})

    def keys_of(self, row: Any, by: list[str]) -> Any:
        values: dict[str, Any] = {}
        spec = SPECS[self.kind]
        asked = {spec.keys[k].name: row[key_column(k)] for k in by}
        for name, key_field in self.key_fields.items():
            raw = asked.get(name)
            values[name] = None if raw is None else key_field.convert(raw)
            if key_field.related is not None:
                values[f"{key_field.related[0]}_pk"] = raw
        return self.keys(**values)

    def group_of(self, row: Any, by: list[str]) -> Any:
        figures: dict[str, Any] = {"key": self.keys_of(row, by), "count": int(row["count"])}
        if self.numbers is not None:
            for function in ("min", "max", "avg", "sum"):
                figures[function] = self.numbers_of(row, function)
        return self.group(**figures)


def _number(value: Any) -> Any:
    return value


def _describe(kind: str) -> str:
    return SPECS[kind].kind.lower()


def aggregate_types(
    kind: str, type_name: str, key_fields: dict[str, KeyField], number_types: dict[str, Any]
) -> AggregateTypes:
    """Make the aggregate types of `kind` (GraphQL names from `type_name`), one field per key of hub/store/aggregates.py
    SPECS[kind] (`key_fields` by the key's field name) and per number (`number_types` by field name)."""
    spec = SPECS[kind]
    assert {k.name for k in spec.keys.values()} == set(key_fields), f"{kind}: keys and key fields differ"
    assert set(spec.numbers) == set(number_types), f"{kind}: numbers differ"

    group_key: Any = strawberry.enum(
        Enum(f"{type_name}GroupKey", [(name, name) for name in spec.keys]),  # type: ignore[call-overload]
        description=f"What {type_name} records group by: enumerations, foreign keys, and UTC time buckets (DAY, WEEK "
        "from Monday as ISO weeks, MONTH).",
    )

    # the keys of a group: each key's field, null when the key is not in `by`; a foreign key's record beside its id
    namespace: dict[str, Any] = {"__annotations__": {}}
    for name, key_field in key_fields.items():
        namespace["__annotations__"][name] = key_field.gql_type
        namespace[name] = None
    for key_field in key_fields.values():
        if key_field.related is not None:
            field_name, entity, _, record = key_field.related
            namespace["__annotations__"][f"{field_name}_pk"] = PRIVATE_PK
            namespace[f"{field_name}_pk"] = None
            namespace["__annotations__"][field_name] = record | None
            namespace[field_name] = relation_field(
                ById(entity, f"{field_name}_pk"), description="The record of the key, if you may see it."
            )
    keys = strawberry.type(
        type(f"{type_name}GroupKeys", (), namespace),
        description=f"The keys of a group of {type_name} records; a key not grouped by is null.",
    )

    numbers = None
    if number_types:
        numbers_namespace: dict[str, Any] = {"__annotations__": {n: t | None for n, t in number_types.items()}}
        numbers = strawberry.type(
            type(f"{type_name}Numbers", (), numbers_namespace),
            description="Numeric fields of the records: each null when no record counted has a value (or none you "
            "may see: confidential values count only where you may see them).",
        )

    group_namespace: dict[str, Any] = {
        "__annotations__": {"key": keys, "count": int},
        "key": computed_field(ROW),
    }
    if numbers is not None:
        for function in ("min", "max", "avg", "sum"):
            group_namespace["__annotations__"][function] = numbers
            group_namespace[function] = computed_field(ROW)
    group = strawberry.type(
        type(f"{type_name}Group", (), group_namespace),
        description=f"A group of {type_name} records and its figures. A record with several values of a list key "
        "(a finding's sectors) is in each of their groups.",
    )

    types: AggregateTypes

    async def totals(self: Any) -> Any:
        if self._totals is None:
            self._totals = asyncio.ensure_future(self._fetch([]))
        rows = await self._totals
        return rows[0]

    async def count(self: Any) -> int:
        return int((await totals(self))["count"])

    def figure(function: str) -> Any:
        async def resolve(self: Any) -> Any:
            return types.numbers_of(await totals(self), function)

        resolve.__annotations__ = {"self": Any, "return": numbers}
        resolve.__name__ = function
        return strawberry.field(
            resolver=resolve, description=f"The {function} of each numeric field over the records counted."
        )

    async def groups(self: Any, by: list[Any]) -> list[Any]:
        names = [b.value for b in by]
        rows = await self._fetch(names)
        cap = store_aggregates.MAX_GROUPS  # read now: a test lowers it
        if len(rows) > cap:
            raise HubError(
                f"by: more than {cap} groups; group by fewer keys, coarser buckets or a narrower filter",
                TOO_MANY_GROUPS,
                field="by",
            )
        unique = list(dict.fromkeys(names))
        return [types.group_of(row, unique) for row in rows]

    groups.__annotations__ = {
        "self": Any,
        "by": list.__class_getitem__(group_key),
        "return": list.__class_getitem__(group),
    }

    async def fetch(self: Any, by: list[str]) -> list[Any]:
        p = Params()
        sql = aggregate_sql(self._principal, p, self._source, by=by)
        return list(await self._db.fetch(sql, *p.values))

    aggregate_namespace: dict[str, Any] = {
        "__annotations__": {
            "_source": PRIVATE,
            "_principal": PRIVATE,
            "_db": PRIVATE,
            "_totals": PRIVATE,
        },
        "_totals": None,
        "_fetch": fetch,
        "count": strawberry.field(
            resolver=count, description="How many records match the filter (that you may see): each counted once."
        ),
        "groups": strawberry.field(
            resolver=groups,
            description=f"The records in groups by the keys `by` (several at once), ordered by their keys (nulls "
            f"last). At most {MAX_GROUPS} groups: above it the field is refused with code {TOO_MANY_GROUPS}.",
        ),
    }
    if numbers is not None:
        for function in ("min", "max", "avg", "sum"):
            aggregate_namespace[function] = figure(function)
    aggregate: Any = strawberry.type(
        type(f"{type_name}Aggregate", (Aggregate,), aggregate_namespace),
        description=f"Figures over the {type_name} records of the connection, over all its pages: exactly the "
        "records you may see that its filter keeps.",
    )
    types = AggregateTypes(kind, aggregate, group, numbers, keys, group_key, key_fields, number_types)
    aggregate._types = types
    return types


def aggregate_field(types: AggregateTypes) -> Any:
    """The connection field `aggregate` of a kind's connection class."""

    def resolve(self: Any, info: strawberry.Info) -> Any:
        context = ctx(info)
        return types.aggregate(_source=self._source, _principal=context.principal, _db=context.db)

    resolve.__annotations__ = {"self": Any, "info": strawberry.Info, "return": types.aggregate}
    return strawberry.field(
        resolver=resolve,
        description="Count, min/max/avg/sum and groups over all the records of the connection (every page).",
    )
