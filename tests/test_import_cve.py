"""`hub import cve FILE_OR_DIR`: CVE JSON 5 records enrich the findings with their CVE id, whoever owns them
(docs/operators.md, "Importing the KEV catalogue and CVE records"; docs/design.md, "Imported findings")."""

from __future__ import annotations

import copy
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import db
from hub.imports.common import InvalidInput, load_schema, schema_validator
from hub.imports.cve import enrich_findings, read_records, summary_line
from hub.imports.kev import load_catalogue, read_catalogue
from tests.conftest import Server
from tests.imports import (
    CVE_RECORDS,
    SMALL_CATALOGUE,
    empty,
    empty_url,
    events,
    findings,
    hub_import,
    migrated_database,
)

__all__ = ["empty", "empty_url"]  # fixtures

# what enrichment never touches
KEPT = ("title", "description", "state", "tlp", "owner_agency_id", "owner_lab_id", "share_agency_ids", "share_lab_ids")
# the CVE Program's basic example record (CVEProject/cve-schema, schema/docs/full-record-basic-example.json)
BASIC_EXAMPLE: dict[str, Any] = {
    "dataType": "CVE_RECORD",
    "dataVersion": "5.1",
    "cveMetadata": {
        "cveId": "CVE-1900-1234",
        "assignerOrgId": "b3476cb9-2e3d-41a6-98d0-0f47421a65b6",
        "state": "PUBLISHED",
    },
    "containers": {
        "cna": {
            "providerMetadata": {"orgId": "b3476cb9-2e3d-41a6-98d0-0f47421a65b6"},
            "problemTypes": [{"descriptions": [{"lang": "en", "description": "CWE-78 OS Command Injection"}]}],
            "affected": [
                {
                    "vendor": "Example.org",
                    "product": "Example Enterprise",
                    "versions": [
                        {"version": "1.0.0", "status": "affected", "lessThan": "1.0.6", "versionType": "semver"}
                    ],
                    "defaultStatus": "unaffected",
                }
            ],
            "descriptions": [
                {
                    "lang": "en",
                    "value": "OS Command Injection vulnerability parseFilename function of example.php in the Web "
                    "Management Interface of Example.org Example Enterprise on Windows, MacOS and XT-4500 allows "
                    "remote unauthenticated attackers to escalate privileges.\n\nThis issue affects:\n  *  1.0 "
                    "versions before 1.0.6\n  *  2.1 versions from 2.16 until 2.1.9.",
                }
            ],
            "references": [{"url": "https://example.org/ESA-22-11-CVE-1900-1234"}],
        }
    },
}


def test_the_vendored_schema_is_the_cve_program_s_and_its_example_validates() -> None:
    schema = load_schema("CVE_Record_Format_bundled.json")
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] == "https://cveproject.github.io/cve-schema/schema/CVE_Record_Format.json"
    assert "cpeApplicability" in json.dumps(schema)  # format 5.1.1
    validator = schema_validator(schema)
    assert list(validator.iter_errors(BASIC_EXAMPLE)) == []
    record = json.loads((CVE_RECORDS / "CVE-2024-3400.json").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(record)) == []
    record["cveMetadata"]["state"] = "DRAFT"
    assert list(validator.iter_errors(record)) != []


async def seed(con: asyncpg.Connection) -> dict[str, int]:
    """The small KEV catalogue (CISA's findings), an NSA analyst's own AMBER finding about Log4Shell with its own
    score, and a finding about the id the REJECTED record names."""
    await load_catalogue(con, read_catalogue(SMALL_CATALOGUE))
    nsa = await con.fetchval("select id from agencies where code = 'NSA'")
    own = await con.fetchval(
        """insert into findings (title, description, discovered_by_kind, discovered_by_agency_id, cve_id,
                                 cvss_version, cvss_vector, cvss_base_score, cvss_severity, tlp, owner_agency_id)
           values ('Log4Shell on a mission system (test)', 'Found in a scan (test).', 'AGENCY', $1, 'CVE-2021-44228',
                   '3.1', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:H/A:H', 9.0, 'CRITICAL', 'AMBER', $1)
           returning id""",
        nsa,
    )
    withdrawn = await con.fetchval(
        """insert into findings (title, discovered_by_kind, discovered_by_agency_id, cve_id, tlp, owner_agency_id)
           values ('A finding about a withdrawn id (test)', 'AGENCY', $1, 'CVE-1900-0002', 'GREEN', $1)
           returning id""",
        nsa,
    )
    return {"own": int(own), "withdrawn": int(withdrawn)}


async def by_id(con: asyncpg.Connection) -> dict[int, dict[str, Any]]:
    return {r["id"]: dict(r) for r in await con.fetch("select * from findings order by id")}


async def test_records_enrich_the_findings_of_their_cve_id_and_a_second_run_changes_nothing(
    empty: asyncpg.Connection,
) -> None:
    seeded = await seed(empty)
    before = await by_id(empty)
    records = read_records(CVE_RECORDS)
    assert [r.cve_id for r in records] == ["CVE-1900-0002", "CVE-1900-0003", "CVE-2021-44228", "CVE-2024-3400"]
    summary = await enrich_findings(empty, records)
    assert summary_line(records, summary) == (
        "CVE records: 4 read; findings: 3 updated, 0 unchanged; 1 record(s) with no finding; "
        "1 REJECTED record(s) enrich nothing"
    )
    after = await by_id(empty)
    kev = {r["cve_id"]: r for r in after.values() if r["kev_catalogue_entry"]}

    # CVSS 3.1 from the CNA of Log4Shell, onto CISA's catalogue finding; its CWE ids were there already
    log4j = kev["CVE-2021-44228"]
    assert (log4j["cvss_version"], log4j["cvss_vector"], log4j["cvss_base_score"], log4j["cvss_severity"]) == (
        "3.1",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
        Decimal("10.0"),
        "CRITICAL",
    )
    assert log4j["cwes"] == ["CWE-20", "CWE-400", "CWE-502"]
    assert (log4j["affected_vendor"], log4j["affected_product"]) == ("Apache", "Log4j2")  # the catalogue's stay
    assert log4j["affected_versions"] == "2.0-beta9 to before 2.3.1; 2.4 to before 2.12.2; 2.13.0 to before 2.15.0"
    assert log4j["version"] == 2

    # CVSS 4.0 from the CNA preferred to the ADP's 3.1
    pan = kev["CVE-2024-3400"]
    assert (pan["cvss_version"], pan["cvss_base_score"], pan["cvss_severity"]) == ("4.0", Decimal("10.0"), "CRITICAL")
    assert pan["cvss_vector"] == "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"

    # an agency's own finding: its score stays, CWE ids and the product it lacked are added
    own = after[seeded["own"]]
    assert (own["cvss_version"], own["cvss_base_score"]) == ("3.1", Decimal("9.0"))
    assert own["cwes"] == ["CWE-502", "CWE-400", "CWE-20"]
    assert (own["affected_vendor"], own["affected_product"]) == ("Apache Software Foundation", "Apache Log4j2")

    # the REJECTED record enriches nothing; the findings of other CVE ids are untouched
    assert after[seeded["withdrawn"]] == before[seeded["withdrawn"]]
    for finding_id, row in after.items():
        assert {c: row[c] for c in KEPT} == {c: before[finding_id][c] for c in KEPT}
        if row["cve_id"] not in ("CVE-2021-44228", "CVE-2024-3400"):
            assert row == before[finding_id]

    # one UPDATED event per finding changed: CISA acted, the record is the source, the columns named
    cisa = await empty.fetchval("select id from agencies where code = 'CISA'")
    updates = [e for e in await events(empty) if e["action"] == "UPDATED"]
    assert len(updates) == 3
    for event in updates:
        assert (event["actor_principal_id"], event["actor_agency_id"], event["actor_lab_id"]) == (None, cisa, None)
        assert event["details"]["source"] == "CVE record" and event["details"]["by"] == "hub import cve"
        assert event["details"]["cveId"] == event["cve_id"]
    own_event = next(e for e in updates if set(e["details"]["changed"]) >= {"affected_product"})
    assert own_event["details"]["changed"] == ["affected_product", "affected_vendor", "affected_versions", "cwes"]
    assert own_event["details"]["dateUpdated"] == "2025-02-04T14:25:37.215Z"

    again = await enrich_findings(empty, read_records(CVE_RECORDS))
    assert (again["updated"], again["unchanged"], again["no finding"], again["rejected"]) == (0, 3, 1, 1)
    assert await by_id(empty) == after
    # and the KEV import after the enrichment keeps what the records added
    rerun = await load_catalogue(empty, read_catalogue(SMALL_CATALOGUE))
    assert (rerun["created"], rerun["updated"], rerun["unchanged"]) == (0, 0, 5)


def copy_records(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    shutil.copytree(CVE_RECORDS, folder)
    return folder


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        (
            "CVE-2024-3400.json",
            lambda d: d["containers"]["cna"]["metrics"][0]["cvssV4_0"].update(baseScore=11),
            "containers.cna.metrics[0].cvssV4_0.baseScore (CVE-2024-3400): 11 is not one of [0, 0.1,",
        ),
        (
            "CVE-2021-44228.json",
            lambda d: d["cveMetadata"].pop("cveId"),
            "cveMetadata: 'cveId' is a required property",
        ),
        (
            "CVE-2021-44228.json",
            lambda d: d["containers"]["cna"]["problemTypes"][0]["descriptions"][0].update(cweId="CWE502"),
            "containers.cna.problemTypes[0].descriptions[0].cweId (CVE-2021-44228): 'CWE502' does not match",
        ),
        (
            "CVE-1900-0002.json",
            lambda d: d["containers"]["cna"].pop("rejectedReasons"),
            "containers.cna (CVE-1900-0002): 'rejectedReasons' is a required property",
        ),
        (
            "CVE-1900-0003.json",
            lambda d: d["containers"]["cna"]["metrics"][0]["cvssV3_1"].update(
                vectorString="CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
            ),
            "containers.cna.metrics[0].cvssV3_1.vectorString (CVE-1900-0003): 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/"
            "I:H/A:H' does not match",
        ),
    ],
    ids=["score", "no id", "cwe", "rejected without reasons", "vector"],
)
async def test_one_bad_record_refuses_the_whole_folder_naming_file_record_and_field(
    empty: asyncpg.Connection, tmp_path: Path, name: str, change: Any, expected: str
) -> None:
    folder = copy_records(tmp_path)
    edit(folder / name, change)
    with pytest.raises(InvalidInput) as invalid:
        read_records(folder)
    assert any(p.startswith(f"{folder / name}: {expected}") for p in invalid.value.problems), invalid.value.problems
    assert all(p.startswith(f"{folder / name}: ") for p in invalid.value.problems)


def test_the_same_cve_id_twice_and_a_folder_without_records_are_refused(tmp_path: Path) -> None:
    folder = copy_records(tmp_path)
    (folder / "nested").mkdir()
    shutil.copy(folder / "CVE-2024-3400.json", folder / "nested" / "again.json")
    with pytest.raises(InvalidInput) as invalid:
        read_records(folder)
    assert invalid.value.problems == [
        f"{folder / 'nested' / 'again.json'}: cveMetadata.cveId (CVE-2024-3400): the same CVE id as "
        f"{folder / 'CVE-2024-3400.json'}"
    ]
    (tmp_path / "none").mkdir()
    with pytest.raises(InvalidInput, match="holds no .json file"):
        read_records(tmp_path / "none")


async def test_the_cli_enriches_from_a_folder_or_a_file_and_refuses_a_bad_folder_writing_nothing(
    empty_url: str, tmp_path: Path
) -> None:
    con = await db.connect(empty_url)
    try:
        await seed(con)
        folder = copy_records(tmp_path)
        bad = folder / "CVE-2021-44228.json"
        edit(bad, lambda d: d["cveMetadata"].update(dateUpdated="2025-02-30T00:00:00Z"))
        refused = hub_import(empty_url, "cve", str(folder))
        assert refused.returncode == 2 and refused.stdout == ""
        lines = refused.stderr.splitlines()
        assert lines[0].startswith(f"hub import cve: {bad}: cveMetadata.dateUpdated (CVE-2021-44228): ")
        assert lines[-1] == f"hub import cve: {folder} does not validate (1 problem(s)); nothing was loaded"
        assert await con.fetchval("select count(*) from findings where cvss_base_score is not null") == 1
        assert await con.fetchval("select count(*) from events where action = 'UPDATED'") == 0

        one = hub_import(empty_url, "cve", str(CVE_RECORDS / "CVE-2024-3400.json"))
        assert one.returncode == 0, one.stderr
        assert one.stdout.strip() == (
            "CVE records: 1 read; findings: 1 updated, 0 unchanged; 0 record(s) with no finding; "
            "0 REJECTED record(s) enrich nothing"
        )
        every = hub_import(empty_url, "cve", str(CVE_RECORDS), "--batch-size", "1")
        assert every.returncode == 0, every.stderr
        assert every.stdout.strip() == (
            "CVE records: 4 read; findings: 2 updated, 1 unchanged; 1 record(s) with no finding; "
            "1 REJECTED record(s) enrich nothing"
        )
    finally:
        await con.close()


async def test_an_interrupted_enrichment_resumes_to_the_state_of_a_clean_run(
    empty: asyncpg.Connection, pg_server: Server
) -> None:
    records = read_records(CVE_RECORDS)

    class Interrupted(Exception):
        pass

    async def stop_after(number: int) -> None:
        if number == 3:
            raise Interrupted

    await seed(empty)
    with pytest.raises(Interrupted):
        await enrich_findings(empty, records, batch_size=1, after_batch=stop_after)
    resumed = await enrich_findings(empty, records, batch_size=1)
    assert (resumed["updated"], resumed["unchanged"]) == (1, 2)  # Log4Shell's two findings were done
    async with migrated_database(pg_server) as url:
        clean = await db.connect(url)
        try:
            await seed(clean)
            await enrich_findings(clean, copy.deepcopy(records), batch_size=1)
            assert await findings(empty) == await findings(clean)
            assert await events(empty) == await events(clean)
        finally:
            await clean.close()


def test_the_operators_guide_example_runs_as_written(empty_url: str) -> None:
    """docs/operators.md's session: the small catalogue, then the test records."""
    kev = hub_import(empty_url, "kev", str(SMALL_CATALOGUE))
    assert kev.returncode == 0, kev.stderr
    cve = hub_import(empty_url, "cve", str(CVE_RECORDS))
    assert cve.returncode == 0, cve.stderr
    line = cve.stdout.strip()
    assert line == (
        "CVE records: 4 read; findings: 2 updated, 0 unchanged; 1 record(s) with no finding; "
        "1 REJECTED record(s) enrich nothing"
    )
    guide = (Path(__file__).resolve().parent.parent / "docs" / "operators.md").read_text(encoding="utf-8")
    assert line in guide
