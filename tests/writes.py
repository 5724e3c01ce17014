"""What mutations are sent and what they can write: the id types to send, and one snapshot of the content of every
table a mutation writes, for the tests that show a rejected mutation wrote nothing."""

from __future__ import annotations

from graphql import GraphQLObjectType, get_named_type

from hub import db
from hub.kinds import KINDS, stateful_kinds
from schema import schema  # fills NODE_TYPES
from schema.common import NODE_TYPES, OTHER_ID_TYPES, to_global_id

# every type with a global id, for the tests that send mutations ids of real records of any type
ID_TYPES = sorted(NODE_TYPES) + sorted(OTHER_ID_TYPES)


async def global_id_of(url: str, type_name: str, query: str) -> str:
    """The global id of the `type_name` whose primary key `query` selects."""
    con = await db.connect(url)
    try:
        return str(to_global_id(type_name, int(await con.fetchval(query))))
    finally:
        await con.close()


def mutation_operation(name: str, selection: str = "__typename") -> str:
    """An operation sending `$input` to mutation `name` that selects its payload's errors and, of each other
    field of the payload, `selection` (or the field itself when it is a scalar)."""
    assert schema._schema.mutation_type is not None
    field = schema._schema.mutation_type.fields[name]
    payload = get_named_type(field.type)
    assert isinstance(payload, GraphQLObjectType)
    parts = [
        f"{n} {{ {selection} }}" if isinstance(get_named_type(f.type), GraphQLObjectType) else n
        for n, f in payload.fields.items()
        if n != "errors"
    ]
    parts.append("errors { field code message }")
    return f"mutation($input: {field.args['input'].type}) {{ {name}(input: $input) {{ {' '.join(parts)} }} }}"


# the tables whose rows carry a version: every kind's with states, and the policy's (hub/kinds.py)
VERSIONED_TABLES = (*(k.table for k in stateful_kinds()), KINDS["POLICY"].table)
# every table a mutation writes, the events included
WRITTEN_TABLES = (
    *VERSIONED_TABLES,
    "agreement_agencies",
    "coverage_signoffs",
    "coverage_criteria",
    KINDS["SCREENING"].table,
    "coverage_decision_signatures",
    "measure_findings",
    "measure_models",
    "engagement_findings",
    "engagement_milestones",
    "policy_version_signatures",
    KINDS["COUNTERPART"].table,
    KINDS["COMPUTE_ESTIMATE"].table,
    KINDS["EVAL_SUITE"].table,
    KINDS["EVAL_RESULT"].table,
    KINDS["PRINCIPAL"].table,
    "api_tokens",
    "idempotency_keys",
    "events",
)

# A table's content as one value: its row count and the sum of a 64-bit hash of each whole row (its text form). Any
# changed column (a timestamp, a version, a text), an added or removed row, or a link swapped between two rows
# changes it; the sum needs no sort, so every table is read in one statement of a few tens of milliseconds.
SNAPSHOT = "select " + ", ".join(
    f"(select count(*) || ':' || coalesce(sum(hashtextextended(t::text, 0)), 0) from {table} t) as {table}"
    for table in WRITTEN_TABLES
)


async def write_snapshot(url: str) -> dict[str, str]:
    """The content of every table a mutation writes, per table: equal before and after a rejected mutation, and
    after an accepted one different in the tables it wrote only."""
    con = await db.connect(url)
    try:
        return dict(await con.fetchrow(SNAPSHOT))
    finally:
        await con.close()
