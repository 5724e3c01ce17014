"""Demo tokens: fresh tokens for the demo principals at every `hub serve --demo`."""

from __future__ import annotations

import asyncpg

from hub.auth import issue_token


async def issue_demo_tokens(con: asyncpg.Connection) -> list[tuple[str, str, str]]:
    """Revoke the previous demo tokens and issue one per demo principal; returns (who, role, token)."""
    async with con.transaction():
        await con.execute("update api_tokens set revoked_at = now() where is_demo and revoked_at is null")
        principals = await con.fetch(
            """select p.id, coalesce(a.code, l.name) as who, p.role
                 from principals p left join agencies a on a.id = p.agency_id left join labs l on l.id = p.lab_id
                where p.name like '% demo officer' or p.name like '% demo liaison'
                order by p.lab_id nulls first, a.code, l.name"""
        )
        return [(r["who"], r["role"], (await issue_token(con, r["id"], is_demo=True)).token) for r in principals]
