"""What every part of the demo shares: the seed, the look-ups, the records made so far and the bulk writers.

Ids are reserved from each table's identity sequence first and written by COPY (which, for identity
columns, keeps the values given, like INSERT ... OVERRIDING SYSTEM VALUE), so every record's id is known
without reading rows back, and links between records need no second pass.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any

import asyncpg

from hub.demo import content as c

DEMO_SEED = 20260602
DEMO_LOCK_KEY = 7410431002
FICTIONAL = "Fictional demo record."
# every demo event is a fictional record too: the history of a real lab's participation here is invented
EVENT_REASON = FICTIONAL

INITIAL_STATES = {
    "LAB": "INVITED",
    "MODEL": "IN_DEVELOPMENT",
    "AGREEMENT": "PROPOSED",
    "STANDARD": "DRAFT",
    "DECISION": "REQUESTED",
    "FINDING": "REPORTED",
    "MEASURE": "PLANNED",
    "ENGAGEMENT": "PROPOSED",
    "DESIGNATION": "IN_FORCE",
}


def load_kev() -> list[dict[str, Any]]:
    """The KEV fact fields packaged with the hub (written by `python -m hub.demo.extract_kev`)."""
    text = resources.files("hub.demo").joinpath("kev.json").read_text(encoding="utf-8")
    entries: list[dict[str, Any]] = json.loads(text)
    return entries


@dataclass
class DemoModel:
    """A model the demo created, with what later records draw on."""

    id: int
    lab_id: int
    name: str
    model_version: str
    capabilities: tuple[str, ...]
    release_status: str
    training_compute_flop: float | None

    @property
    def label(self) -> str:
        """Name and version for prose: 'Claude Opus 4 (claude-opus-4-20250514)', 'Gale 3 (fictional, 3.5)'."""
        if not self.model_version:
            return self.name
        if self.name.endswith(")"):
            return f"{self.name[:-1]}, {self.model_version})"
        return f"{self.name} ({self.model_version})"


@dataclass
class DemoFinding:
    """A finding the demo created, with what measures, engagements and duplicates draw on."""

    id: int
    state: str
    model: DemoModel | None
    cve_id: str | None
    vendor: str
    product: str
    severity: str | None
    sectors: list[str]
    kev: dict[str, Any] | None
    novel: tuple[tuple[str, str], tuple[str, str]] | None  # ((weakness, CWE), (vendor, product))

    @property
    def product_label(self) -> str:
        """'Vendor Product', without repeating a vendor the product name already starts with."""
        return self.product if self.product.startswith(self.vendor) else f"{self.vendor} {self.product}"


@dataclass
class DemoStandards:
    """Standard ids by version, and when each adopted one was adopted."""

    ids: dict[str, int] = field(default_factory=dict)
    adopted_at: dict[str, datetime] = field(default_factory=dict)


@dataclass
class DemoCoverage:
    """The coverage inputs' look-ups: suite ids by key (content.EVAL_SUITES), and the day inputs were on file."""

    suites: dict[str, int] = field(default_factory=dict)
    inputs_as_of: date | None = None


class DemoContext:
    """The state one demo load builds up, on one connection inside the caller's transaction."""

    def __init__(self, con: asyncpg.Connection, *, today: date) -> None:
        self.con = con
        self.today = today
        self.rng = random.Random(DEMO_SEED)
        self.events: list[tuple[Any, ...]] = []
        self.agency_ids: dict[str, int] = {}
        self.officers: dict[str, int] = {}  # agency code -> demo officer principal id
        self.liaisons: dict[int, int] = {}  # lab id -> demo liaison principal id
        self.principal_scope: dict[int, tuple[int | None, int | None]] = {}  # principal -> (agency, lab)
        self.labs: dict[str, int] = {}
        self.lab_participation: dict[int, str] = {}
        self.models: list[DemoModel] = []
        self.model_specs: dict[int, c.ModelSpec] = {}  # model id -> what it was made from
        self.findings: list[DemoFinding] = []
        self.standards = DemoStandards()
        self.coverage = DemoCoverage()
        self.policy: asyncpg.Record | None = None

    async def reserve_ids(self, table: str, count: int) -> list[int]:
        """`count` ids from `table`'s identity sequence, ascending, for rows written with `copy`."""
        rows = await self.con.fetch(
            "select nextval(pg_get_serial_sequence($1, 'id')) from generate_series(1, $2)", table, count
        )
        return sorted(r[0] for r in rows)

    async def copy(self, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]) -> None:
        """Write `records` into `table`: COPY into a temporary table, then one INSERT (which fires the table's
        triggers and checks its constraints). PostgreSQL refuses COPY into a table under row-level security, and
        FORCE ROW LEVEL SECURITY puts the owner under it too (sql/003_rls.sql)."""
        if not records:
            return
        names = ", ".join(f'"{c}"' for c in columns)
        staging = f"demo_staging_{table}"
        await self.con.execute(
            f"drop table if exists pg_temp.{staging};"
            f" create temporary table {staging} as select {names} from {table} with no data"
        )
        await self.con.copy_records_to_table(staging, columns=list(columns), records=records)
        overriding = " overriding system value" if "id" in columns else ""
        await self.con.execute(
            f"insert into {table} ({names}){overriding} select {names} from {staging}; drop table {staging}"
        )

    async def copy_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """`copy` for rows given as column -> value dicts (all with the same keys)."""
        if rows:
            columns = list(rows[0])
            await self.copy(table, columns, [tuple(row[column] for column in columns) for row in rows])

    def at(self, days: int, hour: int = 14, minute: int = 0) -> datetime:
        """A UTC timestamp `days` from today's date at the given time of day."""
        return datetime.combine(self.today + timedelta(days=days), time(hour, minute), tzinfo=UTC)

    def deal(self, counts: dict[str, int]) -> list[str]:
        """Exactly `counts[state]` of each state, shuffled: every state appears, the mix is stable."""
        dealt = [state for state, n in counts.items() for _ in range(n)]
        self.rng.shuffle(dealt)
        return dealt

    def deal_shares(self, shares: dict[str, int], total: int) -> list[str]:
        """`total` labels split by percentage shares (each label at least once), shuffled."""
        counts = {label: max(1, total * share // 100) for label, share in shares.items()}
        biggest = max(counts, key=lambda label: counts[label])
        counts[biggest] += total - sum(counts.values())
        return self.deal(counts)

    def weighted(self, weights: dict[str, int]) -> str:
        """One key of `weights`, drawn with those weights."""
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def weighted_sample(self, weights: dict[str, int], k: int) -> list[str]:
        """Up to `k` distinct keys of `weights`, drawn one by one with those weights."""
        pool = dict(weights)
        chosen = []
        for _ in range(min(k, len(pool))):
            pick = self.weighted(pool)
            chosen.append(pick)
            del pool[pick]
        return chosen

    def event(
        self,
        kind: str,
        entity_id: int,
        state: str,
        *,
        created_by: int | None,
        transitioned_by: int | None = None,
    ) -> None:
        """CREATED in the kind's initial state and, if the record moved on, one TRANSITIONED to its state."""
        initial = INITIAL_STATES[kind]
        self.events.append((*self._actor(created_by), kind, entity_id, "CREATED", None, initial))
        if state != initial:
            self.events.append((*self._actor(transitioned_by), kind, entity_id, "TRANSITIONED", initial, state))

    def record(self, kind: str, entity_id: int, *, created_by: int | None) -> None:
        """CREATED for a record of a kind without states (a compute estimate, a suite, a result)."""
        self.events.append((*self._actor(created_by), kind, entity_id, "CREATED", None, None))

    def _actor(self, principal_id: int | None) -> tuple[int | None, int | None, int | None]:
        if principal_id is None:
            return (None, None, None)  # the system (the scheduler, or the demo loader itself)
        agency_id, lab_id = self.principal_scope[principal_id]
        return (principal_id, agency_id, lab_id)

    def other_agency_ids(self, exclude: Sequence[str], k: int) -> list[int]:
        """`k` random agency ids other than those of the `exclude` codes, ascending."""
        codes = [code for code in c.AGENCY_CODES if code not in exclude]
        return sorted(self.agency_ids[code] for code in self.rng.sample(codes, k))

    def lab_name(self, lab_id: int) -> str:
        """The name of a demo lab by its id."""
        return next(name for name, known in self.labs.items() if known == lab_id)

    def model_named(self, name: str) -> DemoModel:
        """The first demo model with this name."""
        return next(m for m in self.models if m.name == name)

    async def load_reference(self) -> None:
        """Look up what the migrations seed: the agencies by code and the policy row."""
        rows = await self.con.fetch("select id, code from agencies where code = any($1::text[])", list(c.AGENCY_CODES))
        self.agency_ids = {r["code"]: r["id"] for r in rows}
        missing = sorted(set(c.AGENCY_CODES) - set(self.agency_ids))
        if missing:
            raise RuntimeError(f"agencies {', '.join(missing)} are missing: apply the migrations before the demo")
        self.policy = await self.con.fetchrow(
            "select order_date, standard_due_days, required_signoffs from policy where id = 1"
        )
        if self.policy is None:
            raise RuntimeError("the policy row is missing: apply the migrations before the demo")

    async def insert_events(self) -> None:
        """Write every event collected by `event`, in order, in one statement.

        The table's trigger assigns ids and chains the hashes row by row; nothing here sets them.
        """
        columns = list(zip(*self.events, strict=True))
        await self.con.execute(
            """insert into events (actor_principal_id, actor_agency_id, actor_lab_id, entity_kind, entity_id,
                                   action, from_state, to_state, reason)
               select u.principal, u.agency, u.lab, u.kind, u.entity, u.action, u.from_state, u.to_state,
                      $9::text
                 from unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[],
                             $7::text[], $8::text[])
                      with ordinality as u(principal, agency, lab, kind, entity, action, from_state, to_state,
                                           n)
                order by u.n""",
            *[list(column) for column in columns],
            EVENT_REASON,
        )
