"""Rows from the hub: page through the first connection of a query and flatten each node into a flat dict.

    from hub.rows import fetch_rows
    rows = fetch_rows("http://127.0.0.1:8000/graphql", token, "high_severity_open_findings_with_measures")
    pandas.DataFrame(rows)        # the hub itself never imports pandas

`query` is a GraphQL document or the name of a vetted operation in schema/operations/. The flattening is the one
`hub query --format csv|table` uses: one row per group of the first `aggregate { groups }` the query selects, its
keys and figures as columns (`key.sector`, `count`, `avg.cvssBaseScore`); else one row per node of the first
connection in the result (a field selecting `edges { node }` or `nodes`, depth-first), dotted column names for
nested objects (`lab.name`, `cvss.baseScore`), lists of scalars joined with "; ", lists of objects joined leaf by
leaf (`measures.title` = "a; b"), and JSON values as JSON text. The columns come from the query's selection, so
every row has the same keys, in the query's order, even when a nested object is null or the result is empty.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib.util
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSyntaxError,
    InlineFragmentNode,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeNode,
    VariableDefinitionNode,
    VariableNode,
    parse,
)

DEFAULT_URL = "http://127.0.0.1:8000/graphql"
JOIN = "; "
TIMEOUT_SECONDS = 120.0
# how long `execute` waits in all for a rate-limited request (HTTP 429 with Retry-After) before giving up
RATE_LIMIT_WAIT_SECONDS = 300
log = logging.getLogger("hub.rows")

Row = dict[str, Any]


class QueryError(Exception):
    """The hub answered with errors (or could not be reached). `errors` holds the GraphQL errors as sent."""

    def __init__(
        self,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.errors = errors or []
        self.status = status
        self.request_id = request_id

    @property
    def codes(self) -> list[str]:
        return [str((e.get("extensions") or {}).get("code", "")) for e in self.errors]


class OperationError(ValueError):
    """The query cannot be run as asked: it does not parse, names no operation, or cannot be paged."""


# ------------------------------------------------------------------------------------------------ operations


def operations_dir() -> Path:
    """schema/operations/, found next to the `schema` package without importing it (that builds the schema)."""
    spec = importlib.util.find_spec("schema")
    if spec is None or spec.origin is None:
        raise OperationError("the `schema` package is not installed, so there are no vetted operations")
    return Path(spec.origin).resolve().parent / "operations"


def _key(name: str) -> str:
    return re.sub(r"[-_\s]", "", name).lower()


def operation_files() -> list[Path]:
    return sorted(operations_dir().glob("*.graphql"))


def find_operation_file(name: str) -> Path | None:
    """The file of a vetted operation named by its file stem (snake or kebab case) or its operation name."""
    wanted = _key(name.removesuffix(".graphql"))
    for path in operation_files():
        if _key(path.stem) == wanted:
            return path
    for path in operation_files():
        match = re.search(r"\b(?:query|mutation)\s+([_A-Za-z][_0-9A-Za-z]*)", path.read_text())
        if match and _key(match.group(1)) == wanted:
            return path
    return None


def describe(path: Path) -> str:
    """The first comment line of an operation file: what it is for."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


# ------------------------------------------------------------------------------------------------ shapes


@dataclass
class Field:
    """A selected field: its response key, its sub-selection (None for a leaf) and its AST nodes."""

    key: str
    children: dict[str, Field] | None
    nodes: list[FieldNode] = field(default_factory=list)

    @property
    def connection(self) -> tuple[str, ...] | None:
        """Where a connection's nodes are, ("edges", "node") or ("nodes",); None if this is no connection."""
        if self.children is None:
            return None
        edges = self.children.get("edges")
        if edges is not None and edges.children is not None:
            node = edges.children.get("node")
            if node is not None and node.children is not None:
                return ("edges", "node")
        nodes = self.children.get("nodes")
        if nodes is not None and nodes.children is not None:
            return ("nodes",)
        return None

    def node_shape(self) -> dict[str, Field]:
        where = self.connection
        assert where is not None and self.children is not None
        inner = self.children[where[0]]
        if len(where) == 2:
            assert inner.children is not None
            inner = inner.children[where[1]]
        assert inner.children is not None
        return inner.children


def selection_shape(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    _seen: frozenset[str] = frozenset(),
) -> dict[str, Field]:
    """The response keys a selection set produces, in order, with fragments merged in."""
    shape: dict[str, Field] = {}
    if selection_set is None:
        return shape
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            children = selection_shape(selection.selection_set, fragments, _seen) if selection.selection_set else None
            _merge(shape, {key: Field(key, children, [selection])})
        elif isinstance(selection, InlineFragmentNode):
            _merge(shape, selection_shape(selection.selection_set, fragments, _seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in _seen:
                _merge(shape, selection_shape(fragments[name].selection_set, fragments, _seen | {name}))
    return shape


def _merge(into: dict[str, Field], other: dict[str, Field]) -> None:
    for key, item in other.items():
        if key not in into:
            into[key] = item
            continue
        existing = into[key]
        existing.nodes.extend(item.nodes)
        if item.children is not None:
            if existing.children is None:
                existing.children = {}
            _merge(existing.children, item.children)


def columns(shape: dict[str, Field], prefix: str = "") -> list[str]:
    """The flat column names of a shape: its leaves, dotted."""
    found: list[str] = []
    for key, item in shape.items():
        if item.children is None:
            found.append(prefix + key)
        else:
            found.extend(columns(item.children, f"{prefix}{key}."))
    return found


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _join(values: list[Any]) -> str:
    texts = [_text(v) for v in values]
    return JOIN.join(texts) if any(texts) else ""


def _leaf(value: Any) -> Any:
    if isinstance(value, list):
        return _join(value)
    if isinstance(value, dict):  # a JSON scalar
        return _text(value)
    return value


def flatten(value: Any, shape: dict[str, Field]) -> Row:
    """One flat row: a key per leaf of the shape, dotted; null objects give null cells."""
    row: Row = {}
    _flatten_into(row, value if isinstance(value, dict) else None, shape, "")
    return row


def _flatten_into(row: Row, obj: dict[str, Any] | None, shape: dict[str, Field], prefix: str) -> None:
    for key, item in shape.items():
        name = prefix + key
        value = obj.get(key) if obj is not None else None
        if item.children is None:
            row[name] = _leaf(value)
        elif isinstance(value, list):
            flat = [flatten(v, item.children) for v in value]
            for column in columns(item.children):
                row[f"{name}.{column}"] = _join([f[column] for f in flat])
        else:
            _flatten_into(row, value if isinstance(value, dict) else None, item.children, name + ".")


# ------------------------------------------------------------------------------------------------ operations


@dataclass
class Operation:
    """One operation of a GraphQL document, with where its rows are."""

    text: str
    document: DocumentNode
    definition: OperationDefinitionNode
    source: str
    shape: dict[str, Field]
    connection_path: list[str] | None

    @property
    def name(self) -> str | None:
        return self.definition.name.value if self.definition.name else None

    @property
    def variables(self) -> dict[str, VariableDefinitionNode]:
        return {d.variable.name.value: d for d in self.definition.variable_definitions or ()}

    def connection_field(self) -> Field | None:
        if self.connection_path is None:
            return None
        shape: dict[str, Field] | None = self.shape
        item = None
        for key in self.connection_path:
            assert shape is not None
            item = shape[key]
            shape = item.children
        return item

    @property
    def groups_path(self) -> list[str] | None:
        """The response keys down to the operation's first `aggregate { groups }`, whose groups are its rows."""
        return _find_groups(self.shape)

    def paging_problem(self) -> str | None:
        """Why following cursors cannot work for this operation; None if it can (an aggregate's groups come whole
        in one answer: there is nothing to follow)."""
        if self.groups_path is not None:
            return None
        where = self.connection_field()
        if where is None:
            return "it selects no connection (a field with `edges { node }` or `nodes`)"
        after = self.after_variable()
        if after is None:
            return (
                f"its connection `{'.'.join(self.connection_path or [])}` does not take `after: $after` "
                "from a variable declared as `$after: String`"
            )
        info = (where.children or {}).get("pageInfo")
        selected = set((info.children or {}) if info is not None else ())
        if not {"hasNextPage", "endCursor"} <= selected:
            return "its connection does not select `pageInfo { hasNextPage endCursor }`"
        return None

    def after_variable(self) -> str | None:
        """The variable that the connection's `after` argument takes, if it is a nullable String one."""
        where = self.connection_field()
        if where is None:
            return None
        for node in where.nodes:
            for argument in node.arguments or ():
                if argument.name.value == "after" and isinstance(argument.value, VariableNode):
                    name = argument.value.name.value
                    definition = self.variables.get(name)
                    if definition is not None and type_text(definition.type) == "String":
                        return name
        return None

    def first_variable(self) -> str | None:
        """The variable that the connection's `first` argument takes, if any."""
        where = self.connection_field()
        for node in where.nodes if where is not None else ():
            for argument in node.arguments or ():
                if argument.name.value == "first" and isinstance(argument.value, VariableNode):
                    return argument.value.name.value
        return None


def type_text(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return type_text(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return f"[{type_text(node.type)}]"
    assert isinstance(node, NamedTypeNode)
    return node.name.value


# the fields that hold a list of records: the nested connections under them are not the operation's to page
LISTS_OF_RECORDS = frozenset({"nodes", "edges"})


def _find_connection(shape: dict[str, Field]) -> list[str] | None:
    for key, item in shape.items():
        if item.children is None:
            continue
        if item.connection is not None:
            return [key]
        if item.nodes and item.nodes[0].name.value in LISTS_OF_RECORDS:
            continue  # a connection under each of a list's records (`nodes(ids:)`) is per record, not the operation's
        inner = _find_connection(item.children)
        if inner is not None:
            return [key, *inner]
    return None


def _find_groups(shape: dict[str, Field]) -> list[str] | None:
    """The response keys down to the first `aggregate { groups }` of a shape (depth-first, in the query's order), not
    through the nodes of a connection (a group per node is no table)."""
    for key, item in shape.items():
        name = item.nodes[0].name.value if item.nodes else key
        if item.children is None or name in ("edges", "nodes"):
            continue
        if name == "aggregate":
            for inner_key, inner in item.children.items():
                if inner.children is not None and inner.nodes and inner.nodes[0].name.value == "groups":
                    return [key, inner_key]
        found = _find_groups(item.children)
        if found is not None:
            return [key, *found]
    return None


def parse_operation(text: str, source: str = "<query>", operation_name: str | None = None) -> Operation:
    """Parse a document and pick its operation (the one named, or the only one)."""
    try:
        document = parse(text)
    except GraphQLSyntaxError as error:
        raise OperationError(f"{source} does not parse: {error.message} at {_location(error)}") from None
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        definitions = [d for d in definitions if d.name is not None and d.name.value == operation_name]
    if len(definitions) != 1:
        found = "no operation" if not definitions else f"{len(definitions)} operations"
        raise OperationError(f"{source} holds {found}: it needs exactly one (or name one)")
    definition = definitions[0]
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    shape = selection_shape(definition.selection_set, fragments)
    return Operation(text, document, definition, source, shape, _find_connection(shape))


def _location(error: GraphQLSyntaxError) -> str:
    if error.locations:
        return f"line {error.locations[0].line}, column {error.locations[0].column}"
    return "?"


def load_operation(name_or_query: str, operation_name: str | None = None) -> Operation:
    """A vetted operation by name, a .graphql file by path, or a GraphQL document given as text."""
    if "{" in name_or_query:
        return parse_operation(name_or_query, operation_name=operation_name)
    path = Path(name_or_query).expanduser()
    if name_or_query.endswith((".graphql", ".gql")) or "/" in name_or_query or os.sep in name_or_query:
        if not path.is_file():
            raise OperationError(f"no such file: {name_or_query}")
        return parse_operation(path.read_text(), str(path), operation_name)
    found = find_operation_file(name_or_query)
    if found is not None:
        return parse_operation(found.read_text(), found.name, operation_name)
    if path.is_file():
        return parse_operation(path.read_text(), str(path), operation_name)
    raise OperationError(f"no operation named {name_or_query!r} in {operations_dir()}")


# ------------------------------------------------------------------------------------------------ pages


@dataclass
class Page:
    """One answer of the hub: its data, where its rows are, and the connection's paging."""

    number: int
    data: dict[str, Any]
    rows: list[Row]
    columns: list[str]
    total_count: int | None = None
    has_next_page: bool = False
    end_cursor: str | None = None
    connection: dict[str, Any] | None = None


def page_of(operation: Operation, data: dict[str, Any], number: int = 1) -> Page:
    """The rows of one answer: an aggregate's groups; else the connection's nodes; else the first list of objects;
    else the data as one row."""
    groups = operation.groups_path
    if groups is not None:
        # an aggregate's groups: a row per group, its keys (`key.sector`) and figures (`count`, `avg.cvssBaseScore`)
        found: Any = data
        shape_of: dict[str, Field] | None = operation.shape
        item: Field | None = None
        for key in groups:
            found = found.get(key) if isinstance(found, dict) else None
            assert shape_of is not None
            item = shape_of[key]
            shape_of = item.children
        assert item is not None and item.children is not None
        return Page(number, data, [flatten(g, item.children) for g in found or ()], columns(item.children))
    path = operation.connection_path
    if path is not None:
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        connection_field = operation.connection_field()
        assert connection_field is not None and connection_field.connection is not None
        shape = connection_field.node_shape()
        if isinstance(value, dict) or value is None:
            connection = value or {}
            nodes: Any = connection
            for key in connection_field.connection:
                if key == "node":
                    nodes = [edge.get("node") for edge in nodes or () if isinstance(edge, dict)]
                else:
                    nodes = nodes.get(key) if isinstance(nodes, dict) else None
            info = connection.get("pageInfo") or {}
            total = connection.get("totalCount")
            return Page(
                number,
                data,
                [flatten(node, shape) for node in nodes or ()],
                columns(shape),
                total if isinstance(total, int) else None,
                bool(info.get("hasNextPage")),
                info.get("endCursor"),
                value,
            )
    found = _first_object_list(data, operation.shape)
    if found is not None:
        items, shape = found
        return Page(number, data, [flatten(item, shape) for item in items], columns(shape))
    return Page(number, data, [flatten(data, operation.shape)], columns(operation.shape))


def _first_object_list(data: Any, shape: dict[str, Field]) -> tuple[list[Any], dict[str, Field]] | None:
    if not isinstance(data, dict):
        return None
    for key, item in shape.items():
        if item.children is None:
            continue
        value = data.get(key)
        if isinstance(value, list):
            return value, item.children
        found = _first_object_list(value, item.children)
        if found is not None:
            return found
    return None


def graphql_url(url: str | None = None) -> str:
    """The hub's GraphQL endpoint: `url`, else HUB_URL, else the default; a bare host gets /graphql."""
    url = (url or os.environ.get("HUB_URL") or DEFAULT_URL).strip()
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        url = urlunsplit((parts.scheme, parts.netloc, "/graphql", parts.query, parts.fragment))
    return url


def shown_url(url: str) -> str:
    """The URL without any user or password in it, for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def execute(
    client: httpx.Client,
    url: str,
    token: str,
    operation: Operation,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST one operation; its data, or QueryError with the hub's errors. Over the rate limit (HTTP 429), wait as
    long as the hub's Retry-After says and send it again, for at most RATE_LIMIT_WAIT_SECONDS in all."""
    body = json.dumps(
        {"query": operation.text, "variables": variables or {}, "operationName": operation.name},
        default=_json_default,
    )
    waited = 0
    while True:
        try:
            response = client.post(
                url,
                content=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
        except httpx.HTTPError as error:
            raise QueryError(f"cannot reach the hub at {shown_url(url)}: {error}") from None
        retry_after = response.headers.get("retry-after", "")
        if response.status_code != 429 or not retry_after.isdigit():
            break
        if waited + int(retry_after) > RATE_LIMIT_WAIT_SECONDS:
            break  # the error says when to come back
        log.warning("hub: rate limited; waiting %s s as the hub asks (Retry-After), then sending it again", retry_after)
        time.sleep(int(retry_after))
        waited += int(retry_after)
    try:
        answer = response.json()
    except ValueError:
        snippet = response.text[:200].strip()
        raise QueryError(
            f"the hub at {shown_url(url)} answered HTTP {response.status_code} without JSON: {snippet}",
            status=response.status_code,
        ) from None
    if not isinstance(answer, dict):
        raise QueryError(f"the hub answered HTTP {response.status_code} with {type(answer).__name__}, not an object")
    request_id = (answer.get("extensions") or {}).get("requestId") or response.headers.get("x-request-id")
    errors = answer.get("errors")
    if errors or response.status_code != 200:
        errors = [e for e in errors or () if isinstance(e, dict)]
        first = errors[0].get("message", "") if errors else ""
        raise QueryError(
            f"the hub answered HTTP {response.status_code}" + (f": {first}" if first else ""),
            errors,
            status=response.status_code,
            request_id=request_id,
        )
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


def pages(
    client: httpx.Client,
    url: str,
    token: str,
    operation: Operation,
    variables: dict[str, Any] | None = None,
    *,
    all_pages: bool = True,
) -> Iterator[Page]:
    """The answers, page after page: with `all_pages`, following the connection's cursors to its end."""
    after = None
    if all_pages:
        problem = operation.paging_problem()
        if problem is not None:
            raise OperationError(f"cannot follow the pages of {operation.name or operation.source}: {problem}")
        after = operation.after_variable() if operation.groups_path is None else None
    values = dict(variables or {})
    seen: set[str] = set()
    number = 0
    while True:
        number += 1
        page = page_of(operation, execute(client, url, token, operation, values), number)
        yield page
        if after is None or not page.has_next_page:
            return
        cursor = page.end_cursor
        if not cursor or cursor in seen:
            raise QueryError(f"page {number} says there is a next page but gives no new endCursor")
        seen.add(cursor)
        values[after] = cursor


def iter_rows(
    url: str | None,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    page_size: int = 500,
    all_pages: bool = True,
    operation_name: str | None = None,
    on_page: Callable[[Page, int], None] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Iterator[Row]:
    """Flat rows of the first connection of `query`, page after page (or, when it selects an aggregate's
    `groups`, a row per group, in one answer).

    `query` is a GraphQL document or the name of a vetted operation (schema/operations/). `url` and `token` default
    to HUB_URL and HUB_TOKEN. With `all_pages` (the default) the query must declare `$after: String`, pass it to the
    connection's `after` and select `pageInfo { hasNextPage endCursor }`; `page_size` is sent as the connection's
    `first` variable unless `variables` sets it. `on_page(page, rows_so_far)` is called after each page.
    Raises QueryError when the hub answers with errors, OperationError when the query cannot be paged.
    """
    token = token or os.environ.get("HUB_TOKEN")
    if not token:
        raise OperationError("no token: pass one or set HUB_TOKEN")
    operation = load_operation(query, operation_name)
    values = dict(variables or {})
    first = operation.first_variable()
    if first is not None and first not in values:
        values[first] = page_size
    target = graphql_url(url)
    count = 0
    with httpx.Client(timeout=timeout) as client:
        for page in pages(client, target, token, operation, values, all_pages=all_pages):
            yield from page.rows
            count += len(page.rows)
            if on_page is not None:
                on_page(page, count)


def fetch_rows(
    url: str | None,
    token: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    **options: Any,
) -> list[Row]:
    """All the rows of `iter_rows` as a list, e.g. for `pandas.DataFrame(fetch_rows(...))`."""
    return list(iter_rows(url, token, query, variables, **options))
