"""Principals and their tokens, administered by each agency's admins."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.auth import Principal, issue_token
from hub.remits import Facts
from hub.workflow import ErrorCode, Rejected, bad_input, check_remit, record_event, remit_verdict, text

AGENCY_ROLES = ("VIEWER", "ANALYST", "OFFICER", "ADMIN")


async def create_token(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> tuple[int, str]:
    """An agency admin creates a token: for a new principal of the admin's agency (name and role), or a further
    one for an existing principal of that agency. Returns the token's id and the token, which is shown only once."""
    check_remit(principal, "PRINCIPAL", "createToken", None)
    expires_days = values.get("expires_in_days")
    if expires_days is not None and not 1 <= expires_days <= 3650:
        raise bad_input("input.expiresInDays", f"must be between 1 and 3650, not {expires_days}")
    target = values.get("principal_id")
    if target is not None:
        if values.get("name") is not None or values.get("role") is not None:
            raise bad_input("input.principalId", "give either principalId or name and role, not both")
        agency = await con.fetchval("select agency_id from principals where id = $1", target)
        if agency != principal.agency_id:
            raise Rejected(
                ErrorCode.NOT_FOUND, "input.principalId: no such principal in your agency", field="input.principalId"
            )
        action = "TOKEN_ISSUED"
    else:
        name = text(values.get("name"), "input.name", required=True, max_length=200)
        role = values.get("role")
        if role not in AGENCY_ROLES:
            raise bad_input("input.role", f"must be one of {', '.join(AGENCY_ROLES)}")
        target = await con.fetchval(
            "insert into principals (agency_id, role, name) values ($1, $2, $3) returning id",
            principal.agency_id,
            role,
            name,
        )
        action = "PRINCIPAL_CREATED"
    issued = await issue_token(con, target, expires_days=expires_days)
    # the event names the token by id and public prefix, never by its secret
    await record_event(
        con,
        principal,
        kind="PRINCIPAL",
        entity_id=target,
        action=action,
        details={"tokenId": issued.id, "prefix": issued.prefix, "expiresAt": issued.expires_at},
    )
    return issued.id, issued.token


async def revoke_token(con: asyncpg.Connection, principal: Principal, token_id: int) -> int:
    """A principal revokes its own token; an agency admin any token of the agency's principals."""
    row = await con.fetchrow(
        """select t.id, t.principal_id, t.revoked_at, p.agency_id from api_tokens t
             join principals p on p.id = t.principal_id where t.id = $1 for update of t""",
        token_id,
    )
    # a token outside the caller's remit reads as a missing one
    holder = None if row is None else Facts(principal_id=row["principal_id"], owner_agency_id=row["agency_id"])
    if holder is None or remit_verdict(principal, "PRINCIPAL", "revokeToken", holder) is not True:
        raise Rejected(ErrorCode.NOT_FOUND, "input.id: no such token", field="input.id")
    if row["revoked_at"] is not None:
        raise bad_input("input.id", f"the token was revoked already, at {row['revoked_at'].isoformat()}")
    await con.execute("update api_tokens set revoked_at = now() where id = $1", token_id)
    await record_event(
        con,
        principal,
        kind="PRINCIPAL",
        entity_id=row["principal_id"],
        action="TOKEN_REVOKED",
        details={"tokenId": token_id},
    )
    return token_id


async def get_token(con: asyncpg.Connection, token_id: int) -> dict[str, Any] | None:
    row = await con.fetchrow(
        "select id, principal_id, prefix, created_at, expires_at, revoked_at from api_tokens where id = $1", token_id
    )
    return dict(row) if row else None


async def list_tokens(db: Any, principal: Principal, *, limit: int) -> list[dict[str, Any]]:
    """Tokens an admin may administer (their agency's principals'), or a principal's own; never a secret."""
    if principal.is_agency and principal.role == "ADMIN":
        condition, value = "p.agency_id = $1", principal.agency_id
    else:
        condition, value = "p.id = $1", principal.id
    rows = await db.fetch(
        f"""select t.id, t.principal_id, t.prefix, t.created_at, t.expires_at, t.revoked_at, p.name, p.role
              from api_tokens t join principals p on p.id = t.principal_id
             where {condition} order by t.id limit $2""",
        value,
        limit,
    )
    return [dict(r) for r in rows]
