"""Per-request aiodataloader loaders: one SQL statement per relation per level of a query.

`Loaders` is built once per request (in the GraphQL context) and hands out one loader per entity or relation,
created on first use, so that every field of one level shares one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Any

from aiodataloader import DataLoader

from hub.store import agreements, coverage, engagements, events
from hub.store.base import Entity, Relation, Session, get_many, load_related


class Loaders:
    """The request's loaders, keyed by what they load."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self._loaders: dict[Hashable, DataLoader] = {}

    def _get(self, key: Hashable, batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]) -> DataLoader:
        loader = self._loaders.get(key)
        if loader is None:
            loader = self._loaders[key] = DataLoader(batch_load_fn=batch, max_batch_size=5000)
        return loader

    def by_id(self, entity: Entity) -> DataLoader:
        """`<Entity>ByIdLoader`: id -> row or None (missing or invisible)."""
        return self._get(("by_id", entity.kind), partial(get_many, self.db, entity))

    def related(self, relation: Relation, limit: int) -> DataLoader:
        """`<Entities>By<Parent>IdLoader`: parent id -> visible rows (at most `limit`)."""
        return self._get(("related", id(relation), limit), partial(load_related, self.db, relation, limit=limit))

    def history(self, limit: int) -> DataLoader:
        """`EventsByEntityLoader`: (kind, id) -> the record's events."""
        return self._get(("history", limit), partial(events.history, self.db, limit=limit))

    @property
    def parties(self) -> DataLoader:
        """`PartiesByAgreementIdLoader`."""
        return self._get("parties", partial(agreements.parties_by_agreement, self.db))

    @property
    def signoffs(self) -> DataLoader:
        """`SignoffsByStandardIdLoader`."""
        return self._get("signoffs", partial(coverage.signoffs_by_standard, self.db))

    @property
    def milestones(self) -> DataLoader:
        """`MilestonesByEngagementIdLoader`."""
        return self._get("milestones", partial(engagements.milestones_by_engagement, self.db))

    def prime(self, entity: Entity, rows: list[dict[str, Any]]) -> None:
        """Put rows already read (a page, say) in the by-id loader so that nested lookups reuse them."""
        loader = self.by_id(entity)
        for row in rows:
            loader.prime(row["id"], row)
