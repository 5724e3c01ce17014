"""Screening (hub/screening.py, docs/design.md "Coverage"): table-driven cases computed by hand, on a real
PostgreSQL: exactly at the threshold, ranges that straddle it, unit conversions, missing inputs, any-of and all-of,
the source a criterion reads; and a property: for a compute-only standard with >= or >, more compute never turns
COVERED into NOT_COVERED."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.quantities import parse_decimal, to_flop, to_score_unit
from hub.screening import screen

D = Decimal


@dataclass
class Criterion:
    metric: str = "TRAINING_COMPUTE"
    operator: str = "GTE"
    threshold: str = "1e26"
    scope: str | None = "TOTAL"
    source: str = "HIGHER_OF_TWO"
    suite: bool = False
    unit: str = "FLOP"
    agencies: tuple[str, ...] = ()


@dataclass
class Estimate:
    method: str  # LAB_REPORTED or AGENCY_ESTIMATED
    pre: tuple[str, str]
    post: tuple[str, str] | None = None
    as_of: str = "2026-07-01"


@dataclass
class Result:
    method: str
    score: str
    ran_on: str = "2026-07-01"


@dataclass
class Case:
    name: str
    criteria: list[Criterion]
    estimates: list[Estimate] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    designations: tuple[str, ...] = ()
    combine: str = "ANY_OF"
    expect: tuple[str, ...] = ()
    outcome: str = ""
    missing: str | None = None


def flop(text: str) -> tuple[str, str]:
    return (text, text)


CASES = [
    # exactly at the threshold: >= meets it, > does not
    Case(
        "at threshold, >=",
        [Criterion()],
        [Estimate("LAB_REPORTED", flop("1e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "at threshold, >",
        [Criterion(operator="GT")],
        [Estimate("LAB_REPORTED", flop("1e26"), flop("0"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "one FLOP under, >=",
        [Criterion()],
        [Estimate("LAB_REPORTED", flop("99999999999999999999999999"), flop("0"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "at threshold, <",
        [Criterion(operator="LT")],
        [Estimate("LAB_REPORTED", flop("1e26"), flop("0"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "at threshold, <=",
        [Criterion(operator="LTE")],
        [Estimate("LAB_REPORTED", flop("1e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    # total = pre + post: 6e25 + 4e25 is exactly 1e26
    Case(
        "pre plus post reaches it",
        [Criterion()],
        [Estimate("LAB_REPORTED", flop("6e25"), flop("4e25"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "pre-training alone does not",
        [Criterion(scope="PRE_TRAINING")],
        [Estimate("LAB_REPORTED", flop("6e25"), flop("4e25"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    # a range that straddles the threshold is UNKNOWN, saying so
    Case(
        "range straddles",
        [Criterion()],
        [Estimate("AGENCY_ESTIMATED", ("5e25", "2e26"), flop("0"))],
        expect=("UNKNOWN",),
        outcome="INSUFFICIENT_INFORMATION",
        missing="straddles the threshold",
    ),
    Case(
        "range wholly above",
        [Criterion()],
        [Estimate("AGENCY_ESTIMATED", ("1e26", "3e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "range wholly below",
        [Criterion()],
        [Estimate("AGENCY_ESTIMATED", ("1e25", "9e25"), flop("0"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    # post-training not reported: the total has no upper bound
    Case(
        "no post-training, pre above",
        [Criterion()],
        [Estimate("LAB_REPORTED", flop("2e26"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "no post-training, pre below",
        [Criterion()],
        [Estimate("LAB_REPORTED", flop("5e25"))],
        expect=("UNKNOWN",),
        outcome="INSUFFICIENT_INFORMATION",
        missing="post-training compute is not reported",
    ),
    Case(
        "post-training criterion, none reported",
        [Criterion(scope="POST_TRAINING", threshold="1e24")],
        [Estimate("LAB_REPORTED", flop("5e25"))],
        expect=("UNKNOWN",),
        outcome="INSUFFICIENT_INFORMATION",
        missing="no post-training compute",
    ),
    # missing inputs
    Case("no estimate", [Criterion()], expect=("UNKNOWN",), outcome="INSUFFICIENT_INFORMATION", missing="no compute"),
    Case(
        "lab-reported asked, only an agency estimate",
        [Criterion(source="LAB_REPORTED")],
        [Estimate("AGENCY_ESTIMATED", flop("2e26"))],
        expect=("UNKNOWN",),
        outcome="INSUFFICIENT_INFORMATION",
        missing="no lab-reported compute estimate",
    ),
    # the source: the lab says 5e25, the agency 2e26
    Case(
        "higher of the two",
        [Criterion()],
        [Estimate("LAB_REPORTED", flop("5e25"), flop("0")), Estimate("AGENCY_ESTIMATED", flop("2e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "lab-reported only",
        [Criterion(source="LAB_REPORTED")],
        [Estimate("LAB_REPORTED", flop("5e25"), flop("0")), Estimate("AGENCY_ESTIMATED", flop("2e26"), flop("0"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "agency-estimated only",
        [Criterion(source="AGENCY_ESTIMATED")],
        [Estimate("LAB_REPORTED", flop("5e25"), flop("0")), Estimate("AGENCY_ESTIMATED", flop("2e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    # the newest estimate of a method counts, not the largest
    Case(
        "newest estimate counts",
        [Criterion(source="LAB_REPORTED")],
        [
            Estimate("LAB_REPORTED", flop("2e26"), flop("0"), as_of="2026-05-01"),
            Estimate("LAB_REPORTED", flop("5e25"), flop("0"), as_of="2026-08-01"),
        ],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    # unit conversions: 1,157,407.5 petaFLOP/s-days is 1.000000080e26 FLOP; 1,157,407 is just under
    Case(
        "threshold in PFLOP_S_DAY",
        [Criterion(threshold="1157407.5", unit="PFLOP_S_DAY")],
        [Estimate("LAB_REPORTED", flop("1.0000000800e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "just under in PFLOP_S_DAY",
        [Criterion(threshold="1157407.5", unit="PFLOP_S_DAY")],
        [Estimate("LAB_REPORTED", flop("1.0000000799e26"), flop("0"))],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "threshold in YFLOP",
        [Criterion(threshold="100", unit="YFLOP")],
        [Estimate("LAB_REPORTED", flop("1e26"), flop("0"))],
        expect=("MET",),
        outcome="COVERED",
    ),
    # scores: a suite in FRACTION, a threshold written in PERCENT (40% = 0.4)
    Case(
        "score at threshold, percent to fraction",
        [Criterion(metric="EVALUATION_SCORE", threshold="40", unit="PERCENT", scope=None, suite=True)],
        results=[Result("AGENCY_ESTIMATED", "0.4")],
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "score just under",
        [Criterion(metric="EVALUATION_SCORE", threshold="40", unit="PERCENT", scope=None, suite=True)],
        results=[Result("AGENCY_ESTIMATED", "0.3999")],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "no result on the suite",
        [Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        expect=("UNKNOWN",),
        outcome="INSUFFICIENT_INFORMATION",
        missing="no result on Screening Test Suite 1.0",
    ),
    # designations: none is a known zero
    Case(
        "designated",
        [Criterion(metric="DESIGNATION", threshold="1", unit="DESIGNATIONS", scope=None)],
        designations=("CISA",),
        expect=("MET",),
        outcome="COVERED",
    ),
    Case(
        "not designated",
        [Criterion(metric="DESIGNATION", threshold="1", unit="DESIGNATIONS", scope=None)],
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    Case(
        "designated by another agency than the one named",
        [Criterion(metric="DESIGNATION", threshold="1", unit="DESIGNATIONS", scope=None, agencies=("NIST",))],
        designations=("CISA",),
        expect=("NOT_MET",),
        outcome="NOT_COVERED",
    ),
    # any of: one MET is enough; all NOT_MET is NOT_COVERED; NOT_MET with UNKNOWN is insufficient
    Case(
        "any of: MET and UNKNOWN",
        [Criterion(), Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        [Estimate("LAB_REPORTED", flop("2e26"), flop("0"))],
        expect=("MET", "UNKNOWN"),
        outcome="COVERED",
    ),
    Case(
        "any of: NOT_MET and UNKNOWN",
        [Criterion(), Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        [Estimate("LAB_REPORTED", flop("2e25"), flop("0"))],
        expect=("NOT_MET", "UNKNOWN"),
        outcome="INSUFFICIENT_INFORMATION",
    ),
    Case(
        "any of: both NOT_MET",
        [Criterion(), Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        [Estimate("LAB_REPORTED", flop("2e25"), flop("0"))],
        results=[Result("LAB_REPORTED", "0.1")],
        expect=("NOT_MET", "NOT_MET"),
        outcome="NOT_COVERED",
    ),
    # all of: one NOT_MET is enough to fail; MET with UNKNOWN is insufficient
    Case(
        "all of: MET and NOT_MET",
        [Criterion(), Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        [Estimate("LAB_REPORTED", flop("2e26"), flop("0"))],
        results=[Result("LAB_REPORTED", "0.1")],
        combine="ALL_OF",
        expect=("MET", "NOT_MET"),
        outcome="NOT_COVERED",
    ),
    Case(
        "all of: MET and UNKNOWN",
        [Criterion(), Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        [Estimate("LAB_REPORTED", flop("2e26"), flop("0"))],
        combine="ALL_OF",
        expect=("MET", "UNKNOWN"),
        outcome="INSUFFICIENT_INFORMATION",
    ),
    Case(
        "all of: both MET",
        [Criterion(), Criterion(metric="EVALUATION_SCORE", threshold="0.4", unit="FRACTION", scope=None, suite=True)],
        [Estimate("LAB_REPORTED", flop("2e26"), flop("0"))],
        results=[Result("AGENCY_ESTIMATED", "0.9")],
        combine="ALL_OF",
        expect=("MET", "MET"),
        outcome="COVERED",
    ),
]


class World:
    """A lab, a model, a suite and the agencies, made once per test in the test's own database."""

    def __init__(self, con: asyncpg.Connection) -> None:
        self.con = con

    async def setup(self) -> None:
        con = self.con
        self.agencies = {r["code"]: r["id"] for r in await con.fetch("select code, id from agencies")}
        self.lab_id = await con.fetchval(
            "insert into labs (name, country, participation) values ('Screening Test Lab', 'US', 'PARTICIPATING')"
            " returning id"
        )
        self.suite_id = await con.fetchval(
            """insert into evaluation_suites (name, suite_version, capability_area, score_unit, owner_agency_id)
               values ('Screening Test Suite', '1.0', 'CYBER_OFFENSE', 'FRACTION', $1) returning id""",
            self.agencies["NIST"],
        )
        self.models = 0

    async def model(self) -> int:
        self.models += 1
        return int(
            await self.con.fetchval(
                "insert into frontier_models (lab_id, name, modality) values ($1, $2, 'TEXT') returning id",
                self.lab_id,
                f"screened-{self.models}",
            )
        )

    async def standard(self, criteria: list[Criterion], combine: str) -> int:
        con = self.con
        self.standards = getattr(self, "standards", 0) + 1
        standard_id = await con.fetchval(
            """insert into coverage_standards (standard_version, title, state, required_signoffs, due_on,
                                               owner_agency_id, combine)
               values ($1, 'screening test', 'DRAFT', '{CISA,NIST}', '2026-07-02', $2, $3) returning id""",
            f"test-{self.standards}",
            self.agencies["CISA"],
            combine,
        )
        for position, c in enumerate(criteria):
            value = parse_decimal(c.threshold)
            if c.metric == "TRAINING_COMPUTE":
                threshold, unit = to_flop(value, c.unit), "FLOP"
            elif c.metric == "EVALUATION_SCORE":
                threshold, unit = to_score_unit(value, c.unit, "FRACTION"), "FRACTION"
            else:
                threshold, unit = value, "DESIGNATIONS"
            await con.execute(
                """insert into coverage_criteria (standard_id, position, metric, compute_scope, suite_id,
                                                  designating_agency_ids, unit, operator, threshold, written_as, source)
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
                standard_id,
                position,
                c.metric,
                c.scope,
                self.suite_id if c.suite else None,
                [self.agencies[a] for a in c.agencies],
                unit,
                c.operator,
                threshold,
                f"{c.threshold} {c.unit}",
                c.source,
            )
        return int(standard_id)

    async def inputs(self, model_id: int, case: Case) -> None:
        con = self.con
        for e in case.estimates:
            await con.execute(
                """insert into compute_estimates (model_id, lab_id, method, author_agency_id, pre_training_low,
                       pre_training_high, post_training_low, post_training_high, as_of)
                   values ($1, $2, $3, $4, $5, $6, $7, $8, $9::date)""",
                model_id,
                self.lab_id,
                e.method,
                self.agencies["NIST"] if e.method == "AGENCY_ESTIMATED" else None,
                D(e.pre[0]),
                D(e.pre[1]),
                D(e.post[0]) if e.post else None,
                D(e.post[1]) if e.post else None,
                date.fromisoformat(e.as_of),
            )
        for r in case.results:
            await con.execute(
                """insert into evaluation_results (model_id, lab_id, suite_id, method, run_by_agency_id, score, ran_on,
                       model_version, evidence_ref)
                   values ($1, $2, $3, $4, $5, $6, $7, 'v1', 'test evidence')""",
                model_id,
                self.lab_id,
                self.suite_id,
                r.method,
                self.agencies["NIST"] if r.method == "AGENCY_ESTIMATED" else None,
                D(r.score),
                date.fromisoformat(r.ran_on),
            )
        for code in case.designations:
            await con.execute(
                "insert into model_designations (model_id, lab_id, agency_id, reason) values ($1, $2, $3, 'test')",
                model_id,
                self.lab_id,
                self.agencies[code],
            )


@pytest.fixture
async def world(connection: asyncpg.Connection) -> World:
    w = World(connection)
    await w.setup()
    return w


async def test_each_case_screens_as_computed_by_hand(world: World) -> None:
    """Every case in one database: each on a model and standard of its own, screened all at once and one by one."""
    planned: list[tuple[Case, int, int]] = []
    for case in CASES:
        model_id = await world.model()
        await world.inputs(model_id, case)
        standard_id = await world.standard(case.criteria, case.combine)
        planned.append((case, model_id, standard_id))
    failures = []
    for case, model_id, standard_id in planned:
        [screening] = await screen(world.con, None, [standard_id], [model_id])
        results = tuple(r.result for r in screening.results)
        missing = " | ".join(r.missing for r in screening.results if r.missing)
        if results != case.expect or screening.proposed_outcome != case.outcome:
            failures.append(
                f"{case.name}: {results} {screening.proposed_outcome}, expected {case.expect} {case.outcome}"
            )
        elif case.missing and case.missing not in missing:
            failures.append(f"{case.name}: missing says {missing!r}, expected it to say {case.missing!r}")
        elif not case.missing and "UNKNOWN" not in results and missing:
            failures.append(f"{case.name}: nothing is unknown, yet missing says {missing!r}")
    assert failures == [], "\n".join(failures)


async def test_the_inputs_used_are_recorded_with_their_values(world: World) -> None:
    case = CASES[15]  # higher of the two
    assert case.name == "higher of the two"
    model_id = await world.model()
    await world.inputs(model_id, case)
    standard_id = await world.standard(case.criteria, case.combine)
    [screening] = await screen(world.con, None, [standard_id], [model_id])
    [result] = screening.results
    assert (result.low, result.high) == (D("2e26"), D("2e26"))
    assert sorted(i["method"] for i in result.inputs) == ["AGENCY_ESTIMATED", "LAB_REPORTED"]
    assert {D(i["low"]) for i in result.inputs} == {D("5e25"), D("2e26")}
    ids = {r["id"] for r in await world.con.fetch("select id from compute_estimates where model_id = $1", model_id)}
    assert {i["id"] for i in result.inputs} == ids


async def test_a_standard_without_typed_criteria_proposes_insufficient_information(world: World) -> None:
    model_id = await world.model()
    standard_id = await world.standard([], "ANY_OF")
    [screening] = await screen(world.con, None, [standard_id], [model_id])
    assert screening.proposed_outcome == "INSUFFICIENT_INFORMATION" and screening.results == ()


RANK = {"NOT_COVERED": 0, "INSUFFICIENT_INFORMATION": 1, "COVERED": 2}
FLOPS = st.integers(min_value=0, max_value=10**27)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    operator=st.sampled_from(["GTE", "GT"]),
    threshold=st.integers(min_value=0, max_value=10**27),
    lab=st.tuples(FLOPS, FLOPS),
    agency=st.one_of(st.none(), st.tuples(FLOPS, FLOPS)),
    more=st.tuples(FLOPS, FLOPS),
    source=st.sampled_from(["LAB_REPORTED", "AGENCY_ESTIMATED", "HIGHER_OF_TWO"]),
)
async def test_more_compute_never_turns_covered_into_not_covered(
    world: World,
    operator: str,
    threshold: int,
    lab: tuple[int, int],
    agency: tuple[int, int] | None,
    more: tuple[int, int],
    source: str,
) -> None:
    """A compute-only standard with >= or >: adding compute to every estimate (both ends of each range) never lowers
    the proposal; in particular COVERED never becomes NOT_COVERED."""

    def estimates(add: tuple[int, int]) -> list[Estimate]:
        out = []
        for method, pair in (("LAB_REPORTED", lab), ("AGENCY_ESTIMATED", agency)):
            if pair is None:
                continue
            a, b = pair
            low, high = sorted((a, b))
            extra_low, extra_high = sorted(add)
            out.append(Estimate(method, (str(low + extra_low), str(high + extra_high)), flop("0")))
        return out

    standard_id = await world.standard(
        [Criterion(operator=operator, threshold=str(threshold), source=source)], "ANY_OF"
    )
    outcomes = []
    for add in ((0, 0), more):
        model_id = await world.model()
        await world.inputs(model_id, Case("property", [], estimates(add)))
        [screening] = await screen(world.con, None, [standard_id], [model_id])
        outcomes.append(screening.proposed_outcome)
    before, after = outcomes
    # the proposal never goes down: NOT_COVERED < INSUFFICIENT_INFORMATION < COVERED
    assert RANK[after] >= RANK[before], (before, after)
