"""The demo data: the order's three labs and their public models, fictional labs and program records, findings
grounded in CISA's KEV catalogue (docs/design.md, "Demo data").

`load_demo` writes it once (idempotent, one transaction); `demo_summary` counts the rows per table. Every
fictional record says so ("(fictional)" in a name, or "Fictional demo record." in its text). The demo
principals (one OFFICER per agency, one LAB_LIAISON for each of three labs) get no tokens here: the CLI issues
tokens for them by name (`DEMO_PRINCIPAL_NAMES`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg

from hub.demo.content import (
    AGENCY_CODES,
    DEMO_LABS,
    DEMO_PRINCIPAL_NAMES,
    LIAISON_LABS,
    REAL_MODELS,
    demo_liaison_name,
    demo_officer_name,
)
from hub.demo.context import DEMO_LOCK_KEY, DEMO_SEED, DemoContext
from hub.demo.early_access import insert_early_access
from hub.demo.lead_time import insert_lead_times
from hub.demo.participation import close_for_labs_not_taking_part, insert_lab_findings
from hub.demo.program import insert_program
from hub.demo.security import insert_security

__all__ = [
    "AGENCY_CODES",
    "DEMO_LABS",
    "DEMO_LOCK_KEY",
    "DEMO_PRINCIPAL_NAMES",
    "DEMO_SEED",
    "LIAISON_LABS",
    "REAL_MODELS",
    "SUMMARY_TABLES",
    "demo_liaison_name",
    "demo_officer_name",
    "demo_summary",
    "load_demo",
]

# A lab the demo always creates; its presence means the demo (or a real Anthropic record) is already there.
_MARKER_LAB = "Anthropic"

# The tables demo_summary counts, in the order the schema defines them.
SUMMARY_TABLES = (
    "agencies",
    "labs",
    "principals",
    "frontier_models",
    "early_access_agreements",
    "agreement_agencies",
    "early_access_requests",
    "coverage_standards",
    "coverage_signoffs",
    "coverage_decisions",
    "findings",
    "cyber_measures",
    "measure_findings",
    "measure_models",
    "infrastructure_counterparts",
    "infrastructure_engagements",
    "engagement_findings",
    "engagement_milestones",
    "events",
)


async def load_demo(con: asyncpg.Connection, *, today: date | None = None) -> bool:
    """Load the demo data in one transaction; True if it loaded, False if it was already there.

    Idempotent and safe to run from several processes at once: a transaction-level advisory lock serialises
    loaders, and the second finds the demo's marker lab and writes nothing. Deterministic for a given `today`
    (default: today's UTC date), from which every date is placed so that the demo looks live: agreements open
    now, deadlines due this week and past; the KEV facts keep the catalogue's own dates. Needs the migrations
    applied (the policy row and the agencies).
    """
    today = today or datetime.now(UTC).date()
    async with con.transaction():
        await con.execute("select pg_advisory_xact_lock($1)", DEMO_LOCK_KEY)
        if await con.fetchval("select exists (select 1 from labs where lower(name) = lower($1))", _MARKER_LAB):
            return False
        ctx = DemoContext(con, today=today)
        await ctx.load_reference()
        await insert_program(ctx)
        await insert_lead_times(ctx)
        await insert_early_access(ctx)
        await insert_security(ctx)
        await insert_lab_findings(ctx)
        await close_for_labs_not_taking_part(ctx)
        await ctx.insert_events()
    # fresh statistics of the tables just filled: the cost of counting is the planner's estimate of the rows it
    # reads (docs/security.md, "Query cost"), which is far off before autovacuum's first analyze
    await con.execute("analyze")
    return True


async def demo_summary(con: asyncpg.Connection) -> dict[str, int]:
    """Row counts of the tables the demo writes (and of agencies), keyed by table name, in schema order."""
    # table names come from a constant, never from input
    sql = " union all ".join(f"select '{table}' as name, count(*) as n from {table}" for table in SUMMARY_TABLES)
    counts = {r["name"]: r["n"] for r in await con.fetch(sql)}
    return {table: counts[table] for table in SUMMARY_TABLES}
