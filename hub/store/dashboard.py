"""The dashboard in one statement: counts by state (from the summary tables of hub/summaries.py), deadlines and the
coverage counts, over what the principal may see."""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.access import Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, sql_list, stateful_kinds
from hub.store.base import Session
from hub.store.coverage import PENDING_STANDARD_STATES, STANDING_DECISION_STATES, awaiting_rescreening
from hub.summaries import SUMMARIES, columns

# Named sets of states, with their reasons, in the registry (hub/kinds.py).
OPEN_FINDING_STATES = KINDS["FINDING"].subset("open")
FINAL_ENGAGEMENT_STATES = KINDS["ENGAGEMENT"].final


def state_count_source(kind: str, principal: Principal) -> str | None:
    """The smallest summary of `kind` (hub/summaries.py) for `principal` that holds its state, or None (its table is
    small: count the records)."""
    state = KINDS[kind].state_column
    fitting = [
        s for s in SUMMARIES if s.kind == kind and s.where is None and s.serves(principal) and state in s.dimensions
    ]
    return min(fitting, key=lambda s: len(columns(s))).table if fitting else None


def sight(principal: Principal) -> str:
    """The suffix of the summaries kept for `principal`'s sight (hub/summaries.py)."""
    return "lab" if principal.is_lab else "agency"


def _counts_sql(db: Session, p: Params) -> str:
    """(kind, state, count) of every kind over the visible records: from the summaries where there is one."""
    parts = []
    for kind in stateful_kinds():
        column = kind.state_column
        rule = visible(kind.name, "t", db.principal, p)
        summary = state_count_source(kind.name, db.principal)
        if summary is not None:
            parts.append(
                f"select '{kind.name}' as kind, t.{column} as state, sum(t.n)::bigint as count from {summary} t"
                f" where {rule} group by t.{column}"
            )
        else:
            parts.append(
                f"select '{kind.name}' as kind, t.{column} as state, count(*) as count from {kind.table} t"
                f" where {rule} group by t.{column}"
            )
    return " union all ".join(parts)


def _deadline_parts(db: Session, p: Params, window: str, order: str, limit: str) -> tuple[list[str], list[str]]:
    """The dashboard's deadlines in `window` (SQL over `due_on`): per kind, at most `limit` rows in `order` (each
    part reads its own index) and its count (the findings' from the summary of KEV due dates)."""
    lab = db.principal.is_lab
    rows = [
        f"""(select 'AGREEMENT' as kind, t.id, 'preview access ends' as what, t.access_end::date as due_on
              from {KINDS["AGREEMENT"].table} t
             where t.state = 'ACTIVE' and {visible("AGREEMENT", "t", db.principal, p)}
               and {window.format(due_on="t.access_end::date")}
             order by {order.format(due_on="t.access_end::date")} limit {limit})""",
        f"""(select 'STANDARD', t.id, 'coverage standard due', t.due_on
              from {KINDS["STANDARD"].table} t
             where t.state in {sql_list(PENDING_STANDARD_STATES)} and {visible("STANDARD", "t", db.principal, p)}
               and {window.format(due_on="t.due_on")}
             order by {order.format(due_on="t.due_on")} limit {limit})""",
    ]
    counts = [
        f"""(select count(*) from {KINDS["AGREEMENT"].table} t
             where t.state = 'ACTIVE' and {visible("AGREEMENT", "t", db.principal, p)}
               and {window.format(due_on="t.access_end::date")})""",
        f"""(select count(*) from {KINDS["STANDARD"].table} t
             where t.state in {sql_list(PENDING_STANDARD_STATES)} and {visible("STANDARD", "t", db.principal, p)}
               and {window.format(due_on="t.due_on")})""",
    ]
    if not lab:
        open_states = sql_list(OPEN_FINDING_STATES)
        milestones = f"""from engagement_milestones m join {KINDS["ENGAGEMENT"].table} t on t.id = m.engagement_id
             where m.due_on is not null and m.completed_on is null
               and t.state not in {sql_list(FINAL_ENGAGEMENT_STATES)}
               and {visible("ENGAGEMENT", "t", db.principal, p)} and {window.format(due_on="m.due_on")}"""
        rows += [
            f"""(select 'FINDING', t.id, 'KEV due date (BOD 22-01)', t.kev_due_date
              from {KINDS["FINDING"].table} t
             where t.kev_due_date is not null and t.state in {open_states}
               and {visible("FINDING", "t", db.principal, p)} and {window.format(due_on="t.kev_due_date")}
             order by {order.format(due_on="t.kev_due_date")} limit {limit})""",
            f"""(select 'ENGAGEMENT', t.id, 'milestone: ' || m.title, m.due_on {milestones}
             order by {order.format(due_on="m.due_on")} limit {limit})""",
        ]
        counts += [
            f"""(select coalesce(sum(t.n), 0) from finding_kev_due_counts_{sight(db.principal)} t
             where t.state in {open_states} and {visible("FINDING", "t", db.principal, p)}
               and {window.format(due_on="t.kev_due_date")})""",
            f"(select count(*) {milestones})",
        ]
    return rows, counts


async def dashboard(db: Session, *, today: date, horizon_days: int, limit: int) -> dict[str, Any]:
    """The whole dashboard in one statement: the counts by kind and state, the deadlines due within the horizon
    and those overdue (each list at most `limit`, with how many there are in all), the coverage counts.

    Counts come from the summary tables (hub/summaries.py) under the same visibility rule, so that they take about as
    long at ten times the data; each list of deadlines reads at most `limit` rows per kind from its index."""
    p = Params()
    day, horizon, first = p(today), p(horizon_days), p(limit)
    soon_rows, soon_counts = _deadline_parts(
        db,
        p,
        f"{{due_on}} >= {day}::date and {{due_on}} <= {day}::date + {horizon}::int",
        "{due_on}, id",
        first,
    )
    if db.principal.is_lab:
        late_rows, late_counts = (
            ["(select null::text as kind, null::bigint as id, null::text as what, null::date as due_on where false)"],
            ["0"],
        )
    else:
        late_rows, late_counts = _deadline_parts(db, p, f"{{due_on}} < {day}::date", "{due_on} desc, id", first)

    def listed(rows: list[str], order: str) -> str:
        return (
            f"(select coalesce(json_agg(json_build_object('kind', d.kind, 'id', d.id, 'what', d.what,"
            f" 'due_on', d.due_on) order by {order}), '[]'::json)"
            f" from (select * from ({' union all '.join(rows)}) d order by {order} limit {first}) d)"
        )

    rule = visible("DECISION", "t", db.principal, p)
    decisions = f"decision_counts_{sight(db.principal)}"
    sql = f"""
        select (select coalesce(json_agg(json_build_object('kind', c.kind, 'state', c.state, 'count', c.count)
                                         order by c.kind, c.state), '[]'::json)
                  from ({_counts_sql(db, p)}) c) as counts,
               {listed(soon_rows, "d.due_on, d.kind, d.id")} as due_soon,
               ({" + ".join(soon_counts)}) as due_soon_count,
               {listed(late_rows, "d.due_on desc, d.kind, d.id")} as past,
               ({" + ".join(late_counts)}) as past_count,
               (select coalesce(sum(t.n) filter (where {awaiting_rescreening("t")}), 0) from {decisions} t
                 where {rule}) as rescreening_queue,
               (select coalesce(sum(t.n) filter (where t.is_override
                                                    and t.state in {sql_list(STANDING_DECISION_STATES)}), 0)
                  from {decisions} t where {rule}) as overrides"""
    row = await db.fetchrow(sql, *p.values)
    assert row is not None
    found = dict(row)
    for key in ("due_soon", "past"):
        for item in found[key]:
            item["due_on"] = date.fromisoformat(item["due_on"])
    for key in ("due_soon_count", "past_count", "rescreening_queue", "overrides"):
        found[key] = int(found[key])
    return found
