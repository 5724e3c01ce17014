"""Per-request aiodataloader loaders: one SQL statement per relation per level of a query.

`Loaders` is built once per request (in the GraphQL context) and hands out one loader per entity or relation,
created on first use, so that every field of one level shares one batch.

Nested fields answer through `now_or_later`: from the loader's cache at once when the value is there (the
connection's look-ahead, schema/lookahead.py, loads it for the whole page before the fields run), as an awaitable
otherwise. A field that answers at once costs graphql-core no asyncio task.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Any, TypeVar

from aiodataloader import DataLoader

from hub.store import agreements, coverage, engagements, events, lead_times
from hub.store.base import (
    Entity,
    PageArguments,
    Relation,
    Session,
    facts_by_record,
    get_many,
    load_pages,
    load_related,
)

MISSING: Any = object()
V = TypeVar("V")


class HubLoader(DataLoader):  # type: ignore[type-arg]
    """A DataLoader that can say what it already holds."""

    def peek(self, key: Any) -> Any:
        """The value loaded for `key`, or MISSING when it is not loaded (yet, or its load failed)."""
        future = self._cache.get(self.get_cache_key(key))
        if future is None or not future.done() or future.cancelled() or future.exception() is not None:
            return MISSING
        return future.result()

    def keep_error(self, keys: list[Any], error: Exception) -> None:
        """Cache `error` for those of `keys` a failed batch left out (aiodataloader forgets a failed batch's keys),
        so that a later load raises it instead of running the batch again."""
        for key in keys:
            self.prime(key, error)


def now_or_later(loader: Any, key: Any, convert: Callable[[Any], V]) -> Any:
    """`convert(value)` of the loader's value for `key`: now when it is loaded, else an awaitable of it (graphql-core
    awaits what a resolver returns; so typed Any, for resolvers annotated with their GraphQL type). A None key is
    None."""
    if key is None:
        return None  # type: ignore[return-value]
    value = loader.peek(key)
    if value is not MISSING:
        return convert(value)

    async def later() -> V:
        return convert(await loader.load(key))

    return later()


def now_or_later_many(loads: list[tuple[Any, list[Any]]], convert: Callable[..., V]) -> Any:
    """`convert(values, ...)`, one list of values per (loader, keys) pair: now when every key is loaded, else an
    awaitable."""
    now = [[loader.peek(key) for key in keys] for loader, keys in loads]
    if not any(value is MISSING for values in now for value in values):
        return convert(*now)

    async def later() -> V:
        return convert(*[await loader.load_many(keys) for loader, keys in loads])

    return later()


class Loaders:
    """The request's loaders, keyed by what they load."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self._loaders: dict[Hashable, HubLoader] = {}

    def _get(self, key: Hashable, batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]) -> HubLoader:
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = HubLoader(batch_load_fn=batch, max_batch_size=5000)
        return loader

    def by_id(self, entity: Entity) -> HubLoader:
        """`<Entity>ByIdLoader`: id -> row or None (missing or invisible)."""
        return self._get(("by_id", entity.kind), partial(get_many, self.db, entity))

    def related(self, relation: Relation, limit: int) -> HubLoader:
        """`<Entities>By<Parent>IdLoader`: parent id -> visible rows (at most `limit`)."""
        return self._get(("related", id(relation), limit), partial(load_related, self.db, relation, limit=limit))

    def pages(self, relation: Relation, arguments: PageArguments, key: Hashable) -> HubLoader:
        """`<Entities>ConnectionBy<Parent>IdLoader`: parent id -> the page of a nested connection asked with
        `arguments` (`key` tells equal arguments apart: one loader, so one statement, per field and arguments)."""
        return self._get(("pages", id(relation), key), partial(load_pages, self.db, relation, arguments))

    def history(self, limit: int) -> HubLoader:
        """`EventsByEntityLoader`: (kind, id) -> the record's events."""
        return self._get(("history", limit), partial(events.history, self.db, limit=limit))

    @property
    def parties(self) -> HubLoader:
        """`PartiesByAgreementIdLoader`."""
        return self._get("parties", partial(agreements.parties_by_agreement, self.db))

    @property
    def lead_times(self) -> HubLoader:
        """`LeadTimesByAgreementIdLoader`: an agreement's preview lead time per agency (hub/store/lead_times.py)."""

        async def batch(agreement_ids: list[int]) -> list[list[dict[str, Any]]]:
            return await lead_times.lead_times_by_agreement(self.db, self.db.principal, agreement_ids)

        return self._get("lead_times", batch)

    @property
    def signoffs(self) -> HubLoader:
        """`SignoffsByStandardIdLoader`."""
        return self._get("signoffs", partial(coverage.signoffs_by_standard, self.db))

    @property
    def criteria(self) -> HubLoader:
        """`CriteriaByStandardIdLoader`: a standard's typed criteria, in order."""
        return self._get("criteria", partial(coverage.criteria_by_standard, self.db))

    @property
    def signatures(self) -> HubLoader:
        """`SignaturesByDecisionIdLoader`: a decision's signatures, every round, oldest first."""
        return self._get("signatures", partial(coverage.signatures_by_decision, self.db))

    @property
    def facts(self) -> HubLoader:
        """`RemitFactsByRecordLoader`: (kind, id) -> what the remits ask about the record (or None)."""
        return self._get("facts", partial(facts_by_record, self.db))

    @property
    def milestones(self) -> HubLoader:
        """`MilestonesByEngagementIdLoader`."""
        return self._get("milestones", partial(engagements.milestones_by_engagement, self.db))

    def prime(self, entity: Entity, rows: list[dict[str, Any]]) -> None:
        """Put rows already read (a page, say) in the by-id loader so that nested lookups reuse them."""
        loader = self.by_id(entity)
        for row in rows:
            loader.prime(row["id"], row)
