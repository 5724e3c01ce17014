"""The SQL compiler's pieces of SQL (docs/compiler.md): values printed in SQL exactly as the resolvers print them
(global ids, timestamps, cursors, floats), JSON objects, and the fields a record's row answers by itself: the columns
its `from_row` copies (PLAIN_FIELDS) and the objects it builds from its own columns (EMBEDDED)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLScalarType

from schema.compiler.plan import NotCompilable

MAX_PAIRS = 50  # json_build_object takes at most 100 arguments


def global_id(type_name: str, column: str) -> str:
    """schema.common.to_global_id in SQL: urlsafe base64 of 'Type:id' without padding."""
    return (
        f"rtrim(translate(replace(encode(convert_to('{type_name}:' || {column}, 'UTF8'), 'base64'), E'\\n', ''),"
        " '+/', '-_'), '=')"
    )


def iso_timestamp(column: str, separator: str = "T") -> str:
    """Python's datetime.isoformat() (or str() with separator ' ') of a UTC timestamptz: microseconds only when
    there are any."""
    return (
        f"case when {column} is null then null else to_char({column} at time zone 'UTC',"
        f" 'YYYY-MM-DD\"{separator}\"HH24:MI:SS')"
        f" || case when extract(microseconds from {column})::bigint % 1000000 <> 0"
        f" then '.' || to_char({column} at time zone 'UTC', 'US') else '' end || '+00:00' end"
    )


def cursor_sql(order: str, order_field: Any, alias: str) -> str:
    """hub.store.base.encode_cursor in SQL: urlsafe base64 of the JSON [order, str(value), id] without padding."""
    value = f"{alias}._order_value"
    if order_field.sql_type == "timestamptz":
        text = iso_timestamp(value, " ")
    elif order_field.sql_type == "date":
        # asyncpg reads the infinite dates as date.max and date.min
        text = (
            f"case when {value} = 'infinity'::date then '9999-12-31' when {value} = '-infinity'::date"
            f" then '0001-01-01' else {value}::text end"
        )
    elif order_field.sql_type in ("text", "bigint", "integer", "numeric"):
        text = f"{value}::text"
    else:
        raise NotCompilable(f"cursor of {order_field.sql_type}")
    raw = f"'[\"{order}\",' || coalesce(to_json({text})::text, 'null') || ',' || {alias}.id || ']'"
    return f"rtrim(translate(replace(encode(convert_to({raw}, 'UTF8'), 'base64'), E'\\n', ''), '+/', '-_'), '=')"


def float_json(value: str) -> str:
    """A GraphQL Float as Python prints it: a whole number keeps its '.0' (PostgreSQL would print 10 for 10.0, which
    JSON readers take for an integer); other values in the shortest form that reads back exactly, as both do."""
    return (
        f"case when {value} is null then null"
        f" when {value} = trunc({value}) and abs({value}) < 1e16 then (trunc({value})::numeric::text || '.0')::json"
        f" else to_json({value}::float8) end"
    )


def decimal_json(value: str) -> str:
    """A GraphQL Decimal as hub.quantities.decimal_text prints a non-negative one: without trailing zeros, in plain
    notation when that takes at most 24 characters, else as `<d>[.<digits>]E<exponent>`."""
    plain = "s.plain"
    digits = f"rtrim(ltrim(replace({plain}, '.', ''), '0'), '0')"
    whole = f"split_part({plain}, '.', 1)"
    fraction = f"split_part({plain}, '.', 2)"
    exponent = (
        f"case when {whole} <> '0' then length({whole}) - 1"
        f" else -(length({fraction}) - length(ltrim({fraction}, '0')) + 1) end"
    )
    mantissa = f"left({digits}, 1) || case when length({digits}) > 1 then '.' || substr({digits}, 2) else '' end"
    return (
        f"(select to_json(case when length({plain}) <= 24 then {plain} else {mantissa} || 'E' || ({exponent})::text"
        f" end) from (select trim_scale({value})::text as plain) s where {value} is not null)"
    )


def json_object(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) > MAX_PAIRS:
        raise NotCompilable("too many fields in one object")
    return "json_build_object(" + ", ".join(f"'{key}', {value}" for key, value in pairs) + ")"


def unwrap(gql_type: Any) -> tuple[Any, bool]:
    """(the named or list type under a NonNull, whether it was non-null)."""
    if isinstance(gql_type, GraphQLNonNull):
        return gql_type.of_type, True
    return gql_type, False


def named(gql_type: Any) -> Any:
    while isinstance(gql_type, GraphQLNonNull | GraphQLList):
        gql_type = gql_type.of_type
    return gql_type


# The fields each type's `from_row` copies from the column of the same name (through an enum or list() at most): the
# only plain fields the compiler prints from a column. Deny by default, as hub/access.py does: a field whose
# from_row does more (Event.details drops the sharing snapshot `before`, Event.entityId is a global id, a finding's
# cvss is built from several columns) is not listed, and an operation that asks for it goes to the resolvers.
# tests/test_compiler.py checks every listed field against from_row on real rows.
RECORD = ("created_at", "updated_at", "version")
PLAIN_FIELDS: dict[str, frozenset[str]] = {
    "Agency": frozenset({*RECORD, "code", "name", "aliases", "description"}),
    "Lab": frozenset({*RECORD, "name", "legal_name", "country", "website", "participation"}),
    "FrontierModel": frozenset(
        {
            *RECORD,
            "name",
            "model_version",
            "modality",
            "description",
            "capabilities",
            "release_status",
            "announced_on",
            "general_availability_on",
            "source_url",
            "corrected_by_lab_at",
            # masked in the store's own select list unless the principal may see them (hub.store.models)
            "confidential_visible",
            "training_compute_flop",
            "capability_details",
            "planned_release_on",
            "planned_general_availability_on",
        }
    ),
    "EarlyAccessAgreement": frozenset(
        {
            *RECORD,
            "state",
            "access_kinds",
            "access_start",
            "access_end",
            "lead_time_asked_days",
            "protections",
            "lab_consent_ref",
            "notes",
            "policy_version",
        }
    ),
    "EarlyAccessRequest": frozenset(
        {
            *RECORD,
            "state",
            "access_kinds",
            "lead_time_days",
            "message",
            "answer",
            "answer_reason",
            "answered_at",
            "policy_version",
        }
    ),
    "CoverageStandard": frozenset(
        {
            *RECORD,
            "standard_version",
            "title",
            "summary",
            "state",
            "required_signoffs",
            "due_on",
            "adopted_at",
            "combine",
            "policy_version",
        }
    ),
    "CoverageDecision": frozenset(
        {
            *RECORD,
            "state",
            "outcome",
            "rationale",
            "request_note",
            "decided_at",
            "proposed_outcome",
            "is_override",
            "override_reason",
            "pending_outcome",
            "pending_rationale",
            "pending_override_reason",
            "signature_round",
            "policy_version",
        }
    ),
    "CoverageScreening": frozenset({*RECORD, "proposed_outcome", "trigger"}),
    "Finding": frozenset({*RECORD, "tlp", "title", "description", "state", "cve_id", "cwes", "sectors"}),
    "CyberMeasure": frozenset(
        {
            *RECORD,
            "tlp",
            "title",
            "description",
            "kind",
            "state",
            "system_scope",
            "owner_component",
            "d3fend_ids",
            "attack_ids",
            "nist80053_controls",
            "evidence",
        }
    ),
    "InfrastructureEngagement": frozenset(
        {
            *RECORD,
            "tlp",
            "title",
            "summary",
            "sector",
            "kind",
            "state",
            "lab_accepted_at",
            "counterpart_consent",
            "counterpart_consent_ref",
            "counterpart_consent_recorded_at",
        }
    ),
    "InfrastructureCounterpart": frozenset({*RECORD, "name", "kind", "sector", "region", "contact_ref"}),
    "Event": frozenset({"at", "entity_kind", "action", "from_state", "to_state", "reason"}),
}


# Objects that a record's `from_row` builds from its own columns (schema/findings.py): when the object is null, and
# each of its fields, in SQL. tests/test_compiler.py holds these to what from_row makes.
EMBEDDED: dict[tuple[str, str], tuple[str | None, dict[str, str]]] = {
    ("Finding", "cvss"): (
        "{x}.cvss_base_score is null",
        {
            "version": "coalesce({x}.cvss_version, '3.1')",
            "vector": "{x}.cvss_vector",
            "baseScore": float_json("{x}.cvss_base_score"),
            "severity": "{x}.cvss_severity",
        },
    ),
    ("Finding", "kev"): (
        "{x}.kev_date_added is null",
        {
            "dateAdded": "{x}.kev_date_added",
            "dueDate": "{x}.kev_due_date",
            "knownRansomwareCampaignUse": "coalesce({x}.kev_known_ransomware_campaign_use = 'KNOWN', false)",
            "requiredAction": "{x}.kev_required_action",
        },
    ),
    ("Finding", "affected"): (
        None,
        {"vendor": "{x}.affected_vendor", "product": "{x}.affected_product", "versions": "{x}.affected_versions"},
    ),
}


def column_json(type_name: str, column: str, field_type: Any, columns: frozenset[str], x: str) -> str:
    """A field strawberry reads from the row: the column of the same name, as strawberry would print it."""
    inner, _ = unwrap(field_type)
    if column == "id" and isinstance(inner, GraphQLScalarType) and inner.name == "ID":
        return global_id(type_name, f"{x}.id")
    if column not in PLAIN_FIELDS.get(type_name, ()):
        raise NotCompilable(f"{type_name}.{column} is not copied from its column as it is")
    if column not in columns:
        raise NotCompilable(f"{type_name}.{column} is not a column")
    if isinstance(inner, GraphQLList):
        element, _ = unwrap(inner.of_type)
        if isinstance(element, GraphQLEnumType) or (
            isinstance(element, GraphQLScalarType) and element.name in ("String", "Int", "Boolean")
        ):
            return f"to_json({x}.{column})"
        raise NotCompilable(f"list field {type_name}.{column}")
    if isinstance(inner, GraphQLEnumType):
        return f"{x}.{column}"
    if isinstance(inner, GraphQLScalarType):
        if inner.name == "Float":
            return float_json(f"{x}.{column}")
        if inner.name in ("String", "Int", "Boolean", "Date", "JSON"):
            return f"{x}.{column}"
        if inner.name == "DateTime":
            return iso_timestamp(f"{x}.{column}")
    raise NotCompilable(f"field {type_name}.{column} of type {inner}")


def key_column(attribute: str) -> str:
    """The column a record's key attribute is read from, as from_row names them: `pk` is the row's `id`, `<x>_pk`
    its `<x>_id`."""
    return "id" if attribute == "pk" else attribute.removesuffix("_pk") + "_id"
