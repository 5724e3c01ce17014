"""The leak matrix: for every entity, every TLP level and six principals of different sight, every read path of a
real `hub serve` (over HTTP, WebSocket and the `hub query` command) shows each principal exactly the probe records
docs/design.md, "Who sees what" allows: no more (a leak) and no less (a broken path).

Principals: the owning agency, a shared-with agency, an outside agency, a RED recipient, the lab concerned and
another lab (tests/probes.py). Records: a finding, a measure and an engagement at each TLP level with each
engagement's counterpart, a finding the lab concerned owns at each TLP level (its liaison reported it; shared with
the other lab), a model in development, an agreement naming two agencies and the early-access request it answers,
a draft and a superseded standard, a coverage decision, and the inputs of a coverage screening (a compute estimate
and an evaluation result the lab reported and one of each an agency made, an evaluation suite, a designation).
Paths: list, totalCount, node, nodes, nested from each parent, history, events, dashboard counts (of the kinds with
states, which it counts), aggregates (counts and groups by TLP of the kinds that aggregate), subscriptions, `hub
query` exports, and the TAXII 2.1 collections (of the kinds served as STIX: findings, measures, engagements and
their counterparts; hub/taxii.py)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from hub import db
from schema.common import to_global_id
from tests.conftest import Api, scratch_folder
from tests.live import HUB, GraphQLWs, database_url, serve
from tests.probes import (
    PRINCIPALS,
    SEES_FINDING,
    SEES_INPUT,
    SEES_LAB_FINDING,
    SEES_MEASURE,
    SIGNING_AGENCIES,
    TLPS,
    World,
    add_agreement,
    add_inputs,
    build_world,
)

AGENCIES = {"owner", "shared", "outside", "recipient"}
EVERYONE = set(PRINCIPALS)
TYPE_NAMES = {
    "finding": "Finding",
    "labfinding": "Finding",
    "measure": "CyberMeasure",
    "engagement": "InfrastructureEngagement",
    "counterpart": "InfrastructureCounterpart",
    "model": "FrontierModel",
    "agreement": "EarlyAccessAgreement",
    "request": "EarlyAccessRequest",
    "standard": "CoverageStandard",
    "decision": "CoverageDecision",
    "estimate": "ComputeEstimate",
    "result": "EvaluationResult",
    "suite": "EvaluationSuite",
    "designation": "ModelDesignation",
}
# what each principal may see of each probe record (docs/design.md, "Who sees what"; hub/access.py)
EXPECTED: dict[str, set[str]] = {
    **{f"finding:{tlp}": SEES_FINDING[tlp] for tlp in TLPS},
    # findings the lab owns: the lab in the owning agency's place
    **{f"labfinding:{tlp}": SEES_LAB_FINDING[tlp] for tlp in TLPS},
    **{f"measure:{tlp}": SEES_MEASURE[tlp] for tlp in TLPS},
    **{f"engagement:{tlp}": SEES_FINDING[tlp] for tlp in TLPS},
    # each engagement's counterpart, registered by CISA (no principal here): seen as its engagement is
    **{f"counterpart:{tlp}": SEES_FINDING[tlp] for tlp in TLPS},
    # a model in development: every agency and its own lab, not other labs
    "model": AGENCIES | {"lab"},
    # an agreement on it naming NIST (accepted) and EPA (not yet): those two agencies and the lab
    "agreement": {"shared", "outside", "lab"},
    # a request for early access to it by NIST naming EPA: those two agencies and the lab
    "request": {"shared", "outside", "lab"},
    # standards: agencies always, labs once adopted or superseded
    "standard:DRAFT": AGENCIES,
    "standard:SUPERSEDED": EVERYONE,
    # a decision on the lab's model: agencies and that lab
    "decision": AGENCIES | {"lab"},
    # the inputs of a screening on the lab's model (tests/probes.py, SEES_INPUT says why)
    "estimate:lab": SEES_INPUT["LAB"],
    "estimate:agency": SEES_INPUT["TREASURY"],
    "result:lab": SEES_INPUT["LAB"],
    "result:agency": SEES_INPUT["TREASURY"],
    # the register of suites: every agency and every lab
    "suite": EVERYONE,
    # a designation of the lab's model: agencies and that lab
    "designation": AGENCIES | {"lab"},
}

STATUS = """subscription { statusChanged { entityKind entityId action entity { id } } }"""

NESTED = """query($lab: ID!, $owner: ID!, $nist: ID!, $epa: ID!) {
  lab: node(id: $lab) { ... on Lab {
    models(first: 100) { id agreements(first: 10) { id request { id } } earlyAccessRequests(first: 10) { id }
                         coverageDecisions(first: 10) { id standard { id supersededBy { id } } }
                         findings(first: 10) { id } measures(first: 10) { id }
                         computeEstimates(first: 10) { id model { id } }
                         evaluationResults(first: 10) { id suite { id results(first: 10) { id } } }
                         designations(first: 10) { id model { id } } }
    agreements(first: 500) { id model { id } }
    earlyAccessRequests(first: 500) { id model { id } agreements(first: 10) { id } }
    findings(first: 500) { id measures(first: 10) { id } engagements(first: 10) { id counterpart { id } }
                           duplicateOf { id } }
    engagements(first: 500) { id counterpart { id } findings(first: 10) { id } } } }
  owner: node(id: $owner) { ... on Agency {
    ownedFindings(first: 500) { id }
    ownedMeasures(first: 500) { id findings(first: 10) { id } models(first: 10) { id } }
    ownedEngagements(first: 500) { id counterpart { id engagements(first: 10) { id } } findings(first: 10) { id } }
    ownedEvaluationSuites(first: 500) { id results(first: 10) { id model { id } } } } }
  nist: node(id: $nist) { ... on Agency { agreements(first: 500) { id } } }
  epa: node(id: $epa) { ... on Agency { agreements(first: 500) { id } } }
  coverageStandards(first: 100) { edges { node { id supersededBy { id } decisions(first: 500) { id model { id } } } } }
}"""

DASHBOARD = "{ dashboard { counts { kind count } } }"

# the aggregates of the kinds that have them, over the same filters as LISTS: counted, and grouped by TLP where the
# probes differ by TLP (one probe record of each level)
AGGREGATES = """query($model: [ID!]) {
  findings(filter: {search: "visprobe"}, first: 0) { aggregate { count groups(by: [TLP]) { key { tlp } count } } }
  labFindings: findings(filter: {search: "labprobe"}, first: 0) {
    aggregate { count groups(by: [TLP]) { key { tlp } count } } }
  measures(filter: {search: "visprobe"}, first: 0) { aggregate { count groups(by: [TLP]) { key { tlp } count } } }
  engagements(filter: {search: "visprobe"}, first: 0) { aggregate { count groups(by: [TLP]) { key { tlp } count } } }
  models(filter: {search: "Visibility probe"}, first: 0) { aggregate { count groups(by: [LAB]) { count } } }
  agreements(filter: {modelIds: $model}, first: 0) { aggregate { count groups(by: [STATE]) { count } } }
  coverageDecisions(filter: {modelIds: $model}, first: 0) { aggregate { count groups(by: [MODEL]) { count } } }
}"""
AGGREGATE_KINDS = {
    "findings": "finding",
    "labFindings": "labfinding",
    "measures": "measure",
    "engagements": "engagement",
    "models": "model",
    "agreements": "agreement",
    "coverageDecisions": "decision",
}

LISTS = """query($model: [ID!]) {
  findings(filter: {search: "visprobe"}, first: 50) { totalCount edges { node { id } } }
  labFindings: findings(filter: {search: "labprobe"}, first: 50) { totalCount edges { node { id } } }
  measures(filter: {search: "visprobe"}, first: 50) { totalCount edges { node { id } } }
  engagements(filter: {search: "visprobe"}, first: 50) { totalCount edges { node { id } } }
  infrastructureCounterparts(filter: {search: "visprobe"}, first: 50) { totalCount edges { node { id } } }
  models(filter: {search: "Visibility probe"}, first: 50) { totalCount edges { node { id } } }
  agreements(filter: {modelIds: $model}, first: 50) { totalCount edges { node { id } } }
  earlyAccessRequests(filter: {modelIds: $model}, first: 50) { totalCount edges { node { id } } }
  coverageStandards(filter: {search: "visprobe"}, first: 50) { totalCount edges { node { id } } }
  coverageDecisions(filter: {modelIds: $model}, first: 50) { totalCount edges { node { id } } }
  computeEstimates(filter: {modelIds: $model}, first: 50) { totalCount edges { node { id } } }
  evaluationResults(filter: {modelIds: $model}, first: 50) { totalCount edges { node { id } } }
  evaluationSuites(filter: {search: "visprobe"}, first: 50) { totalCount edges { node { id } } }
  designations(filter: {modelIds: $model}, first: 50) { totalCount edges { node { id } } }
}"""
LIST_KINDS = {
    "findings": "finding",
    "labFindings": "labfinding",
    "measures": "measure",
    "engagements": "engagement",
    "infrastructureCounterparts": "counterpart",
    "models": "model",
    "agreements": "agreement",
    "earlyAccessRequests": "request",
    "coverageStandards": "standard",
    "coverageDecisions": "decision",
    "computeEstimates": "estimate",
    "evaluationResults": "result",
    "evaluationSuites": "suite",
    "designations": "designation",
}
# the dashboard's kinds and the probe records each counts
DASHBOARD_KINDS = {
    "FINDING": ("finding", "labfinding"),
    "MEASURE": ("measure",),
    "ENGAGEMENT": ("engagement",),
    "MODEL": ("model",),
    "AGREEMENT": ("agreement",),
    "REQUEST": ("request",),
    "STANDARD": ("standard",),
    "DECISION": ("decision",),
    "DESIGNATION": ("designation",),
}
EXPORTS = [
    ["events_since", "--var", "since=-1d", "--all-pages", "--format", "json"],
    ["findings_of_lab", "--var", "labIds={lab}", "--all-pages", "--format", "csv"],
    ["measures_by_state", "--all-pages", "--format", "csv"],
    ["engagements_by_sector", "--var", "sectors=ENERGY", "--all-pages", "--format", "json"],
    ["search_models", "--var", "search=Visibility probe", "--format", "csv"],
]


@dataclass
class Observed:
    """What each principal saw of the probe records on each path: path -> principal -> record keys."""

    world: World
    gids: dict[str, str]
    seen: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # path -> what went wrong that is not a record seen or missed (a count off)
    problems: dict[str, list[str]] = field(default_factory=dict)
    # the principals given a token, and the global ids of the probe records the database holds (as its owner reads)
    principals: set[str] = field(default_factory=set)
    in_database: set[str] = field(default_factory=set)
    # path -> the (principal, record) pairs whose sight was checked
    checked: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def keys_in(self, text: str) -> set[str]:
        return {key for key, gid in self.gids.items() if gid in text}

    def record(self, path: str, who: str, keys: set[str]) -> None:
        self.seen.setdefault(path, {})[who] = keys

    def compare(self, path: str) -> list[str]:
        """What went wrong on `path`: each principal walked there against each probe record made, recorded in
        `checked` as it is checked."""
        wrong = []
        checked = self.checked.setdefault(path, set())
        for who, seen in self.seen.get(path, {}).items():
            for key in applicable(path, self.gids):
                if (who in EXPECTED[key]) != (key in seen):
                    wrong.append(f"{who} {'sees' if key in seen else 'misses'} {key}")
                checked.add((who, key))
        return wrong + self.problems.get(path, [])


def kind_of(key: str) -> str:
    return key.split(":")[0]


# the probe kinds TAXII serves, each as the STIX object of its record: (table, STIX type)
TAXII_KINDS = {
    "finding": ("findings", "vulnerability"),
    "labfinding": ("findings", "vulnerability"),
    "measure": ("cyber_measures", "course-of-action"),
    "engagement": ("infrastructure_engagements", "grouping"),
    "counterpart": ("infrastructure_counterparts", "identity"),
}
TAXII_MEDIA = "application/taxii+json;version=2.1"


def applicable(path: str, keys: Iterable[str]) -> list[str]:
    """The probe records a path shows: the dashboard counts the kinds with states only; TAXII serves the kinds of
    TAXII_KINDS."""
    if path == "dashboard":
        return [key for key in keys if any(kind_of(key) in shorts for shorts in DASHBOARD_KINDS.values())]
    if path == "taxii":
        return [key for key in keys if kind_of(key) in TAXII_KINDS]
    if path == "aggregate":
        return [key for key in keys if kind_of(key) in AGGREGATE_KINDS.values()]
    return list(keys)


async def stix_ids_of_probes(url: str, world: World) -> dict[str, str]:
    """The STIX id of each probe record TAXII serves (key -> id), read as the tables' owner."""
    con = await db.connect(url)
    try:
        found = {}
        for key, record_id in world.ids.items():
            if not isinstance(key, tuple) or key[0] not in TAXII_KINDS:
                continue
            kind, tlp = key
            table, stix_type = TAXII_KINDS[kind]
            stix_id = await con.fetchval(f"select stix_id from {table} where id = $1", record_id)
            found[f"{kind}:{tlp}"] = f"{stix_type}--{stix_id}"
    finally:
        await con.close()
    return found


async def taxii_seen(client: httpx.AsyncClient, token: str, stix_ids: dict[str, str]) -> tuple[set[str], list[str]]:
    """The probe records whose objects a token gets from the TAXII collections (every page of each), and what is
    wrong besides: a revoked object (a tombstone) that carries more than its reader already had."""
    headers = {"Accept": TAXII_MEDIA, "Authorization": f"Bearer {token}"}
    listing = await client.get("/taxii2/api/collections/", headers=headers)
    assert listing.status_code == 200, listing.text
    objects: list[dict[str, Any]] = []
    for collection in listing.json()["collections"]:
        url = f"/taxii2/api/collections/{collection['id']}/objects/"
        params: dict[str, Any] = {"limit": 1000}
        while True:
            page = await client.get(url, headers=headers, params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            objects += body.get("objects", [])
            if not body["more"]:
                break
            params = {"limit": 1000, "next": body["next"]}
    by_id = {stix_id: key for key, stix_id in stix_ids.items()}
    seen, problems = set(), []
    for obj in objects:
        key = by_id.get(obj["id"])
        if key is None:
            continue
        if obj.get("revoked"):
            if {"description", "extensions", "external_references"} & set(obj):
                problems.append(f"a withdrawn {key} carries content")
        else:
            seen.add(key)
    return seen, problems


async def add_records(world: World) -> dict[str, int]:
    """The records tests/probes.py does not make: an agreement, two standards, a decision and the inputs of a
    screening (tests/probes.py, add_inputs), each with an event. The superseded standard, which the decision is
    under, needs the sign-off of CISA, NIST and HHS: the HHS officer signs (tests/probes.py, SEES_INPUT)."""
    agency = world.ids["agency"]
    con = await db.connect(world.api.url)
    try:
        ids: dict[str, int] = {}
        ids["agreement"] = await add_agreement(con, world)
        ids["request"] = await con.fetchval(
            """insert into early_access_requests (model_id, lab_id, requesting_agency_id, agency_ids, access_kinds,
                                                  lead_time_days)
               values ($1, $2, $3, $4, '{API}', 30) returning id""",
            world.ids["model"],
            world.ids["lab"],
            agency["NIST"],
            [agency["NIST"], agency["EPA"]],
        )
        # the agreement answers it (EarlyAccessAgreement.request)
        await con.execute(
            "update early_access_agreements set request_id = $1 where id = $2", ids["request"], ids["agreement"]
        )
        ids["standard:DRAFT"] = await con.fetchval(
            """insert into coverage_standards (standard_version, title, required_signoffs, due_on, owner_agency_id)
               values ('visprobe-2', 'visprobe standard DRAFT', '{CISA,NIST}', current_date + 30, $1)
               returning id""",
            agency["CISA"],
        )
        ids["standard:SUPERSEDED"] = await con.fetchval(
            """insert into coverage_standards (standard_version, title, required_signoffs, due_on, owner_agency_id,
                   state, adopted_at, superseded_by_id)
               values ('visprobe-1', 'visprobe standard SUPERSEDED', $3, current_date - 30, $1,
                   'SUPERSEDED', now() - interval '20 days', $2)
               returning id""",
            agency["CISA"],
            ids["standard:DRAFT"],
            list(SIGNING_AGENCIES),
        )
        ids["decision"] = await con.fetchval(
            "insert into coverage_decisions (model_id, standard_id) values ($1, $2) returning id",
            world.ids["model"],
            ids["standard:SUPERSEDED"],
        )
        ids |= await add_inputs(con, world)
        kinds = {
            "agreement": "AGREEMENT",
            "request": "REQUEST",
            "standard": "STANDARD",
            "decision": "DECISION",
            "estimate": "COMPUTE_ESTIMATE",
            "result": "EVAL_RESULT",
            "suite": "EVAL_SUITE",
            "designation": "DESIGNATION",
        }
        for key, record_id in ids.items():
            await con.execute(
                "insert into events (entity_kind, entity_id, action, to_state) values ($1, $2, 'CREATED', 'X')",
                kinds[kind_of(key)],
                record_id,
            )
        # and the model's own event
        await con.execute(
            "insert into events (entity_kind, entity_id, action, to_state) values ('MODEL', $1, 'CREATED', 'X')",
            world.ids["model"],
        )
    finally:
        await con.close()
    return ids


async def probes_in_database(url: str, model: int) -> set[str]:
    """The global ids of every probe record in the database, read as the tables' owner (RLS not applying)."""
    probes = {
        "Finding": "select id from findings where title like 'visprobe %' or title like 'labprobe %'",
        "CyberMeasure": "select id from cyber_measures where title like 'visprobe %'",
        "InfrastructureEngagement": "select id from infrastructure_engagements where title like 'visprobe %'",
        "InfrastructureCounterpart": "select id from infrastructure_counterparts where name like 'visprobe %'",
        "FrontierModel": "select id from frontier_models where id = $1",
        "EarlyAccessAgreement": "select id from early_access_agreements where model_id = $1",
        "EarlyAccessRequest": "select id from early_access_requests where model_id = $1",
        "CoverageStandard": "select id from coverage_standards where title like 'visprobe %'",
        "CoverageDecision": "select id from coverage_decisions where model_id = $1",
        "ComputeEstimate": "select id from compute_estimates where model_id = $1",
        "EvaluationResult": "select id from evaluation_results where model_id = $1",
        "EvaluationSuite": "select id from evaluation_suites where name like 'visprobe %'",
        "ModelDesignation": "select id from model_designations where model_id = $1",
    }
    con = await db.connect(url)
    try:
        found = set()
        for type_name, sql in probes.items():
            rows = await con.fetch(sql, *([model] if "$1" in sql else []))
            found |= {to_global_id(type_name, r["id"]) for r in rows}
    finally:
        await con.close()
    return found


async def dashboard_counts(api: Api, token: str) -> dict[str, int]:
    data = await api.data(DASHBOARD, token=token)
    counts: dict[str, int] = {}
    for row in data["dashboard"]["counts"]:
        counts[row["kind"]] = counts.get(row["kind"], 0) + row["count"]
    return counts


async def collect_subscription(client: GraphQLWs, keys_in: Callable[[str], set[str]], quiet: float) -> set[str]:
    """Everything the subscription delivers until it has been quiet for `quiet` seconds."""
    seen: set[str] = set()
    while True:
        try:
            message = await client.receive(quiet)
        except TimeoutError:
            return seen
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event = message["payload"]["data"]["statusChanged"]
        if event["entity"] is not None:  # an event visible now is about a record visible now
            assert event["entity"]["id"] == event["entityId"], event
        seen |= keys_in(event["entityId"] or "")


def run_export(url: str, token: str, args: list[str]) -> str:
    environment = {**os.environ, "HUB_URL": url + "/graphql", "HUB_TOKEN": token}
    done = subprocess.run([*HUB, "query", *args], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
async def observed() -> AsyncIterator[Observed]:
    with scratch_folder("hub-leak-") as data_dir:
        for served in serve(data_dir):
            async with httpx.AsyncClient(base_url=served.url, timeout=60) as client:
                api = Api(client, database_url(data_dir))
                tokens = {who: await api.token(**spec, name=f"vis {who}") for who, spec in PRINCIPALS.items()}
                before = {who: await dashboard_counts(api, token) for who, token in tokens.items()}
                sockets = {}
                for who, token in tokens.items():
                    # a socket is read only once the principals before it walked every path: the probe events it
                    # may see wait in its queue meanwhile, more than the library's default of 16 (a full queue
                    # stops the reading, and with it the keepalive's pongs)
                    sockets[who] = await GraphQLWs.open(served.url, token, max_queue=None)
                    await sockets[who].acked()
                    await sockets[who].subscribe(STATUS)
                await asyncio.sleep(0.5)  # the subscriptions are registered before the first probe commits

                world = await build_world(api)
                extra = await add_records(world)
                gids = {
                    f"{kind}:{tlp}": world.ids[(kind, tlp)]
                    for kind in ("finding", "labfinding", "measure", "engagement", "counterpart")
                    for tlp in TLPS
                }
                gids = {key: to_global_id(TYPE_NAMES[kind_of(key)], i) for key, i in gids.items()}
                gids["model"] = to_global_id("FrontierModel", world.ids["model"])
                gids |= {key: to_global_id(TYPE_NAMES[kind_of(key)], i) for key, i in extra.items()}
                assert set(gids) == set(EXPECTED)
                obs = Observed(world=world, gids=gids)
                obs.in_database = await probes_in_database(api.url, world.ids["model"])
                obs.principals = set(tokens)
                agency = world.ids["agency"]
                stix_ids = await stix_ids_of_probes(api.url, world)
                assert set(stix_ids) == set(applicable("taxii", gids)), "a probe record TAXII serves has no STIX id"

                for who, token in tokens.items():
                    subscribed = await collect_subscription(sockets[who], obs.keys_in, quiet=2.0)
                    obs.record("subscription", who, subscribed)
                    await sockets[who].close()

                    data = await api.data(LISTS, {"model": [gids["model"]]}, token=token)
                    listed: set[str] = set()
                    for root, kind in LIST_KINDS.items():
                        found = obs.keys_in(json.dumps(data[root]["edges"]))
                        listed |= found
                        # totalCount: the probes of this kind that the principal may see, no more, no less
                        expected = {k for k in EXPECTED if kind_of(k) == kind and who in EXPECTED[k]}
                        if data[root]["totalCount"] != len(expected):
                            obs.problems.setdefault("totalCount", []).append(
                                f"{who} counts {data[root]['totalCount']} {root}, may see {len(expected)}"
                            )
                    obs.record("list", who, listed)
                    obs.record("totalCount", who, listed)

                    by_node = set()
                    for key, gid in gids.items():
                        one = await api.data(
                            """query($id: ID!) { node(id: $id) { id }
                                 events(filter: {entityId: $id}) { totalCount } }""",
                            {"id": gid},
                            token=token,
                        )
                        if one["node"] is not None:
                            by_node.add(key)
                        if one["events"]["totalCount"] > 0:
                            obs.seen.setdefault("history", {}).setdefault(who, set()).add(key)
                    obs.record("node", who, by_node)
                    obs.seen.setdefault("history", {}).setdefault(who, set())

                    nodes = await api.data(
                        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Finding { history { action } } } }",
                        {"ids": list(gids.values())},
                        token=token,
                    )
                    obs.record("nodes", who, obs.keys_in(json.dumps(nodes["nodes"])))

                    nested = await api.data(
                        NESTED,
                        {
                            "lab": to_global_id("Lab", world.ids["lab"]),
                            "owner": to_global_id("Agency", agency["TREASURY"]),
                            "nist": to_global_id("Agency", agency["NIST"]),
                            "epa": to_global_id("Agency", agency["EPA"]),
                        },
                        token=token,
                    )
                    obs.record("nested", who, obs.keys_in(json.dumps(nested)))

                    events = await api.data(
                        """{ events(orderBy: {field: ID, direction: DESC}, first: 100) {
                               edges { node { entityId entity { id } } } } }""",
                        token=token,
                    )
                    for edge in events["events"]["edges"]:
                        assert edge["node"]["entity"] is not None, (who, edge)
                    obs.record("events", who, obs.keys_in(json.dumps(events["events"]["edges"])))

                    after = await dashboard_counts(api, token)
                    grew = set()
                    for kind, shorts in DASHBOARD_KINDS.items():
                        delta = after.get(kind, 0) - before[who].get(kind, 0)
                        expected = {k for k in EXPECTED if kind_of(k) in shorts and who in EXPECTED[k]}
                        if delta == len(expected):
                            grew |= expected
                        else:
                            obs.problems.setdefault("dashboard", []).append(
                                f"{who}'s {kind} count grew by {delta}, may see {len(expected)}"
                            )
                    obs.record("dashboard", who, grew)

                    aggregated = await api.data(AGGREGATES, {"model": [gids["model"]]}, token=token)
                    counted: set[str] = set()
                    for root, kind in AGGREGATE_KINDS.items():
                        aggregate = aggregated[root]["aggregate"]
                        expected = {k for k in EXPECTED if kind_of(k) == kind and who in EXPECTED[k]}
                        groups = aggregate["groups"]
                        if aggregate["count"] != len(expected) or sum(g["count"] for g in groups) != len(expected):
                            obs.problems.setdefault("aggregate", []).append(
                                f"{who} counts {aggregate['count']} {root} in {groups}, may see {len(expected)}"
                            )
                        if all("tlp" in g.get("key", {}) for g in groups) and ":" in next(iter(expected), ":"):
                            # one probe of each TLP level: a group of a level counts that level's probe
                            counted |= {f"{kind}:{g['key']['tlp']}" for g in groups if g["count"] == 1}
                        elif aggregate["count"] == len(expected):
                            counted |= expected
                    obs.record("aggregate", who, counted)

                    exported: set[str] = set()
                    for args in EXPORTS:
                        args = [a.replace("{lab}", to_global_id("Lab", world.ids["lab"])) for a in args]
                        exported |= obs.keys_in(await asyncio.to_thread(run_export, served.url, token, args))
                    obs.record("export", who, exported)

                    taxii, problems = await taxii_seen(client, token, stix_ids)
                    obs.record("taxii", who, taxii)
                    obs.problems.setdefault("taxii", []).extend(f"{who}: {p}" for p in problems)
                yield obs


PATHS = [
    "list",
    "totalCount",
    "node",
    "nodes",
    "nested",
    "history",
    "events",
    "dashboard",
    "aggregate",
    "subscription",
    "export",
    "taxii",
]
# the paths that show only some kinds of probe record (applicable)
PARTIAL = ("dashboard", "taxii", "aggregate")


@pytest.mark.parametrize("path", PATHS)
def test_each_principal_sees_exactly_what_it_may(observed: Observed, path: str) -> None:
    wrong = observed.compare(path)
    assert not wrong, f"{path}: " + "; ".join(wrong)


def test_the_matrix_is_complete(observed: Observed) -> None:
    """Every path was checked for every principal and every probe record the database holds (the dashboard: of the
    kinds it counts; TAXII: of the kinds it serves): the checks counted as they are made, against principals given a
    token x probe records in the database x paths (6 x 37 x 9, 6 x 27 on the dashboard, 6 x 25 over TAXII and 6 x 23
    in aggregates)."""
    for path in PATHS:
        if path not in observed.checked:  # this test run on its own: check the path here
            observed.compare(path)
    performed = sum(len(pairs) for pairs in observed.checked.values())
    partial = sum(len(applicable(path, observed.gids)) for path in PARTIAL)
    expected = len(observed.principals) * (len(observed.in_database) * (len(PATHS) - len(PARTIAL)) + partial)
    assert performed == expected, f"{performed} checks made, {expected} expected"
    assert set(observed.gids.values()) == observed.in_database, "a probe record the matrix does not know of"
    for path in PATHS:
        wanted = {(who, key) for who in observed.principals for key in applicable(path, observed.gids)}
        assert observed.checked[path] == wanted, path
    # and what ran is the whole matrix of the module's docstring
    assert (observed.principals, set(observed.gids)) == (EVERYONE, set(EXPECTED))
    assert performed == 6 * (37 * 9 + 27 + 25 + 23) == 2448
