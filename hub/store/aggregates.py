"""Aggregates over a connection's records (docs/analysts.md, "Aggregates"): count, min/max/avg/sum of the numeric
fields and groups by enumerations, foreign keys and time buckets, in one statement over exactly the rows the
connection pages through.

The rows aggregated are the page's `rows_sql` (hub/store/base.py): the visibility rule of hub/access.py applied, the
connection's filter applied, and the store's own select list, so that a confidential column (a model's training
compute or planned dates) holds a value only where the principal may see it and counts only there. The resolvers and
the SQL compiler (schema/compiler/) both use `aggregate_sql`; `aggregate_rows_source` is the one place that says
which rows are aggregated, each with a weight `_n` (1 over base rows), so that a summary table may stand in for them.

Time buckets are UTC dates (a day, the Monday of an ISO week, the first of a month). A list key (a finding's
sectors) counts a record once in each of its values' groups, and a record with no value in the group whose key is
null; the ungrouped count counts each record once. Groups come ordered by their keys, nulls last. At most MAX_GROUPS
groups: above it the statement returns MAX_GROUPS + 1 rows and the caller refuses with TOO_MANY_GROUPS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.access import Params, visible
from hub.auth import Principal
from hub.store.base import Where, page_sql
from hub.summaries import count_source

MAX_GROUPS = 5000
TOO_MANY_GROUPS = "TOO_MANY_GROUPS"

Sql = str | Callable[[Principal, Params], str]


@dataclass(frozen=True)
class Key:
    """A key to group by: a SQL expression over the aggregated row `r` (or, for a list, the array to unnest), the
    name of the GraphQL field that answers it, and the SQL type of its value."""

    expr: Sql
    name: str
    sql_type: str = "text"
    is_list: bool = False

    def sql(self, principal: Principal, p: Params) -> str:
        return self.expr(principal, p) if callable(self.expr) else self.expr


@dataclass(frozen=True)
class Number:
    """A numeric field aggregated: a SQL expression over the row `r` (null where the record has no value, or where
    the principal may not see it) and its SQL type ('float8' answers a GraphQL Float, 'numeric' a Decimal)."""

    expr: Sql
    sql_type: str = "float8"

    def sql(self, principal: Principal, p: Params) -> str:
        raw = self.expr(principal, p) if callable(self.expr) else self.expr
        return f"({raw})::{self.sql_type}"

    def exact(self, principal: Principal, p: Params) -> str:
        """The value as numeric, which sums exactly in any order (a float8 sum's last digit depends on the order
        the rows come in, which two plans of one query need not share)."""
        return f"({self.sql(principal, p)})::numeric"


@dataclass(frozen=True)
class Spec:
    """What one kind's records aggregate by: its keys (by GraphQL enum value) and its numbers (by field name)."""

    kind: str
    keys: dict[str, Key]
    numbers: dict[str, Number] = field(default_factory=dict)


def buckets(prefix: str, name: str, column: str, *, days: bool = True, weeks: bool = True) -> dict[str, Key]:
    """Day, week (ISO: from Monday) and month buckets of a date or timestamp column, in UTC."""
    # a timestamp at UTC; a date as a timestamp without time zone (never through the session's time zone)
    utc = (
        f"({column} at time zone 'UTC')"
        if column.endswith(("_at", "access_start", "access_end"))
        else f"({column})::timestamp"
    )
    found = {}
    if days:
        found[f"{prefix}_DAY"] = Key(f"({utc})::date", f"{name}_day", "date")
    if weeks:
        found[f"{prefix}_WEEK"] = Key(f"date_trunc('week', {utc})::date", f"{name}_week", "date")
    found[f"{prefix}_MONTH"] = Key(f"date_trunc('month', {utc})::date", f"{name}_month", "date")
    return found


def counterpart_kind(principal: Principal, p: Params) -> str:
    """An engagement's counterpart's kind, where the principal may see the counterpart."""
    rule = visible("COUNTERPART", "c", principal, p)
    return f"(select c.kind from infrastructure_counterparts c where c.id = r.counterpart_id and {rule})"


def lead_time_given(principal: Principal, p: Params) -> str:
    """Days from the agreement's accessStart (UTC date) to the model's general availability: the actual date when
    recorded, else the planned one where the principal may see it (frontier_models_masked), as hub.store.lead_times
    computes a preview lead time for an agency that joined at the start."""
    return (
        "(select coalesce(m.general_availability_on, mm.planned_general_availability_on)"
        " from frontier_models m left join frontier_models_masked mm on mm.id = m.id where m.id = r.model_id)"
        " - (r.access_start at time zone 'UTC')::date"
    )


SPECS: dict[str, Spec] = {
    "FINDING": Spec(
        "FINDING",
        keys={
            "STATE": Key("r.state", "state"),
            "SEVERITY": Key("r.cvss_severity", "severity"),
            "SECTOR": Key("r.sectors", "sector", is_list=True),
            "TLP": Key("r.tlp", "tlp"),
            "LAB": Key("r.lab_id", "lab_id", "bigint"),
            "MODEL": Key("r.model_id", "model_id", "bigint"),
            "OWNER_AGENCY": Key("r.owner_agency_id", "owner_agency_id", "bigint"),
            "OWNER_LAB": Key("r.owner_lab_id", "owner_lab_id", "bigint"),
            **buckets("REPORTED", "reported", "r.created_at"),
            **buckets("KEV_DUE", "kev_due", "r.kev_due_date"),
        },
        numbers={
            "cvss_base_score": Number("r.cvss_base_score"),
            "days_to_mitigation_available": Number(
                "extract(epoch from r.mitigation_available_at - r.created_at) / 86400"
            ),
        },
    ),
    "MEASURE": Spec(
        "MEASURE",
        keys={
            "STATE": Key("r.state", "state"),
            "KIND": Key("r.kind", "kind"),
            "OWNER_COMPONENT": Key("r.owner_component", "owner_component"),
            "TLP": Key("r.tlp", "tlp"),
            "OWNER_AGENCY": Key("r.owner_agency_id", "owner_agency_id", "bigint"),
            **buckets("CREATED", "created", "r.created_at"),
        },
    ),
    "ENGAGEMENT": Spec(
        "ENGAGEMENT",
        keys={
            "STATE": Key("r.state", "state"),
            "SECTOR": Key("r.sector", "sector"),
            "KIND": Key("r.kind", "kind"),
            "COUNTERPART_KIND": Key(counterpart_kind, "counterpart_kind"),
            "LAB": Key("r.lab_id", "lab_id", "bigint"),
            "TLP": Key("r.tlp", "tlp"),
            "OWNER_AGENCY": Key("r.owner_agency_id", "owner_agency_id", "bigint"),
            **buckets("CREATED", "created", "r.created_at"),
        },
    ),
    "AGREEMENT": Spec(
        "AGREEMENT",
        keys={
            "STATE": Key("r.state", "state"),
            "LAB": Key("r.lab_id", "lab_id", "bigint"),
            "MODEL": Key("r.model_id", "model_id", "bigint"),
            **buckets("ACCESS_START", "access_start", "r.access_start"),
            **buckets("ACCESS_END", "access_end", "r.access_end"),
        },
        numbers={
            "lead_time_asked_days": Number("r.lead_time_asked_days"),
            "lead_time_given_days": Number(lead_time_given),
        },
    ),
    "DECISION": Spec(
        "DECISION",
        keys={
            "STATE": Key("r.state", "state"),
            "OUTCOME": Key("r.outcome", "outcome"),
            "STANDARD": Key("r.standard_id", "standard_id", "bigint"),
            "MODEL": Key("r.model_id", "model_id", "bigint"),
            **buckets("DECIDED", "decided", "r.decided_at"),
        },
    ),
    "MODEL": Spec(
        "MODEL",
        keys={
            "RELEASE_STATUS": Key("r.release_status", "release_status"),
            "LAB": Key("r.lab_id", "lab_id", "bigint"),
            "MODALITY": Key("r.modality", "modality"),
            **buckets("ANNOUNCED", "announced", "r.announced_on"),
            **buckets("GENERAL_AVAILABILITY", "general_availability", "r.general_availability_on"),
            # masked by the store's select list: in the null group for whoever may not see it
            **buckets("PLANNED_RELEASE", "planned_release", "r.planned_release_on"),
        },
        numbers={"training_compute_flop": Number("r.training_compute_flop", "numeric")},
    ),
}

FUNCTIONS = ("min", "max", "avg", "sum")


def aggregate_rows_source(
    principal: Principal, p: Params, source: Any, reads: set[str] | None = None, *, parents: str | None = None
) -> str:
    """The SQL of the rows a connection's aggregates count (`source`: a schema.common.ConnectionSource), each with
    its weight `_n`: the visible rows its filter keeps, as the store selects them, weight 1. The one routing point:
    when the connection's count is read from a summary table (hub/summaries.py: the filter reads only its
    dimensions) and the aggregate reads only columns of its dimensions (`reads`: the columns of `r` the keys and
    numbers read; None for unknown), the summary's rows stand in, each weighing its count `n`, under the same
    visibility rule and filter.

    `parents` (the SQL of an array of parent ids, for the nested connections of several parents at once): each row
    with its parent's id `_parent`, and a parent with no rows once, its columns and weight null."""
    within = None
    if parents is not None:
        within = (source.within[0], "_parents.id")
    elif source.within is not None:
        # the parent's id: a primary key (the resolvers), or the SQL of its column (the compiler)
        relation, parent = source.within
        within = (relation, f"{p(parent)}::bigint" if isinstance(parent, int) else parent)
    elif reads is not None:
        summary = summary_for(principal, Params(), source, reads)
        if summary is not None:
            # built again with the statement's own parameters (the same text, numbered in their place)
            condition = summary_condition(principal, p, source)
            return f"select t.*, t.n as _n from {summary} t where {condition}"
    built = page_sql(principal, p, source.entity, build_where=source.build_where, first=0, within=within)
    if parents is not None:
        return (
            f"select _parents.id as _parent, q.*, case when q.id is null then null else 1 end as _n"
            f" from unnest({parents}) _parents(id) left join lateral ({built.rows_sql}) q on true"
        )
    return f"select q.*, 1 as _n from ({built.rows_sql}) q"


def summary_condition(principal: Principal, p: Params, source: Any) -> str:
    """The connection's condition over a row `t`: its filter and the visibility rule (as page_sql builds them)."""
    where = Where(p, principal)
    if source.build_where is not None:
        source.build_where(where)
    return f"{visible(source.entity.kind, 't', principal, p)} and {where.sql()}"


def summary_for(principal: Principal, p: Params, source: Any, reads: set[str]) -> str | None:
    """The summary table whose rows can stand in for the connection's (hub/summaries.py count_source): its filter
    and the aggregate (`reads`) read only the summary's dimensions."""
    where = Where(p, principal)
    if source.build_where is not None:
        source.build_where(where)
    condition = f"{visible(source.entity.kind, 't', principal, p)} and {where.sql()}"
    return count_source(source.entity.kind, principal, condition, where.sql(), frozenset(reads))


def reads_of(sqls: Sequence[Sql]) -> set[str] | None:
    """The columns of the row `r` that these expressions read; None when one is built per principal (it may read
    other tables)."""
    found: set[str] = set()
    for sql in sqls:
        if callable(sql):
            return None
        found.update(re.findall(r"\br\.(\w+)", sql))
    return found


def key_column(name: str) -> str:
    """The column of the key `name` (a GraphQL enum value) in aggregate_sql's rows."""
    return f"k_{name.lower()}"


def check_by(kind: str, by: Sequence[str]) -> list[str]:
    """The keys asked, without repeats, in the order asked."""
    keys = SPECS[kind].keys
    unknown = [k for k in by if k not in keys]
    if unknown:
        raise ValueError(f"no key {unknown[0]} for {kind}")
    return list(dict.fromkeys(by))


def aggregate_sql(
    principal: Principal,
    p: Params,
    source: Any,
    *,
    by: Sequence[str] = (),
    numbers: Sequence[str] | None = None,
    parents: str | None = None,
) -> str:
    """Rows of the aggregates of a connection's records: one per group of the keys `by` (none: one row), with the
    columns `k_<key>` (each key's value, key_column), `count` and `<fn>_<number>` for min/max/avg/sum of each
    number asked (all by default), and `_ord` (the groups' order: by their keys, nulls last). At most
    MAX_GROUPS + 1 rows. With `parents` (nested connections, aggregate_rows_source), the rows of each parent, its id
    in `_parent`, at most MAX_GROUPS + 1 each."""
    spec = SPECS[source.entity.kind]
    by = check_by(spec.kind, by)
    names = list(spec.numbers) if numbers is None else list(numbers)
    reads = reads_of([*(spec.keys[name].expr for name in by), *(spec.numbers[number].expr for number in names)])
    rows = aggregate_rows_source(principal, p, source, reads, parents=parents)
    joins = []
    keys = [("r._parent", "_parent")] if parents is not None else []
    for i, name in enumerate(by):
        key = spec.keys[name]
        if key.is_list:
            joins.append(f" left join lateral unnest({key.sql(principal, p)}) u{i}(v) on true")
            keys.append((f"u{i}.v", key_column(name)))
        else:
            keys.append((key.sql(principal, p), key_column(name)))
    columns = [f"{expr} as {alias}" for expr, alias in keys]
    columns.append("coalesce(sum(r._n), 0)::bigint as count")
    for number in names:
        declared = spec.numbers[number]
        value, exact, sql_type = declared.sql(principal, p), declared.exact(principal, p), declared.sql_type
        weighted_count = f"sum(case when {value} is not null then r._n end)"
        columns.append(f"min({value}) as min_{number}")
        columns.append(f"max({value}) as max_{number}")
        # summed as numeric, then given the number's type: the same answer whatever order the rows come in
        columns.append(f"sum({exact} * r._n)::{sql_type} as sum_{number}")
        columns.append(f"(sum({exact} * r._n) / nullif({weighted_count}, 0))::{sql_type} as avg_{number}")
    grouped = keys[1:] if parents is not None else keys
    ordering = ", ".join(f"{expr} nulls last" for expr, _ in grouped)
    partition = "partition by r._parent " if parents is not None else ""
    columns.append(f"row_number() over ({partition}order by {ordering or 'null'}) as _ord")
    group = " group by " + ", ".join(str(i + 1) for i in range(len(keys))) if keys else ""
    # an ungrouped aggregate is one row even over no records (count 0, numbers null)
    sql = f"select {', '.join(columns)} from ({rows}) r{''.join(joins)}{group}"
    if parents is not None:
        # each parent's groups (a parent without records: one group of count 0), at most MAX_GROUPS + 1 each
        return f"select * from ({sql}) g where _ord <= {MAX_GROUPS + 1} order by _parent, _ord"
    return f"{sql} order by _ord limit {MAX_GROUPS + 1}"
