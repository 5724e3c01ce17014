"""What both importers share: reading JSON (plain or gzipped), validating it against a vendored published schema with
messages that name the file, the record and the field, the batches (each its own transaction) with a progress bar,
the events of an import, and the summary."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import orjson
from jsonschema import FormatChecker, validators
from jsonschema.exceptions import ValidationError, best_match

T = TypeVar("T")

# the agency the importers act for: CISA keeps the KEV catalogue, and loads the CVE Program's records with it
ACTING_AGENCY = "CISA"
DEFAULT_BATCH_SIZE = 200
# at most this many problems are printed for one input (the first ones, in the input's order)
MAX_PROBLEMS = 50
MAX_MESSAGE = 300
# one import of a kind at a time (a session-level advisory lock): two runs at once would race for the same keys
_LOCK_KEYS = {"kev": 7410431018, "cve": 7410431019}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f]")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII)


class InvalidInput(Exception):
    """The input does not validate: every problem found (file, record, field and what is wrong); nothing written."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class ImportBusy(Exception):
    """Another import of the same kind is running on this database."""


# ------------------------------------------------------------------------------------------------ reading


def read_json(path: Path) -> Any:
    """The JSON document in `path` (gzipped when its name ends in .gz); InvalidInput when it is not JSON."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, EOFError) as error:  # EOFError: a gzip file cut short
        reason = getattr(error, "strerror", None) or error or "the file ends too early"
        raise InvalidInput([f"{path}: cannot be read: {reason}"]) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidInput([f"{path}: not UTF-8 text (byte {error.start})"]) from None
    except json.JSONDecodeError as error:
        raise InvalidInput([f"{path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}"]) from None


def load_schema(name: str) -> dict[str, Any]:
    """A vendored schema of hub/imports/schemas/ (packaged with the hub)."""
    text = resources.files("hub.imports").joinpath("schemas", name).read_text(encoding="utf-8")
    return dict(json.loads(text))


def _is_date_time(instance: object) -> bool:
    """RFC 3339 date-time, checked with the standard library (the same with or without jsonschema's extras)."""
    if not isinstance(instance, str):
        return True
    return bool(_DATE_TIME.fullmatch(instance) and datetime.fromisoformat(instance))


def schema_validator(schema: dict[str, Any]) -> Any:
    """A validator of the draft the schema declares, checking the formats `date` and `date-time` (the schemas' other
    formats, uri and the like, are left to their patterns and lengths: their checkers need optional packages)."""
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    checker = FormatChecker(formats=("date",))
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    return cls(schema, format_checker=checker)


def where(path: Iterable[Any]) -> str:
    """A JSON location as a reader writes it: vulnerabilities[12].dueDate."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the document)"


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _precise(error: ValidationError, branch: int | None) -> list[ValidationError]:
    """The errors that say what is wrong. At the root, for the oneOf branch the document's own state names
    (`branch`), every error of that branch; below, for a oneOf/anyOf, the most relevant error of its branches."""
    if not error.context:
        return [error]
    if branch is not None and not error.path:
        chosen = [e for e in error.context if e.schema_path and e.schema_path[0] == branch]
        if chosen:
            return [precise for e in chosen for precise in _precise(e, None)]
    best = best_match(error.context)
    return _precise(best, None) if best is not None else [error]


def schema_problems(
    validator: Any,
    document: Any,
    *,
    prefix: str,
    label: Callable[[list[Any]], str] | None = None,
    record: str = "",
    branch: int | None = None,
) -> list[str]:
    """Every problem the schema finds, in the document's order: '<prefix>: <where> (<record>): <message>'.
    `label(path)` names the record at a path (its CVE id, say), or ''; else every problem names `record`."""
    errors = [precise for error in validator.iter_errors(document) for precise in _precise(error, branch)]
    problems = []
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        named = label(path) if label else record
        problems.append(f"{prefix}: {where(path)}{f' ({named})' if named else ''}: {shorten(error.message)}")
    return list(dict.fromkeys(problems))


def checked_text(
    value: str, *, multiline: bool = False, max_length: int, required: bool = True
) -> tuple[str | None, str | None]:
    """(the stripped text or None, a problem or None): no control characters (newlines and tabs only where
    multiline), within max_length, not empty when required."""
    if (_CONTROL if multiline else _CONTROL_SINGLE_LINE).search(value):
        return None, "must not contain control characters" + ("" if multiline else " (it is one line)")
    value = value.strip()
    if not value:
        return None, "must not be empty" if required else None
    if len(value) > max_length:
        return None, f"must be at most {max_length} characters (got {len(value)})"
    return value, None


# ------------------------------------------------------------------------------------------------ writing


@dataclass
class Summary:
    """What a run did: counts by outcome (created, updated, unchanged, ...), in the order they were first counted."""

    counts: Counter[str] = field(default_factory=Counter)

    def count(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] += n

    def __getitem__(self, outcome: str) -> int:
        return self.counts[outcome]


async def acting_agency_id(con: asyncpg.Connection) -> int:
    agency = await con.fetchval("select id from agencies where code = $1", ACTING_AGENCY)
    assert agency is not None, f"the agency {ACTING_AGENCY} is reference data (sql/001_init.sql)"
    return int(agency)


@contextlib.asynccontextmanager
async def one_import_at_a_time(con: asyncpg.Connection, kind: str) -> AsyncIterator[None]:
    """Hold the import's session lock for the run: ImportBusy when another run of the same kind holds it."""
    key = _LOCK_KEYS[kind]
    if not await con.fetchval("select pg_try_advisory_lock($1)", key):
        raise ImportBusy(f"another `hub import {kind}` is running on this database; wait for it and run again")
    try:
        yield
    finally:
        await con.execute("select pg_advisory_unlock($1)", key)


async def record_import_event(
    con: asyncpg.Connection,
    agency_id: int,
    *,
    kind: str,
    entity_id: int,
    action: str,
    to_state: str | None = None,
    details: dict[str, Any],
) -> int:
    """The event of an imported write, in its transaction: the acting agency (CISA), no principal (the operator's
    command acted, not a person holding a token), what changed and the source in the details. As
    hub.workflow.record_event writes it (the events table's chain and notification triggers do the rest)."""
    return int(
        await con.fetchval(
            """insert into events (actor_principal_id, actor_agency_id, actor_lab_id, entity_kind, entity_id, action,
                                   from_state, to_state, reason, details)
               values (null, $1, null, $2, $3, $4, null, $5, null, $6) returning id""",
            agency_id,
            kind,
            entity_id,
            action,
            to_state,
            orjson.loads(orjson.dumps(details, default=str)),
        )
    )


async def insert_finding(con: asyncpg.Connection, values: dict[str, Any]) -> int:
    """Insert a finding (no principal created it: created_by stays null); its id."""
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return int(
        await con.fetchval(
            f"insert into findings ({', '.join(columns)}) values ({placeholders}) returning id",
            *(values[c] for c in columns),
        )
    )


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


WriteBatch = Callable[[asyncpg.Connection, Sequence[T], Summary], Awaitable[None]]
AfterBatch = Callable[[int], Awaitable[None]]


async def write_in_batches(
    con: asyncpg.Connection,
    items: Sequence[T],
    write: WriteBatch[T],
    *,
    batch_size: int,
    unit: str,
    after_batch: AfterBatch | None = None,
) -> Summary:
    """Write `items` in batches of `batch_size`, each in its own transaction, with a progress bar on a terminal's
    stderr. `after_batch(n)` runs once batch n (from 1) has committed (the tests interrupt a run with it)."""
    from tqdm import tqdm

    summary = Summary()
    with tqdm(total=len(items), unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False) as bar:
        for number, batch in enumerate(batched(items, batch_size), start=1):
            counted = Summary()
            async with con.transaction():
                await write(con, batch, counted)
            summary.counts.update(counted.counts)
            bar.update(len(batch))
            if after_batch is not None:
                await after_batch(number)
    return summary
