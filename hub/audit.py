"""The audit trail: every event stores its predecessor's hash; `verify_chain` recomputes them all."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ChainResult:
    ok: bool
    checked: int
    broken_at: int | None = None
    problem: str | None = None


async def verify_chain(con: asyncpg.Connection, *, batch: int = 5000) -> ChainResult:
    """Walk the events in id order; report the first event whose hash or link does not match."""
    checked = 0
    previous_hash: bytes | None = None
    async with con.transaction(isolation="repeatable_read", readonly=True):
        cursor = con.cursor(
            "select e.id, e.prev_hash, e.hash, event_hash(e) as computed from events e order by e.id", prefetch=batch
        )
        async for row in cursor:
            if row["prev_hash"] != previous_hash:
                return ChainResult(
                    False, checked, row["id"], "its prev_hash does not match the hash of the event before it"
                )
            if row["computed"] != row["hash"]:
                return ChainResult(False, checked, row["id"], "its content does not match its hash (altered)")
            previous_hash = row["hash"]
            checked += 1
    return ChainResult(True, checked)
