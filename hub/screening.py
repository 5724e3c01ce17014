"""Screening: a standard's typed criteria applied to models, the same way every time (docs/design.md, "Coverage").

One SQL statement, built here and nowhere else, screens any set of models against any set of standards: a single
model for a decision, every model the principal may see for the dry run. For each model and criterion it finds the
value the criterion reads, as an interval [low, high] (a range estimate, or a pre-training figure without a
post-training one, is not a single value), and compares it with the threshold through the database function
coverage_compare (sql/009_coverage_screening.sql): MET when the whole interval meets it, NOT_MET when none of it
does, UNKNOWN when it straddles the threshold or nothing is known, with what is missing in words. The criteria
combine by the standard's rule (any of, all of) in three-valued logic into the proposed outcome.

Which input counts:
- training compute: the newest estimate (by as-of date, then id) of each method, lab-reported and agency-estimated;
  the criterion's source picks one, or the higher of the two (the interval of the element-wise maxima); total is
  pre-training plus post-training, and a post-training figure not reported leaves the total without an upper bound;
- an evaluation score: the newest result on the criterion's suite (by run date, then id) of each method, the same way;
- a designation: the number of designations in force by the criterion's agencies (any agency when none is named);
  none is a known zero, never unknown.

The inputs read are those the principal may see (hub/access.py); a decision's screening is made with the principal
of the write, who, as an officer of an agency the standard names or as the model's lab, sees every input the lab's
request shares.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import asyncpg

from hub.access import STANDING_DECISION_STATES, Params, visible
from hub.auth import Principal

OUTCOMES = ("COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION")


class Fetcher(Protocol):
    """What runs the statement: a connection in a write's transaction, or a request's Session."""

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]: ...


RESULTS = ("MET", "NOT_MET", "UNKNOWN")


@dataclass(frozen=True)
class CriterionResult:
    """One criterion on one model: the result, the interval it was judged on (high None: no upper bound) in the
    criterion's unit, what is missing when UNKNOWN, and the inputs used (kind, id, method, low, high)."""

    position: int
    result: str
    low: Decimal | None
    high: Decimal | None
    missing: str | None
    inputs: tuple[dict[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "result": self.result,
            "low": None if self.low is None else str(self.low),
            "high": None if self.high is None else str(self.high),
            "missing": self.missing,
            "inputs": list(self.inputs),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> CriterionResult:
        return cls(
            position=int(value["position"]),
            result=value["result"],
            low=None if value.get("low") is None else Decimal(value["low"]),
            high=None if value.get("high") is None else Decimal(value["high"]),
            missing=value.get("missing"),
            inputs=tuple(value.get("inputs") or ()),
        )


@dataclass(frozen=True)
class Screening:
    model_id: int
    standard_id: int
    proposed_outcome: str
    results: tuple[CriterionResult, ...]


def _jsonb(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def sci(expression: str) -> str:
    """A numeric as prose reads it: 6.48e+25 for a large one (the exact values are beside it, in low and high)."""
    large = f"trim(to_char({expression}, '9.999EEEE'))"
    return f"(case when abs({expression}) >= 1e7 then {large} else {expression}::text end)"


def screening_sql(principal: Principal | None, p: Params, standards: str, models: str | None) -> str:
    """The statement's common table expressions, ending in `screened (model_id, standard_id, proposed, results)`:
    `standards` is a placeholder for a bigint[] of standard ids, `models` one for a bigint[] of model ids (None:
    every model the principal may see). `principal` None: the hub itself, which sees every input."""

    def rule(kind: str, alias: str) -> str:
        return "true" if principal is None else visible(kind, alias, principal, p)

    model_filter = "" if models is None else f" and m.id = any({models}::bigint[])"
    return f"""
crit as (
    select s.id as standard_id, s.combine, c.position, c.metric, c.compute_scope, c.suite_id,
           c.designating_agency_ids, c.operator, c.threshold, c.source,
           coalesce(su.name || ' ' || su.suite_version, '') as suite_label
      from coverage_standards s
      left join coverage_criteria c on c.standard_id = s.id
      left join evaluation_suites su on su.id = c.suite_id
     where s.id = any({standards}::bigint[])
),
models as (
    select m.id as model_id from frontier_models m where {rule("MODEL", "m")}{model_filter}
),
est as (
    select distinct on (e.model_id, e.method) e.model_id, e.method, e.id, e.pre_training_low, e.pre_training_high,
           e.post_training_low, e.post_training_high
      from compute_estimates e
     where e.model_id in (select model_id from models) and {rule("COMPUTE_ESTIMATE", "e")}
     order by e.model_id, e.method, e.as_of desc, e.id desc
),
res as (
    select distinct on (r.model_id, r.suite_id, r.method) r.model_id, r.suite_id, r.method, r.id, r.score
      from evaluation_results r
     where r.model_id in (select model_id from models)
       and r.suite_id in (select suite_id from crit where suite_id is not null) and {rule("EVAL_RESULT", "r")}
     order by r.model_id, r.suite_id, r.method, r.ran_on desc, r.id desc
),
candidate as (
    select m.model_id, c.standard_id, c.position, 'COMPUTE_ESTIMATE' as input_kind, e.id as input_id, e.method,
           case c.compute_scope when 'PRE_TRAINING' then e.pre_training_low
                when 'POST_TRAINING' then e.post_training_low
                else e.pre_training_low + coalesce(e.post_training_low, 0) end as lo,
           case c.compute_scope when 'PRE_TRAINING' then e.pre_training_high
                when 'POST_TRAINING' then e.post_training_high
                else e.pre_training_high + coalesce(e.post_training_high, 'Infinity') end as hi
      from models m join crit c on c.metric = 'TRAINING_COMPUTE'
      join est e on e.model_id = m.model_id and c.source in (e.method, 'HIGHER_OF_TWO')
    union all
    select m.model_id, c.standard_id, c.position, 'EVAL_RESULT', r.id, r.method, r.score, r.score
      from models m join crit c on c.metric = 'EVALUATION_SCORE'
      join res r on r.model_id = m.model_id and r.suite_id = c.suite_id and c.source in (r.method, 'HIGHER_OF_TWO')
),
measured as (
    select model_id, standard_id, position, max(lo) as lo, max(hi) as hi, count(*) as found,
           jsonb_agg(jsonb_build_object('kind', input_kind, 'id', input_id, 'method', method,
                                        'low', lo::text, 'high', nullif(hi, 'Infinity')::text)
                     order by method) as inputs
      from candidate group by model_id, standard_id, position
    union all
    select m.model_id, c.standard_id, c.position, count(d.id)::numeric, count(d.id)::numeric, count(d.id),
           coalesce(jsonb_agg(jsonb_build_object('kind', 'DESIGNATION', 'id', d.id)) filter (where d.id is not null),
                    '[]')
      from models m join crit c on c.metric = 'DESIGNATION'
      left join model_designations d on d.model_id = m.model_id and d.state = 'IN_FORCE'
           and (cardinality(c.designating_agency_ids) = 0 or d.agency_id = any(c.designating_agency_ids))
           and {rule("DESIGNATION", "d")}
     group by m.model_id, c.standard_id, c.position
),
judged as (
    select m.model_id, c.standard_id, c.combine, c.position, v.lo, v.hi, v.inputs,
           case when c.position is null then null
                else coverage_compare(v.lo, v.hi, c.operator, c.threshold) end as result,
           case when c.position is null then null
                when v.lo is null and c.metric = 'TRAINING_COMPUTE' and coalesce(v.found, 0) > 0
                    then 'no ' || lower(replace(c.compute_scope, '_', '-')) || ' compute in the estimate used'
                when v.lo is null and c.metric = 'TRAINING_COMPUTE'
                    then 'no ' || case c.source when 'LAB_REPORTED' then 'lab-reported '
                                                when 'AGENCY_ESTIMATED' then 'agency '
                                                else '' end || 'compute estimate'
                when v.lo is null
                    then 'no ' || case c.source when 'LAB_REPORTED' then 'lab-reported '
                                                when 'AGENCY_ESTIMATED' then 'agency '
                                                else '' end || 'result on ' || c.suite_label
                when coverage_compare(v.lo, v.hi, c.operator, c.threshold) <> 'UNKNOWN' then null
                when v.hi = 'Infinity'
                    then 'post-training compute is not reported, and pre-training alone does not decide it'
                else 'the range ' || {sci("v.lo")} || ' to ' || {sci("v.hi")} || ' straddles the threshold '
                     || {sci("c.threshold")} end as missing
      from models m cross join crit c
      left join measured v on v.model_id = m.model_id and v.standard_id = c.standard_id and v.position = c.position
),
screened as (
    select model_id, standard_id,
           case when count(position) = 0 then 'INSUFFICIENT_INFORMATION'
                when min(combine) = 'ALL_OF' then
                    case when bool_and(result = 'MET') then 'COVERED'
                         when bool_or(result = 'NOT_MET') then 'NOT_COVERED'
                         else 'INSUFFICIENT_INFORMATION' end
                else
                    case when bool_or(result = 'MET') then 'COVERED'
                         when bool_and(result = 'NOT_MET') then 'NOT_COVERED'
                         else 'INSUFFICIENT_INFORMATION' end
           end as proposed,
           coalesce(jsonb_agg(jsonb_build_object('position', position, 'result', result, 'low', lo::text,
                                                 'high', nullif(hi, 'Infinity')::text, 'missing', missing,
                                                 'inputs', coalesce(inputs, '[]'))
                              order by position) filter (where position is not null), '[]') as results
      from judged group by model_id, standard_id
)"""


def screening_of(row: asyncpg.Record | dict[str, Any]) -> Screening:
    results = _jsonb(row["results"])
    return Screening(
        model_id=int(row["model_id"]),
        standard_id=int(row["standard_id"]),
        proposed_outcome=row["proposed"],
        results=tuple(CriterionResult.from_json(r) for r in results),
    )


async def screen(
    con: Fetcher, principal: Principal | None, standard_ids: Sequence[int], model_ids: Sequence[int] | None
) -> list[Screening]:
    """Screen the models `model_ids` (None: every model the principal may see) against each standard of
    `standard_ids`, on the inputs the principal may see; in model, then standard order."""
    p = Params()
    standards = p(list(standard_ids))
    models = None if model_ids is None else p(list(model_ids))
    sql = f"with {screening_sql(principal, p, standards, models)} select * from screened order by model_id, standard_id"
    return [screening_of(r) for r in await con.fetch(sql, *p.values)]


async def screen_one(
    con: asyncpg.Connection, principal: Principal | None, standard_id: int, model_id: int
) -> Screening:
    found = await screen(con, principal, [standard_id], [model_id])
    if not found:
        raise LookupError(f"model {model_id} or standard {standard_id} is not visible")
    return found[0]


# ------------------------------------------------------------------------------------------------ the dry run

CHANGES = ("NEWLY_COVERED", "NO_LONGER_COVERED", "NOW_UNKNOWN", "NOW_NOT_COVERED", "UNCHANGED")


@dataclass(frozen=True)
class DryRunRow:
    model_id: int
    draft: Screening
    adopted: Screening | None
    standing_outcome: str | None
    standing_standard_id: int | None
    change: str


@dataclass(frozen=True)
class DryRun:
    counts: dict[str, int]
    total: int
    rows: list[DryRunRow]
    has_next_page: bool


def dry_run_sql(
    principal: Principal | None, p: Params, draft_id: int, adopted_id: int | None, changes: Sequence[str] | None
) -> tuple[str, str, str]:
    """The dry run as one statement: every model the principal may see, screened under the draft and under the
    adopted standard on the same inputs, with the decision standing now and the change, and the counts over all of
    them (before the filter on changes and the page). Returns the SQL and the placeholders of the keyset (`after`,
    a model id) and the page size, which the caller appends to the parameters in that order."""
    draft = p(draft_id)
    adopted = p(adopted_id)
    standards = p([draft_id] if adopted_id is None else [draft_id, adopted_id])
    change_filter = "" if changes is None else f" and change = any({p(list(changes))}::text[])"
    standing_rule = "true" if principal is None else visible("DECISION", "d", principal, p)
    after = p(0)
    limit = p(0)
    cte = screening_sql(principal, p, standards, None)
    sql = f"""with {cte},
standing as (
    select distinct on (d.model_id) d.model_id, d.outcome, d.standard_id
      from coverage_decisions d
     where d.outcome is not null and d.state = any({p(sorted(STANDING_DECISION_STATES))}::text[]) and {standing_rule}
     order by d.model_id, d.decided_at desc, d.id desc
),
compared as (
    select dr.model_id, dr.proposed as draft_proposed, dr.results as draft_results,
           ad.proposed as adopted_proposed, ad.results as adopted_results,
           st.outcome as standing_outcome, st.standard_id as standing_standard_id,
           case when ad.proposed is not distinct from dr.proposed then 'UNCHANGED'
                when dr.proposed = 'COVERED' then 'NEWLY_COVERED'
                when dr.proposed = 'INSUFFICIENT_INFORMATION' then 'NOW_UNKNOWN'
                when ad.proposed = 'COVERED' then 'NO_LONGER_COVERED'
                else 'NOW_NOT_COVERED' end as change
      from screened dr
      left join screened ad on ad.model_id = dr.model_id and ad.standard_id = {adopted}::bigint
      left join standing st on st.model_id = dr.model_id
     where dr.standard_id = {draft}::bigint
),
totals as (
    select count(*) as total,
           {", ".join(f"count(*) filter (where change = '{c}') as n_{c.lower()}" for c in CHANGES)}
      from compared
)
select totals.*, page.*
  from totals
  left join lateral (
      select * from compared where model_id > {after}::bigint{change_filter} order by model_id limit {limit}::integer
  ) page on true
 order by page.model_id"""
    return sql, after, limit


async def dry_run(
    con: Fetcher,
    principal: Principal | None,
    draft_id: int,
    adopted_id: int | None,
    *,
    changes: Sequence[str] | None = None,
    after: int = 0,
    first: int = 100,
) -> DryRun:
    """Apply the draft to every model the principal may see beside the adopted standard: one statement."""
    p = Params()
    sql, after_placeholder, limit_placeholder = dry_run_sql(principal, p, draft_id, adopted_id, changes)
    values = list(p.values)
    values[int(after_placeholder[1:]) - 1] = after
    values[int(limit_placeholder[1:]) - 1] = first + 1
    rows = await con.fetch(sql, *values)
    counts = {c: int(rows[0][f"n_{c.lower()}"]) for c in CHANGES}
    total = int(rows[0]["total"])
    # no model on the page: the one row holds the counts alone
    rows = [r for r in rows if r["model_id"] is not None]
    out = []
    for r in rows[:first]:
        draft = screening_of(
            {
                "model_id": r["model_id"],
                "standard_id": draft_id,
                "proposed": r["draft_proposed"],
                "results": r["draft_results"],
            }
        )
        adopted = (
            None
            if r["adopted_proposed"] is None or adopted_id is None
            else screening_of(
                {
                    "model_id": r["model_id"],
                    "standard_id": adopted_id,
                    "proposed": r["adopted_proposed"],
                    "results": r["adopted_results"],
                }
            )
        )
        out.append(
            DryRunRow(
                model_id=int(r["model_id"]),
                draft=draft,
                adopted=adopted,
                standing_outcome=r["standing_outcome"],
                standing_standard_id=r["standing_standard_id"],
                change=r["change"],
            )
        )
    return DryRun(counts=counts, total=total, rows=out, has_next_page=len(rows) > first)
