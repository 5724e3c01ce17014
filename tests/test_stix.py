"""The STIX feed (docs/design.md, "STIX content"; hub/stix/): every object it serves passes the OASIS validator;
what each principal gets is exactly what it sees through the store's own reads; revocations reach those who had a
record and nobody else; ids are stable, `modified` follows the record, and polling with `added_after` never misses a
record shared later."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import pytest
import stix2
from stix2validator import ValidationOptions, validate_instance

from hub import db
from hub.auth import Principal
from hub.stix import content, feed
from hub.store.base import Session, load_related, page
from hub.store.engagements import ENGAGEMENT
from hub.store.findings import FINDING, FINDINGS_BY_MEASURE
from hub.store.measures import MEASURE
from schema.common import to_global_id
from tests.conftest import Api
from tests.probes import PRINCIPALS, build_world

# The validator's warnings the hub's objects draw, each for a reason docs/sharing.md gives; any other fails the test.
KNOWN_WARNINGS = {
    # STIX suggests `has` from infrastructure only; the plan relates a finding's affected product (an SCO) this way
    "{202} 'software' is permitted, but not a suggested relationship source object for the 'has' relationship.",
}
VALIDATION = ValidationOptions(version="2.1")
SHARE = """mutation($input: ShareFindingInput!) { shareFinding(input: $input) {
  finding { id version tlp } errors { field code message } } }"""
UPDATE = """mutation($input: UpdateFindingInput!) { updateFinding(input: $input) {
  finding { id version title } errors { field code message } } }"""
TRANSITION = """mutation($input: TransitionFindingInput!) { transitionFinding(input: $input) {
  finding { id version state } errors { field code message } } }"""


async def principal_named(con: asyncpg.Connection, where: str, *args: Any) -> Principal:
    row = await con.fetchrow(
        "select p.id, p.name, p.role, p.agency_id, a.code, p.lab_id from principals p"
        f" left join agencies a on a.id = p.agency_id where {where} order by p.id limit 1",
        *args,
    )
    assert row is not None, where
    return Principal(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        agency_id=row["agency_id"],
        agency_code=row["code"],
        lab_id=row["lab_id"],
    )


async def demo_principals(url: str) -> dict[str, Principal]:
    """Principals of different sight among the demo's: CISA's and EPA's officers, a lab's liaison."""
    con = await db.connect(url)
    try:
        return {
            "CISA": await principal_named(con, "a.code = 'CISA' and p.role = 'OFFICER'"),
            "EPA": await principal_named(con, "a.code = 'EPA' and p.role = 'OFFICER'"),
            "lab": await principal_named(con, "p.role = 'LAB_LIAISON'"),
        }
    finally:
        await con.close()


@pytest.fixture
async def pool(demo_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The request role's pool on the shared demo database (the tests that use it only read)."""
    request_pool = await db.create_pool(demo_url)
    yield request_pool
    await request_pool.close()


async def read_all(
    pool: asyncpg.Pool,
    principal: Principal,
    collection: feed.Collection,
    *,
    limit: int = 400,
    added_after: datetime | None = None,
) -> list[feed.Entry]:
    """Every entry of `collection` for `principal`, page by page (each page a snapshot of its own, as over TAXII)."""
    entries: list[feed.Entry] = []
    after = None
    while True:
        async with pool.acquire() as con:
            session = Session(con, principal)
            async with session.snapshot():
                got = await feed.read_collection(session, collection, added_after=added_after, after=after, limit=limit)
        assert len(got.entries) <= limit
        entries += got.entries
        if not got.more:
            assert got.next is None
            return entries
        assert got.next is not None
        after = got.next


async def store_rows(pool: asyncpg.Pool, principal: Principal, entity: Any) -> list[dict[str, Any]]:
    """Every row of `entity` the principal sees through the store's own paged read (as GraphQL's lists)."""
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        async with pool.acquire() as con:
            session = Session(con, principal)
            async with session.snapshot():
                got = await page(session, entity, first=500, after=after)
        rows += got.rows
        if not got.has_next_page:
            return rows
        after = got.cursors[-1]


async def store_links(pool: asyncpg.Pool, principal: Principal, measure_ids: list[int]) -> set[tuple[int, int]]:
    async with pool.acquire() as con:
        session = Session(con, principal)
        async with session.snapshot():
            related = await load_related(session, FINDINGS_BY_MEASURE, measure_ids, limit=500)
    return {(m, f["id"]) for m, rows in zip(measure_ids, related, strict=True) for f in rows}


def validate(entries: list[feed.Entry], warnings: set[str], validated: set[bytes]) -> None:
    """Every object through the OASIS validator (an object served alike to several principals once)."""
    for entry in entries:
        text = orjson.dumps(entry.object, option=orjson.OPT_SORT_KEYS)
        if text in validated:
            continue
        validated.add(text)
        result = validate_instance(entry.object, VALIDATION)
        assert not result.errors, (entry.object, [str(e) for e in result.errors])
        for warning in result.warnings:
            warnings.add(re.sub(r"^[a-z0-9-]+--[0-9a-f-]{36}: ", "", str(warning)))


def of_type(entries: list[feed.Entry], kind: str) -> list[dict[str, Any]]:
    return [e.object for e in entries if e.object["type"] == kind]


async def check_principal(pool: asyncpg.Pool, principal: Principal, warnings: set[str], validated: set[bytes]) -> None:
    """Every collection for `principal`: valid, marked, ordered, and the same records as the store shows it."""
    served = {c.alias: await read_all(pool, principal, c) for c in feed.COLLECTIONS.values()}
    for alias, entries in served.items():
        validate(entries, warnings, validated)
        keys = [(e.date_added, e.object["id"]) for e in entries]
        assert [k[0] for k in keys] == sorted(k[0] for k in keys), f"{alias}: not in date_added order"
        for entry in entries:
            refs = entry.object["object_marking_refs"]
            assert len(refs) == 1 and refs[0] in content.TLP_MARKINGS.values(), entry.object
            assert (
                entry.object["type"]
                in feed.COLLECTIONS[next(c.id for c in feed.COLLECTIONS.values() if c.alias == alias)].types
            )
    findings = await store_rows(pool, principal, FINDING)
    tlp_of = {f"vulnerability--{f['stix_id']}": f["tlp"] for f in findings}
    current = [v for v in of_type(served["findings"], "vulnerability") if v.get("name") != content.WITHDRAWN_NAME]
    assert {v["id"] for v in current} == set(tlp_of)
    assert len(current) == len(tlp_of), "a finding served twice"
    for v in current:
        assert v["object_marking_refs"] == [content.TLP_MARKINGS[tlp_of[v["id"]]]]
    revoked = {f"vulnerability--{f['stix_id']}" for f in findings if f["state"] in content.REVOKED_FINDING_STATES}
    assert {v["id"] for v in current if v.get("revoked")} == revoked
    with_product = [f for f in findings if f["affected_product"]]
    assert len(of_type(served["findings"], "software")) == len(with_product)
    assert len(of_type(served["findings"], "relationship")) == len(with_product)

    measures = await store_rows(pool, principal, MEASURE)
    served_measures = [m for m in of_type(served["measures"], "course-of-action") if not m.get("revoked")]
    assert {m["id"] for m in served_measures} == {f"course-of-action--{m['stix_id']}" for m in measures}
    links = await store_links(pool, principal, [m["id"] for m in measures])
    stix_of_measure = {m["id"]: m["stix_id"] for m in measures}
    stix_of_finding = {f["id"]: f["stix_id"] for f in findings}
    expected = {
        (f"course-of-action--{stix_of_measure[m]}", f"vulnerability--{stix_of_finding[f]}")
        for m, f in links
        if f in stix_of_finding
    }
    assert {(r["source_ref"], r["target_ref"]) for r in of_type(served["measures"], "relationship")} == expected

    engagements = await store_rows(pool, principal, ENGAGEMENT)
    served_groupings = [g for g in of_type(served["engagements"], "grouping") if not g.get("revoked")]
    assert {g["id"] for g in served_groupings} == {f"grouping--{e['stix_id']}" for e in engagements}
    assert len(of_type(served["engagements"], "identity")) == len(engagements)

    identities = of_type(served["identities"], "identity")
    con = await pool.acquire()
    try:
        count = await con.fetchval("select (select count(*) from agencies) + (select count(*) from labs) + 1")
    finally:
        await pool.release(con)
    assert len(identities) == count
    assert [e["id"] for e in of_type(served["identities"], "extension-definition")] == [content.EXTENSION_ID]


async def test_demo_principals_get_valid_objects_of_what_they_see(pool: asyncpg.Pool, demo_url: str) -> None:
    warnings: set[str] = set()
    validated: set[bytes] = set()
    for principal in (await demo_principals(demo_url)).values():
        await check_principal(pool, principal, warnings, validated)
    assert warnings <= KNOWN_WARNINGS, warnings - KNOWN_WARNINGS


async def test_probe_world_principals_get_exactly_what_they_see(api: Api) -> None:
    """The probe records of every TLP, for the six principals of different sight (owner, shareWith partner, an
    agency outside, a RED recipient, the lab concerned, another lab)."""
    await build_world(api)
    request_pool = await db.create_pool(api.url)
    con = await db.connect(api.url)
    try:
        warnings: set[str] = set()
        validated: set[bytes] = set()
        for who in PRINCIPALS:
            principal = await principal_named(con, "p.name = $1", f"vis {who}")
            await check_principal(request_pool, principal, warnings, validated)
        assert warnings <= KNOWN_WARNINGS, warnings - KNOWN_WARNINGS
    finally:
        await con.close()
        await request_pool.close()


async def test_a_page_is_a_handful_of_statements(pool: asyncpg.Pool, demo_url: str) -> None:
    principal = (await demo_principals(demo_url))["CISA"]
    for collection in feed.COLLECTIONS.values():
        async with pool.acquire() as con:
            session = Session(con, principal)
            async with session.snapshot():
                got = await feed.read_collection(session, collection, limit=100)
                assert session.statements <= 3, (collection.alias, session.statements)
        assert len(got.entries) == 100 or not got.more


async def test_software_ids_are_those_stix_derives(pool: asyncpg.Pool, demo_url: str) -> None:
    principal = (await demo_principals(demo_url))["CISA"]
    software = of_type(await read_all(pool, principal, feed.FINDINGS, limit=1000), "software")
    assert software
    for sco in software:
        properties = {k: sco[k] for k in ("name", "vendor", "version") if k in sco}
        assert sco["id"] == stix2.v21.Software(**properties).id


async def test_bad_cursors_are_refused(pool: asyncpg.Pool, demo_url: str) -> None:
    principal = (await demo_principals(demo_url))["EPA"]
    for cursor in ("nope", "W10", "WyJ4IiwxLDIsM10", ""):
        async with pool.acquire() as con:
            session = Session(con, principal)
            async with session.snapshot():
                with pytest.raises(ValueError, match="^next: "):
                    await feed.read_collection(session, feed.FINDINGS, after=cursor, limit=10)


async def gql_finding(api: Api, token: str, query: str, values: dict[str, Any]) -> dict[str, Any]:
    data = await api.data(query, {"input": values}, token=token)
    payload = next(iter(data.values()))
    assert not payload["errors"], payload["errors"]
    return dict(payload["finding"])


async def cisa_finding(url: str, condition: str) -> dict[str, Any]:
    con = await db.connect(url)
    try:
        row = await con.fetchrow(
            "select f.* from findings f join agencies a on a.id = f.owner_agency_id where a.code = 'CISA'"
            f" and f.state not in ('REJECTED', 'DUPLICATE') and {condition} order by f.id limit 1"
        )
        assert row is not None
        return dict(row)
    finally:
        await con.close()


async def agency_id(url: str, code: str) -> int:
    con = await db.connect(url)
    try:
        return int(await con.fetchval("select id from agencies where code = $1", code))
    finally:
        await con.close()


def entry_of(entries: list[feed.Entry], object_id: str) -> list[feed.Entry]:
    return [e for e in entries if e.object["id"] == object_id]


async def test_polling_with_added_after_gets_a_record_shared_later_and_its_withdrawal(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    epa_token = await api.token(agency="EPA", role="OFFICER")
    nist_token = await api.token(agency="NIST", role="OFFICER")
    assert epa_token and nist_token
    con = await db.connect(api.url)
    try:
        epa = await principal_named(con, "p.name = $1", "test EPA OFFICER")
        nist = await principal_named(con, "p.name = $1", "test NIST OFFICER")
    finally:
        await con.close()
    epa_id, nist_id = await agency_id(api.url, "EPA"), await agency_id(api.url, "NIST")
    # an AMBER finding of CISA's that neither EPA nor NIST sees
    row = await cisa_finding(
        api.url,
        f"f.tlp = 'AMBER' and not (f.share_agency_ids && array[{epa_id}, {nist_id}]::bigint[])",
    )
    vulnerability_id = f"vulnerability--{row['stix_id']}"
    request_pool = await db.create_pool(api.url)
    try:
        before = await read_all(request_pool, epa, feed.FINDINGS, limit=1000)
        assert not entry_of(before, vulnerability_id)
        last = max(e.date_added for e in before)

        shared = await gql_finding(
            api,
            cisa,
            SHARE,
            {
                "id": to_global_id("Finding", row["id"]),
                "expectedVersion": row["version"],
                "tlp": "AMBER",
                "shareWithAgencyIds": [to_global_id("Agency", epa_id)],
                "reason": "coordination with EPA",
            },
        )
        polled = await read_all(request_pool, epa, feed.FINDINGS, limit=2, added_after=last)
        got = entry_of(polled, vulnerability_id)
        assert len(got) == 1 and not got[0].object.get("revoked")
        assert got[0].date_added > last
        assert got[0].object["name"] == row["title"]
        # the paging is strict and complete: the record's unit and nothing older
        assert all(e.date_added > last for e in polled)
        assert {e.object["id"] for e in polled} >= {vulnerability_id}
        shared_at = got[0].date_added

        # unshared from EPA: EPA's next poll gets a revoked version, stripped to what it had; NIST never had it
        await gql_finding(
            api,
            cisa,
            SHARE,
            {
                "id": to_global_id("Finding", row["id"]),
                "expectedVersion": shared["version"],
                "tlp": "AMBER",
                "shareWithAgencyIds": [],
                "reason": "coordination with EPA ended",
            },
        )
        polled = await read_all(request_pool, epa, feed.FINDINGS, limit=1000, added_after=shared_at)
        got = entry_of(polled, vulnerability_id)
        assert len(got) == 1
        tombstone = got[0].object
        assert tombstone["revoked"] is True and got[0].date_added > shared_at
        assert tombstone["modified"] == content.timestamp(got[0].date_added)
        assert tombstone["name"] == content.WITHDRAWN_NAME
        assert "description" not in tombstone and "extensions" not in tombstone
        assert tombstone["object_marking_refs"] == [content.TLP_MARKINGS["AMBER"]]
        assert not validate_instance(tombstone, VALIDATION).errors
        # no software or relationship of the record is left for EPA
        assert not [e for e in polled if e.object.get("target_ref") == vulnerability_id]
        # a principal that never saw it gets nothing, not even the withdrawal
        assert not entry_of(await read_all(request_pool, nist, feed.FINDINGS, limit=1000), vulnerability_id)
        # and the owner keeps the current version
        cisa_principal = (await demo_principals(api.url))["CISA"]
        mine = entry_of(await read_all(request_pool, cisa_principal, feed.FINDINGS, limit=1000), vulnerability_id)
        assert len(mine) == 1 and not mine[0].object.get("revoked")
    finally:
        await request_pool.close()


async def test_ids_are_stable_and_modified_follows_the_record(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="OFFICER")
    row = await cisa_finding(api.url, "f.tlp in ('CLEAR', 'GREEN') and f.state in ('REPORTED', 'TRIAGED')")
    vulnerability_id = f"vulnerability--{row['stix_id']}"
    principal = (await demo_principals(api.url))["EPA"]
    request_pool = await db.create_pool(api.url)
    try:

        async def current() -> feed.Entry:
            async with request_pool.acquire() as con:
                session = Session(con, principal)
                async with session.snapshot():
                    versions = await feed.read_object_versions(session, feed.FINDINGS, vulnerability_id)
            assert len(versions) == 1
            return versions[0]

        first, again = await current(), await current()
        assert first.object == again.object and first.version == first.object["modified"]

        updated = await gql_finding(
            api,
            cisa,
            UPDATE,
            {"id": to_global_id("Finding", row["id"]), "expectedVersion": row["version"], "title": "Retitled"},
        )
        second = await current()
        assert second.object["id"] == vulnerability_id
        assert second.object["name"] == "Retitled"
        assert second.object["modified"] > first.object["modified"]
        assert second.object["created"] == first.object["created"]
        assert second.date_added > first.date_added

        await gql_finding(
            api,
            cisa,
            TRANSITION,
            {
                "id": to_global_id("Finding", row["id"]),
                "expectedVersion": updated["version"],
                "to": "REJECTED",
                "reason": "not reproducible",
            },
        )
        third = await current()
        assert third.object["revoked"] is True and third.object["name"] == "Retitled"
        assert third.object["modified"] > second.object["modified"]
    finally:
        await request_pool.close()


async def test_matching_ids_and_types(pool: asyncpg.Pool, demo_url: str) -> None:
    principal = (await demo_principals(demo_url))["CISA"]
    everything = await read_all(pool, principal, feed.FINDINGS, limit=1000)
    software = of_type(everything, "software")[0]
    relationship = of_type(everything, "relationship")[0]
    vulnerability = of_type(everything, "vulnerability")[0]
    async with pool.acquire() as con:
        session = Session(con, principal)
        async with session.snapshot():
            by_id = await feed.read_collection(
                session, feed.FINDINGS, limit=10, ids={vulnerability["id"], relationship["id"], "nonsense"}
            )
            assert {e.object["id"] for e in by_id.entries} == {vulnerability["id"], relationship["id"]}
            only = await feed.read_collection(session, feed.FINDINGS, limit=50, types={"software"})
            assert {e.object["type"] for e in only.entries} == {"software"}
            sco = await feed.read_collection(session, feed.FINDINGS, limit=50, ids={software["id"]})
            assert sco.entries and all(e.object["id"] == software["id"] for e in sco.entries)
            assert all(e.version == content.timestamp(e.date_added) for e in sco.entries)
            none = await feed.read_collection(session, feed.IDENTITIES, limit=10, types={"vulnerability"})
            assert none.entries == [] and not none.more


async def test_each_record_keeps_the_time_of_its_latest_event(api: Api) -> None:
    """`last_event_at` (the feed's date_added) is the time of the record's latest event, after the demo's load and
    after writes through GraphQL."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    row = await cisa_finding(api.url, "f.state in ('REPORTED', 'TRIAGED')")
    await gql_finding(
        api,
        cisa,
        UPDATE,
        {"id": to_global_id("Finding", row["id"]), "expectedVersion": row["version"], "title": "Retitled again"},
    )
    con = await db.connect(api.url)
    try:
        for kind, table in (
            ("FINDING", "findings"),
            ("MEASURE", "cyber_measures"),
            ("ENGAGEMENT", "infrastructure_engagements"),
            ("COUNTERPART", "infrastructure_counterparts"),
            ("AGENCY", "agencies"),
            ("LAB", "labs"),
        ):
            stale = await con.fetchval(
                f"""select count(*) from {table} t
                     where t.last_event_at is distinct from greatest(t.created_at, coalesce(
                           (select max(e.at) from events e where e.entity_kind = $1 and e.entity_id = t.id),
                           t.last_event_at))""",
                kind,
            )
            assert stale == 0, table
        latest = await con.fetchrow(
            "select at, (select last_event_at from findings where id = $1) as kept from events"
            " where entity_kind = 'FINDING' and entity_id = $1 order by id desc limit 1",
            row["id"],
        )
        assert latest is not None and latest["kept"] == latest["at"]
    finally:
        await con.close()


UPDATE_ENGAGEMENT = """mutation($input: UpdateEngagementInput!) { updateEngagement(input: $input) {
  engagement { id version } errors { field code message } } }"""


async def test_an_engagement_unshared_is_withdrawn_as_a_valid_grouping(api: Api) -> None:
    """A revoked grouping still names one object (the hub's identity, which says nothing of the engagement); the
    counterpart, seen only through the engagement, is no longer listed."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    await api.token(agency="EPA", role="OFFICER")
    epa_id = await agency_id(api.url, "EPA")
    con = await db.connect(api.url)
    try:
        epa = await principal_named(con, "p.name = $1", "test EPA OFFICER")
        row = await con.fetchrow(
            "select g.*, c.stix_id as counterpart_stix_id from infrastructure_engagements g"
            " join agencies a on a.id = g.owner_agency_id join infrastructure_counterparts c on c.id = g.counterpart_id"
            " where a.code = 'CISA' and g.tlp = 'AMBER' and not $1::bigint = any(g.share_agency_ids)"
            " and not exists (select 1 from infrastructure_engagements o where o.counterpart_id = g.counterpart_id"
            " and o.id <> g.id) order by g.id limit 1",
            epa_id,
        )
        assert row is not None
        hub_identity = content.identity_ref(await con.fetchval("select stix_id from hub_instance"))
    finally:
        await con.close()
    grouping_id, counterpart_id = f"grouping--{row['stix_id']}", f"identity--{row['counterpart_stix_id']}"
    engagement = to_global_id("InfrastructureEngagement", row["id"])
    request_pool = await db.create_pool(api.url)
    try:
        data = await api.data(
            UPDATE_ENGAGEMENT,
            {
                "input": {
                    "id": engagement,
                    "expectedVersion": row["version"],
                    "tlp": "AMBER",
                    "shareWithAgencyIds": [to_global_id("Agency", epa_id)],
                }
            },
            token=cisa,
        )
        assert not data["updateEngagement"]["errors"], data
        seen = await read_all(request_pool, epa, feed.ENGAGEMENTS, limit=1000)
        assert entry_of(seen, grouping_id) and entry_of(seen, counterpart_id)
        last = max(e.date_added for e in seen)

        data = await api.data(
            UPDATE_ENGAGEMENT,
            {
                "input": {
                    "id": engagement,
                    "expectedVersion": data["updateEngagement"]["engagement"]["version"],
                    "tlp": "AMBER",
                    "shareWithAgencyIds": [],
                }
            },
            token=cisa,
        )
        assert not data["updateEngagement"]["errors"], data
        polled = await read_all(request_pool, epa, feed.ENGAGEMENTS, limit=1000, added_after=last)
        assert [e.object["id"] for e in polled] == [grouping_id]
        tombstone = polled[0].object
        assert tombstone["revoked"] is True and tombstone["object_refs"] == [hub_identity]
        assert not validate_instance(tombstone, VALIDATION).errors
        everything = await read_all(request_pool, epa, feed.ENGAGEMENTS, limit=1000)
        assert not entry_of(everything, counterpart_id)
        assert [e.object.get("revoked") for e in entry_of(everything, grouping_id)] == [True]
    finally:
        await request_pool.close()


UPDATE_COUNTERPART = """mutation($input: UpdateInfrastructureCounterpartInput!) {
  updateInfrastructureCounterpart(input: $input) { infrastructureCounterpart { id } errors { field code message } } }"""


async def test_a_counterpart_changed_reaches_a_poller(api: Api) -> None:
    """A counterpart's identity is served with its engagement's unit, added and modified at the later of the two
    records' times: a change of the counterpart alone reaches a poller too."""
    cisa = await api.token(agency="CISA", role="OFFICER")
    await api.token(agency="EPA", role="OFFICER")
    con = await db.connect(api.url)
    try:
        epa = await principal_named(con, "p.name = $1", "test EPA OFFICER")
        row = await con.fetchrow(
            "select c.* from infrastructure_counterparts c join infrastructure_engagements g on g.counterpart_id = c.id"
            " where g.tlp in ('CLEAR', 'GREEN') order by c.id limit 1"
        )
        assert row is not None
    finally:
        await con.close()
    counterpart_id = f"identity--{row['stix_id']}"
    request_pool = await db.create_pool(api.url)
    try:
        seen = await read_all(request_pool, epa, feed.ENGAGEMENTS, limit=1000)
        before = entry_of(seen, counterpart_id)
        assert before
        last = max(e.date_added for e in seen)
        data = await api.data(
            UPDATE_COUNTERPART,
            {
                "input": {
                    "id": to_global_id("InfrastructureCounterpart", row["id"]),
                    "expectedVersion": row["version"],
                    "name": "Renamed utility (fictional)",
                }
            },
            token=cisa,
        )
        assert not data["updateInfrastructureCounterpart"]["errors"], data
        polled = await read_all(request_pool, epa, feed.ENGAGEMENTS, limit=1000, added_after=last)
        got = entry_of(polled, counterpart_id)
        assert got and all(e.object["name"] == "Renamed utility (fictional)" for e in got)
        assert all(e.object["modified"] > before[0].object["modified"] for e in got)
    finally:
        await request_pool.close()
