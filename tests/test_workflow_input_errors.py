"""What is wrong in a mutation's input comes back in the payload: a malformed id or an id of another type is a
payload error naming the field with code BAD_USER_INPUT (NOT_FOUND for a well-formed id of no record you may see),
`data.<mutation>` is there with no record, and nothing is written. Only what GraphQL's own coercion refuses (a
String where an Int is needed, an unknown enum value) is a GraphQL error with no data."""

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
from tests.writes import global_id_of, mutation_operation, write_snapshot

assert schema._schema.mutation_type is not None
MUTATION_FIELDS = schema._schema.mutation_type.fields
PLAIN = {"String": "x", "Int": 1, "Float": 1.0, "Boolean": True, "Date": "2026-06-02", "Decimal": "1"}


def id_fields(name: str) -> list[str]:
    """The fields of mutation `name`'s input that hold ids (or lists of ids)."""
    input_type = get_named_type(MUTATION_FIELDS[name].args["input"].type)
    assert isinstance(input_type, GraphQLInputObjectType)
    return [n for n, f in input_type.fields.items() if get_named_type(f.type).name == "ID"]


def value_for(graphql_type: Any, bad_id: str) -> Any:
    """A value GraphQL coerces without complaint, with `bad_id` for every id: what the hub reads first are the ids."""
    nullable = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    if isinstance(nullable, GraphQLList):
        return [value_for(nullable.of_type, bad_id)]
    named = get_named_type(nullable)
    if isinstance(named, GraphQLInputObjectType):
        return {
            n: value_for(f.type, bad_id)
            for n, f in named.fields.items()
            if isinstance(f.type, GraphQLNonNull) or get_named_type(f.type).name == "ID"
        }
    if isinstance(named, GraphQLEnumType):
        return next(iter(named.values))
    assert isinstance(named, GraphQLScalarType)
    return bad_id if named.name == "ID" else PLAIN.get(named.name, "2026-06-02T00:00:00+00:00")


def assert_payload_error(body: dict[str, Any], name: str, fields: set[str], code: str) -> dict[str, Any]:
    """The one payload error of a refused mutation `name`, naming one of `fields`, with no record beside it."""
    assert "errors" not in body, (name, body["errors"])
    payload = body["data"][name]
    assert {k: v for k, v in payload.items() if k != "errors"} == dict.fromkeys(set(payload) - {"errors"}), payload
    (error,) = payload["errors"]
    assert error["code"] == code and error["field"] in fields, (name, error)
    assert error["field"] in error["message"], (name, error)
    return dict(error)


WITH_IDS = [name for name in sorted(MUTATION_FIELDS) if id_fields(name)]


@pytest.mark.parametrize("bad_id", ["not-an-id", "'; drop table findings; --", to_global_id("Event", 1)])
async def test_every_mutation_reports_a_bad_id_in_its_payload(api: Api, bad_id: str) -> None:
    assert len(WITH_IDS) >= 25, WITH_IDS
    token = await api.token(agency="CISA", role="ADMIN")
    before = await write_snapshot(api.url)
    for name in WITH_IDS:
        value = value_for(MUTATION_FIELDS[name].args["input"].type, bad_id)
        body = await api.query(mutation_operation(name), {"input": value}, token=token)
        assert_payload_error(body, name, {f"input.{f}" for f in id_fields(name)}, "BAD_USER_INPUT")
    assert await write_snapshot(api.url) == before


async def test_each_id_field_is_named_with_its_code(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    dod = await api.token(agency="DOD", role="OFFICER")
    finding = await global_id_of(api.url, "Finding", "select min(id) from findings")
    engagement = await global_id_of(
        api.url, "InfrastructureEngagement", "select min(id) from infrastructure_engagements"
    )
    lab = await global_id_of(api.url, "Lab", "select min(id) from labs")
    model = await global_id_of(api.url, "FrontierModel", "select min(id) from frontier_models")
    unknown_finding = to_global_id("Finding", 10**12)
    measure = {"title": "t", "kind": "DETECT", "systemScope": "s", "ownerComponent": "c"}
    move = {"id": finding, "to": "TRIAGED", "expectedVersion": 1}
    bad, missing = "BAD_USER_INPUT", "NOT_FOUND"
    cases: list[tuple[str, str, dict[str, Any], str, str]] = [
        ("updateFinding", cisa, {"id": lab, "expectedVersion": 1}, "input.id", bad),
        ("transitionFinding", cisa, {**move, "duplicateOfId": lab}, "input.duplicateOfId", bad),
        ("transitionFinding", cisa, {**move, "duplicateOfId": "x"}, "input.duplicateOfId", bad),
        ("shareFinding", cisa, {"id": finding, "expectedVersion": 1, "tlp": "GREEN", "shareWithLabIds": [finding]},
         "input.shareWithLabIds", bad),
        ("reportFinding", cisa, {"title": "t", "discoveredBy": "LAB", "discoveredByLabId": model},
         "input.discoveredByLabId", bad),
        ("planMeasure", dod, {**measure, "modelIds": [model, finding]}, "input.modelIds", bad),
        ("planMeasure", dod, {**measure, "findingIds": [unknown_finding]}, "input.findingIds", missing),
        ("completeEngagementMilestone", cisa,
         {"id": engagement, "milestoneId": engagement, "expectedVersion": 1, "completedOn": "2026-06-02"},
         "input.milestoneId", bad),
        ("createToken", cisa, {"principalId": lab}, "input.principalId", bad),
        ("revokeToken", cisa, {"id": "QXBpVG9rZW46"}, "input.id", bad),
        ("updateFinding", cisa, {"id": unknown_finding, "expectedVersion": 1}, "input.id", missing),
    ]  # fmt: skip
    before = await write_snapshot(api.url)
    for name, token, fields, field, code in cases:
        body = await api.query(mutation_operation(name), {"input": fields}, token=token)
        assert_payload_error(body, name, {field}, code)
    assert await write_snapshot(api.url) == before


async def test_what_graphql_cannot_coerce_is_a_graphql_error_without_data(api: Api) -> None:
    cisa = await api.token(agency="CISA", role="ADMIN")
    finding = await global_id_of(api.url, "Finding", "select min(id) from findings")
    for fields in (
        {"id": finding, "to": "TRIAGED", "expectedVersion": "one"},
        {"id": finding, "to": "NOPE", "expectedVersion": 1},
        {"id": finding, "to": "TRIAGED", "expectedVersion": 1, "bogus": 1},
        {"id": 5.5, "to": "TRIAGED", "expectedVersion": 1},
        {"id": finding, "to": "TRIAGED", "expectedVersion": 2**40},
    ):
        body = await api.request_error(mutation_operation("transitionFinding"), {"input": fields}, token=cisa)
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
