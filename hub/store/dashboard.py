"""The dashboard: counts by state and deadlines, over what the principal may see."""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.access import Params, visible
from hub.kinds import KINDS, sql_list, stateful_kinds
from hub.store.base import Session
from hub.store.coverage import PENDING_STANDARD_STATES

# Named sets of states, with their reasons, in the registry (hub/kinds.py).
OPEN_FINDING_STATES = KINDS["FINDING"].subset("open")
FINAL_ENGAGEMENT_STATES = KINDS["ENGAGEMENT"].final


async def state_counts(db: Session) -> list[dict[str, Any]]:
    """(kind, state, count) for every kind, counting only visible records; one statement."""
    p = Params()
    parts = []
    for kind in stateful_kinds():
        column = kind.state_column
        parts.append(
            f"select '{kind.name}' as kind, t.{column} as state, count(*) as count from {kind.table} t"
            f" where {visible(kind.name, 't', db.principal, p)} group by t.{column}"
        )
    rows = await db.fetch(" union all ".join(parts) + " order by kind, state", *p.values)
    return [dict(r) for r in rows]


async def deadlines(
    db: Session, *, today: date, horizon_days: int, overdue: bool, limit: int = 200
) -> tuple[list[dict[str, Any]], int]:
    """Visible unfinished items either due from today to today + horizon (soonest first) or overdue (most
    recently due first), at most `limit`, and how many there are in all; one statement.

    An agency's principal sees agreement windows closing, coverage standards due but not adopted, the KEV due dates
    of open findings (the catalogue's deadline for federal agencies under BOD 22-01, the agency's own) and
    engagement milestones not completed. A lab liaison sees only what concerns its lab, and only as due, never as
    overdue: its agreements' access ends and the coverage standards due (docs/design.md, "Deadlines").
    """
    lab = db.principal.is_lab
    if overdue and lab:
        return [], 0
    p = Params()
    day = p(today)
    if overdue:
        window, order = f"d.due_on < {day}::date", "d.due_on desc, d.kind, d.id"
    else:
        window = f"d.due_on >= {day}::date and d.due_on <= {day}::date + {p(horizon_days)}::int"
        order = "d.due_on, d.kind, d.id"
    parts = [
        f"""select 'AGREEMENT' as kind, t.id, 'preview access ends' as what, t.access_end::date as due_on
              from {KINDS["AGREEMENT"].table} t
             where t.state = 'ACTIVE' and {visible("AGREEMENT", "t", db.principal, p)}""",
        f"""select 'STANDARD', t.id, 'coverage standard due', t.due_on
              from {KINDS["STANDARD"].table} t
             where t.state in {sql_list(PENDING_STANDARD_STATES)} and {visible("STANDARD", "t", db.principal, p)}""",
    ]
    if not lab:
        parts += [
            f"""select 'FINDING', t.id, 'KEV due date (BOD 22-01)', t.kev_due_date
              from {KINDS["FINDING"].table} t
             where t.kev_due_date is not null and t.state in {sql_list(OPEN_FINDING_STATES)}
               and {visible("FINDING", "t", db.principal, p)}""",
            f"""select 'ENGAGEMENT', t.id, 'milestone: ' || m.title, m.due_on
              from engagement_milestones m join {KINDS["ENGAGEMENT"].table} t on t.id = m.engagement_id
             where m.due_on is not null and m.completed_on is null
               and t.state not in {sql_list(FINAL_ENGAGEMENT_STATES)}
               and {visible("ENGAGEMENT", "t", db.principal, p)}""",
        ]
    sql = f"""
        select *, count(*) over () as total from (
            {" union all ".join(parts)}
        ) d
        where {window}
        order by {order}
        limit {p(limit)}"""
    rows = [dict(r) for r in await db.fetch(sql, *p.values)]
    total = rows[0].pop("total") if rows else 0
    for row in rows[1:]:
        row.pop("total")
    return rows, int(total)
