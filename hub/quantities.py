"""Exact quantities (docs/design.md, "Coverage"): decimals written as text, and the units of the coverage criteria.

A threshold of 10^26 FLOP is not a float: 1e26 has no exact binary form, and a comparison at the threshold must not
depend on rounding. GraphQL carries these as the scalar `Decimal`, a string; PostgreSQL stores them as `numeric`.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, InvalidOperation

# plain decimal or scientific notation: 100000, 1.5, 1e26, 2.5E25
_PLAIN = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?")
# powers of ten as people write them: 10^26, 3x10^25, 3 × 10^25, 3*10^25
_POWER = re.compile(r"(?:([0-9]+(?:\.[0-9]+)?)\s*[x×*]\s*)?10\s*\^\s*([+-]?[0-9]+)")
MAX_TEXT = 100
# beyond any quantity the program measures, and far inside numeric's range
MAX_EXPONENT = 60
# the arithmetic of quantities: every digit kept (Decimal's default context rounds to 28 significant digits, fewer
# than a value of MAX_TEXT characters times a unit may have)
EXACT = Context(prec=1000)


class QuantityError(ValueError):
    """A value that is not a decimal the hub accepts; the message says why."""


def parse_decimal(text: object) -> Decimal:
    """A non-negative decimal from its text: "1e26", "10^26", "100000000000000000000000000" and "1.5x10^25" are
    all accepted, and a whole number as such; a float (never exact), a negative, NaN, infinity or an exponent beyond
    10^60 is refused."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0 and len(str(text)) <= MAX_TEXT:
        text = str(text)
    if not isinstance(text, str):
        raise QuantityError(
            f'write the value as a string, such as "1e26" or "10^26" (got the {type(text).__name__} {text!r}):'
            " a float cannot hold it exactly"
        )
    value = text.strip().replace("_", "")
    if not value or len(value) > MAX_TEXT:
        raise QuantityError(f"must be a decimal of 1 to {MAX_TEXT} characters")
    if value.startswith("-"):
        raise QuantityError(f"{text!r}: must be 0 or more")
    power = _POWER.fullmatch(value)
    try:
        if power:
            mantissa = Decimal(power.group(1) or "1")
            exponent = int(power.group(2))
            if abs(exponent) > MAX_EXPONENT:
                raise QuantityError(f"{text!r}: the exponent must be within ±{MAX_EXPONENT}")
            number = mantissa.scaleb(exponent)
        elif _PLAIN.fullmatch(value):
            number = Decimal(value)
        else:
            raise QuantityError(f"{text!r} is not a decimal: write it as 100000000000000000000000000, 1e26 or 10^26")
    except InvalidOperation as e:
        raise QuantityError(f"{text!r} is not a decimal") from e
    if not number.is_finite():
        raise QuantityError(f"{text!r} is not a finite decimal")
    if number != 0 and abs(number.adjusted()) > MAX_EXPONENT:
        raise QuantityError(f"{text!r}: the value must be within 10^±{MAX_EXPONENT}")
    return number


def decimal_text(value: Decimal | None) -> str | None:
    """A stored decimal as GraphQL writes it: plain notation when short, scientific when long (1E+26)."""
    if value is None:
        return None
    if not value.is_finite():
        return None
    normal = value.normalize(EXACT)
    plain = format(normal, "f")
    return plain if len(plain) <= 24 else format(normal, "E").replace("E+", "E")


# What one unit is in the stored (canonical) unit of its dimension.
# Training compute: operations (FLOP, not per second); a petaFLOP/s-day is 10^15 operations a second for a day.
COMPUTE_UNITS: dict[str, Decimal] = {
    "FLOP": Decimal(1),
    "GFLOP": Decimal(10) ** 9,
    "TFLOP": Decimal(10) ** 12,
    "PFLOP": Decimal(10) ** 15,
    "EFLOP": Decimal(10) ** 18,
    "ZFLOP": Decimal(10) ** 21,
    "YFLOP": Decimal(10) ** 24,
    "PFLOP_S_DAY": Decimal(10) ** 15 * 86400,
}
# Scores: percent and fraction convert into each other; points are the suite's own scale.
SCORE_UNITS: dict[str, dict[str, Decimal]] = {
    "PERCENT": {"PERCENT": Decimal(1), "FRACTION": Decimal(100)},
    "FRACTION": {"FRACTION": Decimal(1), "PERCENT": Decimal("0.01")},
    "POINTS": {"POINTS": Decimal(1)},
}
DESIGNATION_UNITS = ("DESIGNATIONS",)
# the most a score may be in each unit (points are the suite's own scale: no bound known here)
SCORE_BOUNDS = {"PERCENT": Decimal(100), "FRACTION": Decimal(1)}


def to_flop(value: Decimal, unit: str) -> Decimal:
    """`value` in `unit` (one of COMPUTE_UNITS) as FLOP."""
    if unit not in COMPUTE_UNITS:
        raise QuantityError(f"{unit!r} is not a unit of compute: use one of {', '.join(COMPUTE_UNITS)}")
    return EXACT.multiply(value, COMPUTE_UNITS[unit])


def to_score_unit(value: Decimal, unit: str, suite_unit: str) -> Decimal:
    """A score written in `unit` as the suite's `suite_unit` records it (percent and fraction convert)."""
    factors = SCORE_UNITS[suite_unit]
    if unit not in factors:
        allowed = ", ".join(factors)
        raise QuantityError(f"the suite records scores in {suite_unit}; {unit} does not convert to it (use {allowed})")
    return EXACT.multiply(value, factors[unit])
