"""The STIX feed: what each principal gets of a collection, under the visibility rule, in `date_added` order
(docs/design.md, "STIX content"). The TAXII layer (hub/taxii.py) serves it.

Every read runs through the principal's Session (row-level security holds) and filters each record with
hub.access.visible, the one definition of who sees what. A record's objects are listed to a principal only while it
may see the record through GraphQL.

`date_added` of a record's current version is the time of the latest event about the record (every change, sharing
and takeover included, records one; the events' times follow commit order, sql/021_stix_feed.sql): a poller that asks
for what was added after the last `date_added` it saw never misses a record shared with it later. A relationship
between two records is added at the later of their two times. Records a sharing change took from the principal are
served as revoked objects (`hub_stix_withdrawn`, the event fan-out's ACCESS_REVOKED rule: hub.access.
was_visible_before), at the time of that change, and only to principals who had them.

A page is a handful of statements whatever its size: one for the keys of the page (every visible record's time,
computed in SQL, ordered and cut there), then one per kind of record on the page for the objects' content.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from hub.access import Params, visible
from hub.stix import content
from hub.store.base import Session

MEDIA_TYPE = "application/stix+json;version=2.1"


@dataclass(frozen=True)
class Collection:
    """One TAXII collection: the records of some kinds, as STIX objects of some types."""

    id: str
    alias: str
    title: str
    description: str
    kinds: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One STIX object as served to one principal."""

    object: dict[str, Any]
    date_added: datetime
    version: str
    media_type: str = MEDIA_TYPE


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    more: bool
    next: str | None


FINDINGS = Collection(
    id="4f0c2a7e-1d0b-4c53-9a39-6b8f1f6a8d01",
    alias="findings",
    title="Findings",
    description=(
        "Vulnerabilities reported in the program (found by frontier AI models, agencies or labs, or listed in CISA's"
        " KEV catalogue), with the software they affect."
    ),
    kinds=("FINDING",),
    types=("vulnerability", "software", "relationship"),
)
MEASURES = Collection(
    id="8a3e5b14-6c2f-4d7a-b0e4-2f9c7d1e5a02",
    alias="measures",
    title="DoD cyber measures",
    description="The Department of Defense's cyber measures as courses of action, and the findings they mitigate.",
    kinds=("MEASURE",),
    types=("course-of-action", "relationship"),
)
ENGAGEMENTS = Collection(
    id="c2d7f1a9-3b5e-4e8c-9f06-7a1b4c8d2e03",
    alias="engagements",
    title="Infrastructure engagements",
    description="CISA's engagements of labs with critical-infrastructure counterparts, and the findings they concern.",
    kinds=("ENGAGEMENT", "COUNTERPART"),
    types=("grouping", "identity", "relationship"),
)
IDENTITIES = Collection(
    id="e6b9a4c3-7d1f-4a2b-8e5c-0f3d9b6a1c04",
    alias="identities",
    title="Identities",
    description="The agencies and labs of the program, the hub itself, and the hub's STIX extension definition.",
    kinds=("AGENCY", "LAB"),
    types=("identity", "extension-definition"),
)
COLLECTIONS: dict[str, Collection] = {c.id: c for c in (FINDINGS, MEASURES, ENGAGEMENTS, IDENTITIES)}

# the types whose ids are a record's stored stix_id (found by an index); the others (software, relationships) are
# derived from their content, and a match on them scans the collection
RECORD_TYPES = {"vulnerability", "course-of-action", "grouping", "identity", "extension-definition"}
TLP_ARRAY = "array[" + ", ".join(f"'{t}'" for t in content.TLP_ORDER) + "]"
KEY_COLUMNS = "added, rank, rid, pos, otype, tomb, stix_id, created, tlp, other_id, other_stix"
MAX_SCAN_CHUNK = 500


def added(kind: str, a: str) -> str:
    """When the current version of record `a` of `kind` was made: the time of its latest event, kept on the record
    (`last_event_at`, sql/021_stix_feed.sql)."""
    return f"{a}.last_event_at"


def stricter_sql(a: str, b: str) -> str:
    return f"({TLP_ARRAY})[greatest(array_position({TLP_ARRAY}, {a}), array_position({TLP_ARRAY}, {b}))]"


@dataclass
class Query:
    """What a read asks for, turned into SQL conditions."""

    session: Session
    p: Params
    uuids: list[str] | None  # record stix ids to find by index (None: all)
    since: datetime | None  # revocations after this time only
    added_after: datetime | None = None
    after: Key | None = None
    # at most this many records of the unit rows are needed (each gives its first object at least)
    record_limit: int | None = None

    def rule(self, kind: str, a: str) -> str:
        return visible(kind, a, self.session.principal, self.p)

    def by_id(self, a: str) -> str:
        return "" if self.uuids is None else f" and {a}.stix_id = any({self.p(self.uuids)}::uuid[])"

    def withdrawn(self, kind: str, otype: str, rank: int = 0) -> str:
        return (
            f"select w.at, {rank}, w.entity_id, 0::bigint, '{otype}'::text, true, w.stix_id, w.created_at, w.tlp,"
            f" null::bigint, null::uuid from hub_stix_withdrawn('{kind}', {self.p(self.since)}::timestamptz) w"
        )

    def window(self, a: str) -> str:
        """The records whose unit rows can be on the page, first ones first (the index on (last_event_at, id))."""
        conditions = ""
        if self.added_after is not None:
            conditions += f" and {added('', a)} > {self.p(self.added_after)}::timestamptz"
        if self.after is not None:
            at, rid = self.p(self.after[0]), self.p(self.after[2])
            conditions += f" and ({added('', a)}, {a}.id) >= ({at}::timestamptz, {rid}::bigint)"
        if self.record_limit is not None:
            conditions += f" order by {added('', a)}, {a}.id limit {self.p(self.record_limit)}"
        return conditions


def findings_keys(q: Query) -> str:
    return (
        f"select t.added, 0, t.id, u.pos::bigint, u.otype::text, false, t.stix_id, t.created_at, t.tlp, null::bigint,"
        f" null::uuid"
        f" from (select t.*, {added('FINDING', 't')} as added from findings t"
        f" where {q.rule('FINDING', 't')}{q.by_id('t')}{q.window('t')}) t"
        " cross join lateral (values (0, 'vulnerability'), (1, 'software'), (2, 'relationship')) u(pos, otype)"
        " where u.pos = 0 or t.affected_product is not null"
        f" union all {q.withdrawn('FINDING', 'vulnerability')}"
    )


def linked_keys(q: Query, kind: str, table: str, link: str, own: str, relationship_rank: int) -> str:
    """The relationship rows between the records of `kind` visible to the principal and the findings they link
    (through `link`, whose column `own` holds the record's id) that it sees too."""
    return (
        f"select greatest(r.added, f.added), {relationship_rank}, r.id, f.id, 'relationship', false, r.stix_id,"
        f" greatest(r.created_at, f.created_at), {stricter_sql('r.tlp', 'f.tlp')}, f.id, f.stix_id"
        f" from (select t.id, t.stix_id, t.created_at, t.tlp, {added(kind, 't')} as added from {table} t"
        f" where {q.rule(kind, 't')}) r"
        f" join {link} l on l.{own} = r.id"
        f" join lateral (select f.id, f.stix_id, f.created_at, f.tlp, {added('FINDING', 'f')} as added from findings f"
        f" where f.id = l.finding_id and {q.rule('FINDING', 'f')}) f on true"
    )


def measures_keys(q: Query) -> str:
    units = (
        f"select t.added, 0, t.id, 0::bigint, 'course-of-action'::text, false, t.stix_id, t.created_at, t.tlp,"
        f" null::bigint, null::uuid"
        f" from (select t.*, {added('MEASURE', 't')} as added from cyber_measures t"
        f" where {q.rule('MEASURE', 't')}{q.by_id('t')}) t"
    )
    if q.uuids is not None:
        return f"{units} union all {q.withdrawn('MEASURE', 'course-of-action')}"
    links = linked_keys(q, "MEASURE", "cyber_measures", "measure_findings", "measure_id", 1)
    return f"{units} union all {links} union all {q.withdrawn('MEASURE', 'course-of-action')}"


def engagements_keys(q: Query) -> str:
    by_id = ""
    if q.uuids is not None:
        u = q.p(q.uuids)
        by_id = f" and (t.stix_id = any({u}::uuid[]) or c.stix_id = any({u}::uuid[]))"
    units = (
        # the counterpart's identity changes with the counterpart and with the engagement (its marking): added, and
        # modified, at the later of the two
        f"select case u.pos when 0 then t.added else greatest(t.added, t.counterpart_added) end, 0, t.id,"
        f" u.pos::bigint, u.otype::text, false,"
        f" case u.pos when 0 then t.stix_id else t.counterpart_stix_id end, t.created_at, t.tlp, null::bigint,"
        f" null::uuid"
        f" from (select t.*, c.stix_id as counterpart_stix_id, {added('COUNTERPART', 'c')} as counterpart_added,"
        f" {added('ENGAGEMENT', 't')} as added"
        f" from infrastructure_engagements t join infrastructure_counterparts c on c.id = t.counterpart_id"
        f" where {q.rule('ENGAGEMENT', 't')} and {q.rule('COUNTERPART', 'c')}{by_id}) t"
        " cross join lateral (values (0, 'grouping'), (1, 'identity')) u(pos, otype)"
    )
    if q.uuids is not None:
        return f"{units} union all {q.withdrawn('ENGAGEMENT', 'grouping')}"
    links = linked_keys(q, "ENGAGEMENT", "infrastructure_engagements", "engagement_findings", "engagement_id", 1)
    return f"{units} union all {links} union all {q.withdrawn('ENGAGEMENT', 'grouping')}"


def identities_keys(q: Query) -> str:
    parts = []
    for rank, (kind, table) in enumerate((("AGENCY", "agencies"), ("LAB", "labs"))):
        parts.append(
            f"select {added(kind, 't')}, {rank}, t.id, 0::bigint, 'identity'::text, false, t.stix_id, t.created_at,"
            f" 'CLEAR'::text, null::bigint, null::uuid from {table} t where {q.rule(kind, 't')}{q.by_id('t')}"
        )
    extension_uuid = content.EXTENSION_ID.split("--")[1]
    hub_by_id = "" if q.uuids is None else f" where h.stix_id = any({q.p(q.uuids)}::uuid[])"
    extension_by_id = "" if q.uuids is None else f" where '{extension_uuid}'::uuid = any({q.p(q.uuids)}::uuid[])"
    parts.append(
        "select h.created_at, 2, 0::bigint, 0::bigint, 'identity', false, h.stix_id, h.created_at, 'CLEAR', null,"
        f" null from hub_instance h{hub_by_id}"
    )
    parts.append(
        "select h.created_at, 2, 0::bigint, 1::bigint, 'extension-definition', false,"
        f" '{extension_uuid}'::uuid, h.created_at, 'CLEAR', null, h.stix_id from hub_instance h{extension_by_id}"
    )
    return " union all ".join(parts)


KEYS: dict[str, Callable[[Query], str]] = {
    FINDINGS.alias: findings_keys,
    MEASURES.alias: measures_keys,
    ENGAGEMENTS.alias: engagements_keys,
    IDENTITIES.alias: identities_keys,
}


# ------------------------------------------------------------------------------------------------ cursors

Key = tuple[datetime, int, int, int]


def encode_next(key: Key) -> str:
    raw = orjson.dumps([key[0].isoformat(), key[1], key[2], key[3]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_next(cursor: str) -> Key:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, rank, rid, pos = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in (rank, rid, pos)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise ValueError("next: not a page cursor this server issued") from None
    return when, rank, rid, pos


# ------------------------------------------------------------------------------------------------ content


async def _rows(q: Session, sql: str, p: Params) -> dict[int, dict[str, Any]]:
    return {r["id"]: dict(r) for r in await q.fetch(sql, *p.values)}


async def load_findings(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    p = Params()
    rule = visible("FINDING", "t", session.principal, p)
    return await _rows(
        session,
        "select t.*, 'identity--' || coalesce(oa.stix_id, ol.stix_id) as owner_ref,"
        " 'identity--' || lab.stix_id as lab_ref"
        " from findings t left join agencies oa on oa.id = t.owner_agency_id"
        " left join labs ol on ol.id = t.owner_lab_id left join labs lab on lab.id = t.lab_id"
        f" where t.id = any({p(ids)}::bigint[]) and {rule}",
        p,
    )


async def load_measures(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    p = Params()
    rule = visible("MEASURE", "t", session.principal, p)
    return await _rows(
        session,
        "select t.*, 'identity--' || oa.stix_id as owner_ref from cyber_measures t"
        f" join agencies oa on oa.id = t.owner_agency_id where t.id = any({p(ids)}::bigint[]) and {rule}",
        p,
    )


async def load_engagements(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    p = Params()
    rule = visible("ENGAGEMENT", "t", session.principal, p)
    counterpart_rule = visible("COUNTERPART", "c", session.principal, p)
    return await _rows(
        session,
        "select t.*, 'identity--' || oa.stix_id as owner_ref, 'identity--' || lab.stix_id as lab_ref,"
        " c.stix_id as counterpart_stix_id, c.created_at as counterpart_created_at, c.name as counterpart_name,"
        " c.kind as counterpart_kind, c.sector as counterpart_sector"
        " from infrastructure_engagements t join agencies oa on oa.id = t.owner_agency_id"
        " join labs lab on lab.id = t.lab_id join infrastructure_counterparts c on c.id = t.counterpart_id"
        f" where t.id = any({p(ids)}::bigint[]) and {rule} and {counterpart_rule}",
        p,
    )


async def load_table(session: Session, kind: str, table: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    p = Params()
    rule = visible(kind, "t", session.principal, p)
    return await _rows(session, f"select t.* from {table} t where t.id = any({p(ids)}::bigint[]) and {rule}", p)


async def hub_ref(session: Session) -> str:
    return content.identity_ref(await session.fetchval("select stix_id from hub_instance"))


async def build(
    session: Session, collection: Collection, keys: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], Entry]]:
    """The objects of `keys` (rows of the keys statement), one statement per kind of record among them."""
    wanted: dict[int, list[int]] = {}
    for k in keys:
        if not k["tomb"] and k["rank"] in (0, 1):
            wanted.setdefault(k["rank"], []).append(k["rid"])
    records: dict[int, dict[int, dict[str, Any]]] = {}
    alias = collection.alias
    if alias == FINDINGS.alias and 0 in wanted:
        records[0] = await load_findings(session, wanted[0])
    elif alias == MEASURES.alias and 0 in wanted:
        records[0] = await load_measures(session, wanted[0])
    elif alias == ENGAGEMENTS.alias and 0 in wanted:
        records[0] = await load_engagements(session, wanted[0])
    elif alias == IDENTITIES.alias:
        if 0 in wanted:
            records[0] = await load_table(session, "AGENCY", "agencies", wanted[0])
        if 1 in wanted:
            records[1] = await load_table(session, "LAB", "labs", wanted[1])
    hub = None
    if any(k["tomb"] and k["otype"] == "grouping" for k in keys):
        hub = await hub_ref(session)
    entries = []
    for k in keys:
        obj = build_object(collection, k, records, hub)
        if obj is None:  # changed between the statements of a read outside a snapshot: left for the next poll
            continue
        version = content.timestamp(k["added"]) if "modified" not in obj else obj["modified"]
        entries.append((k, Entry(object=obj, date_added=k["added"], version=version)))
    return entries


def build_object(
    collection: Collection, k: dict[str, Any], records: dict[int, dict[int, dict[str, Any]]], hub: str | None
) -> dict[str, Any] | None:
    at = k["added"]
    if k["tomb"]:
        return content.withdrawn(k["otype"], k["stix_id"], k["created"], at, k["tlp"] or "RED", hub or "")
    alias = collection.alias
    if alias in (MEASURES.alias, ENGAGEMENTS.alias) and k["rank"] == 1:
        source_type = "course-of-action" if alias == MEASURES.alias else "grouping"
        return content.link_relationship(
            "mitigates" if alias == MEASURES.alias else "related-to",
            f"{source_type}--{k['stix_id']}",
            f"vulnerability--{k['other_stix']}",
            k["tlp"],
            k["created"],
            at,
        )
    if alias == IDENTITIES.alias:
        if k["rank"] == 2:
            if k["pos"] == 0:
                return content.hub_identity(k["stix_id"], k["created"])
            return content.extension_definition(k["other_stix"])
        row = records.get(k["rank"], {}).get(k["rid"])
        if row is None:
            return None
        return content.agency_identity(row, at) if k["rank"] == 0 else content.lab_identity(row, at)
    row = records.get(0, {}).get(k["rid"])
    if row is None:
        return None
    if alias == FINDINGS.alias:
        unit = content.finding_unit(row, at)
        return unit[k["pos"]] if k["pos"] < len(unit) else None
    if alias == MEASURES.alias:
        return content.course_of_action(row, at)
    if k["pos"] == 0:
        return content.grouping(row, at)
    return content.counterpart(row, at, row["tlp"])


# ------------------------------------------------------------------------------------------------ reads


def split_ids(collection: Collection, ids: set[str] | None) -> tuple[list[str] | None, bool]:
    """The record stix ids among `ids` to find by index, and whether some id needs a scan (a derived one)."""
    if ids is None:
        return None, False
    uuids, scan = [], False
    for object_id in ids:
        kind, _, rest = object_id.partition("--")
        if kind not in collection.types:
            continue
        if kind in RECORD_TYPES:
            try:
                uuids.append(str(uuid.UUID(rest)))
            except ValueError:
                continue
        else:
            scan = True
    return uuids, scan


async def read_keys(
    session: Session,
    collection: Collection,
    *,
    added_after: datetime | None,
    after: Key | None,
    limit: int | None,
    types: set[str] | None,
    uuids: list[str] | None,
    ids: set[str] | None,
) -> list[dict[str, Any]]:
    p = Params()
    since = added_after
    if after is not None:
        start = after[0] - timedelta(microseconds=1)
        since = start if since is None else max(since, start)
    q = Query(session=session, p=p, uuids=uuids, since=since, added_after=added_after, after=after)
    if limit is not None and ids is None and (types is None or "vulnerability" in types):
        # a finding's unit starts with its vulnerability: limit + 1 records after the cursor's fill the page
        q.record_limit = limit + 2
    conditions = []
    source = KEYS[collection.alias](q)
    if added_after is not None:
        conditions.append(f"k.added > {p(added_after)}::timestamptz")
    if after is not None:
        at, rank, rid, pos = after
        conditions.append(
            f"(k.added, k.rank, k.rid, k.pos) > ({p(at)}::timestamptz, {p(rank)}::int, {p(rid)}::bigint,"
            f" {p(pos)}::bigint)"
        )
    if types is not None:
        conditions.append(f"k.otype = any({p(sorted(types))}::text[])")
    if ids is not None:
        conditions.append(f"(k.otype || '--' || k.stix_id::text) = any({p(sorted(ids))}::text[])")
    where = " where " + " and ".join(conditions) if conditions else ""
    cut = f" limit {p(limit)}" if limit is not None else ""
    sql = f"select * from ({source}) k({KEY_COLUMNS}){where} order by k.added, k.rank, k.rid, k.pos{cut}"
    return [dict(r) for r in await session.fetch(sql, *p.values)]


async def read_collection(
    session: Session,
    collection: Collection,
    *,
    added_after: datetime | None = None,
    after: str | None = None,
    limit: int,
    types: set[str] | None = None,
    ids: set[str] | None = None,
) -> Page:
    """A page of at most `limit` objects of `collection` that the session's principal may have, in (date_added,
    record, position in its unit) order, strictly after `added_after` and after the cursor `after` (a Page's
    `next`). Raises ValueError("next: ...") for a cursor that is not one of ours."""
    if limit < 1:
        raise ValueError("limit: must be 1 or more")
    cursor = decode_next(after) if after is not None else None
    if types is not None:
        types = types & set(collection.types)
        if not types:
            return Page(entries=[], more=False, next=None)
    uuids, scan = split_ids(collection, ids)
    if ids is not None and not uuids and not scan:
        return Page(entries=[], more=False, next=None)
    if not scan:
        keys = await read_keys(
            session,
            collection,
            added_after=added_after,
            after=cursor,
            limit=limit + 1,
            types=types,
            uuids=uuids,
            ids=ids,
        )
        more = len(keys) > limit
        keys = keys[:limit]
        entries = [entry for _, entry in await build(session, collection, keys)]
        last = keys[-1] if keys else None
    else:
        # a derived id (software, relationship): every object of the collection is built and matched
        keys = await read_keys(
            session, collection, added_after=added_after, after=cursor, limit=None, types=types, uuids=None, ids=None
        )
        matched: list[tuple[dict[str, Any], Entry]] = []
        for start in range(0, len(keys), MAX_SCAN_CHUNK):
            chunk = keys[start : start + MAX_SCAN_CHUNK]
            for k, entry in await build(session, collection, chunk):
                if entry.object["id"] in (ids or set()):
                    matched.append((k, entry))
        more = len(matched) > limit
        matched = matched[:limit]
        entries = [e for _, e in matched]
        last = matched[-1][0] if matched else None
    next_cursor = encode_next((last["added"], last["rank"], last["rid"], last["pos"])) if more and last else None
    return Page(entries=entries, more=more, next=next_cursor)


async def read_object_versions(session: Session, collection: Collection, object_id: str) -> list[Entry]:
    """Every version the principal may have of one object: the current one (the hub keeps no earlier content);
    the same derived object (a software product, a counterpart) served in several units is listed once per distinct
    version. [] when none."""
    entries: list[Entry] = []
    after = None
    while True:
        page = await read_collection(session, collection, after=after, limit=1000, ids={object_id})
        entries += page.entries
        if not page.more:
            break
        after = page.next
    seen: dict[str, Entry] = {}
    for entry in entries:
        seen.setdefault(entry.version, entry)
    return sorted(seen.values(), key=lambda e: e.version)
