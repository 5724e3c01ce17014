"""What every write shares: rejections, remit checks, input checks, versioned updates, events, idempotency keys.

A mutation runs in one transaction. It locks the record it changes (under the visibility rule: a record the caller
cannot see is NOT_FOUND), checks the version the caller read, checks the state machine and the remit, writes, and
records its event in the same transaction. Any rejection rolls everything back.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import asyncpg
import orjson

from hub.access import Params, visible
from hub.auth import Principal
from hub.kinds import KINDS, facts_of, facts_sql, remit_says
from hub.remits import Facts, any_of


class ErrorCode(StrEnum):
    """What a rejected write reports as its payload error's `code` (the GraphQL enum UserErrorCode). Only add to it:
    frontends switch on these."""

    # a value is missing, malformed, of the wrong type of id, too long or out of range
    BAD_USER_INPUT = "BAD_USER_INPUT"
    # the record (or one the input names) does not exist, or the caller may not see it
    NOT_FOUND = "NOT_FOUND"
    # the state machine does not allow the move (with `allowed`)
    INVALID_TRANSITION = "INVALID_TRANSITION"
    # the record changed since the caller read it (with `current_version`)
    STALE_VERSION = "STALE_VERSION"
    # a unique rule of the data
    CONFLICT = "CONFLICT"
    # an idempotency key already used for another mutation or another input
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    # a coverage criterion the hub could not evaluate on its data (an unknown suite, a unit that does not convert)
    CRITERION_NOT_EVALUABLE = "CRITERION_NOT_EVALUABLE"
    # a coverage outcome that differs from the screening's proposal, without the reason an override needs
    OVERRIDE_REASON_REQUIRED = "OVERRIDE_REASON_REQUIRED"
    # the caller's agency has signed this round of the decision already
    ALREADY_SIGNED = "ALREADY_SIGNED"
    # the lab has not chosen to take part in the program (INVITED, DECLINED or WITHDRAWN): nothing is registered,
    # requested or started for it (docs/design.md, "Participation")
    LAB_NOT_PARTICIPATING = "LAB_NOT_PARTICIPATING"
    # the move needs the lab's acceptance first (an engagement becomes ACTIVE only once the lab has accepted)
    LAB_ACCEPTANCE_REQUIRED = "LAB_ACCEPTANCE_REQUIRED"


class Rejected(Exception):
    """A write the caller can fix: reported in the payload's `errors`, nothing written."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        field: str | None = None,
        current_version: int | None = None,
        allowed: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.current_version = current_version
        self.allowed = list(allowed) if allowed is not None else None


class Forbidden(Exception):
    """Outside the caller's remit: a GraphQL error with code FORBIDDEN, nothing written."""


def bad_input(field: str, message: str) -> Rejected:
    return Rejected(ErrorCode.BAD_USER_INPUT, f"{field}: {message}", field=field)


# ------------------------------------------------------------------------------------------------ remits


def remit_verdict(
    principal: Principal | None, kind: str, action: str, record: Facts | None, *, to: str | None = None
) -> bool | None:
    """Whether the remit table (hub/kinds.py) lets `principal` do `action` to the record of `kind` whose facts are
    `record` (and, for a move, move it to `to`): None when that depends on a record not known yet."""
    rows = [r for r in KINDS[kind].remits_for(action) if to is None or r.moves_to(to)]
    return any_of(r.who(principal, record) for r in rows)


def check_remit(
    principal: Principal | None, kind: str, action: str, record: Facts | None, *, to: str | None = None
) -> None:
    """FORBIDDEN unless the remit table lets `principal` do `action` to the record (docs/design.md, "Remits").
    `record` None: before the record is known, so that a caller outside the remit learns nothing of the records
    its input names; refused only when no record could be in the remit, and checked again once it is known."""
    verdict = remit_verdict(principal, kind, action, record, to=to)
    if verdict is False or (record is not None and verdict is not True):
        raise Forbidden(f"outside your remit: {action} is for {remit_says(kind, action, record)}")


async def record_facts(con: asyncpg.Connection, kind: str, record_id: int) -> Facts:
    """What the remits ask about the record (its lab, owner, named agencies, state), read as the registry says."""
    row = await con.fetchrow(facts_sql(kind, "t.id = $1"), record_id)
    assert row is not None, f"{kind} {record_id} vanished"
    return facts_of(row)


async def lock_in_remit(
    con: asyncpg.Connection,
    principal: Principal,
    kind: str,
    record_id: int,
    action: str,
    *,
    to: str | None = None,
    field: str = "input.id",
) -> dict[str, Any]:
    """The record, locked (NOT_FOUND when the caller may not see it), after its remit for `action` is checked."""
    row = await lock_visible(con, principal, kind, record_id, field=field)
    check_remit(principal, kind, action, await record_facts(con, kind, record_id), to=to)
    return row


# ------------------------------------------------------------------------------------------------ input checks

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_SINGLE_LINE = re.compile(r"[\x00-\x1f\x7f]")


def text(
    value: str | None, field: str, *, required: bool = False, max_length: int = 300, multiline: bool = False
) -> str | None:
    """A checked, stripped text value: no control characters (newlines and tabs only where multiline), within
    `max_length`; None when empty and not required."""
    if value is None:
        if required:
            raise bad_input(field, "is required")
        return None
    if (_CONTROL if multiline else _CONTROL_SINGLE_LINE).search(value):
        raise bad_input(field, "must not contain control characters")
    value = value.strip()
    if not value:
        if required:
            raise bad_input(field, "must not be empty")
        return None
    if len(value) > max_length:
        raise bad_input(field, f"must be at most {max_length} characters (got {len(value)})")
    return value


def reason_text(value: str | None, *, required: bool = False) -> str | None:
    """The checked `input.reason` of a write."""
    return text(value, "input.reason", required=required, max_length=2000, multiline=True)


def text_list(
    values: Sequence[str] | None,
    field: str,
    *,
    max_items: int = 50,
    max_length: int = 100,
    pattern: str | None = None,
    hint: str = "",
) -> list[str] | None:
    if values is None:
        return None
    if len(values) > max_items:
        raise bad_input(field, f"at most {max_items} items")
    checked = []
    for index, value in enumerate(values):
        item = text(value, f"{field}[{index}]", required=True, max_length=max_length)
        assert item is not None
        if pattern is not None and not re.fullmatch(pattern, item):
            raise bad_input(f"{field}[{index}]", f"{item!r} is not valid{hint}")
        checked.append(item)
    return list(dict.fromkeys(checked))


# ------------------------------------------------------------------------------------------------ reads for writes


async def lock_visible(
    con: asyncpg.Connection, principal: Principal, kind: str, record_id: int, *, field: str = "input.id"
) -> dict[str, Any]:
    """The record of `kind`, locked for this transaction; NOT_FOUND when it is missing or the caller may not see it."""
    p = Params()
    rule = visible(kind, "t", principal, p)
    row = await con.fetchrow(
        f"select t.* from {KINDS[kind].table} t where t.id = {p(record_id)} and {rule} for update of t", *p.values
    )
    if row is None:
        raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no such record", field=field)
    return dict(row)


async def exists_visible(
    con: asyncpg.Connection, principal: Principal, kind: str, ids: Iterable[int], *, field: str
) -> None:
    """Every id names a record the caller may see; NOT_FOUND naming the field otherwise."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return
    p = Params()
    rule = visible(kind, "t", principal, p)
    found = {
        r["id"]
        for r in await con.fetch(
            f"select t.id from {KINDS[kind].table} t where t.id = any({p(wanted)}::bigint[]) and {rule}", *p.values
        )
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no such record ({len(missing)} of {len(wanted)})", field=field)


def check_version(row: Mapping[str, Any], expected: int) -> None:
    if row["version"] != expected:
        raise Rejected(
            ErrorCode.STALE_VERSION,
            f"input.expectedVersion: the record is at version {row['version']}, not {expected}; read it again",
            field="input.expectedVersion",
            current_version=row["version"],
        )


def check_transition(kind: str, current: str, to: str, *, field: str = "input.to") -> None:
    """The state machine of `kind` (hub/kinds.py) allows current -> to; else INVALID_TRANSITION naming `field` (the
    input's target state, or input.id for mutations that name none), the current state and the allowed next ones."""
    registered = KINDS[kind]
    allowed = registered.next_states(current)
    if to not in allowed:
        names = ", ".join(allowed) if allowed else "none (it is final)"
        raise Rejected(
            ErrorCode.INVALID_TRANSITION,
            f"{field}: a {registered.noun} in {current} cannot move to {to}; allowed next states: {names}",
            field=field,
            allowed=allowed,
        )


# ------------------------------------------------------------------------------------------------ writes


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def update_row(con: asyncpg.Connection, kind: str, record_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Write `changes` to the record of `kind`, bump its version and updated_at; the caller has locked the row and
    checked its version. Never its state: that moves through `transition` alone."""
    assert KINDS[kind].state_column not in changes, f"the state of a {kind} changes through transition() only"
    return await _write(con, kind, record_id, changes)


async def _write(con: asyncpg.Connection, kind: str, record_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
    p = Params()
    sets = [f"{column} = {p(value)}" for column, value in changes.items()]
    sets += ["version = version + 1", "updated_at = now()"]
    row = await con.fetchrow(
        f"update {KINDS[kind].table} set {', '.join(sets)} where id = {p(record_id)} returning *", *p.values
    )
    assert row is not None
    return dict(row)


async def write_unique(
    con: asyncpg.Connection, write: Callable[[], Awaitable[dict[str, Any]]], *, field: str, message: str
) -> dict[str, Any]:
    """Run an insert or update in a savepoint; a unique violation (even from a racing writer) is a CONFLICT."""
    try:
        async with con.transaction():
            return await write()
    except asyncpg.UniqueViolationError:
        raise Rejected(ErrorCode.CONFLICT, f"{field}: {message}", field=field) from None


async def replace_links(
    con: asyncpg.Connection,
    principal: Principal,
    *,
    table: str,
    owner_column: str,
    owner_id: int,
    target_column: str,
    target_kind: str,
    ids: Sequence[int] | None,
    field: str,
) -> bool:
    """Make the link table `table` hold exactly `ids` for the owner (when the input names them: None leaves the
    links alone); every target must be visible to the caller. True when that changed the links."""
    if ids is None:
        return False
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > 200:
        raise bad_input(field, "at most 200 ids")
    await exists_visible(con, principal, target_kind, wanted, field=field)
    current = {
        r[0] for r in await con.fetch(f"select {target_column} from {table} where {owner_column} = $1", owner_id)
    }
    if current == set(wanted):
        return False
    await con.execute(f"delete from {table} where {owner_column} = $1", owner_id)
    await con.executemany(
        f"insert into {table} ({owner_column}, {target_column}) values ($1, $2)", [(owner_id, i) for i in wanted]
    )
    return True


async def insert_row(con: asyncpg.Connection, table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    p = Params()
    columns = ", ".join(values)
    placeholders = ", ".join(p(v) for v in values.values())
    row = await con.fetchrow(f"insert into {table} ({columns}) values ({placeholders}) returning *", *p.values)
    assert row is not None
    return dict(row)


async def record_created(
    con: asyncpg.Connection, principal: Principal, kind: str, created: Mapping[str, Any], action: str, values: Any
) -> int:
    """The event of a record just created (in its first state, with the input's reason); the record's id."""
    await record_event(
        con,
        principal,
        kind=kind,
        entity_id=created["id"],
        action=action,
        to_state=created["state"],
        reason=reason_text(values.get("reason")),
    )
    return int(created["id"])


async def record_update(
    con: asyncpg.Connection,
    principal: Principal,
    kind: str,
    row: Mapping[str, Any],
    changes: dict[str, Any],
    values: Any,
    *,
    names: list[str],
    before: Mapping[str, Any] | None = None,
) -> None:
    """Write an update's column changes and its UPDATED event (record_updated)."""
    await update_row(con, kind, row["id"], changes)
    await record_updated(con, principal, kind, row["id"], reason_text(values.get("reason")), names, before)


async def record_updated(
    con: asyncpg.Connection,
    principal: Principal,
    kind: str,
    entity_id: int,
    reason: str | None,
    names: list[str],
    before: Mapping[str, Any] | None = None,
) -> None:
    """The UPDATED event of a record, naming what changed (`names`: columns and links) and, for a change of
    sharing, what was shared `before`."""
    await record_event(
        con,
        principal,
        kind=kind,
        entity_id=entity_id,
        action="UPDATED",
        reason=reason,
        details={"changed": sorted(names), **(before or {})},
    )


async def record_event(
    con: asyncpg.Connection,
    principal: Principal | None,
    *,
    kind: str,
    entity_id: int,
    action: str,
    from_state: str | None = None,
    to_state: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append the event of a write, in the write's transaction (the outbox). `principal` None: the hub itself.

    The id is the one the chain's trigger took (`currval` in this very transaction), not `returning id`: a
    RETURNING makes PostgreSQL apply the events' SELECT policy to the new row, and planning that policy (a dozen
    sub-selects under the other tables' policies) is most of an insert's cost whenever it is planned afresh, as at
    every execution behind a pooler in transaction mode (docs/operators.md, "Beyond one machine")."""
    await con.execute(
        """insert into events (actor_principal_id, actor_agency_id, actor_lab_id, entity_kind, entity_id, action,
                               from_state, to_state, reason, details)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        principal.id if principal and principal.id else None,
        principal.agency_id if principal else None,
        principal.lab_id if principal else None,
        kind,
        entity_id,
        action,
        from_state,
        to_state,
        reason,
        orjson.loads(orjson.dumps({k: _jsonable(v) for k, v in (details or {}).items()}, default=str)),
    )
    return int(await con.fetchval("select currval('events_id_seq')"))


def changed(before: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes that really change something."""
    return {k: v for k, v in changes.items() if before.get(k) != v}


Create = Callable[[asyncpg.Connection, Principal, dict[str, Any]], Awaitable[int]]


def idempotent(mutation: str, kind: str) -> Callable[[Create], Create]:
    """Make a create function `(con, principal, values) -> id` honour `values["idempotency_key"]`: a retry with
    the same key and the same input returns the id the first call created instead of creating again; the key with
    another input (or for another mutation) is IDEMPOTENCY_KEY_REUSED."""

    def wrap(create: Create) -> Create:
        @functools.wraps(create)
        async def create_once(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
            key = values.get("idempotency_key")
            fingerprint = input_fingerprint(values)
            replay = await idempotent_replay(con, principal, key, mutation, fingerprint)
            if replay is not None:
                return replay
            created = await create(con, principal, values)
            await remember_idempotency_key(con, principal, key, mutation, kind, created, fingerprint)
            return created

        return create_once

    return wrap


Prepare = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def transition(
    con: asyncpg.Connection,
    actor: Principal | None,
    kind: str,
    row: Mapping[str, Any],
    to: str,
    *,
    action: str = "TRANSITIONED",
    reason: str | None = None,
    reason_required: bool = False,
    field: str = "input.to",
    prepare: Prepare | None = None,
    changes: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Move a record of `kind` to `to`: the one way any state changes, a principal's move, the scheduler's or a
    consequence of another write (docs/design.md, "Kinds and states").

    The caller has locked the row (with its id and state column) and checked the remit and the version. This checks
    the state machine (INVALID_TRANSITION naming `field`), lets `prepare` check and add what the move needs
    (evidence, say), checks the reason, writes the state with `changes`, and records the event `action` from the
    old state to the new, in the same transaction. `actor` None: the hub itself. Returns the row as written."""
    column = KINDS[kind].state_column
    assert column is not None, f"{kind} has no states"
    current = row[column]
    check_transition(kind, current, to, field=field)
    await check_gates(con, kind, row["id"], to, field=field)
    written = {**(changes or {}), **(await prepare(dict(row)) if prepare else {}), column: to}
    checked_reason = reason_text(reason, required=reason_required)
    updated = await _write(con, kind, row["id"], written)
    await record_event(
        con,
        actor,
        kind=kind,
        entity_id=row["id"],
        action=action,
        from_state=current,
        to_state=to,
        reason=checked_reason,
        details=details,
    )
    return updated


async def check_gates(con: asyncpg.Connection, kind: str, record_id: int, to: str, *, field: str = "input.to") -> None:
    """The record meets the gates of a move into `to` (hub/kinds.py, Gate): else the first gate it does not meet,
    with its code, naming `field`. Read in the move's transaction, after the caller locked the row."""
    registered = KINDS[kind]
    gates = registered.gates.get(to, ())
    if not gates:
        return
    met = await con.fetchrow(
        f"select {', '.join(f'coalesce(({g.sql}), false) as g{i}' for i, g in enumerate(gates))}"
        f" from {registered.table} t where t.id = $1",
        record_id,
    )
    assert met is not None, f"{kind} {record_id} vanished"
    for i, gate in enumerate(gates):
        if not met[f"g{i}"]:
            raise Rejected(
                ErrorCode(gate.code),
                f"{field}: the {registered.noun} cannot move to {to} yet: {gate.says}",
                field=field,
            )


async def move_state(
    con: asyncpg.Connection,
    principal: Principal,
    row: dict[str, Any],
    *,
    kind: str,
    to: str,
    expected_version: int,
    reason: str | None,
    prepare: Prepare | None = None,
) -> int:
    """A move the caller names the target state of (`input.to`), on a record it has locked and whose remit it has
    checked: the version it read, then the transition. Returns the record's id."""
    check_version(row, expected_version)
    await transition(con, principal, kind, row, to, reason=reason, prepare=prepare)
    return int(row["id"])


def input_fingerprint(values: Mapping[str, Any]) -> bytes:
    """SHA-256 of a create's input as canonical JSON (keys sorted, no whitespace), without its idempotency key.
    `values` is the input as the mutation read it: ids decoded to primary keys, enums as their names, defaults
    filled in; so the same input sent twice has the same fingerprint, and lists in another order are another input."""
    canonical = {k: v for k, v in values.items() if k != "idempotency_key"}
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS, default=str)).digest()


async def idempotent_replay(
    con: asyncpg.Connection, principal: Principal, key: str | None, mutation: str, fingerprint: bytes
) -> int | None:
    """With an idempotency key already used by this principal for `mutation` with the same input (`fingerprint`),
    the id it created (a retried script gets the first result); None when the key is new. A key is the principal's
    own, across every create mutation: used for another mutation or with another input, it is
    IDEMPOTENCY_KEY_REUSED. Serialised per key, so two retries racing create once."""
    if key is None:
        return None
    key = text(key, "input.idempotencyKey", required=True, max_length=200)
    await con.execute("select pg_advisory_xact_lock(hashtextextended($1, $2))", key, principal.id)
    row = await con.fetchrow(
        "select mutation, entity_id, input_sha256 from idempotency_keys where principal_id = $1 and key = $2",
        principal.id,
        key,
    )
    if row is None:
        return None
    if row["mutation"] != mutation:
        raise key_reused(f"this key was used for {row['mutation']}; use a new key")
    # keys stored before their inputs were (sql/006) have no fingerprint: they replay as they always did
    if row["input_sha256"] is not None and bytes(row["input_sha256"]) != fingerprint:
        raise key_reused(f"this key was used for {mutation} with another input; use a new key")
    return int(row["entity_id"])


def key_reused(message: str) -> Rejected:
    return Rejected(ErrorCode.IDEMPOTENCY_KEY_REUSED, f"input.idempotencyKey: {message}", field="input.idempotencyKey")


async def remember_idempotency_key(
    con: asyncpg.Connection,
    principal: Principal,
    key: str | None,
    mutation: str,
    kind: str,
    entity_id: int,
    fingerprint: bytes,
) -> None:
    if key is None:
        return
    await con.execute(
        """insert into idempotency_keys (principal_id, key, mutation, entity_kind, entity_id, input_sha256)
           values ($1, $2, $3, $4, $5, $6)""",
        principal.id,
        key.strip(),
        mutation,
        kind,
        entity_id,
        fingerprint,
    )
