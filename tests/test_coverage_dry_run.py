"""The dry run (docs/design.md, "Coverage"): one statement that applies a draft standard to every model a principal
may see beside the adopted standard. On every demo model it equals screening each model one by one under each
standard; its counts add up; its pages cover every model once; a lab cannot dry-run a draft it cannot see; and the
live screening of one model agrees with it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from hub import db
from hub.auth import Principal
from hub.screening import CHANGES, dry_run, screen
from schema.common import to_global_id
from tests.conftest import Api

DRY_RUN = """query($standardId: ID, $changes: [CoverageChange!], $first: Int, $after: String) {
  coverageDryRun(standardId: $standardId, changes: $changes, first: $first, after: $after) {
    standard { standardVersion state } adoptedStandard { standardVersion }
    totalCount counts { newlyCovered noLongerCovered nowUnknown nowNotCovered unchanged }
    pageInfo { hasNextPage endCursor }
    nodes { change model { id } draft { proposedOutcome criteria { position result low high missing } }
            adopted { proposedOutcome } standingOutcome }
  }
}"""


async def officer(con: asyncpg.Connection, code: str) -> Principal:
    row = await con.fetchrow(
        """select p.id, p.name, p.role, p.agency_id, a.code from principals p join agencies a on a.id = p.agency_id
            where a.code = $1 and p.role = 'OFFICER' order by p.id limit 1""",
        code,
    )
    assert row is not None
    return Principal(
        id=row["id"], name=row["name"], role="OFFICER", agency_id=row["agency_id"], agency_code=code, lab_id=None
    )


async def standards(con: asyncpg.Connection) -> tuple[int, int]:
    draft = await con.fetchval(
        """select id from coverage_standards where state in ('DRAFT', 'IN_REVIEW')
            order by created_at desc, id desc limit 1"""
    )
    adopted = await con.fetchval("select id from coverage_standards where state = 'ADOPTED'")
    assert draft is not None and adopted is not None
    return int(draft), int(adopted)


@pytest.mark.parametrize("who", [None, "CISA", "NIST"])
async def test_the_dry_run_equals_screening_each_demo_model_one_by_one(demo_url: str, who: str | None) -> None:
    con = await db.connect(demo_url)
    try:
        principal = None if who is None else await officer(con, who)
        draft, adopted = await standards(con)
        result = await dry_run(con, principal, draft, adopted, first=100_000)
        models = [r["id"] for r in await con.fetch("select id from frontier_models order by id")]
        assert [r.model_id for r in result.rows] == models and result.total == len(models)
        assert not result.has_next_page
        assert sum(result.counts.values()) == result.total
        mismatches = []
        for row in result.rows:
            one = {s.standard_id: s for s in await screen(con, principal, [draft, adopted], [row.model_id])}
            if one[draft] != row.draft or one[adopted] != row.adopted:
                mismatches.append(row.model_id)
        assert mismatches == []
        # the demo's draft lowers a threshold: the dry run shows models newly covered, and none the other way
        assert result.counts["NEWLY_COVERED"] > 0, result.counts
        assert result.counts["NO_LONGER_COVERED"] == 0, result.counts
    finally:
        await con.close()


async def test_the_change_is_the_draft_proposal_beside_the_adopted_one(demo_url: str) -> None:
    con = await db.connect(demo_url)
    try:
        draft, adopted = await standards(con)
        result = await dry_run(con, None, draft, adopted, first=100_000)
        expected = {
            ("COVERED", "COVERED"): "UNCHANGED",
            ("NOT_COVERED", "COVERED"): "NO_LONGER_COVERED",
            ("INSUFFICIENT_INFORMATION", "COVERED"): "NOW_UNKNOWN",
            ("COVERED", "NOT_COVERED"): "NEWLY_COVERED",
            ("COVERED", "INSUFFICIENT_INFORMATION"): "NEWLY_COVERED",
            ("NOT_COVERED", "INSUFFICIENT_INFORMATION"): "NOW_NOT_COVERED",
            ("INSUFFICIENT_INFORMATION", "NOT_COVERED"): "NOW_UNKNOWN",
        }
        for row in result.rows:
            assert row.adopted is not None
            pair = (row.draft.proposed_outcome, row.adopted.proposed_outcome)
            assert row.change == expected.get(pair, "UNCHANGED" if pair[0] == pair[1] else "?"), (row.model_id, pair)
        # a filter on changes keeps the counts of every model
        only = await dry_run(con, None, draft, adopted, changes=["NEWLY_COVERED"], first=100_000)
        assert only.counts == result.counts and only.total == result.total
        assert [r.model_id for r in only.rows] == [r.model_id for r in result.rows if r.change == "NEWLY_COVERED"]
        assert set(CHANGES) == set(result.counts)
    finally:
        await con.close()


async def test_the_dry_run_over_graphql_pages_every_model_once_and_is_the_newest_draft_by_default(api: Api) -> None:
    token = await api.token(agency="NIST", role="OFFICER")
    first = (await api.data(DRY_RUN, {"first": 500}, token=token))["coverageDryRun"]
    assert first["standard"]["state"] in ("DRAFT", "IN_REVIEW") and first["adoptedStandard"] is not None
    counts = first["counts"]
    assert sum(counts.values()) == first["totalCount"]
    seen: list[str] = []
    after = None
    while True:
        page = (await api.data(DRY_RUN, {"first": 7, "after": after}, token=token))["coverageDryRun"]
        seen += [n["model"]["id"] for n in page["nodes"]]
        assert page["counts"] == counts
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == first["totalCount"]
    newly = (await api.data(DRY_RUN, {"changes": ["NEWLY_COVERED"], "first": 500}, token=token))["coverageDryRun"]
    assert len(newly["nodes"]) == counts["newlyCovered"] and {n["change"] for n in newly["nodes"]} <= {"NEWLY_COVERED"}
    for node in newly["nodes"]:
        assert node["draft"]["proposedOutcome"] == "COVERED" and node["adopted"]["proposedOutcome"] != "COVERED"
        assert any(c["result"] == "MET" for c in node["draft"]["criteria"])


async def test_the_live_screening_of_a_model_agrees_with_the_dry_run(api: Api) -> None:
    token = await api.token(agency="CISA", role="OFFICER")
    run = (await api.data(DRY_RUN, {"first": 20}, token=token))["coverageDryRun"]
    query = """query($m: ID!, $s: ID) { coverageScreening(modelId: $m, standardId: $s) {
      proposedOutcome model { id } standard { standardVersion } criteria { position result low high missing } } }"""
    for node in run["nodes"]:
        live = (await api.data(query, {"m": node["model"]["id"]}, token=token))["coverageScreening"]
        assert live["proposedOutcome"] == node["adopted"]["proposedOutcome"]
        assert live["standard"]["standardVersion"] == run["adoptedStandard"]["standardVersion"]


async def test_hostile_dry_run_arguments_are_refused_naming_the_argument(api: Api) -> None:
    token = await api.token(agency="CISA", role="OFFICER")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"first": -1}, "first"),
        ({"first": 501}, "first"),
        ({"after": "not an id"}, "after"),
        ({"after": to_global_id("Lab", 1)}, "after"),
        ({"standardId": to_global_id("FrontierModel", 1)}, "standardId"),
        ({"standardId": to_global_id("CoverageStandard", 10**12)}, "standardId"),
    ]
    for variables, field in cases:
        body = await api.query(DRY_RUN, variables, token=token)
        assert body["data"] is None, variables
        [error] = body["errors"]
        assert error["extensions"]["field"] == field and field in error["message"], (variables, error)
    body = await api.request_error(DRY_RUN, {"changes": ["SOMETHING"]}, token=token)
    assert "changes" in body["errors"][0]["message"]


async def test_a_lab_cannot_dry_run_a_draft_it_cannot_see_and_sees_only_its_own_unreleased_models(api: Api) -> None:
    con = await db.connect(api.url)
    try:
        draft, _ = await standards(con)
        lab = await con.fetchrow(
            """select l.name, l.id from labs l join frontier_models m on m.lab_id = l.id
                group by l.id order by count(*) desc limit 1"""
        )
        assert lab is not None
        visible = await con.fetchval(
            """select count(*) from frontier_models
                where lab_id = $1 or release_status in ('GENERALLY_AVAILABLE', 'DEPRECATED')""",
            lab["id"],
        )
    finally:
        await con.close()
    token = await api.token(lab=lab["name"], role="LAB_LIAISON")
    body = await api.query(DRY_RUN, {"standardId": to_global_id("CoverageStandard", draft)}, token=token)
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = await api.query(DRY_RUN, {}, token=token)
    assert body["data"] is None and body["errors"][0]["extensions"]["field"] == "standardId"
    # the adopted standard, dry-run against itself: every model the lab may see, nothing else
    adopted = (await api.data("{ coverageStandards(filter: {state: [ADOPTED]}) { nodes { id } } }", token=token))[
        "coverageStandards"
    ]["nodes"][0]["id"]
    own = (await api.data(DRY_RUN, {"standardId": adopted, "first": 500}, token=token))["coverageDryRun"]
    assert own["totalCount"] == visible and own["counts"]["unchanged"] == visible
