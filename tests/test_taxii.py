"""The TAXII 2.1 server (hub/taxii.py) over a real `hub serve`, read as an agency's tools read it: taxii2-client
discovers it, lists the collections and pages through objects with added_after; stix2-validator passes every object
served to principals of different sight; each principal gets through TAXII exactly the records it sees through
GraphQL; every refusal is in TAXII's error format, and hostile parameters get a 400 or 404 naming them."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.common import TokenAuth
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from hub import db
from hub.auth import create_principal_with_token
from schema.common import from_global_id
from tests.conftest import Server as PgServer
from tests.conftest import clone_database, drop_database
from tests.live import Served, graphql_data, serving

TAXII = "application/taxii+json;version=2.1"
# principals of different sight: the owner of most demo findings, an agency that sees what is shared with it, a lab
WHO = {"cisa": ("CISA", None), "epa": ("EPA", None), "lab": (None, "Anthropic")}
# the STIX type of each kind's record, the collection that serves it, and the GraphQL list of the same records
KINDS = {
    "findings": ("vulnerability", "findings", "Finding"),
    "measures": ("course-of-action", "measures", "CyberMeasure"),
    "engagements": ("grouping", "engagements", "InfrastructureEngagement"),
}
TABLES = {
    "Finding": "findings",
    "CyberMeasure": "cyber_measures",
    "InfrastructureEngagement": "infrastructure_engagements",
}
STIX_TYPES = {"Finding": "vulnerability", "CyberMeasure": "course-of-action", "InfrastructureEngagement": "grouping"}


class BearerAuth(requests.auth.AuthBase):
    """The hub's tokens, as a TAXII client configured with a bearer token sends them."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


@dataclass
class Hub:
    served: Served
    url: str  # the database's
    tokens: dict[str, str]
    # (GraphQL type, primary key) -> the record's STIX id, read from the database as its owner
    stix: dict[tuple[str, int], str]

    def stix_id(self, type_name: str, global_id: str) -> str:
        named, pk = from_global_id(global_id)
        assert named == type_name, (named, type_name)
        return self.stix[(type_name, pk)]

    @property
    def root(self) -> str:
        return self.served.url + "/taxii2/"

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": TAXII, **kwargs.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.get(self.root + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture(scope="module")
async def hub(pg_server: PgServer, template_url: str) -> AsyncIterator[Hub]:
    name = f"hub_test_taxii_{uuid.uuid4().hex[:8]}"
    url = await clone_database(pg_server, name)
    con = await db.connect(url)
    try:
        tokens = {}
        for who, (agency, lab) in WHO.items():
            role = "LAB_LIAISON" if lab else "OFFICER"
            _, tokens[who] = await create_principal_with_token(
                con, agency_code=agency, role=role, lab_name=lab, name=f"taxii test {who}"
            )
        stix = {}
        for type_name, table in TABLES.items():
            for row in await con.fetch(f"select id, stix_id from {table}"):
                stix[(type_name, row["id"])] = f"{STIX_TYPES[type_name]}--{row['stix_id']}"
    finally:
        await con.close()
    try:
        with serving(url) as served:
            yield Hub(served, url, tokens, stix)
    finally:
        await drop_database(pg_server, name)


def collections(hub: Hub, token: str) -> dict[str, Collection]:
    root = ApiRoot(hub.root + "api/", auth=BearerAuth(token))
    return {c.alias: c for c in root.collections}


def all_objects(collection: Collection, per_request: int = 1000, **filters: Any) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for envelope in as_pages(collection.get_objects, per_request=per_request, **filters):
        objects.extend(envelope.get("objects", []))
    return objects


def is_taxii_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == TAXII
    assert response.headers.get("x-request-id")
    body = dict(response.json())
    assert body["http_status"] == str(status), body
    assert body["title"] and body["description"] and body["error_code"], body
    assert body["error_id"] == response.headers["x-request-id"]
    # and the hub's own envelope, as on every other path
    [error] = body["errors"]
    assert error["message"] == body["description"], body
    assert error["extensions"] == {"code": body["error_code"], "requestId": body["error_id"]}, body
    assert "Traceback" not in response.text
    return body


# ------------------------------------------------------------------------------------------------ taxii2-client


def test_discovery_and_collections(hub: Hub) -> None:
    server = Server(hub.root, auth=BearerAuth(hub.tokens["epa"]))
    assert server.title
    assert [r.url for r in server.api_roots] == [hub.root + "api/"]
    assert server.default is not None and server.default.url == hub.root + "api/"
    root = server.default
    assert TAXII in root.versions
    found = {c.alias: c for c in root.collections}
    assert set(found) == {"findings", "measures", "engagements", "identities"}
    for collection in found.values():
        assert collection.can_read and not collection.can_write
        assert collection.media_types == ["application/stix+json;version=2.1"]
        assert uuid.UUID(collection.id)


def test_the_token_schemes_clients_send(hub: Hub) -> None:
    """OpenCTI's connector and taxii2-client's TokenAuth send `Authorization: Token <token>`: read as Bearer. Basic
    authentication is not the hub's (401, which says to send a bearer token). A request id the client sends is kept."""
    root = ApiRoot(hub.root + "api/", auth=TokenAuth(hub.tokens["lab"]))
    assert {c.alias for c in root.collections} == {"findings", "measures", "engagements", "identities"}
    basic = httpx.get(hub.root + "api/", auth=("user", hub.tokens["lab"]), headers={"Accept": TAXII})
    assert is_taxii_error(basic, 401)["error_code"] == "UNAUTHENTICATED"
    answered = hub.get("api/", hub.tokens["lab"], headers={"X-Request-Id": "poll-42"})
    assert answered.status_code == 200 and answered.headers["x-request-id"] == "poll-42"
    refused = hub.get("api/collections/nothing/", hub.tokens["lab"], headers={"X-Request-Id": "poll-43"})
    assert is_taxii_error(refused, 404)["error_id"] == "poll-43"


def test_paging_with_added_after_and_next(hub: Hub) -> None:
    """Pages of 1000 and pages of 3 (`limit`, then `next`) give the same objects in the same order, none twice;
    added_after gives exactly those added after a point; X-TAXII-Date-Added-Last resumes a poll with nothing
    missed."""
    findings = collections(hub, hub.tokens["cisa"])["findings"]
    whole = all_objects(findings)
    manifest = [m for page in as_pages(findings.get_manifest, per_request=1000) for m in page.get("objects", [])]
    assert len(whole) == len(manifest) > 1000
    assert [m["id"] for m in manifest] == [o["id"] for o in whole]
    assert [m["date_added"] for m in manifest] == sorted(m["date_added"] for m in manifest)
    middle = manifest[len(manifest) // 2]["date_added"]
    later = all_objects(findings, added_after=middle)
    assert [o["id"] for o in later] == [m["id"] for m in manifest if m["date_added"] > middle]
    # the last objects, in pages of three
    cut = manifest[-20]["date_added"]
    tail = [(m["id"], m["version"]) for m in manifest if m["date_added"] > cut]
    paged = all_objects(findings, per_request=3, added_after=cut)
    assert [(o["id"], o.get("modified")) for o in paged] == [
        (i, v if not i.startswith("software--") else None) for i, v in tail
    ]
    # the headers of a page name its first and last date_added
    url = "api/collections/" + findings.id + "/objects/"
    first_page = hub.get(url, hub.tokens["cisa"], params={"limit": 4, "added_after": cut})
    assert first_page.status_code == 200 and first_page.headers["content-type"] == TAXII
    assert first_page.json()["more"] is True and first_page.json()["next"]
    added = [m["date_added"] for m in manifest if m["date_added"] > cut][:4]
    assert first_page.headers["x-taxii-date-added-first"] == min(added)
    assert first_page.headers["x-taxii-date-added-last"] == max(added)
    # the last page's X-TAXII-Date-Added-Last, sent as the next poll's added_after, gives nothing new yet
    last_page = hub.get(url, hub.tokens["cisa"], params={"limit": 1000, "added_after": cut})
    assert last_page.json()["more"] is False
    assert last_page.headers["x-taxii-date-added-last"] == manifest[-1]["date_added"]
    assert all_objects(findings, added_after=last_page.headers["x-taxii-date-added-last"]) == []


def test_a_finding_shared_later_reaches_a_poller(hub: Hub) -> None:
    """EPA polls; CISA then shares a finding with EPA; EPA's next poll (added_after = the last date_added it saw)
    brings it: date_added is when the current version became visible to EPA, not when the record was made. CISA then
    unshares it: EPA's next poll brings it withdrawn (revoked, nothing of its content)."""
    epa = collections(hub, hub.tokens["epa"])["findings"]
    seen = [m for page in as_pages(epa.get_manifest, per_request=1000) for m in page.get("objects", [])]
    last = max(m["date_added"] for m in seen)
    data = graphql_data(
        hub.served,
        hub.tokens["cisa"],
        """{ findings(first: 500, filter: {tlp: [AMBER]}) { nodes { id version ownerAgency { code }
               shareWith { __typename ... on Agency { id } ... on Lab { id } } } }
             agencies(first: 100) { nodes { id code } } }""",
    )
    epa_id = next(a["id"] for a in data["agencies"]["nodes"] if a["code"] == "EPA")
    seen_ids = {m["id"] for m in seen}
    finding = next(
        f
        for f in data["findings"]["nodes"]
        if (f["ownerAgency"] or {}).get("code") == "CISA" and vulnerability_id_of(hub, f["id"]) not in seen_ids
    )
    agencies = [t["id"] for t in finding["shareWith"] if t["__typename"] == "Agency"] + [epa_id]
    labs = [t["id"] for t in finding["shareWith"] if t["__typename"] == "Lab"]
    graphql_data(
        hub.served,
        hub.tokens["cisa"],
        "mutation($input: ShareFindingInput!) { shareFinding(input: $input) { finding { id } errors { message } } }",
        input={
            "id": finding["id"],
            "expectedVersion": finding["version"],
            "tlp": "AMBER",
            "shareWithAgencyIds": agencies,
            "shareWithLabIds": labs,
        },
    )
    stix_id = vulnerability_id_of(hub, finding["id"])
    new = all_objects(epa, added_after=last)
    shared = next(o for o in new if o["id"] == stix_id)
    assert not shared.get("revoked") and shared["name"]
    # CISA takes it back: EPA's next poll brings a withdrawn version, holding nothing of the finding
    last = max(m["date_added"] for page in as_pages(epa.get_manifest, per_request=1000) for m in page["objects"])
    version = graphql_data(
        hub.served,
        hub.tokens["cisa"],
        "query($id: ID!) { node(id: $id) { ... on Finding { version } } }",
        id=finding["id"],
    )
    graphql_data(
        hub.served,
        hub.tokens["cisa"],
        "mutation($input: ShareFindingInput!) { shareFinding(input: $input) { finding { id } errors { message } } }",
        input={
            "id": finding["id"],
            "expectedVersion": version["node"]["version"],
            "tlp": "AMBER",
            "shareWithAgencyIds": agencies[:-1],
            "shareWithLabIds": labs,
        },
    )
    withdrawn = [o for o in all_objects(epa, added_after=last) if o["id"] == stix_id]
    assert len(withdrawn) == 1 and withdrawn[0]["revoked"] is True, withdrawn
    assert withdrawn[0]["modified"] > shared["modified"]
    assert not {"description", "external_references", "extensions", "created_by_ref"} & set(withdrawn[0])
    assert withdrawn[0]["object_marking_refs"] == shared["object_marking_refs"]
    # and EPA's token no longer finds the finding through GraphQL
    assert stix_id not in {hub.stix_id("Finding", g) for g in graphql_ids(hub, hub.tokens["epa"], "findings")}


def vulnerability_id_of(hub: Hub, global_id: str) -> str:
    return hub.stix_id("Finding", global_id)


# ------------------------------------------------------------------------------------------------ the differential


GRAPHQL_LISTS = {
    "Finding": "findings",
    "CyberMeasure": "measures",
    "InfrastructureEngagement": "engagements",
}


def graphql_ids(hub: Hub, token: str, field: str) -> set[str]:
    ids: set[str] = set()
    after = None
    while True:
        data = graphql_data(
            hub.served,
            token,
            f"""query($after: String) {{ {field}(first: 500, after: $after) {{
                  nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}""",
            after=after,
        )[field]
        ids |= {n["id"] for n in data["nodes"]}
        if not data["pageInfo"]["hasNextPage"]:
            return ids
        after = data["pageInfo"]["endCursor"]


@pytest.mark.parametrize("who", sorted(WHO))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_taxii_serves_what_graphql_shows(hub: Hub, who: str, kind: str) -> None:
    """The records behind a principal's objects of a collection are exactly the records GraphQL lists to the same
    token: nothing more (a leak), nothing less. A revoked object the principal does not see through GraphQL is a
    tombstone: what it had already, without the record's content."""
    stix_type, alias, type_name = KINDS[kind]
    token = hub.tokens[who]
    served = [o for o in all_objects(collections(hub, token)[alias]) if o["type"] == stix_type]
    expected = {hub.stix_id(type_name, g) for g in graphql_ids(hub, token, GRAPHQL_LISTS[type_name])}
    assert expected
    current = {o["id"] for o in served if o["id"] in expected}
    assert current == expected
    for extra in (o for o in served if o["id"] not in expected):
        assert extra.get("revoked") is True, extra
        assert "description" not in extra and "external_references" not in extra and "extensions" not in extra, extra


# stix2-validator's warnings on the hub's objects, each explained in docs/sharing.md ("Validation"): {202} 'software'
# is not a suggested source of a `has` relationship
DOCUMENTED_WARNINGS = {"202"}


@pytest.mark.parametrize("who", sorted(WHO))
def test_every_object_served_passes_stix2_validator(hub: Hub, who: str) -> None:
    """No error on any object served to principals of different sight, and no warning docs/sharing.md does not
    list."""
    options = ValidationOptions(version="2.1")
    count = 0
    for alias, collection in collections(hub, hub.tokens[who]).items():
        for stix_object in all_objects(collection):
            result = validate_instance(stix_object, options)
            assert result.is_valid, (alias, stix_object["id"], [str(e) for e in result.errors])
            codes = {re.search(r"\{(\d+)\}", str(w)).group(1) for w in result.warnings}  # type: ignore[union-attr]
            assert codes <= DOCUMENTED_WARNINGS, (alias, stix_object["id"], [str(w) for w in result.warnings])
            count += 1
    assert count > 0


def test_lab_sees_less_than_cisa(hub: Hub) -> None:
    """A sanity check on the differential: principals of different sight do get different collections."""
    cisa = {o["id"] for o in all_objects(collections(hub, hub.tokens["cisa"])["findings"])}
    lab = {o["id"] for o in all_objects(collections(hub, hub.tokens["lab"])["findings"])}
    assert lab and cisa and lab != cisa


def test_object_versions_and_manifest(hub: Hub) -> None:
    token = hub.tokens["cisa"]
    findings = collections(hub, token)["findings"]
    vulnerability = next(o for o in all_objects(findings) if o["type"] == "vulnerability")
    one = findings.get_object(vulnerability["id"])
    assert [o["id"] for o in one["objects"]] == [vulnerability["id"]]
    assert one["objects"][0]["modified"] == vulnerability["modified"]
    versions = findings.object_versions(vulnerability["id"])["versions"]
    assert versions and versions[-1] == vulnerability["modified"] and versions == sorted(versions)
    every = findings.get_object(vulnerability["id"], version="all")["objects"]
    assert {o["modified"] for o in every} == set(versions)
    response = hub.get(f"api/collections/{findings.id}/objects/{vulnerability['id']}/versions/", token)
    assert response.headers["x-taxii-date-added-first"] <= response.headers["x-taxii-date-added-last"]
    # an object the principal may not see is not found, whether or not it exists
    lab_findings = collections(hub, hub.tokens["lab"])["findings"]
    lab_ids = {o["id"] for o in all_objects(lab_findings)}
    hidden = next(o["id"] for o in all_objects(findings) if o["type"] == "vulnerability" and o["id"] not in lab_ids)
    is_taxii_error(hub.get(f"api/collections/{lab_findings.id}/objects/{hidden}/", hub.tokens["lab"]), 404)
    is_taxii_error(hub.get(f"api/collections/{lab_findings.id}/objects/{hidden}/versions/", hub.tokens["lab"]), 404)


def test_match_filters(hub: Hub) -> None:
    findings = collections(hub, hub.tokens["cisa"])["findings"]
    whole = all_objects(findings)
    types = {o["type"] for o in whole}
    assert "vulnerability" in types
    only = all_objects(findings, type="vulnerability")
    assert only and {o["type"] for o in only} == {"vulnerability"}
    assert [o["id"] for o in only] == [o["id"] for o in whole if o["type"] == "vulnerability"]
    some = [o["id"] for o in only[:3]]
    assert sorted(o["id"] for o in all_objects(findings, id=some)) == sorted(some)
    assert all_objects(findings, spec_version="2.0") == []
    assert all_objects(findings, type="indicator") == []
    # match[version]: the hub keeps an object's current version, which is its first and its last
    assert [o["id"] for o in all_objects(findings, version="first")] == [o["id"] for o in whole]
    assert [o["id"] for o in all_objects(findings, version="all", type="vulnerability")] == [o["id"] for o in only]
    modified = only[0]["modified"]
    at = all_objects(findings, version=modified, type="vulnerability")
    assert only[0]["id"] in {o["id"] for o in at} and {o["modified"] for o in at} == {modified}
    assert all_objects(findings, version="2000-01-01T00:00:00.000Z") == []


# ------------------------------------------------------------------------------------------------ refusals


def findings_id(hub: Hub) -> str:
    return collections(hub, hub.tokens["cisa"])["findings"].id


def test_errors_are_taxii_errors(hub: Hub) -> None:
    cid = findings_id(hub)
    token = hub.tokens["epa"]
    # 401: no token, a bad one
    body = is_taxii_error(hub.get(""), 401)
    assert "token" in body["description"]
    response = hub.get(f"api/collections/{cid}/objects/", "fh_0000000000000000_" + "x" * 43)
    is_taxii_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    # 406: an Accept that does not admit TAXII 2.1
    for accept in ("application/json", "application/taxii+json;version=2.0", "text/html", TAXII + ";q=0"):
        is_taxii_error(hub.get("api/", token, headers={"Accept": accept}), 406)
    for accept in ("application/taxii+json", "*/*", "application/*", "application/json, application/taxii+json"):
        assert hub.get("api/", token, headers={"Accept": accept}).status_code == 200, accept
    # 403: the collections are read-only; 415 for a body that is not TAXII
    headers = {"Accept": TAXII, "Authorization": f"Bearer {token}"}
    post = httpx.post(
        hub.root + f"api/collections/{cid}/objects/",
        content=b'{"objects": []}',
        headers={**headers, "Content-Type": TAXII},
    )
    assert "read-only" in is_taxii_error(post, 403)["description"]
    post = httpx.post(
        hub.root + f"api/collections/{cid}/objects/",
        content=b"{}",
        headers={**headers, "Content-Type": "application/json"},
    )
    is_taxii_error(post, 415)
    delete = httpx.delete(hub.root + f"api/collections/{cid}/objects/vulnerability--{uuid.uuid4()}/", headers=headers)
    is_taxii_error(delete, 403)
    is_taxii_error(httpx.put(hub.root + "api/", headers=headers), 405)
    # 404: no status resources, unknown collections and resources
    is_taxii_error(hub.get(f"api/status/{uuid.uuid4()}/", token), 404)
    is_taxii_error(hub.get(f"api/collections/{uuid.uuid4()}/", token), 404)
    is_taxii_error(hub.get("api/nothing/", token), 404)
    is_taxii_error(hub.get("other-root/", token), 404)
    # 400: a bad timestamp
    body = is_taxii_error(hub.get(f"api/collections/{cid}/objects/", token, params={"added_after": "yesterday"}), 400)
    assert body["description"].startswith("added_after") and body["details"]["parameter"] == "added_after"


HOSTILE: list[tuple[str, dict[str, str], int, str]] = [
    # (path under the collection, parameters, status, the parameter the error names)
    ("objects/", {"limit": "-1"}, 400, "limit"),
    ("objects/", {"limit": "0"}, 400, "limit"),
    ("objects/", {"limit": "0" * 40}, 400, "limit"),
    ("objects/", {"limit": "+5"}, 400, "limit"),
    ("objects/", {"limit": "ten"}, 400, "limit"),
    ("objects/", {"limit": "1e3"}, 400, "limit"),
    ("objects/", {"limit": "١٢"}, 400, "limit"),
    ("objects/", {"limit": ""}, 400, "limit"),
    ("manifest/", {"limit": "-99999999999999999999999"}, 400, "limit"),
    ("objects/", {"added_after": "2025-13-01T00:00:00Z"}, 400, "added_after"),
    ("objects/", {"added_after": "2025-01-01T00:00:00"}, 400, "added_after"),
    ("objects/", {"added_after": "2025-01-01T00:00:00+05:00"}, 400, "added_after"),
    ("objects/", {"added_after": "0"}, 400, "added_after"),
    ("objects/", {"added_after": "x" * 10_000}, 400, "added_after"),
    ("objects/", {"added_after": "'; drop table findings; --"}, 400, "added_after"),
    ("manifest/", {"added_after": "2025-02-30T00:00:00Z"}, 400, "added_after"),
    ("objects/", {"next": "garbage"}, 400, "next"),
    ("objects/", {"next": ""}, 400, "next"),
    ("objects/", {"next": "x" * 5000}, 400, "next"),
    ("objects/", {"next": "eyJ4IjoxfQ"}, 400, "next"),
    ("manifest/", {"next": "%00%01"}, 400, "next"),
    ("objects/", {"match[type]": "Vulnerability"}, 400, "match[type]"),
    ("objects/", {"match[type]": "vulnerability,"}, 400, "match[type]"),
    ("objects/", {"match[type]": "../../etc"}, 400, "match[type]"),
    ("objects/", {"match[type]": "a"}, 400, "match[type]"),
    ("objects/", {"match[type]": ",".join(["x-a"] * 2000)}, 400, "match[type]"),
    ("objects/", {"match[id]": "vulnerability--1"}, 400, "match[id]"),
    ("objects/", {"match[id]": "' or 1=1 --"}, 400, "match[id]"),
    ("manifest/", {"match[id]": "vulnerability--../../x"}, 400, "match[id]"),
    ("objects/", {"match[version]": "newest"}, 400, "match[version]"),
    ("objects/", {"match[version]": "2025-01-01"}, 400, "match[version]"),
    ("objects/", {"match[spec_version]": "two"}, 400, "match[spec_version]"),
    ("objects/", {"limit": "5", "next": "garbage"}, 400, "next"),
    ("objects/vulnerability--1/", {}, 400, "object_id"),
    ("objects/..%2F..%2Fetc%2Fpasswd/", {}, 404, ""),
    ("objects/VULNERABILITY--00000000-0000-0000-0000-000000000000/", {}, 400, "object_id"),
    (f"objects/vulnerability--{uuid.UUID(int=0)}/", {}, 404, "object_id"),
    (f"objects/vulnerability--{uuid.UUID(int=0)}/versions/", {"next": "zz"}, 400, "next"),
    (f"objects/vulnerability--{uuid.UUID(int=0)}/versions/", {"limit": "-3"}, 400, "limit"),
    (f"objects/vulnerability--{uuid.UUID(int=0)}/other/", {}, 404, ""),
]


@pytest.mark.parametrize(("path", "params", "status", "parameter"), HOSTILE)
def test_hostile_parameters(hub: Hub, path: str, params: dict[str, str], status: int, parameter: str) -> None:
    response = hub.get(f"api/collections/{findings_id(hub)}/{path}", hub.tokens["cisa"], params=params)
    body = is_taxii_error(response, status)
    if parameter:
        assert body["description"].startswith(parameter), body


def test_repeated_parameter_and_unknown_collection_ids(hub: Hub) -> None:
    token = hub.tokens["cisa"]
    cid = findings_id(hub)
    body = is_taxii_error(hub.get(f"api/collections/{cid}/objects/?limit=1&limit=2", token), 400)
    assert body["description"].startswith("limit")
    for bad_id in ("..", "%2e%2e", "findings", "x" * 3000, "00000000-0000-0000-0000-000000000000"):
        is_taxii_error(hub.get(f"api/collections/{bad_id}/objects/", token), 404)


def test_huge_limit_is_capped_at_the_servers_maximum(hub: Hub) -> None:
    """TAXII lets a server serve fewer objects than a limit asks for: 1000 at most, however large the limit."""
    cid = findings_id(hub)
    for limit in ("1001", "99999999999999999999999999999999999999999"):
        response = hub.get(f"api/collections/{cid}/objects/", hub.tokens["cisa"], params={"limit": limit})
        assert response.status_code == 200, response.text
        assert len(response.json().get("objects", [])) <= 1000


def test_everything_under_taxii2_answers_in_taxii_format(hub: Hub) -> None:
    """Paths a client should not send still get the TAXII error format, never the hub's other envelopes."""
    for path in ("api/collections/x/objects/a/b/c/d/", "api/collections/" + "%00" * 10, "api/status/"):
        response = hub.get(path, hub.tokens["cisa"])
        assert response.status_code in (400, 404), (path, response.text)
        is_taxii_error(response, response.status_code)


# ------------------------------------------------------------------------------------------------ the rate limit


async def test_taxii_reads_spend_the_graphql_budget(fresh_url: str) -> None:
    """A TAXII page costs 10 points per object its limit asks for, from the budget GraphQL spends: with 2,500 points
    a window, two default pages (1,000 each) pass and the third is refused with 429 in TAXII's format, Retry-After
    and the X-RateLimit-* headers; a GraphQL request then finds what TAXII spent gone from its budget."""
    import dataclasses

    from hub.app import create_app
    from hub.settings import Settings

    settings = dataclasses.replace(
        Settings.from_env().with_(database_url=fresh_url),
        scheduler_enabled=False,
        rate_limit_cost=2500,
        rate_limit_window_seconds=3600.0,
    )
    con = await db.connect(fresh_url)
    try:
        _, token = await create_principal_with_token(con, agency_code="EPA", role="ANALYST", name="taxii budget")
    finally:
        await con.close()
    app = create_app(settings, database_url=fresh_url)
    headers = {"Accept": TAXII, "Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            listing = await client.get("/taxii2/api/collections/", headers=headers)
            findings = next(c for c in listing.json()["collections"] if c["alias"] == "findings")
            url = f"/taxii2/api/collections/{findings['id']}/objects/"
            for _ in range(2):
                assert (await client.get(url, headers=headers)).status_code == 200
            refused = await client.get(url, headers=headers)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == TAXII
            assert int(refused.headers["retry-after"]) > 0
            assert refused.headers["x-ratelimit-limit"] == "2500"
            body = refused.json()
            assert body["http_status"] == "429" and body["error_code"] == "RATE_LIMITED"
            assert "limit" in body["description"]
            # a smaller page still fits what is left
            assert (await client.get(url, headers=headers, params={"limit": 10})).status_code == 200
            graphql = await client.post(
                "/graphql",
                json={"query": "{ findings(first: 50) { nodes { id title } } }"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert graphql.status_code == 200, graphql.text
            # 1 + 1000 + 1000 + 100 points spent over TAXII, 102 by this query: what is left is what both spent
            remaining = graphql.json()["extensions"]["cost"]["rateLimit"]["remaining"]
            assert 2500 - 2203 <= remaining < 2500 - 2203 + 10
