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
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hub import db
from schema import schema
from schema.common import from_global_id, to_global_id
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


def values_for(graphql_type: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    required = isinstance(graphql_type, GraphQLNonNull)
    inner = graphql_type.of_type if required else graphql_type
    if isinstance(inner, GraphQLList):
        strategy: st.SearchStrategy[Any] = st.lists(values_for(inner.of_type, depth + 1), max_size=3)
    else:
        named = get_named_type(inner)
        if isinstance(named, GraphQLEnumType):
            strategy = st.sampled_from(sorted(named.values))
        elif isinstance(named, GraphQLInputObjectType):
            strategy = input_object(named, depth + 1)
        else:
            strategy = SCALARS.get(named.name, TEXT)
    return strategy if required else st.one_of(st.none(), strategy)


def input_object(graphql_type: GraphQLInputObjectType, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    required = {
        n: values_for(f.type, depth) for n, f in graphql_type.fields.items() if isinstance(f.type, GraphQLNonNull)
    }
    optional = {n: values_for(f.type, depth) for n, f in graphql_type.fields.items() if n not in required}
    return st.fixed_dictionaries(required, optional=optional if depth < 3 else {})


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-property-") as data_dir:
        yield from serve(data_dir, env={"HUB_SCHEDULER": "off"})


@pytest.fixture(scope="module")
def tokens(served: Served) -> list[str]:
    made = served.tokens()
    return [
        made["CISA"],
        made["DOD"],
        made["Anthropic"],
        create_token(served.data_dir, "--agency", "NIST", "--role", "ADMIN", "--name", "property admin"),
    ]


@pytest.fixture(scope="module")
def spared(served: Served, tokens: list[str]) -> set[int]:
    """The ids of the tokens there are once the run's are made: revokeToken with one of them would end the run's
    authentication (which ids the drawn inputs hit depends on every type of id the schema has)."""

    async def ids() -> set[int]:
        con = await db.connect(database_url(served.data_dir))
        try:
            return {r["id"] for r in await con.fetch("select id from api_tokens")}
        finally:
            await con.close()

    return asyncio.run(ids())


def revokes_a_run_token(mutation: str, value: Any, spared: set[int]) -> bool:
    if mutation != "revokeToken" or not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return False
    try:
        type_name, pk = from_global_id(value["id"])
    except Exception:  # noqa: BLE001 - not an id at all: the hub refuses it
        return False
    return type_name == "ApiToken" and pk in spared


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_rejected_mutation_changes_nothing(
    served: Served, tokens: list[str], spared: set[int], mutation: str
) -> None:
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
    @given(value=values_for(input_type), who=st.integers(min_value=0, max_value=len(tokens) - 1))
    def check(value: Any, who: int) -> None:
        assume(not revokes_a_run_token(mutation, value, spared))
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
