"""Tokens and principals: who is asking."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

ROLES = ("VIEWER", "ANALYST", "OFFICER", "ADMIN", "LAB_LIAISON")
TOKEN_PREFIX = "fh_"


@dataclass(frozen=True, kw_only=True)
class Principal:
    """A person or script holding a token: an agency's (by role) or a lab's liaison."""

    id: int
    name: str
    role: str
    agency_id: int | None
    agency_code: str | None
    lab_id: int | None
    lab_name: str | None = None

    @property
    def is_lab(self) -> bool:
        return self.lab_id is not None

    @property
    def is_agency(self) -> bool:
        return self.agency_id is not None


def hash_token(token: str) -> bytes:
    """Tokens are 256 random bits, so one round of SHA-256 is enough to make the stored hash useless to a thief."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def bearer_token(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


_PRINCIPAL_SQL = """
    select p.id, p.name, p.role, p.agency_id, a.code as agency_code, p.lab_id, l.name as lab_name
      from principals p
      left join agencies a on a.id = p.agency_id
      left join labs l on l.id = p.lab_id
"""


async def authenticate(con: asyncpg.Connection, token: str | None) -> Principal | None:
    """The principal behind a token, or None when the token is missing, unknown, expired or revoked."""
    if not token or len(token) > 200:
        return None
    row = await con.fetchrow(
        _PRINCIPAL_SQL
        + """ join api_tokens t on t.principal_id = p.id
             where t.token_hash = $1 and t.revoked_at is null and (t.expires_at is null or t.expires_at > now())""",
        hash_token(token),
    )
    return Principal(**dict(row)) if row else None


async def get_principal(con: asyncpg.Connection, principal_id: int) -> Principal | None:
    row = await con.fetchrow(_PRINCIPAL_SQL + " where p.id = $1", principal_id)
    return Principal(**dict(row)) if row else None


class TokenError(ValueError):
    """A token request that names an unknown agency, lab or role."""


async def create_principal_with_token(
    con: asyncpg.Connection,
    *,
    agency_code: str | None,
    role: str,
    name: str,
    lab_name: str | None = None,
    expires_days: int | None = None,
    is_demo: bool = False,
) -> tuple[Principal, str]:
    """Create a principal and its first token; returns both. The token is shown only here."""
    role = role.upper()
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not name.strip():
        raise TokenError("name must not be empty")
    agency_id = lab_id = None
    if role == "LAB_LIAISON":
        if not lab_name:
            raise TokenError("a LAB_LIAISON needs --lab NAME")
        lab_id = await con.fetchval("select id from labs where lower(name) = lower($1)", lab_name)
        if lab_id is None:
            raise TokenError(f"no lab named {lab_name!r}")
    else:
        if lab_name:
            raise TokenError("--lab goes only with --role LAB_LIAISON")
        if not agency_code:
            raise TokenError("an agency principal needs --agency CODE")
        agency_id = await con.fetchval(
            "select id from agencies where code = upper($1) or upper($1) = any(aliases)", agency_code
        )
        if agency_id is None:
            raise TokenError(f"no agency with code {agency_code!r}")
    if expires_days is not None and expires_days < 1:
        raise TokenError("--expires-days must be 1 or more")
    async with con.transaction():
        principal_id = await con.fetchval(
            "insert into principals (agency_id, lab_id, role, name) values ($1, $2, $3, $4) returning id",
            agency_id,
            lab_id,
            role,
            name.strip(),
        )
        token = await issue_token(con, principal_id, expires_days=expires_days, is_demo=is_demo)
    principal = await get_principal(con, principal_id)
    assert principal is not None
    return principal, token


async def issue_token(
    con: asyncpg.Connection, principal_id: int, *, expires_days: int | None = None, is_demo: bool = False
) -> str:
    """A new token for an existing principal."""
    token = new_token()
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    await con.execute(
        """insert into api_tokens (principal_id, token_hash, prefix, is_demo, expires_at)
           values ($1, $2, $3, $4, $5)""",
        principal_id,
        hash_token(token),
        token[:10],
        is_demo,
        expires_at,
    )
    return token
