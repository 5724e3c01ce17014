"""Time-driven transitions: run by one worker at a time, taken over when it dies, each transition once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from hub.scheduler import Scheduler, run_pass


async def test_a_pass_completes_agreements_at_access_end_and_announces_deadlines_once(
    connection: asyncpg.Connection,
) -> None:
    active = await connection.fetch("select id, access_end from early_access_agreements where state = 'ACTIVE'")
    assert active
    latest_end = max(r["access_end"] for r in active)
    standards = await connection.fetch(
        "select id, due_on from coverage_standards where state in ('DRAFT', 'IN_REVIEW') order by due_on"
    )
    today = datetime.now(UTC)

    first = await run_pass(connection, now=today)
    assert first.completed_agreements == []  # the demo's windows are still open
    assert set(first.standards_overdue) == {r["id"] for r in standards if r["due_on"] < today.date()}
    assert set(first.standards_due_soon) == {
        r["id"] for r in standards if today.date() <= r["due_on"] <= today.date() + timedelta(days=7)
    }
    assert first.standards_overdue and first.standards_due_soon

    later = latest_end + timedelta(seconds=1)
    second = await run_pass(connection, now=later)
    assert sorted(second.completed_agreements) == sorted(r["id"] for r in active)
    # due soon became overdue for the standard that passed its date meanwhile; nothing is announced twice
    assert not set(second.standards_overdue) & set(first.standards_overdue)
    assert second.standards_due_soon == []
    third = await run_pass(connection, now=later)
    assert third.completed_agreements == [] and third.standards_overdue == [] and third.standards_due_soon == []

    events = await connection.fetch(
        """select entity_id, count(*) from events where entity_kind = 'AGREEMENT' and action = 'COMPLETED'
           and actor_principal_id is null group by entity_id"""
    )
    assert {r["entity_id"] for r in events} >= {r["id"] for r in active}
    assert all(r["count"] == 1 for r in events)


async def test_one_scheduler_runs_at_a_time_and_another_takes_over_when_it_dies(fresh_url: str) -> None:
    clock = lambda: datetime.now(UTC)  # noqa: E731
    first = Scheduler(fresh_url, interval=0.2, clock=clock)
    second = Scheduler(fresh_url, interval=0.2, clock=clock)
    first.start()
    await asyncio.sleep(1.0)
    second.start()
    await asyncio.sleep(1.0)
    try:
        assert first.leading and not second.leading
        assert first.passes >= 2 and second.passes == 0
        await first.stop()  # the holder dies: its connection and lock go with it
        for _ in range(50):
            if second.leading:
                break
            await asyncio.sleep(0.1)
        assert second.leading
        await asyncio.sleep(0.5)
        assert second.passes >= 1
    finally:
        await first.stop()
        await second.stop()
