"""`hub import kev FILE`: CISA's KEV catalogue into findings owned by CISA at TLP:CLEAR (docs/operators.md,
"Importing the KEV catalogue and CVE records"; docs/design.md, "Imported findings")."""

from __future__ import annotations

import copy
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import db
from hub.imports.common import ImportBusy, InvalidInput, one_import_at_a_time
from hub.imports.kev import load_catalogue, read_catalogue, summary_line
from tests.conftest import Api, Server
from tests.imports import (
    FULL_CATALOGUE,
    SMALL_CATALOGUE,
    empty,
    empty_url,
    events,
    findings,
    hub_import,
    migrated_database,
)

__all__ = ["empty", "empty_url"]  # fixtures


def catalogue_json() -> dict[str, Any]:
    return dict(json.loads(SMALL_CATALOGUE.read_text(encoding="utf-8")))


def write(tmp_path: Path, document: Any, name: str = "catalogue.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


async def cisa(con: asyncpg.Connection) -> int:
    return int(await con.fetchval("select id from agencies where code = 'CISA'"))


async def test_the_small_catalogue_creates_findings_owned_by_cisa_with_their_kev_facts(
    empty: asyncpg.Connection,
) -> None:
    catalogue = read_catalogue(SMALL_CATALOGUE)
    summary = await load_catalogue(empty, catalogue)
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (5, 0, 0)
    assert summary_line(catalogue, summary) == (
        "KEV catalogue 2025.08.25 (5 entries): 5 created, 0 updated, 0 unchanged"
    )
    rows = {r["cve_id"]: r for r in await findings(empty)}
    assert sorted(rows) == ["CVE-2021-44228", "CVE-2022-22965", "CVE-2023-4966", "CVE-2024-3400", "CVE-2025-48384"]
    log4j = rows["CVE-2021-44228"]
    assert log4j["title"] == "Apache Log4j2 Remote Code Execution Vulnerability"
    assert log4j["description"] == (
        "Apache Log4j2 contains a vulnerability where JNDI features do not protect against attacker-controlled "
        "JNDI-related endpoints, allowing for remote code execution.\n\n"
        "Notes: https://nvd.nist.gov/vuln/detail/CVE-2021-44228"
    )
    assert (log4j["kev_date_added"], log4j["kev_due_date"]) == (date(2021, 12, 10), date(2021, 12, 24))
    assert log4j["kev_known_ransomware_campaign_use"] == "KNOWN"
    assert log4j["kev_required_action"].startswith("For all affected software assets for which updates exist")
    assert log4j["cwes"] == ["CWE-20", "CWE-400", "CWE-502"]
    assert (log4j["affected_vendor"], log4j["affected_product"]) == ("Apache", "Log4j2")
    agency = await cisa(empty)
    for row in rows.values():
        assert row["state"] == "REPORTED" and row["tlp"] == "CLEAR" and row["version"] == 1
        assert row["discovered_by_kind"] == "KEV_CATALOGUE" and row["kev_catalogue_entry"]
        assert row["owner_agency_id"] == agency and row["owner_lab_id"] is None
        assert row["model_id"] is None and row["lab_id"] is None and row["created_by"] is None
        assert row["cvss_base_score"] is None  # the catalogue scores nothing; `hub import cve` may
    # one event each, in the write's transaction: CISA acted (no principal, no lab), the catalogue's version said
    logged = await events(empty)
    assert len(logged) == 5
    for event in logged:
        assert (event["action"], event["to_state"]) == ("IMPORTED", "REPORTED")
        assert (event["actor_principal_id"], event["actor_agency_id"], event["actor_lab_id"]) == (None, agency, None)
        assert event["details"] == {
            "source": "CISA KEV catalogue",
            "catalogVersion": "2025.08.25",
            "dateReleased": "2025-08-25T17:04:19.9796Z",
            "by": "hub import kev",
        }


async def test_a_later_catalogue_updates_what_changed_creates_what_is_new_and_leaves_the_rest(
    empty: asyncpg.Connection, tmp_path: Path
) -> None:
    await load_catalogue(empty, read_catalogue(SMALL_CATALOGUE))
    # someone triaged one finding meanwhile: the import never moves a state
    await empty.execute("update findings set state = 'TRIAGED' where cve_id = 'CVE-2024-3400'")
    later = catalogue_json()
    later["catalogVersion"] = "2025.08.26"
    entries = {v["cveID"]: v for v in later["vulnerabilities"]}
    entries["CVE-2024-3400"]["dueDate"] = "2024-04-26"
    entries["CVE-2024-3400"]["cwes"] = ["CWE-20", "CWE-77", "CWE-78"]
    entries["CVE-2023-4966"]["knownRansomwareCampaignUse"] = "Unknown"
    new = copy.deepcopy(entries["CVE-2022-22965"])
    new.update(cveID="CVE-2022-22963", vulnerabilityName="VMware Tanzu Spring Cloud Function Remote Code Execution")
    later["vulnerabilities"].append(new)
    later["count"] = 6
    catalogue = read_catalogue(write(tmp_path, later))
    summary = await load_catalogue(empty, catalogue)
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (1, 2, 3)
    rows = {r["cve_id"]: r for r in await findings(empty)}
    pan = rows["CVE-2024-3400"]
    assert pan["kev_due_date"] == date(2024, 4, 26) and pan["cwes"] == ["CWE-20", "CWE-77", "CWE-78"]
    assert pan["state"] == "TRIAGED" and pan["version"] == 2
    assert rows["CVE-2023-4966"]["kev_known_ransomware_campaign_use"] == "UNKNOWN"
    assert rows["CVE-2025-48384"]["version"] == 1
    updates = [e for e in await events(empty) if e["action"] == "UPDATED"]
    assert {e["cve_id"]: e["details"]["changed"] for e in updates} == {
        "CVE-2024-3400": ["cwes", "kev_due_date"],
        "CVE-2023-4966": ["kev_known_ransomware_campaign_use"],
    }
    assert all(e["details"]["catalogVersion"] == "2025.08.26" for e in updates)


async def test_cwe_ids_are_added_never_removed(empty: asyncpg.Connection, tmp_path: Path) -> None:
    """A CWE id the catalogue drops stays (it may have come from a CVE record); the run changes nothing then."""
    await load_catalogue(empty, read_catalogue(SMALL_CATALOGUE))
    fewer = catalogue_json()
    for entry in fewer["vulnerabilities"]:
        entry["cwes"] = entry["cwes"][:1]
    summary = await load_catalogue(empty, read_catalogue(write(tmp_path, fewer)))
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 0, 5)


async def test_findings_an_agency_reported_about_the_same_cve_are_not_the_import_s(
    connection: asyncpg.Connection,
) -> None:
    """On the demo database: its KEV-grounded findings are agencies' own records, never keyed or touched."""
    before = {
        r["id"]: r["version"]
        for r in await connection.fetch(
            "select id, version from findings where cve_id = any($1::text[])",
            [e["cve_id"] for e in read_catalogue(SMALL_CATALOGUE).entries],
        )
    }
    assert before, "the demo grounds findings in these catalogue entries"
    summary = await load_catalogue(connection, read_catalogue(SMALL_CATALOGUE))
    assert summary["created"] == 5
    after = await connection.fetch("select id, version from findings where id = any($1::bigint[])", list(before))
    assert {r["id"]: r["version"] for r in after} == before
    assert await connection.fetchval("select count(*) from findings where kev_catalogue_entry") == 5


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c["vulnerabilities"][2].update(dueDate="2025-13-01"),
            "vulnerabilities[2].dueDate (CVE-2023-4966): '2025-13-01' is not a 'date'",
        ),
        (
            lambda c: c["vulnerabilities"][3].pop("cveID"),
            "vulnerabilities[3]: 'cveID' is a required property",
        ),
        (
            lambda c: c["vulnerabilities"][1].update(cveID=c["vulnerabilities"][0]["cveID"]),
            "vulnerabilities[1].cveID (CVE-2025-48384): CVE-2025-48384 is listed twice (first at vulnerabilities[0])",
        ),
        (lambda c: c.update(count=1404), "count: the catalogue says 1404 entries but lists 5"),
        (lambda c: c.pop("vulnerabilities"), "(the document): 'vulnerabilities' is a required property"),
        (lambda c: c.update(dateReleased="2025-08-25"), "dateReleased: '2025-08-25' is not a 'date-time'"),
        (
            lambda c: c["vulnerabilities"][0].update(vulnerabilityName="Git\nLink Following"),
            "vulnerabilities[0].vulnerabilityName (CVE-2025-48384): must not contain control characters "
            "(it is one line)",
        ),
        (
            lambda c: c["vulnerabilities"][4].update(knownRansomwareCampaignUse="Suspected"),
            "vulnerabilities[4].knownRansomwareCampaignUse (CVE-2021-44228): 'Suspected' is not 'Known' or 'Unknown'",
        ),
        (
            lambda c: c["vulnerabilities"][4].update(cwes=["CWE20"]),
            "vulnerabilities[4].cwes[0] (CVE-2021-44228): 'CWE20' does not match '^CWE-([0-9])+$'",
        ),
    ],
    ids=["bad date", "no cveID", "duplicate", "count", "no envelope", "bad release", "control", "ransomware", "cwe"],
)
def test_a_bad_catalogue_names_the_entry_and_the_field(tmp_path: Path, change: Any, expected: str) -> None:
    document = catalogue_json()
    change(document)
    path = write(tmp_path, document)
    with pytest.raises(InvalidInput) as invalid:
        read_catalogue(path)
    assert f"{path}: {expected}" in invalid.value.problems, invalid.value.problems


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    document = catalogue_json()
    document["vulnerabilities"][0]["dateAdded"] = "2025-02-30"
    document["vulnerabilities"][3]["dueDate"] = "soon"
    with pytest.raises(InvalidInput) as invalid:
        read_catalogue(write(tmp_path, document))
    assert [p.split(": ", 1)[1] for p in invalid.value.problems] == [
        "vulnerabilities[0].dateAdded (CVE-2025-48384): '2025-02-30' is not a 'date'",
        "vulnerabilities[3].dueDate (CVE-2022-22965): 'soon' is not a 'date'",
    ]


def test_a_file_that_is_not_json_or_not_there_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "CISA Catalog", "vulnerabilities": [', encoding="utf-8")
    with pytest.raises(InvalidInput) as invalid:
        read_catalogue(broken)
    assert invalid.value.problems == [f"{broken}: not JSON: Expecting value at line 1 column 47"]
    with pytest.raises(InvalidInput) as missing:
        read_catalogue(tmp_path / "absent.json")
    assert missing.value.problems[0].startswith(f"{tmp_path / 'absent.json'}: cannot be read")
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(FULL_CATALOGUE.read_bytes()[:5000])
    with pytest.raises(InvalidInput) as short:
        read_catalogue(cut)
    assert short.value.problems[0].startswith(f"{cut}: cannot be read: ")


async def test_the_cli_loads_then_reports_everything_unchanged_and_refuses_a_bad_file_writing_nothing(
    empty_url: str, tmp_path: Path
) -> None:
    """As an operator runs it: `hub import kev FILE` with HUB_DATABASE_URL, its summary, its exit statuses."""
    first = hub_import(empty_url, "kev", str(SMALL_CATALOGUE))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "KEV catalogue 2025.08.25 (5 entries): 5 created, 0 updated, 0 unchanged"
    assert "Traceback" not in first.stderr
    second = hub_import(empty_url, "kev", str(SMALL_CATALOGUE))
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "KEV catalogue 2025.08.25 (5 entries): 0 created, 0 updated, 5 unchanged"

    document = catalogue_json()
    document["catalogVersion"] = "2025.08.26"
    document["vulnerabilities"][0]["dueDate"] = "2025-09-30"  # a change that must not be loaded ...
    document["vulnerabilities"][2]["dueDate"] = "2025-13-01"  # ... because another entry is bad
    bad = write(tmp_path, document)
    refused = hub_import(empty_url, "kev", str(bad))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"hub import kev: {bad}: vulnerabilities[2].dueDate (CVE-2023-4966): '2025-13-01' is not a 'date'",
        f"hub import kev: {bad} does not validate (1 problem(s)); nothing was loaded",
    ]
    con = await db.connect(empty_url)
    try:
        assert await con.fetchval("select kev_due_date from findings where cve_id = 'CVE-2025-48384'") == date(
            2025, 9, 15
        )
        assert await con.fetchval("select max(version) from findings") == 1
        assert await con.fetchval("select count(*) from events where entity_kind = 'FINDING'") == 5
    finally:
        await con.close()


async def test_an_interrupted_run_resumes_and_ends_as_a_clean_run_does(
    empty: asyncpg.Connection, pg_server: Server
) -> None:
    """Batches of 2: the run stops after the first batch committed; run again, it skips what was loaded and ends
    with the same findings and the same events as one uninterrupted run."""
    catalogue = read_catalogue(SMALL_CATALOGUE)

    class Interrupted(Exception):
        pass

    async def stop_after_first(number: int) -> None:
        if number == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        await load_catalogue(empty, catalogue, batch_size=2, after_batch=stop_after_first)
    assert await empty.fetchval("select count(*) from findings") == 2
    resumed = await load_catalogue(empty, catalogue, batch_size=2)
    assert (resumed["created"], resumed["updated"], resumed["unchanged"]) == (3, 0, 2)

    # a clean run on a database of its own
    async with migrated_database(pg_server) as url:
        clean = await db.connect(url)
        try:
            await load_catalogue(clean, catalogue, batch_size=2)
            assert await findings(empty) == await findings(clean)
            assert await events(empty) == await events(clean)
        finally:
            await clean.close()


async def test_a_failing_batch_writes_nothing_of_its_own(empty: asyncpg.Connection) -> None:
    """A batch is one transaction: an entry the database refuses rolls back the whole batch, earlier batches stay."""
    catalogue = read_catalogue(SMALL_CATALOGUE)
    # a constraint the checks above do not know of, met by the fourth entry only
    await empty.execute(
        "alter table findings add constraint test_no_spring check (affected_product <> 'Spring Framework')"
    )
    with pytest.raises(asyncpg.CheckViolationError):
        await load_catalogue(empty, catalogue, batch_size=3)
    assert await empty.fetchval("select count(*) from findings") == 3
    assert await empty.fetchval("select count(*) from events where entity_kind = 'FINDING'") == 3


async def test_one_import_at_a_time(empty: asyncpg.Connection, empty_url: str) -> None:
    other = await db.connect(empty_url)
    try:
        async with one_import_at_a_time(other, "kev"):
            with pytest.raises(ImportBusy, match="another `hub import kev` is running"):
                await load_catalogue(empty, read_catalogue(SMALL_CATALOGUE))
            # the other kind is not held
            async with one_import_at_a_time(empty, "cve"):
                pass
        assert (await load_catalogue(empty, read_catalogue(SMALL_CATALOGUE)))["created"] == 5
    finally:
        await other.close()


async def test_the_whole_catalogue_loads_on_a_fresh_database_and_a_second_run_changes_nothing(
    empty_url: str,
) -> None:
    """CISA's catalogue of 2025-08-25 (1,404 entries), through the CLI as an operator runs it."""
    started = time.monotonic()
    first = hub_import(empty_url, "kev", str(FULL_CATALOGUE))
    loaded = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "KEV catalogue 2025.08.25 (1404 entries): 1404 created, 0 updated, 0 unchanged"
    started = time.monotonic()
    second = hub_import(empty_url, "kev", str(FULL_CATALOGUE))
    rerun = time.monotonic() - started
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "KEV catalogue 2025.08.25 (1404 entries): 0 created, 0 updated, 1404 unchanged"
    con = await db.connect(empty_url)
    try:
        assert await con.fetchval("select count(*) from findings where kev_catalogue_entry") == 1404
        assert await con.fetchval("select count(*) from events where entity_kind = 'FINDING'") == 1404
        assert await con.fetchval("select max(version) from findings") == 1
    finally:
        await con.close()
    print(f"full catalogue: loaded in {loaded:.1f} s, second run in {rerun:.1f} s")


async def test_the_cli_stopped_by_a_refused_batch_says_so_and_the_same_command_resumes(empty_url: str) -> None:
    """As an operator meets it: the database refuses an entry of the second batch; the command exits 1 with what to
    do, the first batch stays loaded, and the same command run again loads the rest."""
    con = await db.connect(empty_url)
    try:
        await con.execute(
            "alter table findings add constraint test_no_spring check (affected_product <> 'Spring Framework')"
        )
        stopped = hub_import(empty_url, "kev", str(SMALL_CATALOGUE), "--batch-size", "2")
        assert stopped.returncode == 1 and stopped.stdout == ""
        assert "hub import kev: the database refused a write (CheckViolationError:" in stopped.stderr
        assert stopped.stderr.rstrip().endswith("run the same command again to resume")
        assert "Traceback" not in stopped.stderr
        assert await con.fetchval("select count(*) from findings") == 2
        await con.execute("alter table findings drop constraint test_no_spring")
        resumed = hub_import(empty_url, "kev", str(SMALL_CATALOGUE), "--batch-size", "2")
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == "KEV catalogue 2025.08.25 (5 entries): 3 created, 0 updated, 2 unchanged"
        assert await con.fetchval("select count(*) from findings where kev_catalogue_entry") == 5
    finally:
        await con.close()


FINDING_BY_CVE = """query($cve: String!) { findings(filter: {cveIds: [$cve]}) { nodes {
  id version state tlp title ownerAgency { code } discoveredBy { kind }
  kev { dateAdded dueDate knownRansomwareCampaignUse requiredAction }
  history { action toState actorAgency { code } actorLab { name } details } } } }"""
TRIAGE = """mutation($input: TransitionFindingInput!) { transitionFinding(input: $input) {
  finding { state version } errors { code message } } }"""


async def test_imported_findings_are_read_and_moved_through_the_api_like_any_other(api: Api) -> None:
    """On the demo database: everyone sees CISA's catalogue findings (TLP:CLEAR) with the import's event; CISA
    triages one, and a later run of the same catalogue leaves its state and version alone."""
    con = await db.connect(api.url)
    try:
        await load_catalogue(con, read_catalogue(SMALL_CATALOGUE))
    finally:
        await con.close()
    liaison = await api.token(role="LAB_LIAISON", lab="Anthropic")
    seen = await api.data(FINDING_BY_CVE, {"cve": "CVE-2024-3400"}, token=liaison)
    imported = [n for n in seen["findings"]["nodes"] if n["discoveredBy"]["kind"] == "KEV_CATALOGUE"]
    imported = [n for n in imported if n["ownerAgency"]["code"] == "CISA" and n["tlp"] == "CLEAR"]
    assert len(imported) >= 1
    finding = next(n for n in imported if n["history"] and n["history"][0]["action"] == "IMPORTED")
    assert finding["kev"] == {
        "dateAdded": "2024-04-12",
        "dueDate": "2024-04-19",
        "knownRansomwareCampaignUse": True,
        "requiredAction": "Apply mitigations per vendor instructions as they become available. Otherwise, users with "
        "vulnerable versions of affected devices should enable Threat Prevention IDs available from the vendor. See "
        "the vendor bulletin for more details and a patch release schedule.",
    }
    assert finding["history"] == [
        {
            "action": "IMPORTED",
            "toState": "REPORTED",
            "actorAgency": {"code": "CISA"},
            "actorLab": None,
            "details": {
                "source": "CISA KEV catalogue",
                "catalogVersion": "2025.08.25",
                "dateReleased": "2025-08-25T17:04:19.9796Z",
                "by": "hub import kev",
            },
        }
    ]
    cisa = await api.token(agency="CISA", role="ANALYST")
    moved = (
        await api.data(
            TRIAGE,
            {"input": {"id": finding["id"], "to": "TRIAGED", "expectedVersion": 1, "reason": "in our scope"}},
            token=cisa,
        )
    )["transitionFinding"]
    assert moved == {"finding": {"state": "TRIAGED", "version": 2}, "errors": []}
    con = await db.connect(api.url)
    try:
        again = await load_catalogue(con, read_catalogue(SMALL_CATALOGUE))
    finally:
        await con.close()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 5)
    after = await api.data(FINDING_BY_CVE, {"cve": "CVE-2024-3400"}, token=cisa)
    mine = next(n for n in after["findings"]["nodes"] if n["id"] == finding["id"])
    assert (mine["state"], mine["version"]) == ("TRIAGED", 2)
