"""The demo data: grounded, large enough to mean something, every state present, and loading twice changes
nothing."""

from __future__ import annotations

import asyncpg

from hub.demo import load_demo

STATES = {
    "labs": ("participation", {"INVITED", "ENGAGED", "PARTICIPATING", "DECLINED", "WITHDRAWN"}),
    "frontier_models": (
        "release_status",
        {"IN_DEVELOPMENT", "RESTRICTED_PREVIEW", "GENERALLY_AVAILABLE", "DEPRECATED"},
    ),
    "early_access_agreements": ("state", {"PROPOSED", "ACTIVE", "COMPLETED", "WITHDRAWN_BY_LAB", "TERMINATED"}),
    "coverage_standards": ("state", {"DRAFT", "IN_REVIEW", "ADOPTED", "SUPERSEDED", "WITHDRAWN"}),
    "coverage_decisions": (
        "state",
        {"REQUESTED", "UNDER_ASSESSMENT", "DECIDED", "RECONSIDERATION_REQUESTED", "SUPERSEDED", "WITHDRAWN"},
    ),
    "findings": (
        "state",
        {
            "REPORTED",
            "TRIAGED",
            "VALIDATED",
            "COORDINATING",
            "MITIGATION_AVAILABLE",
            "DISCLOSED",
            "REMEDIATED",
            "DUPLICATE",
            "REJECTED",
        },
    ),
    "cyber_measures": ("state", {"PLANNED", "DEPLOYING", "DEPLOYED", "VERIFIED", "RETIRED", "SUSPENDED"}),
    "infrastructure_engagements": (
        "state",
        {"PROPOSED", "SCOPING", "ACTIVE", "COMPLETED", "PAUSED", "DECLINED", "WITHDRAWN"},
    ),
}

TABLES = [
    *STATES,
    "agreement_agencies",
    "coverage_signoffs",
    "measure_findings",
    "measure_models",
    "engagement_findings",
    "engagement_milestones",
    "principals",
    "events",
]


async def counts(con: asyncpg.Connection) -> dict[str, int]:
    return {t: await con.fetchval(f"select count(*) from {t}") for t in TABLES}


async def test_every_state_of_every_entity_is_represented(connection: asyncpg.Connection) -> None:
    for table, (column, states) in STATES.items():
        found = {r[0] for r in await connection.fetch(f"select distinct {column} from {table}")}
        assert found == states, table
    outcomes = {
        r[0] for r in await connection.fetch("select distinct outcome from coverage_decisions where state = 'DECIDED'")
    }
    assert outcomes == {"COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION"}
    tlps = {r[0] for r in await connection.fetch("select distinct tlp from findings")}
    assert tlps == {"CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED"}
    sectors = {r[0] for r in await connection.fetch("select distinct sector from infrastructure_engagements")}
    assert len(sectors) == 16


async def test_demo_is_large_and_grounded(connection: asyncpg.Connection) -> None:
    c = await counts(connection)
    assert c["frontier_models"] >= 300 and c["findings"] >= 2000
    labs = {r[0] for r in await connection.fetch("select name from labs")}
    assert {"OpenAI", "Anthropic", "Google DeepMind"} <= labs and len(labs) >= 5
    assert (
        await connection.fetchval(
            "select count(*) from frontier_models m join labs l on l.id = m.lab_id"
            " where m.name = 'Claude Mythos Preview' and l.name = 'Anthropic'"
        )
        == 1
    )
    kev = await connection.fetchval(
        "select count(*) from findings where cve_id like 'CVE-%' and kev_date_added is not null"
    )
    assert kev > 1000
    # fictional records say so
    fictional = await connection.fetchval("select count(*) from labs where name like '%(fictional)%'")
    assert fictional > 0


async def test_loading_twice_changes_nothing(connection: asyncpg.Connection) -> None:
    before = await counts(connection)
    assert await load_demo(connection) is False
    assert await counts(connection) == before
