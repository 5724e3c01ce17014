"""The program policy's versions and joint changes (docs/design.md, "Policy versions").

A change to the policy is a new version: proposed by an admin of an agency in the required sign-offs of the version
in effect (`updatePolicy`, which signs for the proposer's agency), it takes effect once an admin of every one of
those agencies has concurred (`concurPolicyChange`), in the transaction of the last concurrence or, when the proposal
names a later effectiveOn, on that day by the scheduler (hub/scheduler.py). The agencies that must concur are fixed
when the change is proposed, from the version in effect, so a change that drops an agency from the required
sign-offs needs that agency's own concurrence: nobody cuts an agency out alone. The proposing agency may withdraw the
change while it is proposed (`withdrawPolicyChange`). One change is proposed at a time.

The `policy` row (id 1) is the copy of the version in effect: taking effect rewrites it in the same transaction, so
every reader of `policy` reads the policy in force.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from hub.auth import Principal
from hub.store.base import Session
from hub.workflow import (
    ErrorCode,
    Rejected,
    bad_input,
    check_remit,
    check_transition,
    check_version,
    lock_in_remit,
    reason_text,
    record_event,
    record_facts,
    text_list,
    transition,
    update_row,
    write_unique,
)

KIND = "POLICY_VERSION"
# the policy's figures, as the `policy` row and each version hold them
FIGURES = ("order_date", "standard_due_days", "required_signoffs", "preview_lead_time_days")
AGENCY_CODE = r"[A-Za-z][A-Za-z0-9_]{1,15}"


# ------------------------------------------------------------------------------------------------ reads


async def versions(db: Session) -> list[dict[str, Any]]:
    """Every version, newest first, each with its signatures (agency code, agency id, signer's name, when), oldest
    signature first. Visible to every principal, as the policy is (hub/access.py)."""
    rows = [dict(r) for r in await db.fetch("select * from policy_versions order by number desc")]
    signatures = await db.fetch(
        """select s.policy_version, s.agency_id, a.code as agency_code, p.name as principal_name, s.signed_at
             from policy_version_signatures s
             join agencies a on a.id = s.agency_id
             left join principals p on p.id = s.principal_id
            order by s.signed_at, a.code"""
    )
    by_version: dict[int, list[dict[str, Any]]] = {}
    for s in signatures:
        by_version.setdefault(s["policy_version"], []).append(dict(s))
    for row in rows:
        row["signatures"] = by_version.get(row["number"], [])
    return rows


# ------------------------------------------------------------------------------------------------ writes


async def _today(con: asyncpg.Connection) -> date:
    """Today in UTC, as the database tells it (the effective dates are UTC dates)."""
    return await con.fetchval("select (now() at time zone 'UTC')::date")  # type: ignore[no-any-return]


async def _signoffs(con: asyncpg.Connection, values: dict[str, Any]) -> list[str] | None:
    if values.get("required_signoffs") is None:
        return None
    field = "input.requiredSignoffs"
    codes = text_list(
        values["required_signoffs"], field, max_items=20, max_length=16, pattern=AGENCY_CODE, hint=": an agency code"
    )
    codes = [c.upper() for c in codes or []]
    if not codes:
        raise bad_input(field, "at least one agency must sign a standard")
    known = {r[0] for r in await con.fetch("select code from agencies where code = any($1::text[])", codes)}
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise Rejected(ErrorCode.NOT_FOUND, f"{field}: no agency {', '.join(unknown)}", field=field)
    return codes


async def propose_policy_change(
    con: asyncpg.Connection, principal: Principal, expected_version: int, values: dict[str, Any]
) -> int:
    """`updatePolicy`: an admin of an agency in the required sign-offs of the version in effect proposes a new
    version (any of the figures, an optional effectiveOn, a reason), signed at once for the admin's agency. The
    figures not named are those in effect. Returns the new version's number."""
    policy = await _lock_policy(con)
    check_remit(principal, "POLICY", "updatePolicy", await record_facts(con, "POLICY", 1))
    check_version(policy, expected_version)
    proposed = {k: policy[k] for k in FIGURES}
    if values.get("order_date") is not None:
        proposed["order_date"] = values["order_date"]
    for key, field in (
        ("standard_due_days", "input.standardDueDays"),
        ("preview_lead_time_days", "input.previewLeadTimeDays"),
    ):
        if values.get(key) is not None:
            if not 1 <= values[key] <= 365:
                raise bad_input(field, f"must be between 1 and 365, not {values[key]}")
            proposed[key] = values[key]
    codes = await _signoffs(con, values)
    if codes is not None:
        proposed["required_signoffs"] = codes
    reason = reason_text(values.get("reason"))
    effective_on = values.get("effective_on")
    today = await _today(con)
    if effective_on is not None and effective_on < today:
        raise bad_input("input.effectiveOn", f"must be today ({today.isoformat()}) or later: no change is retroactive")
    changes = {k: {"from": policy[k], "to": v} for k, v in proposed.items() if policy[k] != v}
    if not changes:
        raise bad_input("input", "the proposal changes nothing in the policy in effect")
    pending = await con.fetchval("select number from policy_versions where state = 'PROPOSED'")
    if pending is not None:
        raise Rejected(
            ErrorCode.CONFLICT,
            f"input: policy version {pending} is proposed already; one change at a time: concur with it or have it "
            "withdrawn first",
            field="input",
        )
    number = int(await con.fetchval("select coalesce(max(number), 0) + 1 from policy_versions"))
    needed = list(policy["required_signoffs"])

    async def insert() -> dict[str, Any]:
        row = await con.fetchrow(
            """insert into policy_versions (number, order_date, standard_due_days, required_signoffs,
                                            preview_lead_time_days, effective_on, state, concurrence_needed,
                                            proposed_by, proposed_by_agency_id, reason)
               values ($1, $2, $3, $4, $5, $6, 'PROPOSED', $7, $8, $9, $10) returning *""",
            number,
            proposed["order_date"],
            proposed["standard_due_days"],
            proposed["required_signoffs"],
            proposed["preview_lead_time_days"],
            effective_on,
            needed,
            principal.id or None,
            principal.agency_id,
            reason,
        )
        assert row is not None
        return dict(row)

    row = await write_unique(con, insert, field="input", message="another change to the policy is proposed already")
    await record_event(
        con,
        principal,
        kind=KIND,
        entity_id=number,
        action="PROPOSED",
        to_state="PROPOSED",
        reason=reason,
        details={
            "number": number,
            "changes": changes,
            "effectiveOn": effective_on,
            "concurrenceNeeded": needed,
            "signedFor": principal.agency_code,
        },
    )
    await _sign(con, principal, number)
    await _agreed_when_all_signed(con, principal, row, today)
    return number


async def _sign(con: asyncpg.Connection, principal: Principal, number: int) -> None:
    """The concurrence of the principal's agency with version `number` (ALREADY_SIGNED when it has concurred)."""
    signed = await con.fetchval(
        """insert into policy_version_signatures (policy_version, agency_id, principal_id) values ($1, $2, $3)
           on conflict do nothing returning 1""",
        number,
        principal.agency_id,
        principal.id or None,
    )
    if signed is None:
        raise Rejected(
            ErrorCode.ALREADY_SIGNED,
            f"input.number: {principal.agency_code} has concurred with policy version {number} already",
            field="input.number",
        )


async def _agreed_when_all_signed(
    con: asyncpg.Connection, actor: Principal | None, row: dict[str, Any], today: date
) -> None:
    """When every agency that must concur has: the change is agreed, and takes effect now, or on its effectiveOn
    when that is later (the scheduler's pass, take_effect_due)."""
    signed = {
        r[0]
        for r in await con.fetch(
            """select a.code from policy_version_signatures s join agencies a on a.id = s.agency_id
                where s.policy_version = $1""",
            row["number"],
        )
    }
    waiting = [c for c in row["concurrence_needed"] if c not in signed]
    if waiting:
        return
    agreed = await update_row(con, KIND, row["number"], {"agreed_at": await con.fetchval("select now()")})
    if row["effective_on"] is None or row["effective_on"] <= today:
        await take_effect(con, actor, agreed, today)
        return
    await record_event(
        con,
        actor,
        kind=KIND,
        entity_id=row["number"],
        action="AGREED",
        from_state="PROPOSED",
        to_state="PROPOSED",
        reason=f"every agency that must concur has; it takes effect on {row['effective_on'].isoformat()}",
        details={"number": row["number"], "effectiveOn": row["effective_on"]},
    )


async def take_effect(con: asyncpg.Connection, actor: Principal | None, row: dict[str, Any], today: date) -> None:
    """Put an agreed version in effect: the version in effect becomes SUPERSEDED, this one IN_EFFECT, and the
    `policy` row its copy, each with its event, in the caller's transaction. `actor` None: the scheduler."""
    number = row["number"]
    current = dict(
        await con.fetchrow("select * from policy_versions where state = 'IN_EFFECT' for update") or {"number": None}
    )
    now = await con.fetchval("select now()")
    if current["number"] is not None:
        await transition(
            con,
            None,
            KIND,
            current,
            "SUPERSEDED",
            action="SUPERSEDED",
            reason=f"policy version {number} took effect",
            changes={"ended_at": now},
            details={"number": current["number"], "supersededBy": number},
        )
    effective_on = row["effective_on"] or today
    await transition(
        con,
        actor,
        KIND,
        row,
        "IN_EFFECT",
        action="TOOK_EFFECT",
        reason=f"every agency that had to concur did; in effect from {effective_on.isoformat()}",
        changes={"took_effect_at": now, "effective_on": effective_on},
        details={"number": number, "effectiveOn": effective_on, "supersedes": current["number"]},
    )
    policy = await _lock_policy(con)
    copy: dict[str, Any] = {k: row[k] for k in FIGURES}
    copy["policy_version"] = number
    await update_row(con, "POLICY", 1, copy)
    await record_event(
        con,
        actor,
        kind="POLICY",
        entity_id=1,
        action="UPDATED",
        reason=f"policy version {number} took effect",
        details={
            "policyVersion": number,
            **{k: {"from": policy[k], "to": v} for k, v in copy.items() if policy[k] != v},
        },
    )


async def _lock_policy(con: asyncpg.Connection) -> dict[str, Any]:
    """The `policy` row, locked: every policy write takes it first, so that they queue in one order."""
    return dict(await con.fetchrow("select * from policy where id = 1 for update") or {})


def _number(number: int) -> int:
    if number < 1:
        raise bad_input("input.number", f"a policy version's number is 1 or more, not {number}")
    return number


async def concur_policy_change(
    con: asyncpg.Connection, principal: Principal, number: int, expected_version: int
) -> int:
    """`concurPolicyChange`: an admin of an agency that must concur (one in the required sign-offs of the version in
    effect when the change was proposed) concurs for it; the last concurrence puts the change in effect, or agrees it
    for its later effectiveOn."""
    await _lock_policy(con)
    row = await lock_in_remit(con, principal, KIND, _number(number), "concurPolicyChange", field="input.number")
    check_version(row, expected_version)
    check_transition(KIND, row["state"], "IN_EFFECT", field="input.number")
    await _sign(con, principal, number)
    row = await update_row(con, KIND, number, {})
    await record_event(
        con,
        principal,
        kind=KIND,
        entity_id=number,
        action="CONCURRED",
        from_state="PROPOSED",
        to_state="PROPOSED",
        details={"number": number, "signedFor": principal.agency_code},
    )
    await _agreed_when_all_signed(con, principal, row, await _today(con))
    return number


async def withdraw_policy_change(
    con: asyncpg.Connection, principal: Principal, number: int, expected_version: int, reason: str | None
) -> int:
    """`withdrawPolicyChange`: an admin of the proposing agency withdraws a change while it is proposed (agreed for
    a later day included): the version in effect stays."""
    row = await lock_in_remit(
        con, principal, KIND, _number(number), "withdrawPolicyChange", to="WITHDRAWN", field="input.number"
    )
    check_version(row, expected_version)
    await transition(
        con,
        principal,
        KIND,
        row,
        "WITHDRAWN",
        action="WITHDRAWN",
        reason=reason,
        field="input.number",
        changes={"ended_at": await con.fetchval("select now()")},
        details={"number": number},
    )
    return number


async def take_effect_due(con: asyncpg.Connection, *, now: datetime) -> list[int]:
    """The scheduler's part: every agreed change whose effectiveOn has come takes effect (once: it is IN_EFFECT
    after). Returns the numbers put in effect."""
    today = now.date()
    done: list[int] = []
    async with con.transaction():
        if not await con.fetchval(
            "select exists (select 1 from policy_versions where state = 'PROPOSED' and agreed_at is not null"
            " and effective_on <= $1)",
            today,
        ):
            return done
        await _lock_policy(con)
        due = await con.fetch(
            """select * from policy_versions
                where state = 'PROPOSED' and agreed_at is not null and effective_on <= $1
                order by number for update skip locked""",
            today,
        )
        for row in due:
            await take_effect(con, None, dict(row), today)
            done.append(int(row["number"]))
    return done
