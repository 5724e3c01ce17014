"""Property: whatever input a mutation gets, valid or not, a rejected one changes nothing.

Hypothesis draws inputs from each mutation's input type in the schema (right and wrong ids, text with control
characters and SQL, out-of-range numbers, random enum values, optional fields present or not) and sends them to a
real `hub serve` as principals of different remits. After every request that was refused (a GraphQL error or
payload errors), the content of every table it could write (tests/writes.py) must be exactly what it was before it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, get_named_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub import db
from schema import schema
from schema.common import to_global_id
from tests.conftest import scratch_folder
from tests.live import Served, create_token, database_url, serve
from tests.writes import ID_TYPES, write_snapshot

MUTATIONS = sorted(schema._schema.mutation_type.fields)
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "'; drop table findings; --",
            "\x00",
            "a\x1bb",
            "x" * 10_001,
            "CVE-2026-12345",
            "CVSS:3.1/AV:N",
            "D3-NTA",
            "T1190",
            "SI-2",
            "CWE-79",
            "ISOLATE",
            "https://example.org",
        ]
    ),
)
IDS = st.one_of(
    st.sampled_from(ID_TYPES).flatmap(
        lambda type_name: st.integers(min_value=1, max_value=2200).map(lambda pk: to_global_id(type_name, pk))
    ),
    st.sampled_from(["not-an-id", "", "RmluZGluZzo5OTk5OTk5OTk5"]),
)
SCALARS = {
    "String": TEXT,
    "ID": IDS,
    "Int": st.one_of(st.integers(min_value=-3, max_value=60), st.sampled_from([0, 1, 10**6, -(2**31)])),
    "Float": st.one_of(st.floats(min_value=-1, max_value=11, allow_nan=False), st.sampled_from([9.8, 4.0, 0.0])),
    "Boolean": st.booleans(),
    "Date": st.sampled_from(["2026-06-02", "2026-12-31", "2025-01-01", "2027-02-28"]),
    "DateTime": st.sampled_from(["2026-11-28T00:00:00+00:00", "2026-12-20T00:00:00+00:00", "2020-01-01T00:00:00Z"]),
    "JSON": st.just({}),
}


def values_for(graphql_type: Any, depth: int = 0, spared: frozenset[str] = frozenset()) -> st.SearchStrategy[Any]:
    """Values of `graphql_type`; never an id of `spared` (the run's own tokens: revokeToken would otherwise end the
    run's authentication, and every later mutation would be refused for it)."""
    required = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if required else graphql_type
    if isinstance(inner, GraphQLList):
        strategy: st.SearchStrategy[Any] = st.lists(values_for(inner.of_type, depth + 1, spared), max_size=3)
    else:
        named = get_named_type(inner)
        if isinstance(named, GraphQLEnumType):
            strategy = st.sampled_from(sorted(named.values))
        elif isinstance(named, GraphQLInputObjectType):
            strategy = input_object(named, depth + 1, spared)
        elif named.name == "ID":
            strategy = IDS.filter(lambda value: value not in spared)
        else:
            strategy = SCALARS.get(named.name, TEXT)
    return strategy if required else st.one_of(st.none(), strategy)


def input_object(
    graphql_type: GraphQLInputObjectType, depth: int, spared: frozenset[str]
) -> st.SearchStrategy[dict[str, Any]]:
    fields = graphql_type.fields.items()
    required = {n: values_for(f.type, depth, spared) for n, f in fields if isinstance(f.type, GraphQLNonNull)}
    optional = {n: values_for(f.type, depth, spared) for n, f in fields if n not in required}
    return st.fixed_dictionaries(required, optional=optional if depth < 3 else {})


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-property-") as data_dir:
        # nothing but the requests writes: no scheduler, no webhook worker (which moves endpoints' cursors)
        yield from serve(data_dir, env={"HUB_SCHEDULER": "off", "HUB_WEBHOOKS": "off"})


@pytest.fixture(scope="module")
def tokens(served: Served) -> list[str]:
    made = served.tokens()
    return [
        made["CISA"],
        made["DOD"],
        made["Anthropic"],
        create_token(served.data_dir, "--agency", "NIST", "--role", "ADMIN", "--name", "property admin"),
    ]


def spared_tokens(url: str) -> frozenset[str]:
    """The global ids of every token in the database now (the tests' own among them)."""

    async def read() -> frozenset[str]:
        con = await db.connect(url)
        try:
            return frozenset(
                str(to_global_id("ApiToken", r["id"])) for r in await con.fetch("select id from api_tokens")
            )
        finally:
            await con.close()

    return asyncio.run(read())


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_rejected_mutation_changes_nothing(served: Served, tokens: list[str], mutation: str) -> None:
    field = schema._schema.mutation_type.fields[mutation]
    input_type = field.args["input"].type
    query = f"mutation($input: {input_type}) {{ {mutation}(input: $input) {{ __typename errors {{ code }} }} }}"
    url = database_url(served.data_dir)
    # the snapshot after a refused request, which is the one before the next (nothing else writes meanwhile)
    unchanged: list[dict[str, str]] = []

    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        value=values_for(input_type, spared=spared_tokens(url)), who=st.integers(min_value=0, max_value=len(tokens) - 1)
    )
    def check(value: Any, who: int) -> None:
        before = unchanged.pop() if unchanged else asyncio.run(write_snapshot(url))
        response = httpx.post(
            served.url + "/graphql",
            json={"query": query, "variables": {"input": value}},
            headers={"Authorization": f"Bearer {tokens[who]}"},
            timeout=30,
        )
        assert response.status_code in (200, 400), response.text
        body = response.json()
        assert not any(e.get("extensions", {}).get("code") == "INTERNAL" for e in body.get("errors") or []), body
        payload = (body.get("data") or {}).get(mutation)
        refused = bool(body.get("errors")) or bool((payload or {}).get("errors"))
        if refused:
            after = asyncio.run(write_snapshot(url))
            assert after == before, (mutation, value, body)
            unchanged.append(after)

    check()
