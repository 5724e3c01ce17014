"""The demo data: grounded, large enough to mean something, every state present, and loading twice changes
nothing; its coverage is decided by screening (issue #15): standard 1.0 adopted on time with two criteria, a
draft 2.0 that lowers one threshold, outcomes that are the screenings' proposals but for a few overrides with
reasons, and nothing random."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import asyncpg
import pytest

from hub import db
from hub.demo import REAL_MODELS, demo_liaison_name, load_demo
from hub.demo.context import FICTIONAL, load_kev
from hub.demo.extract_kev import FACT_FIELDS
from hub.demo_tokens import issue_demo_tokens
from hub.screening import CriterionResult, dry_run, screen
from tests.conftest import Api, Server, empty_database

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
        {
            "REQUESTED",
            "UNDER_ASSESSMENT",
            "AWAITING_CONCURRENCE",
            "DECIDED",
            "RECONSIDERATION_REQUESTED",
            "SUPERSEDED",
            "WITHDRAWN",
        },
    ),
    "model_designations": ("state", {"IN_FORCE", "WITHDRAWN"}),
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
    "coverage_criteria",
    "coverage_screenings",
    "coverage_decision_signatures",
    "evaluation_suites",
    "compute_estimates",
    "evaluation_results",
    "measure_findings",
    "measure_models",
    "infrastructure_counterparts",
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
    assert {"OpenAI", "Anthropic", "Google"} <= labs and len(labs) >= 5
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


# ------------------------------------------------------------------------------------------------ honesty

REAL_LABS = {"OpenAI", "Anthropic", "Google"}


async def test_the_only_real_labs_are_the_orders_three_with_their_public_models(
    connection: asyncpg.Connection,
) -> None:
    labs = await connection.fetch("select id, name, legal_name, country from labs")
    real = {r["name"] for r in labs if not r["name"].endswith("(fictional)")}
    assert real == REAL_LABS
    assert all(r["legal_name"].endswith("(fictional)") for r in labs if r["name"] not in real)
    google = next(r for r in labs if r["name"] == "Google")
    assert (google["legal_name"], google["country"]) == ("Google LLC", "US")

    public = {(m.lab, m.name, m.model_version, m.announced_on) for m in REAL_MODELS}
    models = await connection.fetch(
        """select l.name as lab, m.name, m.model_version, m.announced_on, m.description
             from frontier_models m join labs l on l.id = m.lab_id"""
    )
    for m in models:
        if m["lab"] in REAL_LABS:
            assert (m["lab"], m["name"], m["model_version"], m["announced_on"]) in public, m["name"]
        else:
            assert m["name"].endswith("(fictional)"), m["name"]
        assert FICTIONAL in m["description"]
    assert {m["lab"] for m in models if m["lab"] in REAL_LABS} == REAL_LABS
    # the demo keeps its size: fictional labs in the real ones' place
    assert len({m["lab"] for m in models}) >= 25 and len(models) >= 300

    liaisons = await connection.fetch(
        "select p.name, l.name as lab from principals p join labs l on l.id = p.lab_id where p.role = 'LAB_LIAISON'"
    )
    # the three real labs' liaisons (the CLI prints their tokens), and the fictional lab that reports its own findings
    # (hub/demo/participation.py)
    real_liaisons = {(r["lab"], r["name"]) for r in liaisons if r["lab"] in REAL_LABS}
    assert real_liaisons == {(lab, demo_liaison_name(lab)) for lab in REAL_LABS}
    assert all(r["lab"].endswith("(fictional)") for r in liaisons if r["lab"] not in REAL_LABS)


async def test_claude_mythos_preview_is_a_restricted_preview_announced_weeks_before_the_order(
    connection: asyncpg.Connection,
) -> None:
    mythos = await connection.fetchrow(
        """select m.* from frontier_models m join labs l on l.id = m.lab_id
            where l.name = 'Anthropic' and m.name = 'Claude Mythos Preview'"""
    )
    order_date = await connection.fetchval("select order_date from policy where id = 1")
    assert mythos["release_status"] == "RESTRICTED_PREVIEW"
    assert mythos["model_version"] == "claude-mythos-preview" and mythos["announced_on"] == date(2026, 4, 7)
    assert 14 <= (order_date - mythos["announced_on"]).days <= 70
    # Anthropic said it does not plan to make it generally available: the demo plans no release for it
    assert mythos["planned_release_on"] is None
    assert "restricted preview" in mythos["description"] and FICTIONAL in mythos["description"]


async def test_kev_findings_keep_the_catalogues_facts_and_are_attributed_to_it(connection: asyncpg.Connection) -> None:
    catalogue = {entry["cveID"]: entry for entry in load_kev()}
    rows = await connection.fetch("select * from findings where cve_id is not null or kev_date_added is not null")
    assert len(rows) > 1000
    for r in rows:
        entry = catalogue[r["cve_id"]]
        assert r["discovered_by_kind"] == "KEV_CATALOGUE", r["id"]
        assert r["model_id"] is r["lab_id"] is r["discovered_by_agency_id"] is r["discovered_by_lab_id"] is None
        assert (r["kev_date_added"], r["kev_due_date"]) == (
            date.fromisoformat(entry["dateAdded"]),
            date.fromisoformat(entry["dueDate"]),
        )
        assert r["kev_known_ransomware_campaign_use"] == entry["knownRansomwareCampaignUse"].upper()
        assert (r["affected_vendor"], r["affected_product"], r["title"], r["cwes"]) == (
            entry["vendorProject"],
            entry["product"],
            entry["vulnerabilityName"],
            entry["cwes"],
        )
        # the catalogue's prose stays out of the project
        assert r["kev_required_action"] is None
        assert entry["dueDate"] in r["description"] and FICTIONAL in r["description"]


def test_the_packaged_kev_copy_holds_the_catalogues_fact_fields_only() -> None:
    entries = load_kev()
    assert len(entries) == 1404 and len({e["cveID"] for e in entries}) == len(entries)
    # the catalogue's prose (shortDescription, requiredAction, notes) stays out of the project
    assert all(tuple(entry) == FACT_FIELDS for entry in entries)
    assert max(e["dueDate"] for e in entries) == "2025-09-15"  # the copy of 2025-08-25: every due date is past


async def test_findings_about_models_are_fictional_and_agencies_or_the_owning_lab_wrote_them(
    connection: asyncpg.Connection,
) -> None:
    rows = await connection.fetch(
        """select f.*, m.name as model_name, l.name as lab_name, p.agency_id as author_agency_id,
                  p.lab_id as author_lab_id
             from findings f left join frontier_models m on m.id = f.model_id left join labs l on l.id = f.lab_id
             join principals p on p.id = f.created_by"""
    )
    by_agencies = [r for r in rows if r["owner_lab_id"] is None]
    by_labs = [r for r in rows if r["owner_lab_id"] is not None]
    assert all(r["author_agency_id"] is not None for r in by_agencies)
    # a lab's liaison reports about the lab's own (fictional) model, and the lab owns the finding
    assert by_labs and all(r["author_lab_id"] == r["owner_lab_id"] == r["lab_id"] for r in by_labs)
    assert {r["discovered_by_kind"] for r in by_labs} == {"MODEL", "LAB"}
    assert {r["discovered_by_kind"] for r in rows} == {"KEV_CATALOGUE", "MODEL", "AGENCY", "LAB"}
    about_models = [r for r in rows if r["model_id"] is not None]
    assert len(about_models) > 100
    for r in about_models:
        assert r["model_name"].endswith("(fictional)") and r["lab_name"].endswith("(fictional)")
        assert r["cve_id"] is None
    assert not {r["lab_name"] for r in rows} & REAL_LABS
    assert all(FICTIONAL in r["description"] for r in rows)
    # flaws in a fictional model itself, found by an agency
    assert any(r["affected_product"] == r["model_name"] and r["discovered_by_kind"] == "AGENCY" for r in about_models)


async def test_a_lab_not_taking_part_has_nothing_open_in_the_demo(connection: asyncpg.Connection) -> None:
    """What a lab's leaving closes (hub/participation.py) is closed for every demo lab not taking part, each record
    with its LAB_LEFT_PROGRAM event; decided outcomes stand."""
    from hub.kinds import KINDS
    from hub.participation import CLOSED_ACTION, CLOSED_WHEN_THE_LAB_LEAVES, TAKING_PART

    closed = 0
    for kind, states, _ in CLOSED_WHEN_THE_LAB_LEAVES:
        k = KINDS[kind]
        lab = k.lab_sql or f"t.{k.lab_column}"
        still_open = await connection.fetchval(
            f"""select count(*) from {k.table} t join labs l on l.id = ({lab})
                 where l.participation <> all($1::text[]) and t.{k.state_column} = any($2::text[])""",
            sorted(TAKING_PART),
            sorted(states),
        )
        assert still_open == 0, kind
        closed += await connection.fetchval(
            "select count(*) from events where action = $1 and entity_kind = $2", CLOSED_ACTION, kind
        )
    assert closed > 0
    outcomes = await connection.fetchval(
        """select count(*) from coverage_decisions d join frontier_models m on m.id = d.model_id
             join labs l on l.id = m.lab_id where l.participation <> all($1::text[]) and d.state = 'DECIDED'""",
        sorted(TAKING_PART),
    )
    assert outcomes > 0


# each table that holds program records about a lab, and the text column that says the record is fictional
FICTIONAL_TEXT = {
    "frontier_models": "description",
    "early_access_agreements": "notes",
    "compute_estimates": "method_note",
    "model_designations": "reason",
    "infrastructure_engagements": "summary",
}


async def test_every_program_record_about_a_real_lab_says_it_is_fictional(connection: asyncpg.Connection) -> None:
    real = [r["id"] for r in await connection.fetch("select id from labs where name = any($1::text[])", REAL_LABS)]
    for table, column in FICTIONAL_TEXT.items():
        texts = await connection.fetch(f"select {column} from {table} where lab_id = any($1::bigint[])", real)
        assert texts and all(FICTIONAL in (t[0] or "") for t in texts), table
    notes = await connection.fetch(
        """select d.request_note from coverage_decisions d join frontier_models m on m.id = d.model_id
            where m.lab_id = any($1::bigint[])""",
        real,
    )
    assert notes and all(FICTIONAL in n[0] for n in notes)
    refs = await connection.fetch("select evidence_ref from evaluation_results where lab_id = any($1::bigint[])", real)
    assert refs and all(r[0].startswith("FICTIONAL-") for r in refs)
    # every event the demo writes, a real lab's participation history included, says so
    reasons = await connection.fetch("select reason from events where entity_kind = 'LAB' or actor_lab_id is not null")
    assert reasons and {r[0] for r in reasons} == {FICTIONAL}


DASHBOARD = """query($horizon: Int!) { dashboard(horizonDays: $horizon) {
  dueSoonCount overdueCount
  dueSoon { kind what dueOn daysLeft overdue entity { ... on EarlyAccessAgreement { lab { name } } } }
  overdue { kind what dueOn daysLeft overdue } } }"""


async def test_a_lab_liaison_sees_only_its_deadlines_as_due_and_agencies_see_kev_due_dates(api: Api) -> None:
    con = await db.connect(api.url)
    try:
        tokens = {(who, role): token for who, role, token in await issue_demo_tokens(con)}
        newest_kev_due = await con.fetchval("select max(kev_due_date) from findings")
    finally:
        await con.close()

    lab = (await api.data(DASHBOARD, {"horizon": 366}, token=tokens[("Anthropic", "LAB_LIAISON")]))["dashboard"]
    assert lab["overdue"] == [] and lab["overdueCount"] == 0
    assert lab["dueSoon"] and {d["kind"] for d in lab["dueSoon"]} <= {"AGREEMENT", "STANDARD"}
    assert all(d["daysLeft"] >= 0 and not d["overdue"] for d in lab["dueSoon"])
    agreements = [d for d in lab["dueSoon"] if d["kind"] == "AGREEMENT"]
    assert agreements and all(d["entity"]["lab"]["name"] == "Anthropic" for d in agreements)

    cisa = (await api.data(DASHBOARD, {"horizon": 7}, token=tokens[("CISA", "OFFICER")]))["dashboard"]
    # the catalogue's due dates (BOD 22-01) all lie in the past: they are the agencies' deadlines past their date
    assert cisa["overdueCount"] > 100 and not [d for d in cisa["dueSoon"] if d["kind"] == "FINDING"]
    assert newest_kev_due < date.today()
    big = (await api.data(DASHBOARD.replace("dashboard(", "dashboard(first: 500, "), {"horizon": 7},
                          token=tokens[("CISA", "OFFICER")]))["dashboard"]  # fmt: skip
    kev = [d for d in big["overdue"] if d["kind"] == "FINDING"]
    assert kev and all(d["what"] == "KEV due date (BOD 22-01)" and d["overdue"] for d in kev)
    assert all(date.fromisoformat(d["dueOn"]) <= newest_kev_due for d in kev)


async def test_loading_twice_changes_nothing(connection: asyncpg.Connection) -> None:
    before = await counts(connection)
    assert await load_demo(connection) is False
    assert await counts(connection) == before


# ------------------------------------------------------------------------------------------------ coverage


async def standard(con: asyncpg.Connection, version: str) -> asyncpg.Record:
    row = await con.fetchrow("select * from coverage_standards where standard_version = $1", version)
    assert row is not None, version
    return row


async def criteria(con: asyncpg.Connection, standard_id: int) -> list[asyncpg.Record]:
    return list(
        await con.fetch(
            """select c.*, s.name as suite_name, s.score_unit
                 from coverage_criteria c left join evaluation_suites s on s.id = c.suite_id
                where c.standard_id = $1 order by c.position""",
            standard_id,
        )
    )


async def test_standard_1_0_is_adopted_on_time_by_cisa_and_nist_with_two_criteria_any_of(
    connection: asyncpg.Connection,
) -> None:
    v1 = await standard(connection, "1.0")
    assert v1["state"] == "ADOPTED" and v1["combine"] == "ANY_OF" and v1["criteria"] == []
    signed = await connection.fetch(
        """select a.code, s.signed_at from coverage_signoffs s join agencies a on a.id = s.agency_id
            where s.standard_id = $1 order by a.code""",
        v1["id"],
    )
    assert [r["code"] for r in signed] == ["CISA", "NIST"]
    assert all(r["signed_at"].date() <= v1["due_on"] for r in signed)
    assert v1["adopted_at"].date() <= v1["due_on"]
    assert all(r["signed_at"] <= v1["adopted_at"] for r in signed)

    compute, cyber = await criteria(connection, v1["id"])
    assert (compute["metric"], compute["compute_scope"], compute["unit"], compute["operator"]) == (
        "TRAINING_COMPUTE",
        "TOTAL",
        "FLOP",
        "GTE",
    )
    assert compute["threshold"] == Decimal(10) ** 26 and compute["written_as"] == ">= 10^26 FLOP"
    assert compute["source"] == "HIGHER_OF_TWO"
    assert (cyber["metric"], cyber["unit"], cyber["operator"], cyber["threshold"]) == (
        "EVALUATION_SCORE",
        "FRACTION",
        "GTE",
        Decimal("0.5"),
    )
    # a named, clearly fictional suite, scored in the criterion's unit
    assert "Fictional" in cyber["suite_name"] and cyber["score_unit"] == "FRACTION"
    suites = await connection.fetch("select name, description from evaluation_suites")
    assert suites and all("Fictional" in r["name"] and "Fictional demo record." in r["description"] for r in suites)


async def test_draft_2_0_is_the_newest_draft_and_lowers_one_threshold(connection: asyncpg.Connection) -> None:
    v1, v2 = await standard(connection, "1.0"), await standard(connection, "2.0")
    assert v2["state"] == "DRAFT" and v2["combine"] == v1["combine"]
    newest = await connection.fetchval(
        """select standard_version from coverage_standards where state in ('DRAFT', 'IN_REVIEW')
            order by created_at desc, id desc limit 1"""
    )
    assert newest == "2.0"
    before, after = await criteria(connection, v1["id"]), await criteria(connection, v2["id"])
    assert len(before) == len(after) == 2
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b["threshold"] != a["threshold"]]
    assert len(changed) == 1
    b, a = changed[0]
    assert (
        a["threshold"] < b["threshold"] and a["threshold"] == Decimal(10) ** 25 and a["written_as"] == ">= 10^25 FLOP"
    )
    for b, a in zip(before, after, strict=True):
        assert {
            k: v for k, v in dict(b).items() if k not in ("standard_id", "threshold", "written_as", "description")
        } == {k: v for k, v in dict(a).items() if k not in ("standard_id", "threshold", "written_as", "description")}


async def test_outcomes_are_the_screenings_proposals_but_for_a_few_overrides_with_reasons(
    connection: asyncpg.Connection,
) -> None:
    rows = await connection.fetch(
        """select d.*, s.proposed_outcome as screened, s.trigger, st.standard_version
             from coverage_decisions d
             join coverage_standards st on st.id = d.standard_id
             left join coverage_screenings s on s.id = d.screening_id"""
    )
    decided = [r for r in rows if r["state"] in ("DECIDED", "RECONSIDERATION_REQUESTED", "SUPERSEDED")]
    assert decided and all(r["screening_id"] is not None and r["trigger"] == "DECIDED" for r in decided)
    for r in decided:
        assert r["proposed_outcome"] == r["screened"]
        if r["is_override"]:
            assert r["override_reason"] and "Fictional demo record." in r["override_reason"]
            assert r["outcome"] != r["proposed_outcome"]
        else:
            assert r["outcome"] == r["proposed_outcome"] and r["override_reason"] is None
    overrides = [r for r in decided if r["is_override"]]
    assert 3 <= len(overrides) <= 5 and all(r["standard_version"] == "1.0" for r in overrides)
    under_1_0 = [r for r in decided if r["standard_version"] == "1.0" and r["state"] == "DECIDED"]
    assert {r["outcome"] for r in under_1_0} == {"COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION"}
    # the superseded ones are the history under 0.9
    assert {r["standard_version"] for r in decided if r["state"] == "SUPERSEDED"} == {"0.9"}

    # decided by CISA, concurred by NIST, in round 1
    signatures = await connection.fetch(
        """select g.decision_id, g.round, a.code, g.action, g.outcome
             from coverage_decision_signatures g join agencies a on a.id = g.agency_id"""
    )
    by_decision: dict[int, set[tuple[int, str, str, str]]] = {}
    for g in signatures:
        by_decision.setdefault(g["decision_id"], set()).add((g["round"], g["code"], g["action"], g["outcome"]))
    for r in decided:
        assert r["signature_round"] == 1
        assert by_decision[r["id"]] == {(1, "CISA", "DECIDED", r["outcome"]), (1, "NIST", "CONCURRED", r["outcome"])}
    awaiting = [r for r in rows if r["state"] == "AWAITING_CONCURRENCE"]
    assert awaiting
    for r in awaiting:
        assert r["outcome"] is None and r["pending_outcome"] and r["pending_rationale"]
        assert r["pending_screening_id"] is not None and r["signature_round"] == 1
        assert by_decision[r["id"]] == {(1, "CISA", "DECIDED", r["pending_outcome"])}
    # every request was screened when made; the newest screening of each decision is known
    assert all(r["latest_screening_id"] is not None for r in rows)
    opened = [r for r in rows if r["state"] in ("REQUESTED", "UNDER_ASSESSMENT")]
    assert opened
    triggers = await connection.fetch(
        "select id, trigger from coverage_screenings where id = any($1::bigint[])",
        [r["latest_screening_id"] for r in opened],
    )
    assert {t["trigger"] for t in triggers} == {"REQUESTED"}
    assert 1 <= sum(r["state"] == "RECONSIDERATION_REQUESTED" for r in rows) <= 2


async def test_stored_screenings_equal_a_fresh_screening(connection: asyncpg.Connection) -> None:
    stored = await connection.fetch("select model_id, standard_id, proposed_outcome, results from coverage_screenings")
    assert stored
    by_standard: dict[int, set[int]] = {}
    for r in stored:
        by_standard.setdefault(r["standard_id"], set()).add(r["model_id"])
    fresh = {}
    for standard_id, models in by_standard.items():
        for s in await screen(connection, None, [standard_id], sorted(models)):
            fresh[(s.model_id, s.standard_id)] = s
    for r in stored:
        now = fresh[(r["model_id"], r["standard_id"])]
        assert r["proposed_outcome"] == now.proposed_outcome
        assert [CriterionResult.from_json(x) for x in r["results"]] == list(now.results)


async def test_the_dry_run_of_2_0_against_1_0_newly_covers_models(connection: asyncpg.Connection) -> None:
    v1, v2 = await standard(connection, "1.0"), await standard(connection, "2.0")
    run = await dry_run(connection, None, v2["id"], v1["id"], first=500)
    assert run.counts["NEWLY_COVERED"] >= 5
    # lowering a threshold covers more, never fewer
    assert run.counts["NO_LONGER_COVERED"] == run.counts["NOW_NOT_COVERED"] == 0
    newly = [r for r in run.rows if r.change == "NEWLY_COVERED"]
    assert all(r.draft.results[0].result == "MET" and r.adopted and r.adopted.results[0].result != "MET" for r in newly)
    # under 1.0, every outcome is proposed for some models
    adopted = await screen(connection, None, [v1["id"]], None)
    assert {s.proposed_outcome for s in adopted} == {"COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION"}
    covered = sum(s.proposed_outcome == "COVERED" for s in adopted)
    assert 0 < covered < len(adopted) / 2


async def test_inputs_are_fictional_and_the_legacy_compute_agrees(connection: asyncpg.Connection) -> None:
    notes = await connection.fetch("select method, method_note from compute_estimates")
    assert {r["method"] for r in notes} == {"LAB_REPORTED", "AGENCY_ESTIMATED"}
    assert all("Fictional demo record." in r["method_note"] for r in notes)
    # some agency ranges straddle 10^26 FLOP; some models have no estimate at all
    straddling = await connection.fetchval(
        """select count(*) from compute_estimates where method = 'AGENCY_ESTIMATED'
              and pre_training_low + post_training_low < 1e26 and pre_training_high + post_training_high >= 1e26"""
    )
    assert straddling >= 2
    assert await connection.fetchval(
        """select count(*) from frontier_models m
            where not exists (select 1 from compute_estimates e where e.model_id = m.id)"""
    )
    results = await connection.fetch("select method, evidence_ref, evidence_sha256 from evaluation_results")
    assert {r["method"] for r in results} == {"LAB_REPORTED", "AGENCY_ESTIMATED"}
    assert all(r["evidence_ref"].startswith("FICTIONAL-") and len(r["evidence_sha256"]) == 64 for r in results)
    mismatched = await connection.fetchval(
        """select count(*) from frontier_models m
             left join compute_estimates e on e.model_id = m.id and e.method = 'LAB_REPORTED'
            where (e.id is null) <> (m.training_compute_flop is null)
               or abs(m.training_compute_flop
                      - (e.pre_training_low + coalesce(e.post_training_low, 0))::double precision)
                  > 1e-9 * m.training_compute_flop"""
    )
    assert mismatched == 0


@pytest.fixture
async def two_empty_urls(pg_server: Server) -> AsyncIterator[list[str]]:
    async with empty_database(pg_server, "demo_test") as one, empty_database(pg_server, "demo_test") as other:
        yield [one, other]


async def test_no_outcome_is_random_two_loads_decide_alike(two_empty_urls: list[str]) -> None:
    found = []
    for url in two_empty_urls:
        con = await db.connect(url)
        try:
            await db.migrate(con)
            assert await load_demo(con, today=date(2026, 7, 20)) is True
            found.append(
                await con.fetch(
                    """select m.name, m.model_version, st.standard_version, d.state, d.outcome, d.proposed_outcome,
                              d.pending_outcome, d.is_override, d.override_reason, d.rationale, s.results
                         from coverage_decisions d join frontier_models m on m.id = d.model_id
                         join coverage_standards st on st.id = d.standard_id
                         left join coverage_screenings s on s.id = d.latest_screening_id
                        order by d.id"""
                )
            )
        finally:
            await con.close()
    assert found[0] and [tuple(r) for r in found[0]] == [tuple(r) for r in found[1]]
