"""Labs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import asyncpg

from hub.auth import Principal
from hub.participation import TAKING_PART, close_for_lab
from hub.store.base import Entity, OrderField, Where, standard_orders
from hub.workflow import (
    bad_input,
    changed,
    check_remit,
    check_version,
    idempotent,
    insert_row,
    lock_in_remit,
    reason_text,
    record_event,
    record_updated,
    text,
    transition,
    update_row,
    write_unique,
)

LAB = Entity(
    kind="LAB",
    orders={**standard_orders("t.name"), "PARTICIPATION": OrderField("t.participation", "text")},
    default_order="NAME",
)


def where_labs(w: Where, f: dict[str, Any]) -> None:
    w.any_of("t.participation", f.get("participation"))
    w.any_of("t.country", f.get("countries"))
    w.search(f.get("search"))
    w.at_least("t.created_at", f.get("created_from"))
    w.before("t.created_at", f.get("created_before"))


# ------------------------------------------------------------------------------------------------ writes

# ISO 3166-1 alpha-2: the officially assigned codes.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
    JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
    MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
    TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW""".split()
)


def check_country(value: str | None, field: str = "input.country") -> str:
    country = text(value, field, required=True, max_length=20)
    assert country is not None
    country = country.upper()
    if country not in ISO_COUNTRIES:
        raise bad_input(field, f"{country!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, GB, FR)")
    return country


def check_website(value: str | None, field: str = "input.website") -> str | None:
    website = text(value, field, max_length=300)
    if website is None:
        return None
    try:
        parts = urlsplit(website)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and " " not in website
    except ValueError:  # a malformed host, say
        ok = False
    if not ok:
        raise bad_input(field, "must be an http:// or https:// address")
    return website


def lab_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked columns of a registration or an update (only the keys present)."""
    fields: dict[str, Any] = {}
    if "name" in values:
        fields["name"] = text(values["name"], "input.name", required=True, max_length=200)
    if "legal_name" in values:
        fields["legal_name"] = text(values["legal_name"], "input.legalName", max_length=300)
    if "country" in values:
        fields["country"] = check_country(values["country"])
    if "website" in values:
        fields["website"] = check_website(values["website"])
    return fields


@idempotent("registerLab", "LAB")
async def register_lab(con: asyncpg.Connection, principal: Principal, values: dict[str, Any]) -> int:
    """CISA or NIST officers and admins invite a lab: it starts INVITED (the lab decides whether to take part)."""
    check_remit(principal, "LAB", "registerLab", None)
    row = lab_fields(values)
    row["participation"] = "INVITED"
    created = await write_unique(
        con,
        lambda: insert_row(con, "labs", row),
        field="input.name",
        message=f"a lab named {row['name']!r} already exists (names are unique regardless of case)",
    )
    await record_event(con, principal, kind="LAB", entity_id=created["id"], action="REGISTERED", to_state="INVITED")
    return int(created["id"])


async def update_lab(
    con: asyncpg.Connection, principal: Principal, lab_id: int, expected_version: int, values: dict[str, Any]
) -> int:
    """The lab's own liaisons, or CISA and NIST officers and admins."""
    row = await lock_in_remit(con, principal, "LAB", lab_id, "updateLab")
    check_version(row, expected_version)
    changes = changed(row, lab_fields(values))
    reason = reason_text(values.get("reason"))
    if changes:
        name = changes.get("name", row["name"])
        await write_unique(
            con,
            lambda: update_row(con, "LAB", lab_id, changes),
            field="input.name",
            message=f"a lab named {name!r} already exists (names are unique regardless of case)",
        )
        await record_updated(con, principal, "LAB", lab_id, reason, list(changes))
    return lab_id


async def set_lab_participation(
    con: asyncpg.Connection, principal: Principal, lab_id: int, to: str, expected_version: int, reason: str | None
) -> int:
    """The lab's liaisons make any move the state machine allows (the program is voluntary: the lab may decline or
    withdraw at any time); CISA and NIST officers and admins may only invite a lab again. A lab that declines or
    withdraws closes, in the same transaction, everything it had open (hub/participation.py, close_for_lab): the
    lab's row is locked first, so writes for the lab that passed the participation check commit before, and are
    closed too."""
    row = await lock_in_remit(con, principal, "LAB", lab_id, "setLabParticipation", to=to)
    check_version(row, expected_version)
    await transition(con, principal, "LAB", row, to, reason=reason)
    if to not in TAKING_PART:
        await close_for_lab(con, principal, lab_id, to)
    return lab_id
