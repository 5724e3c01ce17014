"""The SQL compiler against the resolvers: every vetted operation of schema/operations/ and a few hundred generated
ones, for principals of different sight, must give identical `data` (equal as parsed JSON, key order included)
through both paths, on the same database."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)

from hub.app import create_app
from hub.settings import Settings
from schema import schema
from tests.conftest import Api

OPERATIONS = Path(__file__).resolve().parent.parent / "schema" / "operations"
PRINCIPALS = {
    "cisa analyst": {"agency": "CISA", "role": "ANALYST"},
    "epa viewer": {"agency": "EPA", "role": "VIEWER"},
    "nist admin": {"agency": "NIST", "role": "ADMIN"},
    "anthropic liaison": {"lab": "Anthropic", "role": "LAB_LIAISON"},
    "openai liaison": {"lab": "OpenAI", "role": "LAB_LIAISON"},
}


@dataclasses.dataclass
class Paths:
    compiled: Api
    resolvers: Api
    tokens: dict[str, str]
    compiled_count: int = 0
    compared: int = 0


@pytest.fixture(scope="module")
async def paths(demo_url: str) -> AsyncIterator[Paths]:
    base = dataclasses.replace(Settings.from_env().with_(database_url=demo_url), scheduler_enabled=False)
    apps = [create_app(dataclasses.replace(base, sql_compiler=on), database_url=demo_url) for on in (True, False)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub.test") for app in apps
        ]
        async with clients[0], clients[1]:
            compiled, resolvers = Api(clients[0], demo_url), Api(clients[1], demo_url)
            tokens = {who: await compiled.token(**spec, name=f"compiler {who}") for who, spec in PRINCIPALS.items()}
            yield Paths(compiled, resolvers, tokens)


async def both(paths: Paths, query: str, variables: dict[str, Any] | None, token: str) -> tuple[Any, Any, bool]:
    """The body of each path, and whether the compiled path compiled."""
    first = await paths.compiled.post(query, variables, token=token)
    second = await paths.resolvers.post(query, variables, token=token)
    assert first.status_code == second.status_code, (first.text[:300], second.text[:300])
    one, two = json.loads(first.text), json.loads(second.text)
    compiled = bool(one.get("extensions", {}).get("compiled"))
    assert not two.get("extensions", {}).get("compiled")
    paths.compared += 1
    paths.compiled_count += compiled
    return one, two, compiled


def first_difference(one: Any, two: Any, path: str = "data") -> str | None:
    """Where two parsed JSON values first differ (key order included), for the failure message."""
    if type(one) is not type(two):
        return f"{path}: {one!r:.200} != {two!r:.200}"
    if isinstance(one, dict):
        if list(one) != list(two):
            return f"{path}: keys {list(one)} != {list(two)}"
        return next((d for k in one if (d := first_difference(one[k], two[k], f"{path}.{k}"))), None)
    if isinstance(one, list):
        if len(one) != len(two):
            return f"{path}: {len(one)} items != {len(two)}"
        return next(
            (d for i, (a, b) in enumerate(zip(one, two, strict=True)) if (d := first_difference(a, b, f"{path}[{i}]"))),
            None,
        )
    return None if one == two else f"{path}: {one!r:.200} != {two!r:.200}"


def same(one: dict[str, Any], two: dict[str, Any], context: str) -> None:
    # dicts keep the order the JSON had: dumping both compares key order too
    if json.dumps(one.get("data")) != json.dumps(two.get("data")):
        pytest.fail(f"{first_difference(one.get('data'), two.get('data'))}\n(compiled first) in {context}")
    codes = [e.get("extensions", {}).get("code") for e in one.get("errors", [])]
    assert codes == [e.get("extensions", {}).get("code") for e in two.get("errors", [])], context


async def some_ids(paths: Paths, token: str) -> dict[str, Any]:
    data = await paths.resolvers.data(
        """{ findings(first: 5) { nodes { id } } agreements(first: 5) { nodes { id } }
             coverageStandards(first: 5) { nodes { id } } models(first: 3) { nodes { id } }
             labs(filter: {search: "Anthropic"}) { nodes { id } } }""",
        token=token,
    )
    return {
        "findings": [n["id"] for n in data["findings"]["nodes"]],
        "agreements": [n["id"] for n in data["agreements"]["nodes"]],
        "standards": [n["id"] for n in data["coverageStandards"]["nodes"]],
        "model": data["models"]["nodes"][0]["id"],
        "lab": data["labs"]["nodes"][0]["id"],
    }


def variables_for(name: str, ids: dict[str, Any]) -> dict[str, Any]:
    soon = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    return {
        "agreements_closing_within": {"before": soon},
        "board_agreements_by_id": {"ids": ids["agreements"]},
        "board_findings_by_id": {"ids": ids["findings"]},
        "board_linked_findings": {"ids": ids["findings"]},
        "board_standards_by_id": {"ids": ids["standards"]},
        "findings_of_lab": {"labIds": [ids["lab"]]},
        "kev_findings_due_soon": {"dueBefore": (date.today() + timedelta(days=30)).isoformat()},
        "model_history": {"id": ids["model"]},
        "search_models": {"search": "claude"},
    }.get(name, {})


COMPILED_OPERATIONS = {
    "agencies",
    "agreements_closing_within",
    "board_agreements_by_id",
    "board_findings_by_id",
    "board_linked_findings",
    "board_open_findings",
    "coverage_decisions_by_outcome",
    "covered_models_not_yet_asked",
    "high_severity_open_findings_with_measures",
    "kev_findings_due_soon",
    "labs_by_participation",
    "measures_by_state",
    "models_by_coverage_outcome",
    "open_findings_by_sector_and_severity",
    "rescreening_queue",
    "search_models",
}


async def test_every_vetted_operation_gives_the_same_data_through_both_paths(paths: Paths) -> None:
    """Each vetted read, for each principal, with and without `first`: the same data through both paths, and the
    compiled path's answer compiled exactly for the operations of COMPILED_OPERATIONS. The compiler serves most
    vetted reads; the rest need history, a dashboard, parties, signoffs, milestones, a finding's discoverer or an
    event's entity, which only the resolvers give."""
    ids = await some_ids(paths, paths.tokens["cisa analyst"])
    ran: set[str] = set()
    wrong_path = []
    for path in sorted(OPERATIONS.glob("*.graphql")):
        text = path.read_text()
        if text.lstrip("#").lstrip().startswith("subscription") or "\nsubscription " in text:
            continue
        ran.add(path.stem)
        for who, token in paths.tokens.items():
            variables = variables_for(path.stem, ids)
            for extra in ({}, {"first": 3}):
                one, two, compiled = await both(paths, text, {**variables, **extra}, token)
                same(one, two, f"{path.stem} as {who} with {extra}")
                if compiled != (path.stem in COMPILED_OPERATIONS):
                    wrong_path.append(f"{path.stem} as {who} with {extra}: {'compiled' if compiled else 'resolvers'}")
    assert not wrong_path, wrong_path
    # every operation the list names ran, and some ran through the resolvers
    assert COMPILED_OPERATIONS < ran, COMPILED_OPERATIONS - ran


# ------------------------------------------------------------------------------------------------ generated


# The fields of a record that only the resolvers give (docs/compiler.md), of those the generator selects (it leaves
# out history and shareWith): an operation selecting any of them falls back to the resolvers as a whole. Every
# other field the generator selects compiles.
NEEDS_RESOLVERS = {
    ("Finding", "discoveredBy"),
    ("CoverageStandard", "criteria"),
    ("CoverageStandard", "signoffs"),
    ("CoverageStandard", "untypedCriteria"),
    ("CoverageDecision", "signatures"),
    ("CoverageScreening", "criteria"),
    ("InfrastructureEngagement", "milestones"),
    # an exact Decimal prints by Python's rule (hub.quantities.decimal_text)
    ("FrontierModelNumbers", "trainingComputeFlop"),
}
# The inputs of a coverage screening (schema/evidence.py): left out of the generated reads. Their ids and relations
# compile, their other fields go to the resolvers (they are not in schema.compiler.sql.PLAIN_FIELDS: the demo data
# has none of these records for the check of PLAIN_FIELDS against from_row, and a Decimal prints by Python's rule);
# tests/test_coverage_inputs.py reads them through both paths.
INPUT_TYPES = ("ComputeEstimate", "EvaluationSuite", "EvaluationResult", "ModelDesignation")

ROOTS = [
    "models",
    "findings",
    "measures",
    "engagements",
    "agreements",
    "coverageStandards",
    "coverageDecisions",
    "labs",
    "agencies",
]


def unwrap(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    return t


def named(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


# Computed fields that always send an operation to the resolvers: left out, so that what the test measures is the
# compiler's share of the operations it could compile (and the seed draws the operations it drew before them).
ALWAYS_RESOLVED = {"availableTransitions"}


class Generator:
    """Random read operations over the schema's record types: scalar fields, nested records and lists, aliases,
    fragments, __typename, page sizes, orders and cursors."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # the aggregates draw from their own generator: the operations drawn before them stay the same
        self.aggregate_rng = random.Random(seed + 1)
        self.gql = schema._schema
        # (type, field) of every field the last operation selects
        self.selected: set[tuple[str, str]] = set()
        self.aliases = 0

    def fields(self, type_: GraphQLObjectType, depth: int) -> str:
        rng = self.rng
        parts = []
        for name, field in type_.fields.items():
            if name in ALWAYS_RESOLVED:
                continue
            target = named(field.type)
            required_args = [a for a, d in field.args.items() if isinstance(d.type, GraphQLNonNull)]
            if required_args and set(required_args) != {"first"}:
                continue
            if isinstance(target, GraphQLScalarType | GraphQLEnumType):
                if field.args or rng.random() < 0.5:
                    continue
                parts.append(self.alias(name))
                self.selected.add((type_.name, name))
            elif isinstance(target, GraphQLObjectType) and depth < 3 and rng.random() < 0.25:
                if target.name in ("Event", "PageInfo", *INPUT_TYPES) or name in ("history", "shareWith"):
                    continue
                args = ""
                if "first" in field.args and isinstance(unwrap(field.type), GraphQLList):
                    args = f"(first: {rng.choice([0, 1, 2, 5])})"
                inner = self.fields(target, depth + 1)
                if inner:
                    parts.append(f"{self.alias(name)}{args} {{ {inner} }}")
                    self.selected.add((type_.name, name))
        if rng.random() < 0.2:
            parts.append("__typename")
        if parts and rng.random() < 0.2:
            cut = rng.randrange(len(parts))
            parts = parts[:cut] + [f"... on {type_.name} {{ {' '.join(parts[cut:])} }}"]
        return " ".join(parts)

    def alias(self, name: str) -> str:
        # numbered, so that two aliases never name one response key for two fields (an invalid operation)
        if self.rng.random() >= 0.1:
            return name
        self.aliases += 1
        return f"a{self.rng.randrange(1000)}_{self.aliases}: {name}"

    def operation(self) -> str:
        rng = self.rng
        self.selected = set()
        roots = []
        for root in rng.sample(ROOTS, rng.choice([1, 1, 2])):
            field = self.gql.query_type.fields[root]
            connection = named(field.type)
            node = named(connection.fields["edges"].type).fields["node"].type
            node = named(node)
            args = [f"first: {rng.choice([0, 1, 3, 10, 40])}"]
            order_type = named(field.args["orderBy"].type)
            if rng.random() < 0.5:
                order_field = rng.choice(list(named(order_type.fields["field"].type).values))
                args.append(f"orderBy: {{field: {order_field}, direction: {rng.choice(['ASC', 'DESC'])}}}")
            body = []
            if rng.random() < 0.5:
                body.append("totalCount")
            if rng.random() < 0.4:
                body.append("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }")
            inner = self.fields(node, 1) or "id"
            if rng.random() < 0.7:
                body.append(f"edges {{ {'cursor ' if rng.random() < 0.5 else ''}node {{ {inner} }} }}")
            else:
                body.append(f"nodes {{ {inner} }}")
            if "aggregate" in connection.fields and self.aggregate_rng.random() < 0.3:
                body.append(self.aggregate(named(connection.fields["aggregate"].type)))
            roots.append(f"{root}({', '.join(args)}) {{ {' '.join(body)} }}")
        return "{ " + " ".join(roots) + " }"

    def aggregate(self, aggregate_type: GraphQLObjectType) -> str:
        """A connection's aggregate: count, numbers, and groups by one to three keys with some of their fields."""
        rng = self.aggregate_rng
        parts = ["count"] if rng.random() < 0.6 else []
        functions = [f for f in ("min", "max", "avg", "sum") if f in aggregate_type.fields]

        def numbers(of: GraphQLObjectType, function: str) -> str:
            numbers_type = named(of.fields[function].type)
            chosen = [n for n in numbers_type.fields if rng.random() < 0.7] or list(numbers_type.fields)[:1]
            self.selected.update((numbers_type.name, n) for n in chosen)
            return f"{function} {{ {' '.join(chosen)} }}"

        parts += [numbers(aggregate_type, f) for f in functions if rng.random() < 0.4]
        if rng.random() < 0.8 or not parts:
            group_type = named(aggregate_type.fields["groups"].type)
            keys = list(named(aggregate_type.fields["groups"].args["by"].type).values)
            by = rng.sample(keys, rng.choice([1, 1, 2, 3]))
            keys_type = named(group_type.fields["key"].type)
            key_fields = []
            for name, field in keys_type.fields.items():
                if rng.random() < 0.4:
                    target = named(field.type)
                    key_fields.append(f"{name} {{ id }}" if isinstance(target, GraphQLObjectType) else name)
            group = ["count", f"key {{ {' '.join(key_fields) or '__typename'} }}"]
            group += [numbers(group_type, f) for f in functions if rng.random() < 0.3]
            parts.append(f"groups(by: [{', '.join(by)}]) {{ {' '.join(group)} }}")
        return f"aggregate {{ {' '.join(parts)} }}"


async def test_generated_operations_give_the_same_data_through_both_paths(paths: Paths) -> None:
    """Each generated read: the same data through both paths, and the compiled path's answer compiled exactly when
    the operation selects no field of NEEDS_RESOLVERS."""
    generator = Generator(seed=20261127)
    who = list(paths.tokens)
    by_path = {True: 0, False: 0}
    aggregated = 0
    for n in range(300):
        query = generator.operation()
        one, two, was_compiled = await both(paths, query, None, paths.tokens[who[n % len(who)]])
        same(one, two, query)
        needs = generator.selected & NEEDS_RESOLVERS
        assert was_compiled == (not needs), (was_compiled, sorted(needs), query)
        by_path[was_compiled] += 1
        aggregated += was_compiled and "aggregate {" in query
    # both paths were taken: most generated reads compile, some fall back; aggregates among those compiled
    assert by_path[True] > 200 and by_path[False] > 20, by_path
    assert aggregated > 30, aggregated


async def test_a_second_page_by_cursor_is_the_same_through_both_paths(paths: Paths) -> None:
    token = paths.tokens["cisa analyst"]
    query = """query($after: String) { findings(first: 7, after: $after, orderBy: {field: CREATED_AT, direction: DESC})
                 { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id title } } } }"""
    after = None
    for _ in range(3):
        one, two, compiled = await both(paths, query, {"after": after}, token)
        same(one, two, f"after {after}")
        assert compiled
        after = one["data"]["findings"]["pageInfo"]["endCursor"]


async def test_an_events_details_never_show_the_sharing_before_a_change(api: Api) -> None:
    """Event.from_row drops details.before (who could see the record before a sharing change): the compiled path
    must not print the column as it is. An event's `details` is not a plain field: the read goes to the resolvers,
    while the same read without it compiles."""
    from hub import db

    con = await db.connect(api.url)
    try:
        finding = await con.fetchval("select id from findings where tlp = 'GREEN' order by id limit 1")
        await con.execute(
            "insert into events (entity_kind, entity_id, action, details) values ('FINDING', $1, 'SHARED', $2)",
            finding,
            {"before": {"tlp": "RED", "recipient_principal_ids": [7]}, "x": 1},
        )
    finally:
        await con.close()
    token = await api.token(agency="CISA", role="ANALYST")
    query = "{ events(first: 1, orderBy: {field: ID, direction: DESC}) { edges { node { action %s } } } }"
    body = await api.query(query % "details", token=token)
    assert body["data"]["events"]["edges"] == [{"node": {"action": "SHARED", "details": {"x": 1}}}], body
    assert "compiled" not in body["extensions"], body
    plain = await api.query(query % "", token=token)
    assert plain["data"]["events"]["edges"] == [{"node": {"action": "SHARED"}}], plain
    assert plain["extensions"].get("compiled") is True, plain


async def test_the_plain_fields_the_compiler_reads_are_copied_by_from_row_as_they_are(demo_url: str) -> None:
    """schema.compiler.sql.PLAIN_FIELDS says which fields a type's from_row copies from the column of the same name:
    on real rows, each must equal its column (through an enum or a list at most), or the compiler would print
    something the resolvers do not."""
    from enum import Enum

    from hub import db
    from hub.access import Params
    from hub.auth import Principal
    from schema.common import NODE_TYPES
    from schema.compiler.sql import PLAIN_FIELDS

    def plain(value: Any) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    con = await db.connect(demo_url)
    try:
        agency = await con.fetchval("select id from agencies where code = 'CISA'")
        principal = Principal(id=1, name="x", role="ADMIN", agency_id=agency, agency_code="CISA", lab_id=None)
        checked = 0
        for type_name, fields in PLAIN_FIELDS.items():
            entity, node_type = NODE_TYPES[type_name]
            p = Params()
            rows = await con.fetch(
                f"select {entity.select_list(principal, p)} from {entity.source(principal, p)}"
                " order by t.id desc limit 200",
                *p.values,
            )
            assert rows, type_name
            for row in rows:
                record = node_type.from_row(dict(row))
                for field in fields:
                    assert plain(getattr(record, field)) == plain(row[field]), (type_name, field, row["id"])
                    checked += 1
        assert checked > 5000
    finally:
        await con.close()
