"""The schema contract: what a change to the SDL breaks for the frontends that rely on it."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import build_schema, find_breaking_changes, find_dangerous_changes


@dataclass(frozen=True)
class ContractReport:
    breaking: list[str]
    dangerous: list[str]


def compare(old_sdl: str, new_sdl: str) -> ContractReport:
    """Breaking and dangerous changes from `old_sdl` to `new_sdl` (graphql-core's change finder)."""
    old, new = build_schema(old_sdl), build_schema(new_sdl)
    return ContractReport(
        breaking=[f"{c.type.name}: {c.description}" for c in find_breaking_changes(old, new)],
        dangerous=[f"{c.type.name}: {c.description}" for c in find_dangerous_changes(old, new)],
    )
