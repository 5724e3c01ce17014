"""Preview lead time, measured (docs/design.md, "Early access"; docs/workflows.md, "Preview lead time, measured").

For each agency on an agreement: its access start is the agreement's accessStart, or the moment the agency joined
the agreement (accepted it) when that is later; none while it has not joined. Its preview lead time is the model's
general-availability date minus the UTC date of that access start, in whole days. The date is the actual one when
the lab has recorded it (basis ACTUAL), else the planned one for those who may see the model's confidential data
(basis PLANNED), else unknown. `given` says whether the lead time reached what the program asked for when the
agreement was made (early_access_agreements.lead_time_asked_days): a fact for the report, never a limit on what a
lab gives.

One statement reads these rows for every path: an agreement's `leadTimes`, the `previewLeadTimes` report and the
event a release records on each agreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from hub.access import Params, visible
from hub.auth import Principal
from hub.store.base import check_first, decode_cursor, encode_cursor

BASES = ("ACTUAL", "PLANNED", "UNKNOWN")
# the ordering the report's cursors name
ORDER = "AGREEMENT_AGENCY"


class Fetches(Protocol):
    """A request's Session or a mutation's connection: either runs the statement for the principal bound."""

    async def fetch(self, sql: str, *args: Any) -> Any: ...


def lead_time_sql(principal: Principal, p: Params, conditions: str = "true", outer: str = "true") -> str:
    """The lead-time rows, one per (agreement, agency), of the agreements `principal` may see that meet
    `conditions` (on the agreement `g` and its party `aa`), then `outer` (on the computed row `lt`).

    The planned date is read through frontier_models_masked, the database's mask of the confidential columns
    (hub/policies.py): null, so basis UNKNOWN, for whoever may not see it."""
    rule = visible("AGREEMENT", "g", principal, p)
    return f"""select lt.* from (
        select g.id as agreement_id, aa.agency_id, ag.code as agency_code, g.model_id, g.lab_id,
               g.state as agreement_state, aa.accepted_at as joined_at, s.access_start,
               (s.access_start at time zone 'UTC')::date as access_start_on,
               b.general_availability_on, b.basis, g.lead_time_asked_days as asked_days,
               b.general_availability_on - (s.access_start at time zone 'UTC')::date as days,
               b.general_availability_on - (s.access_start at time zone 'UTC')::date >= g.lead_time_asked_days
                   as given
          from early_access_agreements g
          join agreement_agencies aa on aa.agreement_id = g.id
          join agencies ag on ag.id = aa.agency_id
          left join frontier_models m on m.id = g.model_id
          left join lateral (select mm.planned_general_availability_on from frontier_models_masked mm
                              where mm.id = g.model_id) masked on true
          cross join lateral (select case when aa.accepted_at is not null
                                          then greatest(g.access_start, aa.accepted_at) end as access_start) s
          cross join lateral (select coalesce(m.general_availability_on, masked.planned_general_availability_on)
                                         as general_availability_on,
                                     case when m.general_availability_on is not null then 'ACTUAL'
                                          when masked.planned_general_availability_on is not null then 'PLANNED'
                                          else 'UNKNOWN' end as basis) b
         where {rule} and {conditions}
    ) lt where {outer}"""


async def lead_times_by_agreement(
    db: Fetches, principal: Principal, agreement_ids: Sequence[int]
) -> list[list[dict[str, Any]]]:
    """The lead-time rows of each agreement (by agency code), aligned to `agreement_ids` (a loader's batch); none
    for an agreement the principal may not see."""
    p = Params()
    ids = p(list(agreement_ids))
    sql = lead_time_sql(principal, p, f"g.id = any({ids}::bigint[])") + " order by lt.agreement_id, lt.agency_code"
    grouped: dict[int, list[dict[str, Any]]] = {}
    for r in await db.fetch(sql, *p.values):
        grouped.setdefault(r["agreement_id"], []).append(dict(r))
    return [grouped.get(i, []) for i in agreement_ids]


@dataclass
class LeadTimePage:
    rows: list[dict[str, Any]]
    cursors: list[str]
    has_next_page: bool
    count: Any  # () -> awaitable int


def report_conditions(p: Params, f: dict[str, Any]) -> tuple[str, str]:
    """The report's filter: on the agreement and party, and on the computed row."""
    inner = ["true"]
    for column, key in (("aa.agency_id", "agency_ids"), ("g.model_id", "model_ids"), ("g.lab_id", "lab_ids")):
        if f.get(key) is not None:
            inner.append(f"{column} = any({p(list(f[key]))}::bigint[])")
    outer = ["true"]
    if f.get("basis") is not None:
        outer.append(f"lt.basis = any({p(list(f['basis']))}::text[])")
    if f.get("given") is not None:
        outer.append(f"lt.given = {p(bool(f['given']))}")
    return " and ".join(inner), " and ".join(outer)


async def report(
    db: Any, principal: Principal, filters: dict[str, Any], *, first: int, after: str | None
) -> LeadTimePage:
    """A page of the report: the rows (agreement, agency) the principal may see, by agreement then agency code."""
    check_first(first)
    p = Params()
    inner, outer = report_conditions(p, filters)
    rows_sql = lead_time_sql(principal, p, inner, outer)
    count_sql = f"select count(*) from ({rows_sql}) counted"
    count_values = list(p.values)
    cursor = "true"
    if after is not None:
        code, agreement_id = decode_cursor(after, ORDER)
        cursor = f"(r.agreement_id, r.agency_code) > ({p(agreement_id)}::bigint, {p(code)}::text)"
    sql = f"select r.* from ({rows_sql}) r where {cursor} order by r.agreement_id, r.agency_code limit {first + 1}"
    records = await db.fetch(sql, *p.values)
    rows = [dict(r) for r in records[:first]]

    async def count() -> int:
        return int(await db.fetchval(count_sql, *count_values))

    return LeadTimePage(
        rows=rows,
        cursors=[encode_cursor(ORDER, r["agency_code"], r["agreement_id"]) for r in rows],
        has_next_page=len(records) > first,
        count=count,
    )


def plural_days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def general_availability_reason(on: date, rows: list[dict[str, Any]]) -> str:
    """The neutral fact a release records on an agreement: the date, and the lead time each agency that joined had
    ("generally available on 2026-08-01; CISA had 45 days of preview, NIST 12"), an access that starts on or after
    that date stated as it is."""
    had: list[str] = []
    other: list[str] = []
    for r in rows:
        days, code = r["days"], r["agency_code"]
        if days is None:
            continue
        if days > 0:
            had.append(f"{code} had {plural_days(days)} of preview" if not had else f"{code} {days}")
        elif days == 0:
            other.append(f"{code}'s access starts {r['access_start_on']}, the day of general availability (0 days)")
        else:
            other.append(
                f"{code}'s access starts {r['access_start_on']}, {plural_days(-days)} after general availability"
                f" ({days} days)"
            )
    parts = [f"generally available on {on.isoformat()}"]
    if had:
        parts.append(", ".join(had))
    parts += other
    waiting = [r["agency_code"] for r in rows if r["days"] is None]
    if waiting:
        parts.append(f"not joined yet: {', '.join(waiting)}")
    return "; ".join(parts)
