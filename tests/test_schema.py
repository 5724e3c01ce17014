"""The printed SDL is committed and current, and nothing in it reads as a licence, clearance or permit."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, get_named_type

from hub.workflow import ErrorCode
from schema import print_schema, schema

SDL_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"
# docs/design.md, "Voluntary by construction": nothing in the program is a licence, a preclearance, a permit or a
# block. TLP's CLEAR is a sharing label, and "Clearinghouse" names CISA's scanning service; neither is a clearance.
# An aggregate (a count over records) is no gate either.
FORBIDDEN = re.compile(
    r"approv|clearance|cleared|preclear|licen[cs]|permit|block|authoriz|authoris|veto|(?<!aggre)gate[ds]?$|^gate",
    re.IGNORECASE,
)
ALLOWED = {"CLEAR", "CLEARINGHOUSE_SCAN"}


def names_in_schema() -> list[str]:
    graphql_schema = schema._schema
    names: list[str] = []
    for type_name, graphql_type in graphql_schema.type_map.items():
        if type_name.startswith("__"):
            continue
        names.append(type_name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            for field_name, field in graphql_type.fields.items():
                names.append(field_name)
                names.extend(getattr(field, "args", {}) or {})
        if isinstance(graphql_type, GraphQLEnumType):
            names.extend(graphql_type.values)
    return names


def test_committed_sdl_matches_the_code() -> None:
    assert SDL_FILE.read_text() == print_schema(), "schema/schema.graphql is stale: run `make schema`"


def test_no_name_in_the_schema_means_approval_clearance_licence_permit_or_block() -> None:
    offending = sorted({n for n in names_in_schema() if FORBIDDEN.search(n) and n not in ALLOWED})
    assert offending == []


def test_the_lint_would_catch_a_forbidden_name() -> None:
    for name in ("approveRelease", "APPROVED", "ReleaseClearance", "CLEARED", "licenseId", "PERMITTED", "blockRelease"):
        assert FORBIDDEN.search(name), name
    assert not FORBIDDEN.search("Tlp")


def test_design_type_and_enum_names_exist() -> None:
    type_map = schema._schema.type_map
    for name in (
        "Agency",
        "Lab",
        "FrontierModel",
        "EarlyAccessAgreement",
        "CoverageStandard",
        "CoverageDecision",
        "Finding",
        "CyberMeasure",
        "InfrastructureEngagement",
        "Event",
        "Principal",
        "Policy",
        "Tlp",
        "Sector",
        "LabState",
        "FrontierModelState",
        "EarlyAccessAgreementState",
        "CoverageStandardState",
        "CoverageDecisionState",
        "FindingState",
        "CyberMeasureState",
        "InfrastructureEngagementState",
    ):
        assert name in type_map, name
    query_fields = set(schema._schema.query_type.fields)
    assert {
        "agencies",
        "labs",
        "models",
        "agreements",
        "coverageStandards",
        "coverageDecisions",
        "findings",
        "measures",
        "engagements",
        "events",
        "me",
        "policy",
        "dashboard",
        "node",
        "nodes",
    } <= query_fields
    assert len(type_map["Sector"].values) == 16


def test_every_deprecation_gives_a_reason_and_a_date() -> None:
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    undated = []
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__"):
            continue
        members: dict[str, object] = {}
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            members = dict(graphql_type.fields)
        elif isinstance(graphql_type, GraphQLEnumType):
            members = dict(graphql_type.values)
        for name, member in members.items():
            reason = getattr(member, "deprecation_reason", None)
            if reason is not None and not re.search(r"\d{4}-\d{2}-\d{2}", reason):
                undated.append(f"{type_name}.{name}: {reason!r}")
    assert undated == [], "deprecate with a reason and the date of removal, e.g. 'use x; removed after 2027-06-01'"


def test_user_error_code_is_the_enum_of_the_codes_a_write_can_be_rejected_with() -> None:
    user_error = schema._schema.type_map["UserError"]
    assert isinstance(user_error, GraphQLObjectType)
    code = get_named_type(user_error.fields["code"].type)
    assert isinstance(code, GraphQLEnumType) and code.name == "UserErrorCode"
    assert (
        list(code.values)
        == [c.value for c in ErrorCode]
        == [
            "BAD_USER_INPUT",
            "NOT_FOUND",
            "INVALID_TRANSITION",
            "STALE_VERSION",
            "CONFLICT",
            "IDEMPOTENCY_KEY_REUSED",
            "CRITERION_NOT_EVALUABLE",
            "OVERRIDE_REASON_REQUIRED",
            "ALREADY_SIGNED",
            "LAB_NOT_PARTICIPATING",
            "LAB_ACCEPTANCE_REQUIRED",
        ]
    )
    # `allowed` stays the names of states, as strings
    assert str(user_error.fields["allowed"].type) == "[String!]"
    # no other error code in the schema is a string
    for type_name, graphql_type in schema._schema.type_map.items():
        if (
            isinstance(graphql_type, GraphQLObjectType)
            and type_name.endswith("Error")
            and "code" in graphql_type.fields
        ):
            assert get_named_type(graphql_type.fields["code"].type) is code, type_name
