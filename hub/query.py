"""`hub query`: run a vetted operation (schema/operations/) or a .graphql file against a hub, and print its data as
JSON, CSV or a table.

    HUB_TOKEN=fh_... hub query high_severity_open_findings_with_measures --all-pages --format csv --output f.csv

Variables come from `--var NAME=VALUE`, typed by the operation's variable definitions (checked against the packaged
schema/schema.graphql); the token from HUB_TOKEN, the server from HUB_URL. Exit codes: 0 done, 1 the hub answered
with errors (or could not be reached), 2 the command line is wrong. The token is never printed.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import io
import json
import logging
import os
import re
import sys
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TextIO

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLScalarType,
    GraphQLSchema,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationType,
    TypeNode,
    VariableDefinitionNode,
    build_schema,
    is_input_type,
    print_ast,
    type_from_ast,
)

from hub.rows import (
    JOIN,
    TIMEOUT_SECONDS,
    Operation,
    OperationError,
    Page,
    QueryError,
    Row,
    describe,
    graphql_url,
    load_operation,
    operation_files,
    operations_dir,
    pages,
    type_text,
)

USAGE = 2
FAILED = 1
TABLE_MAX_WIDTH = 40


class UsageError(Exception):
    """The command line cannot be run as given (exit 2)."""


def add_query_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `query` subcommand to the `hub` command."""
    query = commands.add_parser(
        "query",
        help="run a vetted operation or a .graphql file against a hub; JSON, CSV or a table",
        description=(
            "Run a named operation from schema/operations/ (hub query --list shows them) or a .graphql file against "
            "the hub at HUB_URL (default http://127.0.0.1:8000/graphql) with the token in HUB_TOKEN."
        ),
        epilog=(
            "--var values are typed by the operation's variables: Int, Float, Boolean (true/false), String, ID, enum "
            "values, lists as A,B,C or JSON, input objects as JSON; Date and DateTime also take today, now, +30d, -7d. "
            "csv and table give one row per group of an aggregate's groups (key.sector, count, avg.cvssBaseScore), "
            "else one row per node of the first connection, with dotted columns (lab.name) and lists "
            f"joined with {JOIN!r}. Exit 1 when the hub answers with errors, 2 for a wrong command line."
        ),
    )
    query.add_argument("operation", nargs="?", metavar="NAME_OR_FILE", help="an operation's name or a .graphql file")
    query.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", help="a variable of the operation (repeatable)"
    )
    query.add_argument("--format", choices=("json", "csv", "table"), default="json", help="output (default: json)")
    query.add_argument("--all-pages", action="store_true", help="follow the connection's cursors to its end")
    query.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    query.add_argument("--list", action="store_true", help="list the vetted operations and their variables")
    query.set_defaults(func=cmd_query)


# ------------------------------------------------------------------------------------------------ the command


def cmd_query(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO line per request is noise here
    token = (os.environ.get("HUB_TOKEN") or "").strip()
    err = _Stderr(sys.stderr, token)
    try:
        if args.list:
            sys.stdout.write(list_operations())
            return 0
        operation = _operation(args.operation)
        kind = operation.definition.operation
        if kind == OperationType.SUBSCRIPTION:
            raise UsageError("subscriptions need a WebSocket: see docs/live.md and docs/analysts.md")
        if args.all_pages:
            if kind != OperationType.QUERY:
                raise UsageError("--all-pages pages through a query, not a mutation")
            problem = operation.paging_problem()
            if problem is not None:
                raise UsageError(f"--all-pages cannot follow the pages of {_label(operation)}: {problem}")
        variables = typed_variables(operation, args.var, local_schema())
        if not token:
            raise UsageError(
                "HUB_TOKEN is not set: export HUB_TOKEN=<your token> (from `hub token create`, or one of the demo "
                "tokens `hub serve --demo` prints)"
            )
        if not token.isascii() or not token.isprintable() or " " in token:
            raise UsageError("HUB_TOKEN holds characters a token cannot have (spaces or control characters)")
    except (UsageError, OperationError) as error:
        err.write(f"hub query: {error}\n")
        return USAGE

    url = graphql_url()
    progress = _Progress(err) if args.all_pages else None
    collected: list[Row] = []
    first: Page | None = None
    last: Page | None = None
    try:
        with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
            for page in pages(client, url, token, operation, variables, all_pages=args.all_pages):
                if first is None:
                    first = page
                else:
                    _merge_pages(first, page)
                last = page
                collected.extend(page.rows)
                if progress is not None:
                    progress.update(page, len(collected))
    except QueryError as error:
        if progress is not None:
            progress.end()
        err.write(failure_text(error))
        return FAILED
    except KeyboardInterrupt:
        if progress is not None:
            progress.end()
        err.write("hub query: interrupted\n")
        return 130
    if progress is not None:
        progress.end()
    assert first is not None and last is not None

    if args.format == "json":
        text = json.dumps(first.data, indent=2, ensure_ascii=False) + "\n"
    elif args.format == "csv":
        text = csv_text(first.columns, collected)
    else:
        text = table_text(first.columns, collected, _footer(len(collected), last, args.all_pages))
    if args.output:
        try:
            Path(args.output).expanduser().write_text(text, encoding="utf-8", newline="")
        except OSError as error:
            err.write(f"hub query: cannot write {args.output}: {error.strerror}\n")
            return USAGE
        what = "the data" if args.format == "json" else f"{len(collected):,} rows"
        err.write(f"hub query: wrote {what} to {args.output}\n")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if args.format == "csv" and last.has_next_page and not args.all_pages:
        err.write(f"hub query: {_footer(len(collected), last, False)}\n")
    return 0


def _label(operation: Operation) -> str:
    return operation.name or operation.source


def _operation(name_or_file: str | None) -> Operation:
    if not name_or_file:
        raise UsageError("name an operation or a .graphql file (`hub query --list` shows the operations)")
    try:
        return load_operation(name_or_file)
    except OperationError as error:
        if str(error).startswith("no operation named"):
            names = [p.stem for p in operation_files()]
            close = get_close_matches(name_or_file.replace("-", "_"), names, n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UsageError(f"{error}{hint}; `hub query --list` shows them all") from None
        raise


def _merge_pages(first: Page, page: Page) -> None:
    """Fold a further page into the first one's data: the connection's edges (or nodes) and its last pageInfo."""
    if first.connection is None or page.connection is None:
        return
    for key in ("edges", "nodes"):
        here, there = first.connection.get(key), page.connection.get(key)
        if isinstance(here, list) and isinstance(there, list):
            here.extend(there)
    if "pageInfo" in page.connection:
        first.connection["pageInfo"] = page.connection["pageInfo"]


def _footer(count: int, last: Page, all_pages: bool) -> str:
    if last.has_next_page and not all_pages:
        total = f"{last.total_count:,}" if last.total_count is not None else "more"
        return f"{count:,} of {total} rows; add --all-pages for all of them"
    return f"{count:,} row{'' if count == 1 else 's'}"


class _Stderr:
    """Standard error, with the token (should anything ever echo it) masked."""

    def __init__(self, stream: TextIO, token: str) -> None:
        self.stream, self.token = stream, token

    def write(self, text: str) -> None:
        if self.token and len(self.token) >= 4:
            text = text.replace(self.token, self.token[:3] + "…")
        self.stream.write(text)
        self.stream.flush()


class _Progress:
    """A one-line progress report on standard error: rewritten in place on a terminal, one line per page
    elsewhere."""

    def __init__(self, err: _Stderr) -> None:
        self.err = err
        self.tty = err.stream.isatty()
        self.shown = False

    def update(self, page: Page, count: int) -> None:
        total = f" of {page.total_count:,}" if page.total_count is not None else ""
        line = f"page {page.number}: {count:,}{total} rows"
        self.err.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.shown = True

    def end(self) -> None:
        if self.tty and self.shown:
            self.err.write("\n")
        self.shown = False


def failure_text(error: QueryError) -> str:
    """What to print when the hub answered with errors: each error's code, message and path."""
    if not error.errors:
        return f"hub query: {error}\n"
    status = f"HTTP {error.status}" if error.status not in (None, 200) else "errors"
    request = f" (request id {error.request_id})" if error.request_id else ""
    lines = [f"hub query: the hub answered with {status}{request}:"]
    for item in error.errors:
        extensions = item.get("extensions") or {}
        code = extensions.get("code") or "ERROR"
        where = ".".join(str(p) for p in item.get("path") or ())
        details = [f"path {where}"] if where else []
        if extensions.get("field"):
            details.append(f"field {extensions['field']}")
        for location in item.get("locations") or ():
            details.append(f"line {location.get('line')}, column {location.get('column')}")
        suffix = f" ({'; '.join(details)})" if details else ""
        lines.append(f"  {code}: {item.get('message', '')}{suffix}")
    return "\n".join(lines) + "\n"


def list_operations() -> str:
    """The vetted operations: name, what for, variables."""
    out = [f"operations in {operations_dir()}:", ""]
    for path in operation_files():
        try:
            operation = load_operation(str(path))
        except OperationError as error:
            out.append(f"{path.stem}\n    (broken: {error})")
            continue
        variables = ", ".join(
            f"${name}: {type_text(d.type)}" + (f" = {print_ast(d.default_value)}" if d.default_value else "")
            for name, d in operation.variables.items()
        )
        out.append(f"{path.stem}  ({operation.name})")
        out.append(f"    {describe(path)}")
        out.append(f"    variables: {variables or 'none'}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ variables


@functools.cache
def local_schema() -> GraphQLSchema | None:
    """The packaged schema/schema.graphql, to type variables by (None if it cannot be read)."""
    try:
        return build_schema((operations_dir().parent / "schema.graphql").read_text())
    except (OSError, OperationError, GraphQLError):
        return None


def typed_variables(operation: Operation, pairs: list[str], schema: GraphQLSchema | None) -> dict[str, Any]:
    """The `--var NAME=VALUE` pairs as JSON values of the operation's variable types; UsageError when one is
    unknown, missing, repeated or not a value of its type (the message names the variable)."""
    definitions = operation.variables
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().lstrip("$")
        if not sep or not name:
            raise UsageError(f"--var {pair!r}: write NAME=VALUE")
        definition = definitions.get(name)
        if definition is None:
            raise UsageError(f"--var {name}: {_label(operation)} has no variable ${name}; {_signature(operation)}")
        value = convert(name, raw, definition.type, schema)
        if name in values:
            if not isinstance(definition.type, ListTypeNode) and not (
                isinstance(definition.type, NonNullTypeNode) and isinstance(definition.type.type, ListTypeNode)
            ):
                raise UsageError(f"--var {name} is given twice")
            values[name] = [*values[name], *value]
        else:
            values[name] = value
    for name, definition in definitions.items():
        if name in values:
            _check(name, values[name], definition, schema)
        elif isinstance(definition.type, NonNullTypeNode) and definition.default_value is None:
            raise UsageError(f"missing --var {name}=... ({type_text(definition.type)}); {_signature(operation)}")
    return values


def _signature(operation: Operation) -> str:
    if not operation.variables:
        return "it takes no variables"
    return "it takes " + ", ".join(f"${n}: {type_text(d.type)}" for n, d in operation.variables.items())


def convert(name: str, raw: str, type_node: TypeNode, schema: GraphQLSchema | None) -> Any:
    """A command-line string as a JSON value of a GraphQL input type."""
    if isinstance(type_node, NonNullTypeNode):
        return convert(name, raw, type_node.type, schema)
    if isinstance(type_node, ListTypeNode):
        text = raw.strip()
        if text.startswith("["):
            value = _json(name, text, "a JSON list")
            if not isinstance(value, list):
                raise UsageError(f"--var {name}: expected a list, as A,B,C or as JSON")
            return value
        if not text:
            return []
        return [convert(name, part.strip(), type_node.type, schema) for part in text.split(",")]
    assert isinstance(type_node, NamedTypeNode)
    type_name = type_node.name.value
    named = schema.get_type(type_name) if schema is not None else None
    if type_name == "Int":
        if not re.fullmatch(r"[+-]?\d+", raw.strip().replace("_", "")):
            raise UsageError(f"--var {name}: {raw!r} is not an Int")
        return int(raw.strip().replace("_", ""))
    if type_name == "Float":
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"--var {name}: {raw!r} is not a Float") from None
    if type_name == "Boolean":
        word = raw.strip().lower()
        if word in ("true", "yes", "1", "on"):
            return True
        if word in ("false", "no", "0", "off"):
            return False
        raise UsageError(f"--var {name}: {raw!r} is not a Boolean (true or false)")
    if type_name in ("String", "ID"):
        return raw
    if type_name == "Date":
        return _date(name, raw)
    if type_name == "DateTime":
        return _datetime(name, raw)
    if isinstance(named, GraphQLEnumType):
        value = raw.strip()
        if value not in named.values and value.upper() in named.values:
            value = value.upper()
        if value not in named.values:
            raise UsageError(f"--var {name}: {raw!r} is not a {type_name}; one of {', '.join(named.values)}")
        return value
    if isinstance(named, GraphQLInputObjectType):
        value = _json(name, raw, f"a JSON object ({type_name})")
        if not isinstance(value, dict):
            raise UsageError(f"--var {name}: expected a JSON object ({type_name}), e.g. '{{\"field\": 1}}'")
        return value
    if named is None and raw.strip()[:1] in ("{", "["):
        return _json(name, raw, "JSON")
    if isinstance(named, GraphQLScalarType) and type_name == "JSON":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _json(name: str, raw: str, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as error:
        raise UsageError(f"--var {name}: not {what}: {error}") from None


RELATIVE = re.compile(r"([+-])(\d+)d")


def _date(name: str, raw: str) -> str:
    text = raw.strip()
    today = dt.date.today()
    if text == "today":
        return today.isoformat()
    match = RELATIVE.fullmatch(text)
    if match:
        days = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
        return (today + dt.timedelta(days=days)).isoformat()
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise UsageError(f"--var {name}: {raw!r} is not a Date (YYYY-MM-DD, today, +30d or -7d)") from None


def _datetime(name: str, raw: str) -> str:
    text = raw.strip()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    if text == "now":
        return now.isoformat()
    if text == "today":
        return now.replace(hour=0, minute=0, second=0).isoformat()
    match = RELATIVE.fullmatch(text)
    if match:
        days = int(match.group(2)) * (1 if match.group(1) == "+" else -1)
        return (now + dt.timedelta(days=days)).isoformat()
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--var {name}: {raw!r} is not a DateTime (ISO 8601 with a time zone, now, today, +30d or -7d)"
        ) from None
    return text


def _check(name: str, value: Any, definition: VariableDefinitionNode, schema: GraphQLSchema | None) -> None:
    """Check a value against its GraphQL type with graphql-core, naming the variable (and the field inside it)."""
    if schema is None:
        return
    graphql_type = type_from_ast(schema, definition.type)
    if graphql_type is None or not is_input_type(graphql_type):
        return
    for path, message in _input_errors(value, graphql_type):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        raise UsageError(f"--var {name}{where}: {message}")


def _input_errors(value: Any, graphql_type: GraphQLInputType) -> list[tuple[list[Any], str]]:
    import graphql.utilities as utilities

    problems: list[tuple[list[Any], str]] = []
    validate = getattr(utilities, "validate_input_value", None)
    if validate is not None:  # graphql-core 3.3
        validate(value, graphql_type, lambda error, path: problems.append((list(path or ()), error.message)))
    else:  # graphql-core 3.2: coerce_input_value reports through its on_error argument
        coerce: Any = utilities.coerce_input_value
        coerce(value, graphql_type, lambda path, _value, error: problems.append((list(path or ()), error.message)))
    return problems


# ------------------------------------------------------------------------------------------------ output


def cell(value: Any) -> str:
    """A row's value as CSV or table text: null empty, booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def csv_text(columns: list[str], rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return out.getvalue()


def table_text(columns: list[str], rows: list[Row], footer: str) -> str:
    """Fixed-width columns for a terminal: cells on one line, cut at TABLE_MAX_WIDTH with an ellipsis."""
    cells = [[" ".join(cell(row.get(c)).split()) for c in columns] for row in rows]
    widths = [
        min(TABLE_MAX_WIDTH, max([len(header), *(len(line[i]) for line in cells)])) for i, header in enumerate(columns)
    ]

    def fit(text: str, width: int) -> str:
        return (text if len(text) <= width else text[: width - 1] + "…").ljust(width)

    lines = ["  ".join(fit(h, w) for h, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(fit(t, w) for t, w in zip(line, widths, strict=True)).rstrip() for line in cells)
    lines.append(f"({footer})")
    return "\n".join(lines) + "\n"
