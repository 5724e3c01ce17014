"""models(filter: {coverageOutcome}) means what the field coverageOutcome means: the outcome of the latest DECIDED
decision on the model that the principal may see (docs/design.md, Who sees what). A lab that may see another lab's
released model may not see its coverage decisions, so it learns nothing of them through the filter either.

Each test runs with both lines of defence, with the store's filter alone (requests served as the tables' owner,
whom row-level security lets through) and with row-level security alone (the store's filter removed), through the
SQL compiler and through the resolvers."""

from __future__ import annotations

from typing import Any

import pytest

from hub import db
from schema.common import to_global_id
from tests.conftest import Api
from tests.rls import remove_store_filter, serve_as_owner

FILTERED = """query($outcomes: [CoverageOutcome!], $labs: [ID!]) {
  models(filter: {coverageOutcome: $outcomes, labIds: $labs}, first: 500) { edges { node { id coverageOutcome } } }
}"""


@pytest.fixture(
    autouse=True,
    params=[
        "compiled",
        "compiled store-only",
        "compiled rls-only",
        "resolvers",
        "resolvers store-only",
        "resolvers rls-only",
    ],
)
def defence(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if "store-only" in request.param:
        serve_as_owner(monkeypatch)
    if "rls-only" in request.param:
        remove_store_filter(monkeypatch)
    if request.param.startswith("resolvers"):
        monkeypatch.setenv("HUB_SQL_COMPILER", "off")
    return str(request.param)


async def decide(api: Api, model_id: int, outcomes: list[tuple[str, str]]) -> None:
    """DECIDED decisions on the model, one per (outcome, decided this long ago), written as the tables' owner."""
    con = await db.connect(api.url)
    try:
        standard = await con.fetchval("select min(id) from coverage_standards")
        for outcome, ago in outcomes:
            await con.execute(
                """insert into coverage_decisions (model_id, standard_id, state, outcome, decided_at)
                   values ($1, $2, 'DECIDED', $3, now() - $4::text::interval)""",
                model_id,
                standard,
                outcome,
                ago,
            )
    finally:
        await con.close()


async def two_labs(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two labs with models: the first's model (any), the second's released one (which the first lab may see)."""
    con = await db.connect(api.url)
    try:
        theirs = await con.fetchrow(
            """select m.id, m.lab_id, l.name from frontier_models m join labs l on l.id = m.lab_id
                where m.release_status = 'GENERALLY_AVAILABLE' order by m.id limit 1"""
        )
        ours = await con.fetchrow(
            """select m.id, m.lab_id, l.name from frontier_models m join labs l on l.id = m.lab_id
                where m.lab_id <> $1 order by m.id limit 1""",
            theirs["lab_id"],
        )
    finally:
        await con.close()
    return dict(ours), dict(theirs)


async def outcomes_seen(api: Api, token: str, outcomes: list[str], lab_id: int) -> dict[int, Any]:
    data = await api.data(FILTERED, {"outcomes": outcomes, "labs": [to_global_id("Lab", lab_id)]}, token=token)
    return {e["node"]["id"]: e["node"]["coverageOutcome"] for e in data["models"]["edges"]}


async def test_a_lab_cannot_probe_another_labs_outcome_through_the_filter(api: Api) -> None:
    ours, theirs = await two_labs(api)
    await decide(api, theirs["id"], [("COVERED", "1 day")])
    liaison = await api.token(lab=ours["name"], role="LAB_LIAISON")
    model = to_global_id("FrontierModel", theirs["id"])
    # the lab sees the other lab's released model, but not its decisions: no outcome, and no filter finds it
    listed = await api.data(
        "query($id: ID!) { node(id: $id) { ... on FrontierModel { id coverageOutcome } } }",
        {"id": model},
        token=liaison,
    )
    assert listed["node"] == {"id": model, "coverageOutcome": None}
    for outcome in ("COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION"):
        assert model not in await outcomes_seen(api, liaison, [outcome], theirs["lab_id"])
    # whereas an agency, which may see the decisions, finds it
    cisa = await api.token(agency="CISA", role="ANALYST")
    assert (await outcomes_seen(api, cisa, ["COVERED"], theirs["lab_id"])).get(model) == "COVERED"


async def test_the_filter_means_the_latest_decision_as_the_field_does(api: Api) -> None:
    ours, _ = await two_labs(api)
    # covered once, then (later) found not covered: the model's outcome is NOT_COVERED
    await decide(api, ours["id"], [("COVERED", "2 days"), ("NOT_COVERED", "1 day")])
    model = to_global_id("FrontierModel", ours["id"])
    for token in (
        await api.token(lab=ours["name"], role="LAB_LIAISON"),
        await api.token(agency="NIST", role="VIEWER"),
    ):
        assert (await outcomes_seen(api, token, ["NOT_COVERED"], ours["lab_id"])).get(model) == "NOT_COVERED"
        assert model not in await outcomes_seen(api, token, ["COVERED"], ours["lab_id"])
