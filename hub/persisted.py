"""Persisted operations: Automatic Persisted Queries (Apollo's `persistedQuery` extension) and the production
allow-list of the vetted operations in schema/operations/."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from graphql import DocumentNode, GraphQLSyntaxError, parse, print_ast

HASH = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryError(Exception):
    """An APQ request the hub cannot serve; `code` tells an Apollo client what to do next."""

    def __init__(self, message: str, code: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalized_hash(document: DocumentNode) -> str:
    """The hash of a document as graphql-core prints it: the same operation, however it is spaced, hashes alike."""
    return sha256(print_ast(document))


def operations_dir() -> Path:
    spec = importlib.util.find_spec("schema")  # where the package lies, without importing it (it imports this)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parent / "operations"


@functools.cache
def vetted_hashes() -> dict[str, str]:
    """normalized hash -> file name, for every operation in schema/operations/."""
    vetted = {}
    for path in sorted(operations_dir().glob("*.graphql")):
        try:
            vetted[normalized_hash(parse(path.read_text()))] = path.stem
        except GraphQLSyntaxError:
            continue  # a test validates every file; a broken one simply is not served
    return vetted


@dataclass(frozen=True)
class Persisted:
    """The text of an APQ request, and whether to keep it under its hash (once the request is known valid)."""

    query: str
    digest: str
    register: bool


def persisted_query(body: Any) -> Any:
    """The request's `extensions.persistedQuery`, or None when it sends none."""
    extensions = body.get("extensions") if isinstance(body, dict) else None
    if not isinstance(extensions, dict):
        return None
    return extensions.get("persistedQuery")


async def resolve_query(con: asyncpg.Connection, body: dict[str, Any]) -> Persisted | None:
    """The query of an APQ request: from the persisted store when the request sends only its hash, or as sent when
    it sends both (after checking that they match; `register_query` keeps it once the request proved valid). None
    for a request that is not an APQ request."""
    persisted = persisted_query(body)
    if persisted is None:
        return None
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError("persistedQuery: only version 1 is supported", "PERSISTED_QUERY_NOT_SUPPORTED", 400)
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not HASH.match(digest):
        raise PersistedQueryError("persistedQuery.sha256Hash: 64 lower-case hex digits", "BAD_REQUEST", 400)
    query = body.get("query")
    if isinstance(query, str) and query.strip():
        if sha256(query) != digest:
            raise PersistedQueryError("provided sha does not match query", "BAD_REQUEST", 400)
        return Persisted(query=query, digest=digest, register=True)
    stored = await con.fetchval(
        "update persisted_queries set last_used_at = now() where sha256 = $1 returning query", digest
    )
    if stored is None:
        # Apollo clients answer this by sending the query with its hash
        raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
    return Persisted(query=str(stored), digest=digest, register=False)


async def register_query(con: asyncpg.Connection, digest: str, query: str, principal_id: int) -> None:
    """Keep a validated query under its hash, for every worker to serve from then on."""
    await con.execute(
        """insert into persisted_queries (sha256, query, created_by) values ($1, $2, $3)
           on conflict (sha256) do update set last_used_at = now()""",
        digest,
        query,
        principal_id or None,
    )
