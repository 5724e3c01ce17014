"""The cases of the structural fuzzer (tests/test_structure_fuzz.py): GraphQL requests built from the schema's own
types, fields and arguments, so that many are valid or nearly so and reach deep into execution, and requests whose
structure is wrong on purpose: operation names, fragments, directives, variables, and bodies that are not a GraphQL
request at all.

A family is `generate(rng, size) -> Case`; `size` is the one knob the shrinker turns down (how many fields, how long
a fragment chain, how many operations, directives or variables, how deep a nesting, how many kilobytes). A case
generated again from the same seed with a smaller size is the same case, smaller.

Each case says whether a conforming server must refuse it (`refuse`): for a GraphQL request that is what graphql-core
says of it (a syntax error, a validation error, no operation to run, variables that do not coerce; see `verdict`);
for the other bodies the family says so where the answer is not a matter of taste (a JSON array, a mutation over GET),
and leaves it None where it is (a BOM, a JSON string of variables)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLUnionType,
    OperationDefinitionNode,
    Undefined,
    get_named_type,
    get_operation_ast,
    is_enum_type,
    is_input_object_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from hub.limits import Limits
from schema import schema
from schema.common import to_global_id
from tests.writes import ID_TYPES

SCHEMA = schema._schema
QUERY = cast(GraphQLObjectType, SCHEMA.query_type)
# a document longer than this is refused unparsed, by the hub (HUB_MAX_TOKENS, its default) and by `verdict`
PARSE_TOKENS = Limits().max_tokens


class Enum(str):
    """An enum value: bare in a document, a string in variables."""


@dataclass
class Case:
    """One request. POST: `body` is the JSON body; GET: the query parameters; WS: the subscribe payload; RAW: `raw`
    is sent as it is, with `method` and `content_type`."""

    family: str
    transport: str
    body: Any = None
    raw: bytes = b""
    method: str = "POST"
    content_type: str | None = "application/json"
    # None: graphql-core decides (`verdict`); True or False: the family knows
    refuse: bool | None = None
    # the operation's type, when the case is one GraphQL operation (it decides the transports it may take)
    kind: str | None = None
    size: int = 1
    notes: dict[str, Any] = field(default_factory=dict)


def verdict(body: Any) -> tuple[bool, OperationDefinitionNode | None]:
    """Whether graphql-core refuses this GraphQL request (body: {query, variables, operationName}), or the hub's token
    limit does, and the operation it would run."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return True, None
    variables, name = body.get("variables"), body.get("operationName")
    if (variables is not None and not isinstance(variables, dict)) or (name is not None and not isinstance(name, str)):
        return True, None
    try:
        document = parse(body["query"], max_tokens=PARSE_TOKENS)
    except GraphQLError:
        return True, None
    except RecursionError:
        return True, None
    try:
        if validate(SCHEMA, document):
            return True, None
    except RecursionError:
        return True, None
    operation = get_operation_ast(document, name)
    if operation is None:
        return True, None
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables or {})
    return isinstance(coerced, list), operation


class Builder:
    """Operations built from the schema: real fields, real arguments with values of their types (records that exist,
    small pages), nested selections, inline fragments on the concrete types of interfaces and unions."""

    def __init__(self, rng: random.Random, ids: list[str]) -> None:
        self.rng = rng
        self.ids = ids

    # values

    def scalar(self, name: str, argument: str) -> Any:
        rng = self.rng
        if argument in ("first", "expectedVersion"):
            return rng.randint(1, 3)
        if name == "Int":
            return rng.choice([0, 1, 2, 3, 7, 30, 100])
        if name == "Float":
            return rng.choice([0.0, 1.5, 7.0, 9.8])
        if name == "Boolean":
            return rng.random() < 0.5
        if name == "ID":
            return rng.choice(self.ids)
        if name == "Date":
            return rng.choice(["2026-03-01", "2025-12-31", "2027-01-15"])
        if name == "DateTime":
            return rng.choice(["2026-03-01T00:00:00Z", "2026-03-01T12:30:00+02:00"])
        if name == "JSON":
            return {"fuzz": [1, "two", None]}
        return rng.choice(["fuzz", "", "ünïcødé 🏃", 'O\'Brien "quoted"', "line\nbreak", "x" * 300, "CVE-2024-3094"])

    def value(self, type_: Any, argument: str = "", depth: int = 0) -> Any:
        """A value of the input type."""
        rng = self.rng
        if is_non_null_type(type_):
            return self._value(type_.of_type, argument, depth)
        if depth > 0 and rng.random() < 0.05:
            return None
        return self._value(type_, argument, depth)

    def _value(self, type_: Any, argument: str, depth: int) -> Any:
        rng = self.rng
        if is_list_type(type_):
            return [self.value(type_.of_type, argument, depth + 1) for _ in range(rng.randint(0, 2))]
        if is_enum_type(type_):
            return Enum(rng.choice(list(type_.values)))
        if is_input_object_type(type_):
            return self.input_object(type_, depth)
        return self.scalar(type_.name, argument)

    def input_object(self, type_: GraphQLInputObjectType, depth: int) -> dict[str, Any]:
        made = {}
        for name, input_field in type_.fields.items():
            required = is_non_null_type(input_field.type) and input_field.default_value is Undefined
            if required or (depth < 3 and self.rng.random() < 0.3):
                made[name] = self.value(input_field.type, name, depth + 1)
        return made

    def wrong_value(self, type_: Any) -> Any:
        """A value that is not of the input type."""
        rng = self.rng
        named = get_named_type(type_)
        if is_non_null_type(type_) and rng.random() < 0.3:
            return None
        if is_input_object_type(named):
            made = self.input_object(named, 0)
            if made and rng.random() < 0.5:
                made.pop(rng.choice(list(made)))
            made["notAField"] = 1
            return made
        if is_enum_type(named):
            return rng.choice([Enum("NOT_A_VALUE"), "A_STRING", 3])
        return {
            "Int": rng.choice(["three", 2**31, 1.5, [1], True]),
            "Float": rng.choice(["1.5", [1.5], {"x": 1}]),
            "Boolean": rng.choice(["true", 1, None if not is_non_null_type(type_) else "no"]),
            "ID": rng.choice([{"id": 1}, True, [["x"]], 1.5]),
            "Date": rng.choice([20260301, "not a date", "2026-02-30"]),
            "DateTime": rng.choice(["yesterday", 0, "2026-13-01T00:00:00Z"]),
        }.get(named.name, rng.choice([5, True, {"a": "b"}, [1, 2]]))

    # documents

    def arguments(self, args: dict[str, GraphQLArgument], variables: Variables | None = None) -> str:
        parts = []
        for name, argument in args.items():
            required = is_non_null_type(argument.type) and argument.default_value is Undefined
            # a page size: mostly given and small, so that nested lists stay under the cost limit
            wanted = 0.9 if name == "first" else 0.3
            if required or self.rng.random() < wanted:
                value = self.value(argument.type, name)
                if variables is not None and self.rng.random() < 0.5:
                    parts.append(f"{name}: {variables.add(argument.type, value)}")
                else:
                    parts.append(f"{name}: {literal(value)}")
        return f"({', '.join(parts)})" if parts else ""

    def selection_set(self, type_: GraphQLOutputType, depth: int, width: int) -> str:
        named = get_named_type(type_)
        parts = []
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            parts.append("__typename")
            if isinstance(named, GraphQLInterfaceType):
                parts.append(self.fields(named, depth, width))
            possible = list(SCHEMA.get_possible_types(named))
            for concrete in self.rng.sample(possible, min(len(possible), self.rng.randint(1, 2))):
                parts.append(f"... on {concrete.name} {self.selection_set(concrete, depth, width)}")
        else:
            assert isinstance(named, GraphQLObjectType)
            parts.append(self.fields(named, depth, width))
        return "{ " + " ".join(parts) + " }"

    def fields(self, type_: GraphQLObjectType | GraphQLInterfaceType, depth: int, width: int) -> str:
        names = list(type_.fields)
        if depth <= 0:
            names = [n for n in names if is_leaf_type(get_named_type(type_.fields[n].type))] or ["__typename"]
        chosen = self.rng.sample(names, min(len(names), self.rng.randint(1, width)))
        return " ".join(self.field(name, type_.fields.get(name), depth, width) for name in chosen)

    def field(self, name: str, definition: GraphQLField | None, depth: int, width: int) -> str:
        if definition is None:
            return name
        alias = f"a{self.rng.randint(0, 99)}: " if self.rng.random() < 0.1 else ""
        text = alias + name + self.arguments(definition.args)
        if not is_leaf_type(get_named_type(definition.type)):
            text += " " + self.selection_set(definition.type, depth - 1, width)
        return text

    def root(
        self, kind: str, width: int, depth: int = 3, variables: Variables | None = None, fields: int | None = None
    ) -> str:
        """The selection set of an operation of this type: `fields` root fields (one for a mutation or a
        subscription, unless told), each with its arguments and a selection `depth` deep."""
        root = {"query": SCHEMA.query_type, "mutation": SCHEMA.mutation_type, "subscription": SCHEMA.subscription_type}[
            kind
        ]
        assert root is not None
        count = fields or (1 if kind != "query" else self.rng.randint(1, min(3, width)))
        chosen = self.rng.sample(list(root.fields), min(count, len(root.fields)))
        parts = []
        for name in chosen:
            definition = root.fields[name]
            text = name + self.arguments(definition.args, variables)
            if not is_leaf_type(get_named_type(definition.type)):
                text += " " + self.selection_set(definition.type, depth - 1, width)
            parts.append(text)
        return "{ " + " ".join(parts) + " }"

    def operation(self, kind: str, width: int, name: str | None = None, depth: int = 3) -> tuple[str, dict[str, Any]]:
        """One operation of this type, with variables for some of its root arguments."""
        variables = Variables()
        selection = self.root(kind, width, depth, variables)
        head = kind + (f" {name}" if name else "") + variables.definitions()
        return f"{head} {selection}", variables.values


class Variables:
    """The variables of an operation being built: `$v1: Type`, and their values."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def add(self, type_: GraphQLInputType, value: Any) -> str:
        name = f"v{len(self.types) + 1}"
        self.types[name] = str(type_)
        self.values[name] = value
        return f"${name}"

    def definitions(self) -> str:
        if not self.types:
            return ""
        return "(" + ", ".join(f"${name}: {type_}" for name, type_ in self.types.items()) + ")"


def literal(value: Any) -> str:
    """The value as a GraphQL literal."""
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"


def request(query: str, variables: Any = None, operation_name: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query}
    if variables:
        body["variables"] = variables
    if operation_name is not None:
        body["operationName"] = operation_name
    return {**body, **extra}


Generate = Callable[[random.Random, int, Builder], Case]


def kinds(text: str) -> list[str]:
    """The kinds of case a family draws from ("a, b, b": b twice as often as a)."""
    return text.split(", ")


# the kinds of case of each family
FRAGMENT_CASES = kinds(
    "chain, chain, chain, nested chain, nested chain, cycle, self, unused, wrong type, unknown, wide, "
    "on a scalar, on an unknown type, duplicated, inline nesting"
)
DIRECTIVE_CASES = kinds(
    "unknown, repeated, no argument, bad argument, undefined variable, variable, many, misplaced, "
    "on spreads, all skipped, deprecated on a field"
)
VARIABLE_CASES = kinds(
    "missing, extra, wrong type, wrong type, undefined, unused, bad default, unknown type, output type, "
    "null for non-null, duplicated, wrong position, valid, valid"
)
BODY_CASES = kinds(
    "batch, not an object, empty, not JSON, not UTF-8, BOM, query not a string, no query, "
    "variables not an object, operationName not a string, extensions, huge string, too big, "
    "content type, method, GET"
)


def _kind(rng: random.Random, subscriptions: float = 0.15) -> str:
    roll = rng.random()
    return "subscription" if roll < subscriptions else "mutation" if roll < subscriptions + 0.3 else "query"


def operations(rng: random.Random, size: int, b: Builder) -> Case:
    """A valid operation of any type, `size` fields wide, 2 to 5 deep."""
    kind = _kind(rng)
    named = rng.random() < 0.5
    text, variables = b.operation(kind, size, "Fuzz" if named else None, depth=rng.randint(2, 5))
    body = request(text, variables, "Fuzz" if named and rng.random() < 0.5 else None)
    return Case(f"valid {kind}", "POST", body, kind=kind, size=size)


def subscriptions(rng: random.Random, size: int, b: Builder) -> Case:
    text, variables = b.operation("subscription", size, depth=rng.randint(2, 5))
    return Case("valid subscription", "POST", request(text, variables), kind="subscription", size=size)


def operation_names(rng: random.Random, size: int, b: Builder) -> Case:
    """Operation names present, absent, unknown and duplicated; several operations, with and without
    operationName."""
    how = rng.choice(["unknown", "anonymous named", "several", "several named", "several wrong", "duplicated", "mixed"])
    count = max(2, size) if how.startswith("several") or how in ("duplicated", "mixed") else 1
    kinds = [_kind(rng, 0.1) for _ in range(count)]
    names = [f"Op{i}" for i in range(count)]
    if how == "duplicated":
        names = ["Same"] * count
    if how == "anonymous named":
        names = [""]
    if how == "mixed":
        names[0] = ""
    texts = [
        f"{kind}{' ' + name if name else ''} {b.root(kind, 2, depth=2)}" if name or kind != "query" else b.root(kind, 2)
        for kind, name in zip(kinds, names, strict=True)
    ]
    chosen: Any = {
        "unknown": rng.choice(["Z", "op0", "Op0 ", "query", "Op"]),
        "anonymous named": "Z",
        "several": None,
        "several named": names[-1],
        "several wrong": "Nope",
        "duplicated": "Same" if rng.random() < 0.5 else None,
        "mixed": None,
    }[how]
    if how == "unknown":
        texts = [f"query A {b.root('query', 1, depth=2)}"]
    kind = kinds[names.index(chosen)] if chosen in names else None
    return Case(f"operation names: {how}", "POST", request("\n".join(texts), None, chosen), kind=kind, size=size)


def fragments(rng: random.Random, size: int, b: Builder) -> Case:
    """Fragment spreads: long chains, cycles, unused fragments, spreads on the wrong type, unknown fragments."""
    how = rng.choice(FRAGMENT_CASES)
    leaf = b.fields(QUERY, 1, 2)
    kind = "query"
    if how == "chain":
        text = fragment_chain(size, leaf)
    elif how == "nested chain":
        chain = "\n".join(f"fragment P{i} on Principal {{ name ...P{i + 1} }}" for i in range(size))
        text = f"{{ me {{ ...P0 }} }}\n{chain}\nfragment P{size} on Principal {{ id }}"
    elif how == "cycle":
        chain = "\n".join(f"fragment F{i} on Query {{ {leaf} ...F{(i + 1) % size} }}" for i in range(size))
        text = f"{{ ...F0 }}\n{chain}"
    elif how == "self":
        text = "{ ...F0 }\nfragment F0 on Query { me { id } ...F0 }"
    elif how == "unused":
        unused = "\n".join(f"fragment U{i} on Query {{ {leaf} }}" for i in range(size))
        text = f"{{ {leaf} }}\n{unused}"
    elif how == "wrong type":
        text = "{ me { ...L } }\nfragment L on Lab { name }"
    elif how == "unknown":
        text = "{ " + " ".join(f"...Missing{i}" for i in range(size)) + " }"
    elif how == "wide":
        text = "{ " + " ".join(["...F"] * size) + " }\nfragment F on Query { " + leaf + " }"
    elif how == "on a scalar":
        text = "{ me { ...S } }\nfragment S on String { length }"
    elif how == "on an unknown type":
        text = "{ ...T }\nfragment T on Nope { id }"
    elif how == "duplicated":
        text = "{ ...F }\n" + "\n".join(f"fragment F on Query {{ {leaf} }}" for _ in range(min(max(2, size), 50)))
    else:  # inline fragments nested `size` deep
        text = "{ " + "... on Query { " * size + leaf + " }" * size + " }"
    return Case(f"fragments: {how}", "POST", request(text), kind=kind, size=size)


def fragment_chain(length: int, leaf: str = "me { name }") -> str:
    """A query that spreads F0, which spreads F1, ... F`length`, which selects `leaf`."""
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length))
    return f"query {{ ...F0 }}\n{chain}\nfragment F{length} on Query {{ {leaf} }}"


def directives(rng: random.Random, size: int, b: Builder) -> Case:
    """Directives unknown, repeated, misplaced, with bad arguments, and many of them."""
    how = rng.choice(DIRECTIVE_CASES)
    leaf = b.fields(QUERY, 1, 2)
    variables = None
    on_field = {
        "unknown": " ".join(f"@fuzz{i}" for i in range(size)),
        "repeated": " ".join(["@skip(if: false)"] * max(2, size)),
        "no argument": "@include",
        "bad argument": rng.choice(['@skip(if: "yes")', "@include(if: 1)", "@skip(unless: true)", "@skip(if: null)"]),
        "undefined variable": "@include(if: $nope)",
        "many": " ".join(rng.choice(["@skip(if: false)", "@include(if: true)"]) for _ in range(size)),
        "deprecated on a field": '@deprecated(reason: "x")',
    }
    if how in on_field:
        text = "{ me " + on_field[how] + " { id } " + leaf + " }"
    elif how == "variable":
        text = "query ($b: Boolean!) { me @include(if: $b) { id name } " + leaf + " }"
        variables = {"b": rng.choice([True, False, "true", None])}
    elif how == "misplaced":
        text = rng.choice(["query @skip(if: true) { me { id } }", "{ ...F }\nfragment F on Query @oneOf { me { id } }"])
    elif how == "on spreads":
        text = "{ ...F @include(if: true) ... @skip(if: false) { me { id } } }\nfragment F on Query { " + leaf + " }"
    else:  # every root field skipped: an empty result
        text = "{ " + " ".join(f"f{i}: me @skip(if: true) {{ id }}" for i in range(size)) + " }"
    return Case(f"directives: {how}", "POST", request(text, variables), kind="query", size=size)


def variables(rng: random.Random, size: int, b: Builder) -> Case:
    """Variables missing, extra, of the wrong type, undefined, unused, with defaults of the wrong type."""
    how = rng.choice(VARIABLE_CASES)
    kind = rng.choice(["query", "query", "mutation", "subscription"])
    made = Variables()
    selection = b.root(kind, 2, depth=2, variables=made)
    values: Any = dict(made.values)
    definitions = dict(made.types)
    if how == "missing" and values:
        values.pop(rng.choice(list(values)))
    elif how == "extra":
        values.update({f"extra{i}": i for i in range(size)})
    elif how == "wrong type" and values:
        name = rng.choice(list(values))
        values[name] = b.wrong_value(_input_type(definitions[name]))
    elif how == "undefined":
        selection = "{ " + " ".join(f"a{i}: apiTokens(first: $undefined{i}) {{ id }}" for i in range(size)) + " }"
        kind = "query"
    elif how == "unused":
        definitions.update({f"unused{i}": "Int" for i in range(size)})
    elif how == "bad default":
        definitions.update(
            {f"d{i}": rng.choice(['Int = "x"', "String! = 5", "[ID!] = {a: 1}", "Boolean = null"]) for i in range(size)}
        )
    elif how == "unknown type":
        definitions["u"] = "NotAType"
    elif how == "output type":
        definitions["o"] = rng.choice(["Lab", "Query", "[Finding!]"])
    elif how == "null for non-null":
        selection = "{ apiTokens(first: $n) { id } }"
        definitions, values, kind = {"n": "Int!"}, {"n": None}, "query"
    elif how == "duplicated":
        selection = "{ apiTokens(first: $n) { id } }"
        definitions, values, kind = {"n": "Int"}, {"n": 2}, "query"
        head = "query ($n: Int, $n: Int)"
        return Case(f"variables: {how}", "POST", request(f"{head} {selection}", values), kind=kind, size=size)
    elif how == "wrong position":
        selection = "{ apiTokens(first: $s) { id } }"
        definitions, values, kind = {"s": "String"}, {"s": "3"}, "query"
    head = kind + ("(" + ", ".join(f"${n}: {t}" for n, t in definitions.items()) + ")" if definitions else "")
    return Case(f"variables: {how}", "POST", request(f"{head} {selection}", values), kind=kind, size=size)


def _input_type(text: str) -> Any:
    from graphql import parse_type, type_from_ast

    return type_from_ast(SCHEMA, parse_type(text))


def nesting(rng: random.Random, size: int, b: Builder) -> Case:
    """Deep nesting: selections, list values, input objects, JSON variables `size` x 100 deep."""
    how = rng.choice(["selections", "list value", "object value", "variables JSON", "fields over the depth limit"])
    depth = size * 100
    variables = None
    if how == "selections":
        text = "{ " + "me { " * depth + "id" + " }" * depth + " }"
    elif how == "list value":
        text = "{ nodes(ids: " + "[" * depth + '"x"' + "]" * depth + ") { id } }"
    elif how == "object value":
        text = "{ findings(filter: " + "{search: " * depth + '"x"' + "}" * depth + ") { totalCount } }"
    elif how == "variables JSON":
        # as text: deeper than Python's JSON encoder goes
        text = "query ($ids: [ID!]!) { nodes(ids: $ids) { id } }"
        payload = f'{{"query": "{text}", "variables": {{"ids": {"[" * depth}"x"{"]" * depth}}}}}'
        return raw("nesting: variables JSON", payload.encode(), refuse=True, kind="query", size=size)
    else:  # real fields, nested past HUB_MAX_DEPTH (12)
        levels = size + 11
        text = "{ me { agency { " + "ownedFindings(first: 1) { ownerAgency { " * (levels // 2) + "id"
        text += " } }" * (levels // 2) + " } } }"
    return Case(f"nesting: {how}", "POST", request(text, variables), kind="query", size=size)


def raw(family: str, payload: bytes, content_type: str | None = "application/json", **options: Any) -> Case:
    return Case(family, "RAW", raw=payload, content_type=content_type, **options)


def bodies(rng: random.Random, size: int, b: Builder) -> Case:
    """Bodies that are not one GraphQL request: batches, JSON that is not an object, query or variables of the wrong
    type, odd extensions, huge strings, wrong content types, bytes that are not UTF-8, other methods, odd GETs."""
    text = b.root("query", 2, depth=2)
    valid = request(text)
    dumps = json.dumps
    value: Any
    how = rng.choice(BODY_CASES)
    if how == "batch":
        return raw("bodies: batch", dumps([valid] * size).encode(), refuse=True)
    if how == "not an object":
        value = rng.choice(["null", "true", "0", '"{ me { id } }"', "[]", "1e999", '"' + text + '"'])
        return raw("bodies: not an object", value.encode(), refuse=True)
    if how == "empty":
        return raw("bodies: empty", rng.choice([b"", b" ", b"\n\n"]), refuse=True)
    if how == "not JSON":
        cut = dumps(valid)[: rng.randint(1, len(dumps(valid)) - 1)]
        junk = rng.choice([cut, "{'query': '{ me { id } }'}", "query=%7Bme%7D"])
        return raw("bodies: not JSON", junk.encode(), refuse=True)
    if how == "not UTF-8":
        invalid = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) * size
        return raw("bodies: not UTF-8", b'{"query": "{ me { name } }' + invalid + b'"}')
    if how == "BOM":
        return raw("bodies: BOM", b"\xef\xbb\xbf" + dumps(valid).encode())
    if how == "query not a string":
        value = rng.choice([5, True, [text], {"query": text}, 1.5, ["{", "}"]])
        return Case("bodies: query not a string", "POST", {"query": value}, refuse=True)
    if how == "no query":
        body = rng.choice([{}, {"query": None}, {"qeury": text}, {"query": ""}])
        return Case("bodies: no query", "POST", body, refuse=True)
    if how == "variables not an object":
        value = rng.choice(["string", 0, False, ["array"], [{"a": 1}]])
        return Case("bodies: variables not an object", "POST", {**valid, "variables": value}, refuse=True)
    if how == "operationName not a string":
        value = rng.choice([0, False, ["Op"], {"name": "Op"}])
        return Case("bodies: operationName not a string", "POST", {**valid, "operationName": value}, refuse=True)
    if how == "extensions":
        deep: Any = {}
        for _ in range(size * 10):
            deep = {"x": deep}
        persisted: list[Any] = [None, "x", {"version": 1, "sha256Hash": 5}, {"version": "1", "sha256Hash": "0" * 64}]
        persisted.append({"version": 1, "sha256Hash": "A" * 64})
        value = rng.choice(["string", 0, ["array"], deep, *({"persistedQuery": p} for p in persisted)])
        return Case("bodies: extensions", "POST", {**valid, "extensions": value})
    if how == "huge string":
        where = rng.choice(["comment", "argument", "variable", "operationName", "whitespace"])
        padding = "x" * (size * 20_000)
        if where == "comment":
            body = request(text + " # " + padding)
        elif where == "argument":
            body = request('{ findings(filter: {search: "' + padding + '"}) { totalCount } }')
        elif where == "variable":
            body = request("query ($s: String) { findings(filter: {search: $s}) { totalCount } }", {"s": padding})
        elif where == "operationName":
            body = request(text, None, padding)
        else:
            body = request(" " * (size * 20_000) + text)
        return Case(f"bodies: huge string in {where}", "POST", body, size=size)
    if how == "too big":
        padding = "x" * (1_000_000 + 1_000 * size)
        return raw("bodies: too big", dumps(request(text + " #" + padding)).encode(), refuse=True)
    if how == "content type":
        # whether the hub must refuse it; None: either way
        refused = ["text/plain", "application/graphql", "application/x-www-form-urlencoded", "application/jsonx", ""]
        known: dict[str | None, bool | None] = dict.fromkeys([*refused, "multipart/form-data; boundary=x", None], True)
        known.update(dict.fromkeys(["application/json; charset=utf-8", "APPLICATION/JSON"], False))
        known.update(dict.fromkeys(["application/json;charset=latin1", "application/graphql-response+json"], None))
        content_type = rng.choice(list(known))
        family = f"bodies: content type {content_type}"
        return raw(family, dumps(valid).encode(), content_type, refuse=known[content_type])
    if how == "method":
        method = rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS"])
        return raw(f"bodies: method {method}", dumps(valid).encode(), method=method, refuse=True)
    get = rng.choice(["mutation", "subscription", "bad variables", "bad extensions", "unknown operationName", "huge"])
    params: dict[str, Any] = {"query": text}
    refuse: bool | None = True
    kind = None
    if get == "mutation":
        params["query"] = b.operation("mutation", 2)[0]
        kind = "mutation"
    elif get == "subscription":
        params["query"] = b.operation("subscription", 2)[0]
        refuse, kind = None, "subscription"
    elif get == "bad variables":
        params["variables"] = rng.choice(["{", "[1]", "5", "not json"])
    elif get == "bad extensions":
        params["extensions"] = rng.choice(["{", "not json"])
    elif get == "unknown operationName":
        params.update(query=f"query A {text}", operationName="Z")
    else:
        params["query"] = text + " #" + "x" * (min(size, 10) * 5_000)
        refuse, kind = False, "query"
    return Case(f"GET: {get}", "GET", params, refuse=refuse, kind=kind, size=size)


def record_ids(spared: set[tuple[str, int]]) -> list[str]:
    """Global ids of records of every type (the demo data has up to 30 of a type), never one of `spared` (the run's
    own tokens: revokeToken would end the run's authentication)."""
    return [to_global_id(kind, n) for kind in ID_TYPES for n in range(1, 31) if (kind, n) not in spared]


@dataclass(frozen=True)
class Family:
    generate: Generate
    sizes: tuple[int, ...]
    # how often it is drawn, over HTTP and over WebSocket
    http: int
    websocket: int


FAMILIES = {
    "operations": Family(operations, (1, 2, 3, 4), 24, 12),
    "subscriptions": Family(subscriptions, (1, 2, 3), 2, 14),
    "operation names": Family(operation_names, (1, 2, 3, 5), 12, 14),
    "fragments": Family(fragments, (1, 2, 5, 20, 100, 200, 400, 700, 1000), 16, 16),
    "directives": Family(directives, (1, 2, 3, 6), 10, 10),
    "variables": Family(variables, (1, 2, 3), 14, 14),
    "nesting": Family(nesting, (1, 2, 4, 10), 5, 6),
    "bodies": Family(bodies, (1, 2, 5, 10, 40), 17, 0),
}


# Requests that failed the hub in earlier runs of the fuzzer, sent in every run whatever the seed draws: an unknown
# operationName, a long fragment chain (hub/cost.py recursed once per spread), a subscription over HTTP, and a
# document of several operations without operationName (run as its first operation: a mutation, in a read-only
# transaction).
KNOWN = [
    Case("known: unknown operationName", "POST", request("query A { me { name } }", None, "Z")),
    Case("known: a chain of 400 fragments", "POST", request(fragment_chain(400))),
    Case("known: a subscription over POST", "POST", request("subscription { statusChanged { id } }")),
    Case(
        "known: several operations, no operationName",
        "POST",
        request(
            "mutation M { updatePolicy(input: {expectedVersion: 1}) { policy { version } } }\nquery Q { me { id } }"
        ),
    ),
]
