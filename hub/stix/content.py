"""Records as STIX 2.1 objects (docs/design.md, "STIX content"): pure functions from the rows the feed reads
(hub/stix/feed.py) to the objects it serves.

Each record gives a unit of objects, every one carrying the record's TLP 2.0 marking:
- a finding: a `vulnerability`; when it names an affected product, that product as `software` (an SCO, whose id
  STIX derives from its properties) and a `has` relationship from the software to the vulnerability;
- a DoD measure: a `course-of-action`; a `mitigates` relationship to each linked finding the principal also sees
  (built by the feed, marked with the more restrictive of the two records' TLPs);
- an engagement: a `grouping` of the lab's and the counterpart's identities, the counterpart as an `identity`, and a
  `related-to` relationship to each linked finding the principal also sees;
- an agency, a lab, the hub itself: an `identity`; the hub's property extension: an `extension-definition`.

What GraphQL does not show to every principal who sees a record never goes into its objects: no shareWith lists, no
RED recipients, no model (a model may be hidden from a principal who sees the finding), no principal names.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "2.1"

# The OASIS TLP 2.0 marking definitions, by the hub's TLP value: fixed ids every STIX consumer knows.
TLP_MARKINGS = {
    "CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "AMBER_STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# From the least to the most restrictive: a relationship between two records carries the later of their two.
TLP_ORDER = ("CLEAR", "GREEN", "AMBER", "AMBER_STRICT", "RED")

# The hub's property extension (one definition for every kind: its properties are those of the kind extended), a
# fixed id chosen once; and the namespace of the ids the hub derives (relationships).
EXTENSION_ID = "extension-definition--e4d6e37d-7f2f-40a4-ad30-d86c018facb9"
EXTENSION_CREATED = "2026-12-04T00:00:00.000Z"
HUB_NAMESPACE = uuid.UUID("4563a590-cc57-40de-9151-6483e5ee01c9")
# STIX 2.1's namespace for the ids of cyber-observable objects (section 2.9).
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

# The hub's sectors (CISA's critical-infrastructure sectors) in STIX's industry-sector vocabulary.
SECTORS = {
    "CHEMICAL": "chemical",
    "COMMERCIAL_FACILITIES": "commercial",
    "COMMUNICATIONS": "communications",
    "CRITICAL_MANUFACTURING": "manufacturing",
    "DAMS": "dams",
    "DEFENSE_INDUSTRIAL_BASE": "defense",
    "EMERGENCY_SERVICES": "emergency-services",
    "ENERGY": "energy",
    "FINANCIAL_SERVICES": "financial-services",
    "FOOD_AND_AGRICULTURE": "agriculture",
    "GOVERNMENT_FACILITIES": "government",
    "HEALTHCARE_AND_PUBLIC_HEALTH": "healthcare",
    "INFORMATION_TECHNOLOGY": "technology",
    "NUCLEAR_REACTORS_MATERIALS_AND_WASTE": "nuclear",
    "TRANSPORTATION_SYSTEMS": "transportation",
    "WATER_AND_WASTEWATER_SYSTEMS": "water",
}

# A revoked object keeps only what its reader already had; the types that require a name get this one.
WITHDRAWN_NAME = "Withdrawn"
# The states in which a finding's object is revoked for everyone who sees it.
REVOKED_FINDING_STATES = ("REJECTED", "DUPLICATE")


def timestamp(value: datetime) -> str:
    """A STIX timestamp: UTC, `Z`, microseconds (STIX asks for milliseconds at least; TAXII's `added_after` compares
    at the database's precision, so that a client handing back what it got never skips a record)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def marking(tlp: str) -> list[str]:
    return [TLP_MARKINGS[tlp]]


def stricter(a: str, b: str) -> str:
    """The more restrictive of two TLP levels."""
    return a if TLP_ORDER.index(a) >= TLP_ORDER.index(b) else b


def canonical_json(value: dict[str, Any]) -> str:
    """JSON canonicalization (RFC 8785) for the string-valued objects an SCO id is derived from."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def software_id(name: str, vendor: str | None, version: str | None) -> str:
    """A software SCO's id as STIX 2.1 derives it: UUIDv5 over the canonical JSON of its id-contributing properties
    (name, cpe, swid, vendor, version) that are present."""
    contributing = {"name": name, "vendor": vendor, "version": version}
    present = {k: v for k, v in contributing.items() if v is not None}
    return f"software--{uuid.uuid5(SCO_NAMESPACE, canonical_json(present))}"


def derived_id(kind: str, *parts: object) -> str:
    """A deterministic id of an object the hub derives from records (a relationship): the same records, the same
    id, at every read. A UUIDv5 of the records' ids in the hub's namespace, its version bits set to 4 (STIX asks
    for UUIDv4 ids on SDOs and SROs; the bits are what a consumer checks, and the id stays deterministic)."""
    derived = uuid.uuid5(HUB_NAMESPACE, ":".join(str(p) for p in parts))
    return f"{kind}--{uuid.UUID(bytes=derived.bytes, version=4)}"


def identity_ref(stix_id: Any) -> str:
    return f"identity--{stix_id}"


def common(kind: str, stix_id: Any, created: datetime, modified: datetime, tlp: str) -> dict[str, Any]:
    """The properties every SDO and SRO of the hub has."""
    return {
        "type": kind,
        "spec_version": SPEC_VERSION,
        "id": f"{kind}--{stix_id}" if "--" not in str(stix_id) else str(stix_id),
        "created": timestamp(created),
        "modified": timestamp(max(created, modified)),
        "object_marking_refs": marking(tlp),
    }


def extension(properties: dict[str, Any]) -> dict[str, Any]:
    """The hub's property extension with `properties` (those that are null or empty left out)."""
    kept = {k: v for k, v in properties.items() if v is not None and v != [] and v != ""}
    return {EXTENSION_ID: {"extension_type": "property-extension", **kept}}


def day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


# ------------------------------------------------------------------------------------------------ findings


def vulnerability(row: dict[str, Any], modified: datetime) -> dict[str, Any]:
    """A finding as a `vulnerability`. `row`: the finding's columns, with `owner_ref` (the owning agency's or lab's
    identity) and `lab_ref` (the lab concerned's, if any)."""
    obj = common("vulnerability", row["stix_id"], row["created_at"], modified, row["tlp"])
    obj["created_by_ref"] = row["owner_ref"]
    obj["name"] = row["title"]
    if row.get("description"):
        obj["description"] = row["description"]
    references = []
    if row.get("cve_id"):
        references.append({"source_name": "cve", "external_id": row["cve_id"]})
    for cwe in row.get("cwes") or []:
        references.append({"source_name": "cwe", "external_id": cwe})
    if references:
        obj["external_references"] = references
    if row["state"] in REVOKED_FINDING_STATES:
        obj["revoked"] = True
    obj["extensions"] = extension(
        {
            "kind": "finding",
            "state": row["state"],
            "severity": row.get("cvss_severity"),
            "cvss_version": row.get("cvss_version"),
            "cvss_vector": row.get("cvss_vector"),
            "cvss_base_score": None if row.get("cvss_base_score") is None else float(row["cvss_base_score"]),
            "kev_date_added": day(row.get("kev_date_added")),
            "kev_due_date": day(row.get("kev_due_date")),
            "kev_known_ransomware_campaign_use": row.get("kev_known_ransomware_campaign_use"),
            "kev_required_action": row.get("kev_required_action"),
            "kev_catalogue_entry": bool(row.get("kev_catalogue_entry")) or None,
            "discovered_by_kind": row["discovered_by_kind"],
            "sectors": list(row.get("sectors") or []),
            "lab_ref": row.get("lab_ref"),
        }
    )
    return obj


def software(row: dict[str, Any]) -> dict[str, Any]:
    """The product a finding affects, as a `software` SCO, marked with the finding's TLP (the same product named by
    findings of different TLPs is served once per finding, each copy with its finding's marking)."""
    obj: dict[str, Any] = {
        "type": "software",
        "spec_version": SPEC_VERSION,
        "id": software_id(row["affected_product"], row.get("affected_vendor"), row.get("affected_versions")),
        "name": row["affected_product"],
    }
    if row.get("affected_vendor") is not None:
        obj["vendor"] = row["affected_vendor"]
    if row.get("affected_versions") is not None:
        obj["version"] = row["affected_versions"]
    obj["object_marking_refs"] = marking(row["tlp"])
    return obj


def has_relationship(row: dict[str, Any], modified: datetime) -> dict[str, Any]:
    """software -has-> vulnerability, for the finding's affected product."""
    relationship_id = derived_id("relationship", row["stix_id"], "has")
    obj = common("relationship", relationship_id, row["created_at"], modified, row["tlp"])
    obj["relationship_type"] = "has"
    obj["source_ref"] = software(row)["id"]
    obj["target_ref"] = f"vulnerability--{row['stix_id']}"
    return obj


def finding_unit(row: dict[str, Any], modified: datetime) -> list[dict[str, Any]]:
    """The objects of one finding, in their order in the feed (the vulnerability, then its software and `has`)."""
    unit = [vulnerability(row, modified)]
    if row.get("affected_product"):
        unit += [software(row), has_relationship(row, modified)]
    return unit


# ------------------------------------------------------------------------------------------------ measures


def course_of_action(row: dict[str, Any], modified: datetime) -> dict[str, Any]:
    """A DoD measure as a `course-of-action`: D3FEND, ATT&CK and NIST SP 800-53 as external references."""
    obj = common("course-of-action", row["stix_id"], row["created_at"], modified, row["tlp"])
    obj["created_by_ref"] = row["owner_ref"]
    obj["name"] = row["title"]
    if row.get("description"):
        obj["description"] = row["description"]
    references = (
        [{"source_name": "d3fend", "external_id": d} for d in row.get("d3fend_ids") or []]
        + [{"source_name": "mitre-attack", "external_id": a} for a in row.get("attack_ids") or []]
        + [{"source_name": "nist-sp-800-53", "external_id": c} for c in row.get("nist80053_controls") or []]
    )
    if references:
        obj["external_references"] = references
    obj["extensions"] = extension(
        {
            "kind": "measure",
            "state": row["state"],
            "measure_kind": row["kind"],
            "owner_component": row["owner_component"],
            "system_scope": row["system_scope"],
        }
    )
    return obj


def link_relationship(
    kind: str,
    source: str,
    target: str,
    tlp: str,
    created: datetime,
    modified: datetime,
) -> dict[str, Any]:
    """A relationship between two records' objects (`mitigates`, `related-to`); its id derived from both."""
    obj = common("relationship", derived_id("relationship", source, kind, target), created, modified, tlp)
    obj["relationship_type"] = kind
    obj["source_ref"] = source
    obj["target_ref"] = target
    return obj


# ------------------------------------------------------------------------------------------------ engagements


def grouping(row: dict[str, Any], modified: datetime) -> dict[str, Any]:
    """An engagement as a `grouping` (context `unspecified`: STIX's vocabulary has no value for a coordination
    effort) of the lab's identity and the counterpart's."""
    obj = common("grouping", row["stix_id"], row["created_at"], modified, row["tlp"])
    obj["created_by_ref"] = row["owner_ref"]
    obj["name"] = row["title"]
    if row.get("summary"):
        obj["description"] = row["summary"]
    obj["context"] = "unspecified"
    obj["object_refs"] = [row["lab_ref"], identity_ref(row["counterpart_stix_id"])]
    obj["extensions"] = extension(
        {
            "kind": "engagement",
            "state": row["state"],
            "engagement_kind": row["kind"],
            "sector": row["sector"],
            "lab_ref": row["lab_ref"],
        }
    )
    return obj


def counterpart(row: dict[str, Any], modified: datetime, tlp: str) -> dict[str, Any]:
    """An engagement's counterpart (a utility, a hospital) as an `identity`, with the engagement's marking: it is
    seen exactly as the engagements naming it are."""
    obj = common("identity", row["counterpart_stix_id"], row["counterpart_created_at"], modified, tlp)
    obj["name"] = row["counterpart_name"]
    obj["identity_class"] = "organization"
    if row.get("counterpart_sector") in SECTORS:
        obj["sectors"] = [SECTORS[row["counterpart_sector"]]]
    obj["extensions"] = extension(
        {"kind": "counterpart", "counterpart_kind": row["counterpart_kind"], "sector": row["counterpart_sector"]}
    )
    return obj


# ------------------------------------------------------------------------------------------------ identities


def agency_identity(row: dict[str, Any], modified: datetime) -> dict[str, Any]:
    obj = common("identity", row["stix_id"], row["created_at"], modified, "CLEAR")
    obj["name"] = row["name"]
    if row.get("description"):
        obj["description"] = row["description"]
    obj["identity_class"] = "organization"
    obj["sectors"] = ["government-national"]
    obj["extensions"] = extension({"kind": "agency", "code": row["code"]})
    return obj


def lab_identity(row: dict[str, Any], modified: datetime) -> dict[str, Any]:
    obj = common("identity", row["stix_id"], row["created_at"], modified, "CLEAR")
    obj["name"] = row["name"]
    obj["identity_class"] = "organization"
    obj["sectors"] = ["technology"]
    obj["extensions"] = extension({"kind": "lab", "country": row["country"], "participation": row["participation"]})
    return obj


def hub_identity(stix_id: Any, created: datetime) -> dict[str, Any]:
    obj = common("identity", stix_id, created, created, "CLEAR")
    obj["name"] = "frontier-hub"
    obj["description"] = "The frontier AI early-access program's hub, which produces the objects it serves."
    obj["identity_class"] = "system"
    return obj


def extension_definition(hub_stix_id: Any) -> dict[str, Any]:
    """The hub's property extension: the properties STIX has none for (CVSS, the KEV facts, states, kinds)."""
    created = datetime.fromisoformat(EXTENSION_CREATED.replace("Z", "+00:00"))
    obj = common("extension-definition", EXTENSION_ID, created, created, "CLEAR")
    obj["created_by_ref"] = identity_ref(hub_stix_id)
    obj["name"] = "frontier-hub record properties"
    obj["description"] = (
        "Properties of the hub's records that STIX has none for: a finding's CVSS score, vector, version and "
        "severity, its KEV catalogue facts, state, sectors, discovered-by kind and the lab concerned; a measure's "
        "and an engagement's state and kind; an agency's code; a lab's country and participation."
    )
    obj["schema"] = (
        "Defined in plain text by frontier-hub's documentation, docs/sharing.md, section 'The hub's STIX extension'."
    )
    obj["version"] = "1.0"
    obj["extension_types"] = ["property-extension"]
    return obj


# ------------------------------------------------------------------------------------------------ tombstones


def withdrawn(kind: str, stix_id: Any, created: datetime, at: datetime, tlp: str, hub_ref: str) -> dict[str, Any]:
    """What a principal that lost sight of a record gets of its object: a revoked version with nothing it did not
    already have (type, id, times, the marking it had), and a neutral name where the type requires one."""
    obj = common(kind, stix_id, created, at, tlp)
    obj["revoked"] = True
    obj["name"] = WITHDRAWN_NAME
    if kind == "grouping":
        # a grouping needs one reference at least: the hub's own identity names nothing of the engagement
        obj["context"] = "unspecified"
        obj["object_refs"] = [hub_ref]
    return obj
