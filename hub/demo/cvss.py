"""CVSS for demo findings: random but self-consistent vectors, scores and severities.

CVSS v3.1 scores are computed from the vector with the specification's base formula, so a vector and its score
always agree. For v4.0 (whose scoring uses a lookup over macro vectors) only a few vectors with well-known
scores are used.
"""

from __future__ import annotations

import math
import random

_AV = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI = {"N": 0.85, "R": 0.62}
_CIA = {"H": 0.56, "L": 0.22, "N": 0.0}

CVSS4_VECTORS = (
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 8.7),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 6.9),
)


def _roundup(value: float) -> float:
    """CVSS v3.1 Roundup: the smallest number with one decimal that is >= value, free of float noise."""
    scaled = round(value * 100_000)
    if scaled % 10_000 == 0:
        return scaled / 100_000
    return (math.floor(scaled / 10_000) + 1) / 10.0


def base_score_v31(vector: str) -> float:
    """The CVSS v3.1 base score of a vector such as 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H'."""
    metrics = dict(part.split(":", 1) for part in vector.split("/")[1:])
    changed = metrics["S"] == "C"
    iss = 1 - (1 - _CIA[metrics["C"]]) * (1 - _CIA[metrics["I"]]) * (1 - _CIA[metrics["A"]])
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    privileges = (_PR_CHANGED if changed else _PR_UNCHANGED)[metrics["PR"]]
    exploitability = 8.22 * _AV[metrics["AV"]] * _AC[metrics["AC"]] * privileges * _UI[metrics["UI"]]
    if impact <= 0:
        return 0.0
    if changed:
        return _roundup(min(1.08 * (impact + exploitability), 10))
    return _roundup(min(impact + exploitability, 10))


def severity(score: float) -> str:
    """The qualitative severity band of a base score (shared by CVSS v3.1 and v4.0)."""
    if score == 0:
        return "NONE"
    if score < 4:
        return "LOW"
    if score < 7:
        return "MEDIUM"
    if score < 9:
        return "HIGH"
    return "CRITICAL"


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def random_vector_v31(rng: random.Random) -> str:
    """A plausible vector for an exploited vulnerability: mostly network-reachable with high impact."""
    while True:
        c, i, a = (_pick(rng, {"H": 7, "L": 2, "N": 1}) for _ in range(3))
        if (c, i, a) != ("N", "N", "N"):
            break
    parts = [
        "CVSS:3.1",
        "AV:" + _pick(rng, {"N": 80, "L": 14, "A": 4, "P": 2}),
        "AC:" + _pick(rng, {"L": 85, "H": 15}),
        "PR:" + _pick(rng, {"N": 60, "L": 30, "H": 10}),
        "UI:" + _pick(rng, {"N": 75, "R": 25}),
        "S:" + _pick(rng, {"U": 80, "C": 20}),
        f"C:{c}",
        f"I:{i}",
        f"A:{a}",
    ]
    return "/".join(parts)
