"""Every mutation in the schema, fed hostile input, answers with a clear error and writes nothing: row counts and
the event chain are unchanged afterwards. The inputs are built from the schema itself, so a new mutation is covered
the day it is added."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
)

from schema import schema
from schema.common import to_global_id
from tests.conftest import Api
from tests.writes import write_snapshot

MUTATIONS = sorted(schema._schema.mutation_type.fields) if schema._schema.mutation_type else []


def hostile_value(graphql_type: Any, variant: str, depth: int = 0) -> Any:
    """A value of the right GraphQL type that the hub must refuse: unknown or foreign ids, oversized or control-laden
    text, out-of-range numbers, impossible windows."""
    nullable = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    if isinstance(nullable, GraphQLList):
        return [hostile_value(nullable.of_type, variant, depth + 1)]
    named = get_named_type(nullable)
    if isinstance(named, GraphQLInputObjectType):
        return {
            name: hostile_value(field.type, variant, depth + 1)
            for name, field in named.fields.items()
            if isinstance(field.type, GraphQLNonNull) or variant == "everything"
        }
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    assert isinstance(named, GraphQLScalarType)
    return {
        "ID": to_global_id("Finding", 10**12) if variant == "everything" else to_global_id("Agency", 10**12),
        "String": "\x00" + "'; drop table findings; --" * 400 if variant == "everything" else "x" * 10_001,
        "Int": -1 if variant == "everything" else 10**9,
        "Float": -1.5,
        "Boolean": True,
        "Date": "2026-06-02",
        "DateTime": "2026-06-02T00:00:00+00:00",
    }.get(named.name, "x")


@pytest.mark.parametrize("variant", ["required", "everything"])
async def test_every_mutation_refuses_hostile_input_and_writes_nothing(api: Api, variant: str) -> None:
    assert len(MUTATIONS) >= 20, MUTATIONS
    tokens = [
        await api.token(agency="CISA", role="ADMIN"),
        await api.token(agency="DOD", role="OFFICER"),
        await api.token(lab="Anthropic", role="LAB_LIAISON"),
    ]
    before = await write_snapshot(api.url)
    for name in MUTATIONS:
        field = schema._schema.mutation_type.fields[name]
        input_type = field.args["input"].type
        value = hostile_value(input_type, variant)
        selection = "__typename errors { field code message }"
        query = f"mutation($input: {input_type}) {{ {name}(input: $input) {{ {selection} }} }}"
        for token in tokens:
            response = await api.post(query, {"input": value}, token=token)
            assert response.status_code in (200, 400), (name, response.text)
            text = response.text
            assert "Traceback" not in text and "asyncpg" not in text, (name, text)
            body = response.json()
            payload = (body.get("data") or {}).get(name)
            errors = body.get("errors") or (payload or {}).get("errors")
            assert errors, (name, variant, body)
            for error in body.get("errors") or []:
                assert error["extensions"]["code"] != "INTERNAL", (name, error)
    assert await write_snapshot(api.url) == before


async def test_missing_and_unknown_input_fields_are_validation_errors(demo_api: Api) -> None:
    token = await demo_api.token(agency="CISA", role="OFFICER")
    for name in MUTATIONS:
        missing = await demo_api.post(f"mutation {{ {name} {{ __typename }} }}", token=token)
        assert missing.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", name
        unknown = await demo_api.post(f"mutation {{ {name}(input: {{bogus: 1}}) {{ __typename }} }}", token=token)
        assert "bogus" in unknown.json()["errors"][0]["message"], name
