"""Fuzzing: Schemathesis, in GraphQL mode, generates queries and mutations for every root field of the schema that a
real `hub serve` publishes, sends them with an agency admin's or officer's token, and no answer may be a server
error: no HTTP 5xx, no `INTERNAL` (or `TIMEOUT`, or code-less) error, no response that breaks the schema.

Refusals are fine: a generated mutation is mostly refused (BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, CONFLICT...), and a
generated query may go over a request limit (QUERY_TOO_COMPLEX). Cases that break the schema (Schemathesis's negative
mode) must be refused. The run is deterministic (Hypothesis derandomized) and bounded: EXAMPLES_PER_QUERY or
EXAMPLES_PER_MUTATION valid cases and NEGATIVE_EXAMPLES invalid ones per root field (578 requests, about 10 s)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import schemathesis
from graphql import get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes
from schemathesis.graphql.checks import GraphQLServerError
from schemathesis.specs.openapi.checks import negative_data_rejection, response_schema_conformance

from schema.common import to_global_id
from tests.live import Served, new_tokens, serving
from tests.writes import ID_TYPES

EXAMPLES_PER_QUERY = 8
EXAMPLES_PER_MUTATION = 10
# and cases that break the schema (wrong types, missing arguments): each must be refused, never fail the hub
NEGATIVE_EXAMPLES = 2
# what the hub answers when it failed, rather than refused: the rest are refusals a client can act on
SERVER_FAILURES = {"INTERNAL", "TIMEOUT", None}

# IDs (ids_for): global ids of records that exist in the demo data, of the type the operation works on (so that
# mutations reach past "no such record"), of any type (tests.writes.ID_TYPES), and a few that are not ids at all

# the record type an operation is about, from its name (transitionFinding: Finding), first match wins
SUBJECTS = [
    ("Designation", "ModelDesignation"),
    ("ComputeEstimate", "FrontierModel"),
    ("EvaluationSuite", "EvaluationSuite"),
    ("EvaluationResult", "FrontierModel"),
    ("Milestone", "InfrastructureEngagement"),
    ("CounterpartConsent", "InfrastructureEngagement"),
    ("Counterpart", "InfrastructureCounterpart"),
    ("Engagement", "InfrastructureEngagement"),
    ("Measure", "CyberMeasure"),
    ("EarlyAccess", "EarlyAccessAgreement"),
    ("CoverageStandard", "CoverageStandard"),
    ("Coverage", "CoverageDecision"),
    ("Model", "FrontierModel"),
    ("Lab", "Lab"),
    ("Token", "ApiToken"),
    ("Finding", "Finding"),
    ("Agenc", "Agency"),
    ("Principal", "Principal"),
]


def ids_for(field_name: str, spared: set[tuple[str, int]]) -> st.SearchStrategy[Any]:
    """IDs for the arguments of one root field; never one of `spared` (the run's own tokens: revokeToken would
    otherwise end the run's authentication)."""
    subject = next((kind for word, kind in SUBJECTS if word.lower() in field_name.lower()), None)
    types = st.sampled_from([subject] * 3 + ID_TYPES) if subject else st.sampled_from(ID_TYPES)
    pairs = st.tuples(types, st.integers(min_value=1, max_value=40)).filter(lambda t: t not in spared)
    real = pairs.map(lambda t: to_global_id(*t))
    junk = st.sampled_from(["not-an-id", "", "RmluZGluZzo5OTk5OTk5OTk5", to_global_id("Finding", 10**12)])
    return st.one_of(real, real, junk).map(nodes.String)


# JSON is an output type only today; with a strategy, an input of it would not stop the run
schemathesis.graphql.scalar(
    "JSON", st.one_of(st.just(nodes.Object([])), st.integers(min_value=-5, max_value=5).map(nodes.Int))
)
# exact decimals, written as strings: some the hub takes (so that mutations reach past the scalar), some it refuses
schemathesis.graphql.scalar(
    "Decimal",
    st.sampled_from(["1e25", "10^26", "3.5", "0", "100000000000000000000000000", "-1", "1e", "NaN"]).map(nodes.String),
)

# exact decimals are strings (hub/quantities.py): the forms the hub accepts, and some it refuses
schemathesis.graphql.scalar(
    "Decimal",
    st.sampled_from(["0", "1", "0.5", "1e26", "10^26", "3x10^25", "100000000000000000000000000", "-1", "NaN", "x"]).map(
        nodes.String
    ),
)


@schemathesis.check
def hub_not_a_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis's not_a_server_error, read with the hub's error contract. Its GraphQL rule takes any error
    with a path and a code outside Apollo's client-error list for a server error; the hub's deliberate refusals
    (FORBIDDEN, NOT_FOUND, CONFLICT, QUERY_TOO_COMPLEX...) are such errors. A 5xx stays a failure, and so does any
    error whose code says the hub failed (INTERNAL, TIMEOUT) or that has no code at all."""
    try:
        not_a_server_error(ctx, response, case)
    except GraphQLServerError as failure:
        codes = {(error.get("extensions") or {}).get("code") for error in failure.errors}
        if codes & SERVER_FAILURES:
            raise
    return None


async def test_generated_queries_and_mutations_get_no_server_error(fresh_url: str) -> None:
    # an agency admin's token and another agency's officer's
    tokens, spared = await new_tokens(fresh_url, ("CISA", "ADMIN"), ("NIST", "OFFICER"))
    with serving(fresh_url) as server:
        sent = fuzz(server, tokens, spared)
    # what the run did, for the record (docs/security.md quotes it)
    print(
        f"\nfuzz: {sent['operations']} operations ({sent['mutations']} mutations, {sent['invalid']} not valid GraphQL)"
    )
    print(f"fuzz: HTTP statuses {dict(sent['status'])}; mutations answered without an error: {sent['done']}")
    print(f"fuzz: error codes {dict(sent['codes'])}; payload error codes {dict(sent['payload_codes'])}")
    assert sent["operations"] >= 400 and sent["mutations"] >= 250 and sent["invalid"] >= 50, sent
    assert not set(sent["codes"]) & SERVER_FAILURES and all(status < 500 for status in sent["status"])
    # every request went through as an authenticated one: the run tested the API, not its front door
    assert "UNAUTHENTICATED" not in sent["codes"] and 401 not in sent["status"]
    # and some generated mutations went all the way through
    assert sent["done"] >= 20, sent


def fuzz(server: Served, tokens: list[str], spared: set[tuple[str, int]]) -> dict[str, Any]:
    """Run the generated cases of every root field against the server; what was sent and answered."""
    # the schema as the running server publishes it, by graphql-core's standard introspection query (Schemathesis's
    # own nests ofType deeper than HUB_MAX_DEPTH allows, and gets QUERY_TOO_COMPLEX)
    introspected = httpx.post(
        server.url + "/graphql",
        json={"query": get_introspection_query()},
        headers={"Authorization": f"Bearer {tokens[0]}"},
        timeout=30,
    )
    assert introspected.status_code == 200, introspected.text
    schema = schemathesis.graphql.from_dict(introspected.json())
    sent: dict[str, Any] = {
        "operations": 0,
        "mutations": 0,
        "invalid": 0,
        "done": 0,
        "status": Counter(),
        "codes": Counter(),
        "payload_codes": Counter(),
    }

    def send(operation: Any, mode: GenerationMode, examples: int) -> None:
        field = operation.definition.field_name
        is_mutation = bool(operation.definition.is_mutation)
        schemathesis.graphql.scalar("ID", ids_for(field, spared))
        checks = [hub_not_a_server_error, response_schema_conformance]
        if mode == GenerationMode.NEGATIVE:
            # Schemathesis's own: a query that breaks the schema must be refused
            checks.append(negative_data_rejection)

        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(mode))
        def run(case: Any) -> None:
            token = tokens[sent["operations"] % len(tokens)]
            response = case.call(
                base_url=server.url + "/graphql", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            sent["operations"] += 1
            sent["mutations"] += is_mutation
            sent["invalid"] += mode == GenerationMode.NEGATIVE
            sent["status"][response.status_code] += 1
            body = response.json()
            errors = body.get("errors") or []
            for error in errors:
                sent["codes"][(error.get("extensions") or {}).get("code")] += 1
            payload = (body.get("data") or {}).get(field)
            refusals = (payload.get("errors") or []) if isinstance(payload, dict) else []
            for refusal in refusals:
                sent["payload_codes"][refusal.get("code") or "(code not selected)"] += 1
            sent["done"] += is_mutation and not errors and not refusals
            case.validate_response(response, checks=checks)

        run()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the schema's root fields were not all found"
    for operation in operations:
        is_mutation = bool(operation.definition.is_mutation)
        send(operation, GenerationMode.POSITIVE, EXAMPLES_PER_MUTATION if is_mutation else EXAMPLES_PER_QUERY)
        send(operation, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
    return sent
