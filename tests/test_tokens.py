"""Tokens: `fh_<public id>_<secret>`, the secret stored only as a salted HMAC, compared in constant time, refused
when tampered, unknown, expired, revoked or of the former format, and never written to the log."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from typing import Any

import asyncpg
import httpx
import pytest

from hub import auth, db
from hub.auth import TOKEN_PATTERN, check_token, create_principal_with_token, parse_token, token_prefix
from hub.logs import JsonFormatter, NoSecrets
from tests.conftest import Server, empty_database, scratch_folder
from tests.live import GraphQLWs, serve


async def _token(con: asyncpg.Connection, name: str = "token test", **options: Any) -> str:
    _, token = await create_principal_with_token(con, agency_code="CISA", role="OFFICER", name=name, **options)
    return token


def _tampered(token: str) -> str:
    """The same token with the last character of its secret changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


async def test_a_token_verifies_and_only_its_salted_digest_is_stored(connection: asyncpg.Connection) -> None:
    token = await _token(connection)
    assert TOKEN_PATTERN.fullmatch(token), token
    public_id, secret = parse_token(token) or ("", "")
    checked = await check_token(connection, token)
    assert checked is not None
    principal, token_id = checked
    assert principal.name == "token test" and principal.agency_code == "CISA"
    row = await connection.fetchrow("select * from api_tokens where id = $1", token_id)
    assert row["public_id"] == public_id and row["prefix"] == token_prefix(token) == f"fh_{public_id}"
    assert len(row["salt"]) == 16 and len(row["secret_hash"]) == 32
    assert bytes(row["secret_hash"]) == hmac.digest(bytes(row["salt"]), secret.encode(), "sha256")
    # no column, in any form, holds the secret or an unsalted hash of it
    unsalted = {hashlib.sha256(secret.encode()).digest(), hashlib.sha256(token.encode()).digest()}
    for column, value in dict(row).items():
        text = value.hex() if isinstance(value, bytes) else str(value)
        assert secret not in text and secret[:12] not in text, column
        assert value not in unsalted, column
    # a second token of the same principal gets a salt and an id of its own
    another = await auth.issue_token(connection, principal.id)
    salts = await connection.fetch("select public_id, salt from api_tokens where principal_id = $1", principal.id)
    assert len({r["salt"] for r in salts}) == len({r["public_id"] for r in salts}) == 2
    assert (await check_token(connection, another.token)) == (principal, another.id)


async def test_tampered_unknown_malformed_expired_and_revoked_tokens_are_refused(
    connection: asyncpg.Connection,
) -> None:
    token = await _token(connection)
    public_id, secret = parse_token(token) or ("", "")
    other_id = secrets.token_hex(8)
    for refused in (
        _tampered(token),  # a valid id, a wrong secret
        f"fh_{other_id}_{secret}",  # an unknown id with a real secret
        token + "x",
        token[:-1],
        token.upper(),
        f"fh_{public_id}",
        "",
        None,
        "fh_" + "a" * 300,
    ):
        assert await check_token(connection, refused) is None, refused
    expiring = await _token(connection, "expiring", expires_days=1)
    await connection.execute(
        "update api_tokens set expires_at = now() - interval '1 second' where public_id = $1", parse_token(expiring)[0]
    )
    revoked = await _token(connection, "revoked")
    await connection.execute("update api_tokens set revoked_at = now() where public_id = $1", parse_token(revoked)[0])
    assert await check_token(connection, expiring) is None
    assert await check_token(connection, revoked) is None
    assert await check_token(connection, token) is not None


async def test_the_secret_is_compared_in_constant_time_even_for_an_unknown_id(
    connection: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the id is known or not, the hub does the same work: one HMAC of the secret (keyed with the token's
    salt, or a dummy salt for an unknown id) and one hmac.compare_digest of that digest against the stored one (or a
    dummy digest), whose answer decides. An unknown id is never answered sooner than a wrong secret."""
    token = await _token(connection)
    public_id, secret = parse_token(token) or ("", "")
    row = await connection.fetchrow("select salt, secret_hash from api_tokens where public_id = $1", public_id)
    salt, stored = bytes(row["salt"]), bytes(row["secret_hash"])
    hmacs: list[tuple[bytes, bytes]] = []
    compared: list[tuple[bytes, bytes]] = []
    real_digest, real_compare = hmac.digest, hmac.compare_digest

    def digest_spy(key: bytes, message: bytes, algorithm: str) -> bytes:
        hmacs.append((key, message))
        return real_digest(key, message, algorithm)

    def compare_spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(auth.hmac, "digest", digest_spy)
    monkeypatch.setattr(auth.hmac, "compare_digest", compare_spy)
    wrong = _tampered(token)
    _, wrong_secret = parse_token(wrong) or ("", "")
    unknown = f"fh_{secrets.token_hex(8)}_{secret}"
    expected = {
        # the real id: the secret's HMAC under the token's salt, against the stored digest
        token: (salt, secret, stored, True),
        wrong: (salt, wrong_secret, stored, False),
        # an unknown id: the same HMAC under the dummy salt, against the dummy digest
        unknown: (auth._DUMMY_SALT, secret, auth._DUMMY_DIGEST, False),
    }
    for candidate, (key, sent, against, accepted) in expected.items():
        hmacs.clear()
        compared.clear()
        assert (await check_token(connection, candidate) is not None) is accepted, candidate
        assert hmacs == [(key, sent.encode())], candidate
        assert compared == [(real_digest(key, sent.encode(), "sha256"), against)], candidate
    # the comparison's answer is the one that counts: told "no", the hub refuses even the real token
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: False)
    assert await check_token(connection, token) is None


def test_the_log_masks_anything_shaped_like_a_token() -> None:
    token = "fh_0123456789abcdef_" + secrets.token_urlsafe(32)
    former = "fh_" + secrets.token_urlsafe(32)
    record = logging.LogRecord("hub.test", logging.INFO, __file__, 1, "got %s and %s", (token, former), None)
    record.operation = token
    NoSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert token[20:] not in line and former[3:] not in line
    assert "fh_0123456789abcdef_…" in line and "fh_…" in line
    frame = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, "< TEXT %r [131 bytes]", ("{...}",), None)
    header = logging.LogRecord("uvicorn.error", logging.DEBUG, __file__, 1, "< Authorization: %s", ("Bearer x",), None)
    assert not NoSecrets().filter(frame) and not NoSecrets().filter(header)


async def test_migration_005_revokes_former_tokens_which_are_then_refused_with_a_log_line(
    pg_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    async with empty_database(pg_server, "hub_test") as url:
        con = await db.connect(url)
        try:
            migrations = db.load_migrations()
            before = [m for m in migrations if m.version < "005"]
            await db.migrate(con, before)
            # a token as the hub issued them before 005: fh_ + 43 characters, stored as a plain SHA-256
            former = "fh_" + secrets.token_urlsafe(32)
            agency = await con.fetchval("insert into agencies (code, name) values ('TST', 'Test') returning id")
            principal = await con.fetchval(
                "insert into principals (agency_id, role, name) values ($1, 'OFFICER', 'former') returning id", agency
            )
            await con.execute(
                "insert into api_tokens (principal_id, token_hash, prefix) values ($1, $2, $3)",
                principal,
                hashlib.sha256(former.encode()).digest(),
                former[:10],
            )
            await db.migrate(con, migrations)
            row = await con.fetchrow("select * from api_tokens where principal_id = $1", principal)
            assert row["revoked_at"] is not None and row["public_id"] is None and "token_hash" not in dict(row)
            with caplog.at_level(logging.WARNING, logger="hub.auth"):
                assert await check_token(con, former) is None
            warned = [r.getMessage() for r in caplog.records if r.name == "hub.auth"]
            assert len(warned) == 1 and "former format" in warned[0] and "hub token create" in warned[0]
            assert former not in caplog.text and former[3:] not in caplog.text
            # a token without a public id can only be a revoked one
            with pytest.raises(asyncpg.CheckViolationError):
                await con.execute("insert into api_tokens (principal_id, prefix) values ($1, 'fh_')", principal)
            # and a new one works on the migrated database
            _, fresh = await create_principal_with_token(con, agency_code="TST", role="VIEWER", name="new")
            assert await check_token(con, fresh) is not None
        finally:
            await con.close()


async def test_no_token_reaches_the_log_over_http_and_websocket(fresh_url: str) -> None:
    """A real `hub serve` logging at debug level gets good, tampered, unknown and former-format tokens over HTTP and
    WebSocket, and an admin creates a token through the API; no token and no secret appears in its output. A socket
    whose token expires while it is open closes with 4403."""
    con = await db.connect(fresh_url)
    try:
        _, admin = await create_principal_with_token(con, agency_code="CISA", role="ADMIN", name="log admin")
        _, viewer = await create_principal_with_token(con, agency_code="NIST", role="VIEWER", name="log viewer")
    finally:
        await con.close()
    former = "fh_" + secrets.token_urlsafe(32)
    unknown = f"fh_{secrets.token_hex(8)}_{parse_token(admin)[1]}"  # type: ignore[index]
    with scratch_folder("hub-test-token-log-") as folder:
        env = {
            "HUB_DATABASE_URL": fresh_url,
            "HUB_SCHEDULER": "off",
            "HUB_LOG_LEVEL": "debug",
            "HUB_WS_TOKEN_RECHECK_SECONDS": "0.5",
        }
        running = serve(folder, env=env, demo=False)
        server = next(running)
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

                async def post(token: str, query: str = "{ me { name } }") -> httpx.Response:
                    return await client.post(
                        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
                    )

                assert (await post(admin)).json()["data"]["me"]["name"] == "log admin"
                for bad in (_tampered(admin), unknown, former, admin + "=", f"Bearer {admin}"):
                    response = await post(bad)
                    assert response.status_code == 401, bad
                    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                created = await post(
                    admin,
                    'mutation { createToken(input: {name: "made over the API", role: VIEWER}) '
                    "{ token apiToken { prefix } errors { code } } }",
                )
                made = created.json()["data"]["createToken"]
                assert made["errors"] == [] and TOKEN_PATTERN.fullmatch(made["token"])
                assert made["apiToken"]["prefix"] == token_prefix(made["token"])
                assert (await post(made["token"])).json()["data"]["me"]["name"] == "made over the API"

            for bad in (_tampered(viewer), former):
                refused = await GraphQLWs.open(server.url, bad)
                assert await refused.close_code() == 4403
            # (a script may send the token in the handshake's headers too: the debug log dumps those)
            socket = await GraphQLWs.open(server.url, viewer, additional_headers={"Authorization": f"Bearer {viewer}"})
            await socket.acked()
            await socket.subscribe("subscription { statusChanged { cursor action } }")
            await asyncio.sleep(0.3)
            con = await db.connect(fresh_url)
            try:
                await con.execute(
                    "update api_tokens set expires_at = now() where public_id = $1",
                    parse_token(viewer)[0],  # type: ignore[index]
                )
            finally:
                await con.close()
            assert await socket.close_code(seconds=10) == 4403
            await asyncio.sleep(0.3)
        finally:
            running.close()
    output = "\n".join(server.output)
    assert "refused a token of the former format" in output
    assert '"level": "debug"' in output or '"level":"debug"' in output, "the server did not log at debug level"
    for token in (admin, viewer, made["token"], _tampered(admin), unknown, former):
        parsed = parse_token(token)
        secret = parsed[1] if parsed else token[3:]
        # not even a part of a secret (the WebSocket library's frame dumps would show the tail of one)
        leaked = [secret[i : i + 10] for i in range(len(secret) - 9) if secret[i : i + 10] in output]
        assert token not in output and not leaked, f"a token reached the log: {leaked}"
