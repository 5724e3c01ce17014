"""Aggregates (docs/analysts.md, "Aggregates"): every figure of every kind, grouped by every key, against counting the
records the principal may see one by one (listed through the connection, their values read from their rows), for
principals of different sight, through the compiled and the resolver paths alike; the cap on groups; confidential
numbers counted only where the principal may see them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from hub import db
from hub.app import create_app
from hub.settings import Settings
from hub.store import aggregates
from hub.store.aggregates import SPECS
from schema.common import to_global_id
from tests.conftest import Api

PRINCIPALS = {
    "cisa analyst": {"agency": "CISA", "role": "ANALYST"},
    "epa analyst": {"agency": "EPA", "role": "ANALYST"},
    "anthropic liaison": {"lab": "Anthropic", "role": "LAB_LIAISON"},
    "treasury viewer": {"agency": "TREASURY", "role": "VIEWER"},
}


@dataclasses.dataclass
class Paths:
    apis: dict[str, Api]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
async def paths(demo_url: str) -> AsyncIterator[Paths]:
    base = dataclasses.replace(Settings.from_env().with_(database_url=demo_url), scheduler_enabled=False)
    apps = [create_app(dataclasses.replace(base, sql_compiler=on), database_url=demo_url) for on in (True, False)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") for app in apps
        ]
        async with clients[0], clients[1]:
            apis = {"compiled": Api(clients[0], demo_url), "resolvers": Api(clients[1], demo_url)}
            tokens = {
                who: await apis["compiled"].token(**spec, name=f"aggregates {who}") for who, spec in PRINCIPALS.items()
            }
            yield Paths(apis, tokens)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


# ------------------------------------------------------------------------------------------------ the expected figures


def utc_day(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def bucket(size: str) -> Callable[[datetime | date | None], str | None]:
    def key(value: datetime | date | None) -> str | None:
        day = utc_day(value)
        if day is None:
            return None
        if size == "week":
            day -= timedelta(days=day.weekday())  # ISO: from Monday
        elif size == "month":
            day = day.replace(day=1)
        return day.isoformat()

    return key


def global_id(type_name: str) -> Callable[[Any], str | None]:
    return lambda pk: None if pk is None else to_global_id(type_name, pk)


def plain(value: Any) -> Any:
    return value


@dataclasses.dataclass(frozen=True)
class Kind:
    """How to read one kind's records for the expected figures: its root field, its table, the node fields read
    through GraphQL (what the principal may see of masked values), and per key and number where its value comes
    from (`row` is the record's row as its owner reads it, merged with the node's fields)."""

    root: str
    table: str
    node: str
    keys: dict[str, Callable[[dict[str, Any]], Any]]
    numbers: dict[str, Callable[[dict[str, Any]], float | None]] = dataclasses.field(default_factory=dict)


def column(name: str, convert: Callable[[Any], Any] = plain) -> Callable[[dict[str, Any]], Any]:
    return lambda row: convert(row[name])


def buckets(key: str, name: str) -> dict[str, Callable[[dict[str, Any]], Any]]:
    return {f"{key}_{size.upper()}": column(name, bucket(size)) for size in ("day", "week", "month")}


def number(value: Any) -> float | None:
    return None if value is None else float(value)


def days_to_mitigation(row: dict[str, Any]) -> float | None:
    if row["mitigation_available_at"] is None:
        return None
    return float((row["mitigation_available_at"] - row["created_at"]).total_seconds() / 86400)


def lead_time_given(row: dict[str, Any]) -> float | None:
    model = row["model"]
    if model is None:
        return None
    on = model["generalAvailabilityOn"] or model["plannedGeneralAvailabilityOn"]
    if on is None:
        return None
    return float((date.fromisoformat(on) - utc_day(row["access_start"])).days)  # type: ignore[operator]


def counterpart_kind(row: dict[str, Any]) -> Any:
    return row["counterpart"]["kind"] if row["counterpart"] else None


def planned_release(size: str) -> Callable[[dict[str, Any]], Any]:
    key = bucket(size)
    return lambda row: key(date.fromisoformat(row["plannedReleaseOn"]) if row["plannedReleaseOn"] else None)


KINDS = {
    "FINDING": Kind(
        "findings",
        "findings",
        "id",
        {
            "STATE": column("state"),
            "SEVERITY": column("cvss_severity"),
            "SECTOR": column("sectors"),  # a list: counted in each of its values' groups
            "TLP": column("tlp"),
            "LAB": column("lab_id", global_id("Lab")),
            "MODEL": column("model_id", global_id("FrontierModel")),
            "OWNER_AGENCY": column("owner_agency_id", global_id("Agency")),
            "OWNER_LAB": column("owner_lab_id", global_id("Lab")),
            **buckets("REPORTED", "created_at"),
            **buckets("KEV_DUE", "kev_due_date"),
        },
        {"cvss_base_score": column("cvss_base_score", number), "days_to_mitigation_available": days_to_mitigation},
    ),
    "MEASURE": Kind(
        "measures",
        "cyber_measures",
        "id",
        {
            "STATE": column("state"),
            "KIND": column("kind"),
            "OWNER_COMPONENT": column("owner_component"),
            "TLP": column("tlp"),
            "OWNER_AGENCY": column("owner_agency_id", global_id("Agency")),
            **buckets("CREATED", "created_at"),
        },
    ),
    "ENGAGEMENT": Kind(
        "engagements",
        "infrastructure_engagements",
        "id counterpart { kind }",
        {
            "STATE": column("state"),
            "SECTOR": column("sector"),
            "KIND": column("kind"),
            "COUNTERPART_KIND": counterpart_kind,
            "LAB": column("lab_id", global_id("Lab")),
            "TLP": column("tlp"),
            "OWNER_AGENCY": column("owner_agency_id", global_id("Agency")),
            **buckets("CREATED", "created_at"),
        },
    ),
    "AGREEMENT": Kind(
        "agreements",
        "early_access_agreements",
        "id model { generalAvailabilityOn plannedGeneralAvailabilityOn }",
        {
            "STATE": column("state"),
            "LAB": column("lab_id", global_id("Lab")),
            "MODEL": column("model_id", global_id("FrontierModel")),
            **buckets("ACCESS_START", "access_start"),
            **buckets("ACCESS_END", "access_end"),
        },
        {"lead_time_asked_days": column("lead_time_asked_days", number), "lead_time_given_days": lead_time_given},
    ),
    "DECISION": Kind(
        "coverageDecisions",
        "coverage_decisions",
        "id",
        {
            "STATE": column("state"),
            "OUTCOME": column("outcome"),
            "STANDARD": column("standard_id", global_id("CoverageStandard")),
            "MODEL": column("model_id", global_id("FrontierModel")),
            **buckets("DECIDED", "decided_at"),
        },
    ),
    "MODEL": Kind(
        "models",
        "frontier_models",
        # the confidential values as the principal may see them: null where it may not
        "id trainingComputeFlop plannedReleaseOn",
        {
            "RELEASE_STATUS": column("release_status"),
            "LAB": column("lab_id", global_id("Lab")),
            "MODALITY": column("modality"),
            **buckets("ANNOUNCED", "announced_on"),
            **buckets("GENERAL_AVAILABILITY", "general_availability_on"),
            **{f"PLANNED_RELEASE_{size.upper()}": planned_release(size) for size in ("day", "week", "month")},
        },
        {"training_compute_flop": column("trainingComputeFlop", number)},
    ),
}


def test_the_test_covers_every_key_and_number() -> None:
    for kind, spec in SPECS.items():
        assert set(KINDS[kind].keys) == set(spec.keys), kind
        assert set(KINDS[kind].numbers) == set(spec.numbers), kind


async def visible_rows(api: Api, token: str, kind: Kind) -> list[dict[str, Any]]:
    """The records the principal may see, listed page by page through the connection, each the record's row (read
    as its owner reads it) with the fields the node gave."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await api.data(
            f"""query($after: String) {{ {kind.root}(first: 500, after: $after) {{
                  pageInfo {{ hasNextPage endCursor }} nodes {{ {kind.node} }} }} }}""",
            {"after": after},
            token=token,
        )
        nodes += data[kind.root]["nodes"]
        if not data[kind.root]["pageInfo"]["hasNextPage"]:
            break
        after = data[kind.root]["pageInfo"]["endCursor"]
    from schema.common import from_global_id

    by_pk = {from_global_id(n["id"])[1]: n for n in nodes}
    con = await db.connect(api.url)
    try:
        rows = await con.fetch(f"select * from {kind.table} where id = any($1::bigint[])", list(by_pk))
    finally:
        await con.close()
    assert len(rows) == len(by_pk)
    return [{**dict(r), **by_pk[r["id"]]} for r in rows]


def expected_groups(kind: Kind, rows: list[dict[str, Any]], by: list[str]) -> dict[tuple[Any, ...], list[dict]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        keys: list[list[Any]] = [[]]
        for name in by:
            value = kind.keys[name](row)
            values = (value or [None]) if isinstance(value, list) else [value]
            keys = [k + [v] for k in keys for v in values]
        for key in keys:
            groups.setdefault(tuple(key), []).append(row)
    return groups


def close(got: Any, want: float | None, what: str) -> None:
    if want is None:
        assert got is None, what
    else:
        assert got is not None and math.isclose(float(Decimal(str(got))), want, rel_tol=1e-9, abs_tol=1e-9), (
            what,
            got,
            want,
        )


def check_figures(kind: Kind, figures: dict[str, Any], rows: list[dict[str, Any]], what: str) -> None:
    assert figures["count"] == len(rows), (what, figures["count"], len(rows))
    for name, read in kind.numbers.items():
        values = [v for v in (read(r) for r in rows) if v is not None]
        field = camel(name)
        close(figures["min"][field], min(values) if values else None, f"{what} min {field}")
        close(figures["max"][field], max(values) if values else None, f"{what} max {field}")
        close(figures["sum"][field], math.fsum(values) if values else None, f"{what} sum {field}")
        close(figures["avg"][field], math.fsum(values) / len(values) if values else None, f"{what} avg {field}")


def figures_selection(kind: Kind) -> str:
    if not kind.numbers:
        return "count"
    fields = " ".join(camel(n) for n in kind.numbers)
    return "count " + " ".join(f"{f} {{ {fields} }}" for f in ("min", "max", "avg", "sum"))


def groupings(kind_name: str) -> list[list[str]]:
    """Every key alone, and a few at once."""
    keys = list(SPECS[kind_name].keys)
    return [[k] for k in keys] + [keys[:2], keys[:3], [keys[-1], keys[0]]]


@pytest.mark.parametrize("kind_name", list(KINDS))
async def test_every_aggregate_counts_exactly_the_visible_records(paths: Paths, kind_name: str) -> None:
    kind = KINDS[kind_name]
    spec = SPECS[kind_name]
    figures = figures_selection(kind)
    counted = set()
    for who, token in paths.tokens.items():
        rows = await visible_rows(paths.apis["resolvers"], token, kind)
        by_lists = groupings(kind_name)
        selections = []
        for i, by in enumerate(by_lists):
            key_fields = " ".join(camel(spec.keys[k].name) for k in spec.keys)
            selections.append(f"g{i}: groups(by: [{', '.join(by)}]) {{ key {{ {key_fields} }} {figures} }}")
        query = f"{{ {kind.root}(first: 0) {{ totalCount aggregate {{ {figures} {' '.join(selections)} }} }} }}"
        answers = {path: await api.data(query, token=token) for path, api in paths.apis.items()}
        # one statement on the compiled path (a model's Decimal compute goes to the resolvers)
        compiled = (await paths.apis["compiled"].post(query, token=token)).json()["extensions"].get("compiled")
        assert bool(compiled) == (kind_name != "MODEL"), who
        assert answers["compiled"] == answers["resolvers"], who
        for path, data in answers.items():
            connection = data[kind.root]
            assert connection["totalCount"] == len(rows), (path, who)
            check_figures(kind, connection["aggregate"], rows, f"{path} {who} {kind_name}")
            for i, by in enumerate(by_lists):
                expected = expected_groups(kind, rows, by)
                got = connection["aggregate"][f"g{i}"]
                got_keys = [tuple(g["key"][camel(spec.keys[k].name)] for k in by) for g in got]
                assert sorted(got_keys, key=repr) == sorted(expected, key=repr), (path, who, by)
                assert len(set(got_keys)) == len(got_keys), (path, who, by)
                # a key not grouped by is null
                for group in got:
                    assert all(
                        v is None
                        for name, v in group["key"].items()
                        if name not in {camel(spec.keys[k].name) for k in by}
                    ), (path, who, by)
                for group, key in zip(got, got_keys, strict=True):
                    check_figures(kind, group, expected[key], f"{path} {who} {kind_name} {by} {key}")
        counted.add(len(rows))
    # the principals see differently: the counts differ
    assert len(counted) > 1 or kind_name in ("DECISION",), (kind_name, counted)


async def test_groups_are_ordered_by_their_keys_nulls_last(paths: Paths) -> None:
    data = await paths.apis["resolvers"].data(
        "{ findings(first: 0) { aggregate { groups(by: [SEVERITY, TLP]) { key { severity tlp } } } } }",
        token=paths.tokens["cisa analyst"],
    )
    keys = [(g["key"]["severity"], g["key"]["tlp"]) for g in data["findings"]["aggregate"]["groups"]]
    assert keys == sorted(keys, key=lambda k: tuple((v is None, v or "") for v in k))
    assert keys[-1][0] is None or all(k[0] is not None for k in keys)


async def test_too_many_groups_are_refused_on_both_paths(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregates, "MAX_GROUPS", 3)
    for path, api in paths.apis.items():
        body = await api.query(
            "{ findings(first: 1) { totalCount aggregate { count groups(by: [SECTOR]) { key { sector } count } } } }",
            token=paths.tokens["cisa analyst"],
        )
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "TOO_MANY_GROUPS", (path, error)
        assert error["extensions"]["field"] == "by" and "more than 3 groups" in error["message"], path
        assert error["path"] == ["findings", "aggregate", "groups"], path
    monkeypatch.setattr(aggregates, "MAX_GROUPS", 5000)
    fine = await paths.apis["compiled"].post(
        "{ findings(first: 1) { aggregate { groups(by: [SECTOR]) { count } } } }", token=paths.tokens["cisa analyst"]
    )
    assert fine.json()["extensions"].get("compiled") and "errors" not in fine.json()


async def test_confidential_numbers_count_only_where_the_principal_may_see_them(paths: Paths) -> None:
    """A model's training compute and planned release: masked for a principal who may not see them (another lab's
    model in development), so the sums differ by sight, each equal to what that principal reads of the records."""
    sums = {}
    for who in ("cisa analyst", "anthropic liaison"):
        data = await paths.apis["resolvers"].data(
            """{ models(first: 500) { nodes { trainingComputeFlop plannedReleaseOn }
                 aggregate { count sum { trainingComputeFlop }
                   groups(by: [PLANNED_RELEASE_MONTH]) { key { plannedReleaseMonth } count } } } }""",
            token=paths.tokens[who],
        )
        models = data["models"]
        seen = [n["trainingComputeFlop"] for n in models["nodes"] if n["trainingComputeFlop"] is not None]
        total = models["aggregate"]["sum"]["trainingComputeFlop"]
        assert (total is None) == (not seen), who
        if seen:
            assert math.isclose(float(Decimal(total)), math.fsum(seen), rel_tol=1e-9), who
        planned = sum(1 for n in models["nodes"] if n["plannedReleaseOn"] is not None)
        grouped = sum(g["count"] for g in models["aggregate"]["groups"] if g["key"]["plannedReleaseMonth"] is not None)
        assert grouped == planned, who
        sums[who] = (total, planned)
    # the lab sees fewer confidential values than CISA does (its own models only)
    assert sums["cisa analyst"] != sums["anthropic liaison"], sums


async def test_a_nested_connection_aggregates_its_parents_records(paths: Paths) -> None:
    for path, api in paths.apis.items():
        data = await api.data(
            """{ models(first: 20) { nodes { findingsConnection(first: 1) { totalCount
                   aggregate { count groups(by: [STATE]) { key { state } count } } } } } }""",
            token=paths.tokens["epa analyst"],
        )
        nested = [m["findingsConnection"] for m in data["models"]["nodes"]]
        assert any(c["totalCount"] for c in nested), path
        for connection in nested:
            aggregate = connection["aggregate"]
            assert aggregate["count"] == connection["totalCount"] == sum(g["count"] for g in aggregate["groups"])


async def test_a_finding_keeps_when_it_first_reached_mitigation_available(api: Api) -> None:
    """daysToMitigationAvailable: from the report to the first move to MITIGATION_AVAILABLE (kept on the row by the
    move's transaction, sql/026_aggregates.sql), unchanged when the finding moves on."""
    from tests.test_workflow_findings import TRANSITION, a_model, report

    cisa = await api.token(agency="CISA", role="ANALYST")
    finding = (
        await report(api, cisa, title="Mitigated later", modelId=await a_model(api, cisa), cveId="CVE-2026-77001")
    )["finding"]
    days = """{ findings(first: 0, filter: {cveIds: ["CVE-2026-77001"]}) {
                 aggregate { count max { daysToMitigationAvailable } } } }"""
    assert (await api.data(days, token=cisa))["findings"]["aggregate"] == {
        "count": 1,
        "max": {"daysToMitigationAvailable": None},
    }
    version = 1
    for to in ("TRIAGED", "VALIDATED", "MITIGATION_AVAILABLE", "DISCLOSED"):
        moved = await api.data(
            TRANSITION, {"input": {"id": finding["id"], "to": to, "expectedVersion": version}}, token=cisa
        )
        assert moved["transitionFinding"]["errors"] == [], (to, moved)
        version += 1
        if to == "MITIGATION_AVAILABLE":
            first = (await api.data(days, token=cisa))["findings"]["aggregate"]["max"]["daysToMitigationAvailable"]
    con = await db.connect(api.url)
    try:
        row = await con.fetchrow(
            """select f.created_at, f.mitigation_available_at, e.at from findings f join events e
                 on e.entity_kind = 'FINDING' and e.entity_id = f.id and e.to_state = 'MITIGATION_AVAILABLE'
                where f.cve_id = 'CVE-2026-77001'"""
        )
    finally:
        await con.close()
    assert row["created_at"] < row["mitigation_available_at"] <= row["at"]
    assert (row["at"] - row["mitigation_available_at"]).total_seconds() < 1
    after = (await api.data(days, token=cisa))["findings"]["aggregate"]["max"]["daysToMitigationAvailable"]
    assert after == first
    assert math.isclose(after, (row["mitigation_available_at"] - row["created_at"]).total_seconds() / 86400)
