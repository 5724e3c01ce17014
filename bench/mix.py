"""The fixed mix of named operations: their GraphQL (bench/operations/), their raw-SQL floor, their PostGraphile
version (bench/peer/operations/), and the variables each needs from the data set."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.data import AS_OF, CISA

HERE = Path(__file__).resolve().parent
OPERATIONS_DIR = HERE / "operations"
PEER_OPERATIONS_DIR = HERE / "peer" / "operations"

HORIZON_DAYS = 14
DASHBOARD_FIRST = 50
FILTER = {"severity": ["HIGH", "CRITICAL"], "sectors": ["ENERGY"], "state": ["REPORTED", "TRIAGED"], "first": 50}
WIDE_FIRST = 100


@dataclass(frozen=True)
class Operation:
    name: str
    title: str
    # a mutation's payload field (its `errors` must be empty)
    payload: str | None = None

    @property
    def is_read(self) -> bool:
        return self.payload is None

    def document(self) -> str:
        return (OPERATIONS_DIR / f"{self.name}.graphql").read_text()

    def floor_sql(self) -> str | None:
        path = OPERATIONS_DIR / f"{self.name}.sql"
        return path.read_text() if path.exists() else None

    def peer_document(self) -> str:
        return (PEER_OPERATIONS_DIR / f"{self.name}.graphql").read_text()


OPERATIONS = [
    Operation("wide_nested_list", "wide nested list (100 models, lab, decisions)"),
    Operation("deep_single_record", "deep single record (a model, 4 levels)"),
    Operation("filtered_connection", "filtered connection with totalCount"),
    Operation("dashboard", "dashboard"),
    Operation("report_finding", "mutation (reportFinding)", payload="reportFinding"),
]
BY_NAME = {op.name: op for op in OPERATIONS}


def global_id(type_name: str, pk: int) -> str:
    """The hub's Relay id (schema/common.py to_global_id)."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Facts:
    """What the operations' variables take from the data set."""

    deep_model_id: int
    mutation_model_id: int
    # the mutation's model's lab: the hub derives it, PostGraphile's create mutation is told it
    mutation_lab_id: int = 0


async def facts(con: asyncpg.Connection) -> Facts:
    """The deep record is the model with the most findings the CISA analyst may see among the models with an
    agreement CISA is party to (ties: the lowest id); the mutation reports on the first other model, so that the
    reads' answers stay the same while mutations run."""
    deep = await con.fetchval(
        """select m.id from frontier_models m
            where exists (select 1 from early_access_agreements a join agreement_agencies aa on aa.agreement_id = a.id
                           where a.model_id = m.id and aa.agency_id = $1)
            order by (select count(*) from findings f
                       where f.model_id = m.id
                         and (f.tlp in ('CLEAR', 'GREEN')
                              or (f.tlp = 'AMBER' and (f.owner_agency_id = $1 or $1 = any(f.share_agency_ids)))
                              or (f.tlp = 'AMBER_STRICT' and f.owner_agency_id = $1))) desc, m.id
            limit 1""",
        CISA,
    )
    if deep is None:
        raise RuntimeError("the data set has no model with an agreement CISA is party to: make it larger")
    other = await con.fetchrow(
        "select id, lab_id from frontier_models where id <> $1 or $2 order by id limit 1",
        deep,
        await con.fetchval("select count(*) = 1 from frontier_models"),
    )
    assert other is not None
    return Facts(deep_model_id=int(deep), mutation_model_id=int(other["id"]), mutation_lab_id=int(other["lab_id"]))


def hub_variables(op: Operation, f: Facts) -> dict[str, Any]:
    if op.name == "wide_nested_list":
        return {"first": WIDE_FIRST}
    if op.name == "deep_single_record":
        return {"id": global_id("FrontierModel", f.deep_model_id)}
    if op.name == "filtered_connection":
        return dict(FILTER)
    if op.name == "dashboard":
        return {"horizonDays": HORIZON_DAYS, "asOf": AS_OF.isoformat(), "first": DASHBOARD_FIRST}
    if op.name == "report_finding":
        return {
            "input": {
                "title": "Benchmark finding",
                "description": "Reported by the benchmark's load generator.",
                "modelId": global_id("FrontierModel", f.mutation_model_id),
                "discoveredBy": "AGENCY",
                "tlp": "AMBER",
            }
        }
    raise KeyError(op.name)


def floor_args(op: Operation, f: Facts) -> list[Any]:
    if op.name == "wide_nested_list":
        return [WIDE_FIRST]
    if op.name == "deep_single_record":
        return [f.deep_model_id]
    if op.name == "filtered_connection":
        return [FILTER["severity"], FILTER["sectors"], FILTER["state"], FILTER["first"]]
    if op.name == "dashboard":
        return [AS_OF.isoformat(), HORIZON_DAYS, DASHBOARD_FIRST]
    raise KeyError(op.name)


def peer_variables(op: Operation, f: Facts) -> dict[str, Any]:
    """PostGraphile's version of the same request: row ids where the hub takes Relay ids."""
    if op.name == "deep_single_record":
        return {"rowId": f.deep_model_id}
    if op.name == "report_finding":
        return {
            "input": {
                "finding": {
                    "title": "Benchmark finding",
                    "description": "Reported by the benchmark's load generator.",
                    "modelId": f.mutation_model_id,
                    "labId": f.mutation_lab_id,
                    "discoveredByKind": "AGENCY",
                    "discoveredByAgencyId": CISA,
                    "tlp": "AMBER",
                    "ownerAgencyId": CISA,
                }
            }
        }
    if op.name == "dashboard":
        until = AS_OF + timedelta(days=HORIZON_DAYS)
        return {
            "asOf": AS_OF.isoformat(),
            "until": until.isoformat(),
            "asOfTime": f"{AS_OF.isoformat()}T00:00:00Z",
            "afterUntilTime": f"{(until + timedelta(days=1)).isoformat()}T00:00:00Z",
            "first": DASHBOARD_FIRST,
        }
    return hub_variables(op, f)


# ------------------------------------------------------------------------------------------------ comparing


def normalized(value: Any, ignore: frozenset[str] = frozenset({"endCursor", "cursor"})) -> Any:
    """A response's data with timestamps compared as instants and cursors (opaque bytes) left out."""
    if isinstance(value, dict):
        return {k: normalized(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [normalized(v, ignore) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return datetime.fromisoformat(value).isoformat()
        except ValueError:
            return value
    return value


def first_difference(a: Any, b: Any, path: str = "data") -> str | None:
    """Where two JSON values first differ, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


# PostGraphile reaches measures and engagements through their join tables: {"measure": {...}} items, null where
# row-level security hides the record. Counting rows, such an item counts as its record, and not at all when null.
JOIN_WRAPPERS = frozenset({"measure", "engagement"})


def shape(value: Any, path: str = "") -> dict[str, int]:
    """How many rows each list of a response holds, summed by path (`edges`, `nodes` and `node` wrappers left out),
    so that two servers' answers to the same logical question can be compared row for row."""
    counts: dict[str, int] = {}

    def unwrap(item: Any) -> Any:
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in JOIN_WRAPPERS:
            return next(iter(item.values()))
        return item

    def walk(v: Any, p: str) -> None:
        if isinstance(v, dict):
            for key, item in v.items():
                walk(item, p if key in ("edges", "nodes", "node") else f"{p}.{key}" if p else key)
        elif isinstance(v, list):
            items = [i for i in map(unwrap, v) if i is not None]
            counts[p] = counts.get(p, 0) + len(items)
            for item in items:
                walk(item, p)

    walk(value, path)
    return counts
