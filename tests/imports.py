"""What the import tests share: an empty migrated database (no demo data, so that counts are the import's own), the
CLI as a user runs it, and a snapshot of the findings and events an import wrote."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import db
from tests.conftest import Server, empty_database
from tests.live import HUB

DATA = Path(__file__).resolve().parent / "data"
SMALL_CATALOGUE = DATA / "kev" / "small_catalogue.json"
FULL_CATALOGUE = DATA / "kev" / "known_exploited_vulnerabilities_2025-08-25.json.gz"
CVE_RECORDS = DATA / "cve"
# the facts an import writes, compared between runs (ids, stix ids and timestamps differ between databases)
FACT_COLUMNS = (
    "cve_id, title, description, state, tlp, discovered_by_kind, kev_catalogue_entry, model_id, lab_id, "
    "owner_agency_id, owner_lab_id, created_by, kev_date_added, kev_due_date, kev_known_ransomware_campaign_use, "
    "kev_required_action, cwes, affected_vendor, affected_product, affected_versions, cvss_version, cvss_vector, "
    "cvss_base_score, cvss_severity, version"
)


@contextlib.asynccontextmanager
async def migrated_database(server: Server) -> AsyncIterator[str]:
    """A migrated database without the demo data, dropped afterwards."""
    async with empty_database(server, "hub_test_import") as url:
        con = await db.connect(url)
        try:
            await db.migrate(con)
        finally:
            await con.close()
        yield url


@pytest.fixture
async def empty_url(pg_server: Server) -> AsyncIterator[str]:
    """A migrated database without the demo data."""
    async with migrated_database(pg_server) as url:
        yield url


@pytest.fixture
async def empty(empty_url: str) -> AsyncIterator[asyncpg.Connection]:
    con = await db.connect(empty_url)
    yield con
    await con.close()


def hub_import(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`hub import ARGS` as an operator runs it, with HUB_DATABASE_URL."""
    environment = {**os.environ, "HUB_DATABASE_URL": url}
    return subprocess.run([*HUB, "import", *args], env=environment, capture_output=True, text=True, timeout=240)


async def findings(con: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await con.fetch(f"select {FACT_COLUMNS} from findings order by cve_id, id")]


async def events(con: asyncpg.Connection) -> list[dict[str, Any]]:
    """The events about findings: who acted, what, and the details (the record by its CVE id)."""
    rows = await con.fetch(
        """select f.cve_id, e.action, e.to_state, e.actor_principal_id, e.actor_agency_id, e.actor_lab_id, e.details
             from events e join findings f on f.id = e.entity_id
            where e.entity_kind = 'FINDING' order by e.id"""
    )
    return [dict(r) for r in rows]
