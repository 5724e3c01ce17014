"""What a read operation asks for, before any SQL is written (docs/compiler.md): the page a root connection's resolver
would read (asked of the resolver itself, with a Planning context), the records global ids name, and the class of
principal a compiled statement serves (its ids are parameters, filled in per request)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import Any

from hub.auth import Principal
from hub.selections import Unreadable
from hub.store.base import Entity
from schema.common import from_global_id
from schema.relations import Planned, Planning


class NotCompilable(Unreadable):
    """The operation needs the resolvers."""


class _Info:
    def __init__(self, context: Planning) -> None:
        self.context = context

    def __getattr__(self, name: str) -> Any:
        raise NotCompilable(f"the resolver reads info.{name}")


async def ask(strawberry_field: Any, kwargs: dict[str, Any], principal: Principal) -> Any:
    """Call a root field's resolver with the planning context: what it would read (resolve_connection raises
    it)."""
    resolver = strawberry_field.base_resolver
    if resolver is None:
        raise NotCompilable("no resolver")
    function = resolver.wrapped_func
    info = _Info(Planning(principal=principal))
    args: list[Any] = []
    parameters = list(inspect.signature(function).parameters)
    if parameters and parameters[0] == "self":
        args.append(None)
    call_kwargs = dict(kwargs)
    if "info" in parameters:
        call_kwargs["info"] = info
    try:
        result = function(*args, **call_kwargs)
        if inspect.isawaitable(result):
            await result
    except Planned as planned:
        return planned.what
    raise NotCompilable(f"resolver {strawberry_field.python_name} computes its answer")


def node_keys(ids: list[str], node_types: dict[str, tuple[Entity, Any]]) -> tuple[str, Entity, list[int]]:
    """The entity, record type and primary keys of global ids that are all of one node type (else the resolver
    answers, and reports an id that is not one)."""
    try:
        keys = [from_global_id(i) for i in ids]
    except Exception as error:  # noqa: BLE001 - the resolver reports a bad id
        raise NotCompilable("an id that is not one") from error
    type_names = {type_name for type_name, _ in keys}
    if len(type_names) != 1 or next(iter(type_names)) not in node_types:
        raise NotCompilable("ids of several types, or not of nodes")
    type_name = next(iter(type_names))
    return type_name, node_types[type_name][0], [pk for _, pk in keys]


@dataclass(frozen=True)
class PrincipalSlot:
    """A principal's attribute in the parameters of a cached statement, filled in per request."""

    attribute: str


def principal_class(principal: Principal) -> tuple[Any, ...]:
    return (principal.agency_id is not None, principal.lab_id is not None, principal.role)


def template_principal(principal: Principal) -> Principal:
    """The principal with its ids replaced by slots: a statement compiled for it serves its whole class."""
    slots: dict[str, Any] = {
        "id": PrincipalSlot("id"),
        "agency_id": PrincipalSlot("agency_id") if principal.agency_id is not None else None,
        "lab_id": PrincipalSlot("lab_id") if principal.lab_id is not None else None,
    }
    return replace(principal, **slots)


@dataclass(frozen=True)
class Compiled:
    """A compiled statement and its parameters, the principal's ids in slots."""

    sql: str
    params: list[Any]
    # the statement may stop with SQLSTATE HG001 (an aggregate's groups past their cap): the resolvers then answer
    refusable: bool = False

    def bind(self, principal: Principal) -> list[Any]:
        """The parameters with the principal's own values in its slots (also inside lists)."""

        def fill(value: Any) -> Any:
            if isinstance(value, PrincipalSlot):
                return getattr(principal, value.attribute)
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        return [fill(v) for v in self.params]
