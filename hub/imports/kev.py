"""`hub import kev FILE`: CISA's Known Exploited Vulnerabilities catalogue, as CISA publishes it (the JSON file with
its envelope: title, catalogVersion, dateReleased, count, vulnerabilities), into findings owned by CISA at TLP:CLEAR.

Each entry of the catalogue is one finding, keyed by its CVE id among the findings this import made
(`kev_catalogue_entry`, unique per CVE id: sql/020_sharing_standards.sql). A new entry creates a finding in
REPORTED, discovered by KEV_CATALOGUE, with no model and no lab; an entry whose finding exists updates the facts
that differ (version + 1 and an UPDATED event naming them) and never moves its state; an entry whose facts the
finding holds already is unchanged (nothing written). Findings an agency or a lab reported about the same CVE are
their own records and are never touched by this import (docs/design.md, "Imported findings").

What an entry sets: title = vulnerabilityName; description = shortDescription, and the catalogue's notes after a
blank line; cve_id; kev_date_added = dateAdded; kev_due_date = dueDate (the date BOD 22-01 sets for federal
agencies, as published); kev_known_ransomware_campaign_use (Known/Unknown as KNOWN/UNKNOWN); kev_required_action =
requiredAction; affected_vendor = vendorProject; affected_product = product; cwes: the catalogue's CWE ids are
added to the finding's (never removed, so that what `hub import cve` added stays).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from hub.imports.common import (
    DEFAULT_BATCH_SIZE,
    AfterBatch,
    InvalidInput,
    Summary,
    acting_agency_id,
    checked_text,
    insert_finding,
    load_schema,
    one_import_at_a_time,
    read_json,
    record_import_event,
    schema_problems,
    schema_validator,
    write_in_batches,
)
from hub.workflow import update_row

SCHEMA = "known_exploited_vulnerabilities_schema.json"
RANSOMWARE = {"Known": "KNOWN", "Unknown": "UNKNOWN"}
# the finding columns the catalogue's facts go to, and the hub's limits on them (sql/001_init.sql)
TEXT_FIELDS = (
    # (catalogue field, column, one line, at most)
    ("vulnerabilityName", "title", True, 300),
    ("vendorProject", "affected_vendor", True, 200),
    ("product", "affected_product", True, 200),
    ("requiredAction", "kev_required_action", False, 2000),
)
DESCRIPTION_MAX = 20000
SOURCE = "CISA KEV catalogue"


@dataclass(frozen=True)
class Catalogue:
    """A validated catalogue: its version, when CISA released it, and the finding facts of each entry."""

    path: str
    version: str
    released: str
    entries: list[dict[str, Any]]


def read_catalogue(path: Path) -> Catalogue:
    """Read and validate the whole catalogue (the published schema, then what the hub's columns need): InvalidInput
    listing every problem, each naming the entry (its index and CVE id) and the field."""
    document = read_json(path)
    name = str(path)
    vulnerabilities = document.get("vulnerabilities") if isinstance(document, dict) else None

    def label(at: list[Any]) -> str:
        if len(at) >= 2 and at[0] == "vulnerabilities" and isinstance(at[1], int) and isinstance(vulnerabilities, list):
            entry = vulnerabilities[at[1]]
            cve = entry.get("cveID") if isinstance(entry, dict) else None
            return cve if isinstance(cve, str) else ""
        return ""

    problems = schema_problems(schema_validator(load_schema(SCHEMA)), document, prefix=name, label=label)
    if problems:
        raise InvalidInput(problems)
    # the schema holds: the envelope is there and every entry has its fields, of their types
    entries: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    listed = len(vulnerabilities or [])
    if document["count"] != listed:
        problems.append(f"{name}: count: the catalogue says {document['count']} entries but lists {listed}")
    for index, entry in enumerate(vulnerabilities or []):
        cve = entry["cveID"]

        def problem(field: str, message: str, index: int = index, cve: str = cve) -> None:
            problems.append(f"{name}: vulnerabilities[{index}].{field} ({cve}): {message}")

        if cve in seen:
            problem("cveID", f"{cve} is listed twice (first at vulnerabilities[{seen[cve]}])")
        seen.setdefault(cve, index)
        facts, entry_problems = entry_facts(entry)
        for field, message in entry_problems:
            problem(field, message)
        entries.append(facts)
    if problems:
        raise InvalidInput(problems)
    return Catalogue(name, document["catalogVersion"], document["dateReleased"], entries)


def entry_facts(entry: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The finding columns of one schema-valid entry, and its problems as (field, message)."""
    problems: list[tuple[str, str]] = []
    facts: dict[str, Any] = {"cve_id": entry["cveID"]}
    for source, column, one_line, limit in TEXT_FIELDS:
        value, problem = checked_text(entry[source], multiline=not one_line, max_length=limit)
        if problem:
            problems.append((source, problem))
        facts[column] = value
    description, problem = checked_text(entry["shortDescription"], multiline=True, max_length=DESCRIPTION_MAX)
    if problem:
        problems.append(("shortDescription", problem))
    notes, problem = checked_text(entry.get("notes") or "", multiline=True, max_length=DESCRIPTION_MAX, required=False)
    if problem:
        problems.append(("notes", problem))
    if description is not None and notes:
        description = f"{description}\n\nNotes: {notes}"
        if len(description) > DESCRIPTION_MAX:
            problems.append(("notes", f"shortDescription and notes together exceed {DESCRIPTION_MAX} characters"))
    facts["description"] = description
    facts["kev_date_added"] = date.fromisoformat(entry["dateAdded"])
    facts["kev_due_date"] = date.fromisoformat(entry["dueDate"])
    ransomware = entry.get("knownRansomwareCampaignUse", "Unknown")
    if ransomware not in RANSOMWARE:
        problems.append(("knownRansomwareCampaignUse", f"{ransomware!r} is not 'Known' or 'Unknown'"))
    facts["kev_known_ransomware_campaign_use"] = RANSOMWARE.get(ransomware)
    facts["cwes"] = list(dict.fromkeys(entry.get("cwes") or []))
    return facts, problems


def changes_for(row: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The columns of the finding that differ from the entry's facts (CWE ids added, never removed)."""
    wanted = dict(facts)
    wanted["cwes"] = [*row["cwes"], *(c for c in facts["cwes"] if c not in row["cwes"])]
    return {column: value for column, value in wanted.items() if row[column] != value}


async def load_catalogue(
    con: asyncpg.Connection,
    catalogue: Catalogue,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: AfterBatch | None = None,
) -> Summary:
    """Create or update the catalogue's findings, in batches of `batch_size` entries, each its own transaction.
    Returns the counts: created, updated, unchanged."""
    async with one_import_at_a_time(con, "kev"):
        agency = await acting_agency_id(con)
        source = {"source": SOURCE, "catalogVersion": catalogue.version, "dateReleased": catalogue.released}

        async def write(con: asyncpg.Connection, batch: Sequence[dict[str, Any]], summary: Summary) -> None:
            existing = {
                r["cve_id"]: dict(r)
                for r in await con.fetch(
                    "select * from findings where kev_catalogue_entry and cve_id = any($1::text[]) for update",
                    [facts["cve_id"] for facts in batch],
                )
            }
            for facts in batch:
                row = existing.get(facts["cve_id"])
                if row is None:
                    created = await insert_finding(
                        con,
                        {
                            **facts,
                            "state": "REPORTED",
                            "discovered_by_kind": "KEV_CATALOGUE",
                            "kev_catalogue_entry": True,
                            "tlp": "CLEAR",
                            "owner_agency_id": agency,
                        },
                    )
                    await record_import_event(
                        con,
                        agency,
                        kind="FINDING",
                        entity_id=created,
                        action="IMPORTED",
                        to_state="REPORTED",
                        details={**source, "by": "hub import kev"},
                    )
                    summary.count("created")
                    continue
                changes = changes_for(row, facts)
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
                    details={"changed": sorted(changes), **source, "by": "hub import kev"},
                )
                summary.count("updated")

        return await write_in_batches(
            con, catalogue.entries, write, batch_size=batch_size, unit="entry", after_batch=after_batch
        )


def summary_line(catalogue: Catalogue, summary: Summary) -> str:
    return (
        f"KEV catalogue {catalogue.version} ({len(catalogue.entries)} entries): {summary['created']} created, "
        f"{summary['updated']} updated, {summary['unchanged']} unchanged"
    )
