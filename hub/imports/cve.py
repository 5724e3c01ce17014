"""`hub import cve FILE_OR_DIR`: CVE records in the CVE Program's JSON 5 format (one record per file, as the CVE List
publishes them; a folder is read with its subfolders), enriching the findings that carry each record's CVE id,
whoever owns them.

What a PUBLISHED record changes on a finding (only what differs: version + 1 and an UPDATED event naming the
columns, per finding):
- CVSS (version, vector, base score and its severity band): from the record's metrics, the CNA's container first,
  then the ADP containers in their order; in a container CVSS v4.0 before v3.1 (the hub keeps no other version).
  Set when the finding has no CVSS score, or when it is a finding of the KEV import (`kev_catalogue_entry`); an
  agency's or a lab's own score is never replaced.
- CWE ids: the CWE ids of the CNA's problemTypes are added to the finding's (never removed).
- Affected vendor and product (from the CNA's affected list) when the finding names no product; affected versions
  (a summary of the affected versions and ranges of that product) when the finding has none.
It never touches a finding's title, description, state, owner, TLP or sharing. A REJECTED record enriches nothing
(the CVE Program withdrew the id: what a finding holds stays, and whoever owns it decides); a record whose CVE id
no finding carries changes nothing. Both are counted in the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from hub.imports.common import (
    DEFAULT_BATCH_SIZE,
    AfterBatch,
    InvalidInput,
    Summary,
    acting_agency_id,
    load_schema,
    one_import_at_a_time,
    read_json,
    record_import_event,
    schema_problems,
    schema_validator,
    write_in_batches,
)
from hub.store.findings import severity_for
from hub.workflow import update_row

SCHEMA = "CVE_Record_Format_bundled.json"
# the root oneOf of the schema: its branch for each state (Published, Rejected)
STATE_BRANCH = {"PUBLISHED": 0, "REJECTED": 1}
# CVSS versions the hub keeps, in the order preferred within one container
CVSS_KEYS = (("cvssV4_0", "4.0"), ("cvssV3_1", "3.1"))
VENDOR_MAX, PRODUCT_MAX, VERSIONS_MAX = 200, 200, 500
NOT_NAMED = {"n/a", "na", "unknown", ""}
SOURCE = "CVE record"


@dataclass(frozen=True)
class CveRecord:
    """A validated record: where it came from, its id and state, and what it can tell a finding."""

    path: str
    cve_id: str
    state: str
    date_updated: str | None
    cvss: dict[str, Any] | None = None  # the finding's cvss_* columns
    cwes: list[str] = field(default_factory=list)
    vendor: str | None = None
    product: str | None = None
    versions: str | None = None


def record_files(path: Path) -> list[Path]:
    """The record files: the file itself, or every *.json (and *.json.gz) under the folder, in name order."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith((".json", ".json.gz")))
        if not files:
            raise InvalidInput([f"{path}: holds no .json file"])
        return files
    if not path.exists():
        raise InvalidInput([f"{path}: no such file or folder"])
    return [path]


def read_records(path: Path) -> list[CveRecord]:
    """Read and validate every record first: InvalidInput listing the problems of every file (each naming the file,
    the record's CVE id and the field), so that nothing is loaded from an input with one bad record."""
    validator = schema_validator(load_schema(SCHEMA))
    problems: list[str] = []
    records: list[CveRecord] = []
    seen: dict[str, str] = {}
    for file in record_files(path):
        try:
            document = read_json(file)
        except InvalidInput as invalid:
            problems += invalid.problems
            continue
        metadata = document.get("cveMetadata") if isinstance(document, dict) else None
        cve = metadata.get("cveId") if isinstance(metadata, dict) else None
        state = metadata.get("state") if isinstance(metadata, dict) else None
        named = cve if isinstance(cve, str) else ""
        found = schema_problems(
            validator,
            document,
            prefix=str(file),
            record=named,
            branch=STATE_BRANCH.get(state) if isinstance(state, str) else None,
        )
        if found:
            problems += found
            continue
        assert isinstance(cve, str) and isinstance(state, str) and isinstance(metadata, dict)
        if cve in seen:
            problems.append(f"{file}: cveMetadata.cveId ({cve}): the same CVE id as {seen[cve]}")
            continue
        seen[cve] = str(file)
        records.append(_record(str(file), document, metadata))
    if problems:
        raise InvalidInput(problems)
    return records


def _record(path: str, document: dict[str, Any], metadata: dict[str, Any]) -> CveRecord:
    cve, state, updated = metadata["cveId"], metadata["state"], metadata.get("dateUpdated")
    if state != "PUBLISHED":
        return CveRecord(path, cve, state, updated)
    containers = document["containers"]
    cna = containers["cna"]
    vendor, product, versions = _affected(cna.get("affected") or [])
    return CveRecord(
        path,
        cve,
        state,
        updated,
        cvss=_cvss([cna, *(containers.get("adp") or [])]),
        cwes=_cwes(cna.get("problemTypes") or []),
        vendor=vendor,
        product=product,
        versions=versions,
    )


def _cvss(containers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The finding's CVSS columns from the first container (CNA, then ADPs) with a v4.0 or v3.1 score."""
    for container in containers:
        for key, version in CVSS_KEYS:
            for metric in container.get("metrics") or []:
                score = metric.get(key)
                if score is None:
                    continue
                base = Decimal(str(score["baseScore"])).quantize(Decimal("0.1"))
                return {
                    "cvss_version": version,
                    "cvss_vector": score["vectorString"],
                    "cvss_base_score": base,
                    # the band of the score (the database holds the two together): a CNA's baseSeverity that
                    # disagrees with its own score gives way to the score
                    "cvss_severity": severity_for(float(base)),
                }
    return None


def _cwes(problem_types: list[dict[str, Any]]) -> list[str]:
    ids = [d["cweId"] for p in problem_types for d in p.get("descriptions") or [] if d.get("cweId")]
    return list(dict.fromkeys(ids))


def _named(value: Any, limit: int) -> str | None:
    if not isinstance(value, str) or value.strip().lower() in NOT_NAMED:
        return None
    text = " ".join(value.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _affected(affected: list[dict[str, Any]]) -> tuple[str | None, str | None, str | None]:
    """(vendor, product, versions) of the first affected product the CNA names."""
    for entry in affected:
        product = _named(entry.get("product"), PRODUCT_MAX)
        if product is None:
            continue
        return _named(entry.get("vendor"), VENDOR_MAX), product, _versions(entry)
    return None, None, None


def _versions(entry: dict[str, Any]) -> str | None:
    """The affected versions of a product entry in words: '2.0-beta9 to before 2.15.0; 2.16.0' (the entries whose
    status is affected; a range's `changes` list is not read, so a summary, not the CNA's full statement)."""
    parts = []
    for v in entry.get("versions") or []:
        if v.get("status") != "affected":
            continue
        start = v["version"]
        since = "" if start in ("0", "*", "") else f"{start} to "
        if v.get("lessThan"):
            parts.append(f"{since}before {v['lessThan']}" if since else f"before {v['lessThan']}")
        elif v.get("lessThanOrEqual"):
            end = v["lessThanOrEqual"]
            parts.append(f"{since}{end}" if since else f"up to {end}")
        else:
            parts.append(start)
    if not parts and entry.get("defaultStatus") == "affected":
        parts.append("all versions")
    if not parts:
        return None
    return _named("; ".join(dict.fromkeys(parts)), VERSIONS_MAX)


def changes_for(row: dict[str, Any], record: CveRecord) -> dict[str, Any]:
    """The columns of the finding the record changes (see the module's docstring)."""
    wanted: dict[str, Any] = {}
    if record.cvss is not None and (row["cvss_base_score"] is None or row["kev_catalogue_entry"]):
        wanted.update(record.cvss)
    if record.cwes:
        wanted["cwes"] = [*row["cwes"], *(c for c in record.cwes if c not in row["cwes"])]
    if row["affected_product"] is None and record.product is not None:
        wanted["affected_product"] = record.product
        if row["affected_vendor"] is None and record.vendor is not None:
            wanted["affected_vendor"] = record.vendor
    if row["affected_versions"] is None and record.versions is not None:
        wanted["affected_versions"] = record.versions
    return {column: value for column, value in wanted.items() if row[column] != value}


async def enrich_findings(
    con: asyncpg.Connection,
    records: list[CveRecord],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: AfterBatch | None = None,
) -> Summary:
    """Enrich the findings of each record's CVE id, in batches of `batch_size` records, each its own transaction.
    Counts: updated and unchanged (findings), without a finding and rejected (records)."""
    async with one_import_at_a_time(con, "cve"):
        agency = await acting_agency_id(con)

        async def write(con: asyncpg.Connection, batch: Sequence[CveRecord], summary: Summary) -> None:
            published = [r for r in batch if r.state == "PUBLISHED"]
            summary.count("rejected", len(batch) - len(published))
            rows = await con.fetch(
                "select * from findings where cve_id = any($1::text[]) order by id for update",
                [r.cve_id for r in published],
            )
            by_cve: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                by_cve.setdefault(r["cve_id"], []).append(dict(r))
            for record in published:
                findings = by_cve.get(record.cve_id, [])
                if not findings:
                    summary.count("no finding")
                for row in findings:
                    changes = changes_for(row, record)
                    if not changes:
                        summary.count("unchanged")
                        continue
                    await update_row(con, "FINDING", row["id"], changes)
                    await record_import_event(
                        con,
                        agency,
                        kind="FINDING",
                        entity_id=row["id"],
                        action="UPDATED",
                        details={
                            "changed": sorted(changes),
                            "source": SOURCE,
                            "cveId": record.cve_id,
                            "dateUpdated": record.date_updated,
                            "by": "hub import cve",
                        },
                    )
                    summary.count("updated")

        return await write_in_batches(
            con, records, write, batch_size=batch_size, unit="record", after_batch=after_batch
        )


def summary_line(records: list[CveRecord], summary: Summary) -> str:
    return (
        f"CVE records: {len(records)} read; findings: {summary['updated']} updated, {summary['unchanged']} unchanged; "
        f"{summary['no finding']} record(s) with no finding; {summary['rejected']} REJECTED record(s) enrich nothing"
    )
