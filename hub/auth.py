"""Tokens and principals: who is asking."""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

ROLES = ("VIEWER", "ANALYST", "OFFICER", "ADMIN", "LAB_LIAISON")
TOKEN_PREFIX = "fh_"
log = logging.getLogger("hub.auth")


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


# A token is `fh_<public id>_<secret>`: the public id (16 hex characters, 64 random bits) is the lookup key and is
# stored in clear; the secret (32 random bytes, URL-safe base64) is stored only as HMAC-SHA256 keyed with a random
# salt of the token's own. The secret has 256 bits of entropy, so nobody can guess it from the stored hash however
# fast the hash is: a slow KDF (scrypt, Argon2) protects low-entropy passwords and here would only cost CPU on every
# request. The salt makes the stored column worthless for precomputed tables and lets the hub look a token up by
# its id, never by a value derived from the secret.
PUBLIC_ID_HEX = 16
SECRET_BYTES = 32
SALT_BYTES = 16
TOKEN_PATTERN = re.compile(rf"fh_([0-9a-f]{{{PUBLIC_ID_HEX}}})_([A-Za-z0-9_-]{{43}})")
# the format before migration 005: fh_ + 43 characters, stored as a plain SHA-256; refused since
FORMER_TOKEN_PATTERN = re.compile(r"fh_[A-Za-z0-9_-]{43}")
PREFIX_LENGTH = len(TOKEN_PREFIX) + PUBLIC_ID_HEX

# compared against when the public id is unknown, so that an unknown id costs the same work as a wrong secret
_DUMMY_SALT = secrets.token_bytes(SALT_BYTES)
_DUMMY_DIGEST = secrets.token_bytes(32)


def secret_digest(salt: bytes, secret: str) -> bytes:
    """What is stored of a token's secret: HMAC-SHA256 keyed with the token's salt."""
    return hmac.digest(salt, secret.encode(), "sha256")


def parse_token(token: str) -> tuple[str, str] | None:
    """The public id and the secret of a well-formed token, or None."""
    match = TOKEN_PATTERN.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def token_prefix(token: str) -> str:
    """The public part of a token (`fh_<public id>`): shown in listings and events to tell tokens apart."""
    return token[:PREFIX_LENGTH]


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str
    prefix: str
    expires_at: datetime | None


def bearer_token(header_value: str | None, schemes: tuple[str, ...] = ("bearer",)) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (or of another of `schemes`, lower case), or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() not in schemes or not token.strip():
        return None
    return token.strip()


_PRINCIPAL_COLUMNS = "p.id, p.name, p.role, p.agency_id, a.code as agency_code, p.lab_id, l.name as lab_name"
_PRINCIPAL_FROM = """
      from principals p
      left join agencies a on a.id = p.agency_id
      left join labs l on l.id = p.lab_id
"""
_PRINCIPAL_SQL = f"select {_PRINCIPAL_COLUMNS} {_PRINCIPAL_FROM}"


async def check_token(con: asyncpg.Connection, token: str | None) -> tuple[Principal, int] | None:
    """The principal behind a token and the token's id, or None when the token is missing, malformed, unknown, wrong,
    expired or revoked. The secret is compared in constant time, against a dummy when the id is unknown."""
    if not token or len(token) > 200:
        return None
    parsed = parse_token(token)
    if parsed is None:
        if FORMER_TOKEN_PATTERN.fullmatch(token):
            # (never the token itself: only that its format is the former one)
            log.warning(
                "refused a token of the former format (fh_ and 43 characters, without a public id): such tokens "
                "stopped working with migration 005; issue a new one with `hub token create` or createToken"
            )
        return None
    public_id, secret = parsed
    row = await con.fetchrow(
        f"""select {_PRINCIPAL_COLUMNS}, t.id as token_id, t.salt, t.secret_hash,
                   (t.revoked_at is null and (t.expires_at is null or t.expires_at > now())) as active
              {_PRINCIPAL_FROM}
              join api_tokens t on t.principal_id = p.id
             where t.public_id = $1""",
        public_id,
    )
    salt, stored = (bytes(row["salt"]), bytes(row["secret_hash"])) if row else (_DUMMY_SALT, _DUMMY_DIGEST)
    matches = hmac.compare_digest(secret_digest(salt, secret), stored)
    if row is None or not matches or not row["active"]:
        return None
    values = dict(row)
    token_id = values.pop("token_id")
    for column in ("salt", "secret_hash", "active"):
        values.pop(column)
    return Principal(**values), int(token_id)


async def authenticate(con: asyncpg.Connection, token: str | None) -> Principal | None:
    """The principal behind a token, or None when the token is missing, unknown, expired or revoked."""
    checked = await check_token(con, token)
    return checked[0] if checked else None


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
        issued = await issue_token(con, principal_id, expires_days=expires_days, is_demo=is_demo)
    principal = await get_principal(con, principal_id)
    assert principal is not None
    return principal, issued.token


async def issue_token(
    con: asyncpg.Connection, principal_id: int, *, expires_days: int | None = None, is_demo: bool = False
) -> IssuedToken:
    """A new token for an existing principal: a fresh public id, secret and salt; only the salted digest of the
    secret is stored. The token itself is in the result and nowhere else."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    secret = secrets.token_urlsafe(SECRET_BYTES)
    salt = secrets.token_bytes(SALT_BYTES)
    while True:
        # 64 random bits: a clash is all but impossible, and would only mean drawing another id
        public_id = secrets.token_hex(PUBLIC_ID_HEX // 2)
        prefix = f"{TOKEN_PREFIX}{public_id}"
        token_id = await con.fetchval(
            """insert into api_tokens (principal_id, public_id, salt, secret_hash, prefix, is_demo, expires_at)
               values ($1, $2, $3, $4, $5, $6, $7) on conflict (public_id) do nothing returning id""",
            principal_id,
            public_id,
            salt,
            secret_digest(salt, secret),
            prefix,
            is_demo,
            expires_at,
        )
        if token_id is not None:
            return IssuedToken(id=int(token_id), token=f"{prefix}_{secret}", prefix=prefix, expires_at=expires_at)
