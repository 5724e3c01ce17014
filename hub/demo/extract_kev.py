"""Extract the fact fields of CISA's Known Exploited Vulnerabilities catalogue into hub/demo/kev.json.

The demo grounds its findings in real, known-exploited vulnerabilities. The source is CISA's KEV catalogue
(https://www.cisa.gov/known-exploited-vulnerabilities-catalog), catalogVersion 2025.08.25, published
under CC0 1.0. Only the fact fields are copied: cveID, vendorProject, product, vulnerabilityName, dateAdded,
dueDate, knownRansomwareCampaignUse and cwes. The prose fields (shortDescription, requiredAction, notes) are
left out on purpose: the project writes its own descriptions and carries none of CISA's text.

Usage: python -m hub.demo.extract_kev PATH_TO/known_exploited_vulnerabilities.json

The hub never reads the catalogue at run time; it reads only the kev.json this script writes beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FACT_FIELDS = (
    "cveID",
    "vendorProject",
    "product",
    "vulnerabilityName",
    "dateAdded",
    "dueDate",
    "knownRansomwareCampaignUse",
    "cwes",
)
OUTPUT = Path(__file__).resolve().parent / "kev.json"


def extract(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """The fact fields of every entry, in the catalogue's order."""
    entries = []
    for vulnerability in catalogue["vulnerabilities"]:
        missing = [field for field in FACT_FIELDS if field not in vulnerability]
        if missing:
            raise ValueError(f"{vulnerability.get('cveID', '?')} lacks {', '.join(missing)}")
        entries.append({field: vulnerability[field] for field in FACT_FIELDS})
    return entries


def write(entries: list[dict[str, Any]], path: Path) -> None:
    """A JSON list with one compact entry per line, so that a catalogue update reads well as a diff."""
    lines = [json.dumps(entry, ensure_ascii=False, separators=(",", ":")) for entry in entries]
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Read the catalogue named on the command line and write kev.json beside this module."""
    parser = argparse.ArgumentParser(prog="python -m hub.demo.extract_kev", description=__doc__.splitlines()[0])
    parser.add_argument("catalogue", type=Path, help="CISA's known_exploited_vulnerabilities.json")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write (default: hub/demo/kev.json)")
    args = parser.parse_args(argv)
    catalogue = json.loads(args.catalogue.read_text(encoding="utf-8"))
    entries = extract(catalogue)
    write(entries, args.output)
    print(
        f"wrote {len(entries)} entries of KEV catalogVersion {catalogue.get('catalogVersion', '?')} to {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
