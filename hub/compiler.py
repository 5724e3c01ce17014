"""The SQL compiler: a read operation whose selection maps onto tables becomes ONE SQL statement that applies the
visibility rule and returns the response's `data` as JSON built by PostgreSQL, so that the resolvers, their
asyncio tasks and graphql-core's per-field work are skipped altogether.

What it compiles: root connections (`models`, `findings`, ... with their filter, orderBy, first and after, as their
resolvers read them: the compiler asks the resolver itself for its page, see `Planning`), `edges { cursor node }`,
`nodes`, `pageInfo`, `totalCount`; on records, plain fields read from a column (strings, numbers, booleans, enums,
dates, timestamps, JSON and lists of those), global ids, `__typename`, and the fields that load one record by a key
(`lab`, `model`, `ownerAgency`, ...) or a related list (`coverageDecisions`, `findings`, ...), as they declare where
they are declared (schema/relations.py). Anything else (a computed field, a union,
history, a mutation, an argument the resolver would refuse) makes the whole operation fall back to the resolvers,
which answer exactly as before. tests/test_compiler.py holds the two paths to identical `data`.

Compiled statements are cached per operation text, variables and principal class (an agency's, a lab's, by role):
the principal's own ids are parameters, filled in per request.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from hub.access import Params, visible
from hub.auth import Principal
from hub.selections import Unreadable, fragments_of
from hub.store.base import Entity, PageSql, page_sql
from schema.relations import (
    ById,
    Declared,
    Planned,
    PlannedConnection,
    Planning,
    Related,
    Rows,
    computed_of,
    relation_of,
)
from schema.selections import Selections

log = logging.getLogger(__name__)

MAX_PAIRS = 50  # json_build_object takes at most 100 arguments
MAX_IDS = 500  # nodes(ids:) takes at most MAX_PAGE_SIZE ids
CACHE_SIZE = 512


# ------------------------------------------------------------------------------------------------ planning


class _Info:
    def __init__(self, context: Planning) -> None:
        self.context = context

    def __getattr__(self, name: str) -> Any:
        raise NotCompilable(f"the resolver reads info.{name}")


# ------------------------------------------------------------------------------------------------ SQL pieces


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
            # masked in the store's own select list unless the principal may see them (hub.store.models)
            "confidential_visible",
            "training_compute_flop",
            "capability_details",
            "planned_release_on",
        }
    ),
    "EarlyAccessAgreement": frozenset(
        {
            *RECORD,
            "state",
            "access_kinds",
            "access_start",
            "access_end",
            "window_cap_days",
            "protections",
            "lab_consent_ref",
            "notes",
        }
    ),
    "CoverageStandard": frozenset(
        {*RECORD, "standard_version", "title", "summary", "state", "required_signoffs", "due_on", "adopted_at"}
    ),
    "CoverageDecision": frozenset({*RECORD, "state", "outcome", "rationale", "request_note", "decided_at"}),
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
        {*RECORD, "tlp", "title", "summary", "sector", "counterparty", "kind", "state"}
    ),
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


# ------------------------------------------------------------------------------------------------ the compiler


@dataclass(frozen=True)
class PrincipalSlot:
    """A principal's attribute in the parameters of a cached statement, filled in per request."""

    attribute: str


def principal_class(principal: Principal) -> tuple[Any, ...]:
    return (principal.agency_id is not None, principal.lab_id is not None, principal.role)


def template_principal(principal: Principal) -> Principal:
    """The principal with its ids replaced by slots: a statement compiled for it serves its whole class."""
    slots: dict[str, Any] = {
        "id": PrincipalSlot("id"),
        "agency_id": PrincipalSlot("agency_id") if principal.agency_id is not None else None,
        "lab_id": PrincipalSlot("lab_id") if principal.lab_id is not None else None,
    }
    return replace(principal, **slots)


@dataclass(frozen=True)
class Compiled:
    sql: str
    params: list[Any]

    def bind(self, principal: Principal) -> list[Any]:
        """The parameters with the principal's own values in its slots (also inside lists)."""

        def fill(value: Any) -> Any:
            if isinstance(value, PrincipalSlot):
                return getattr(principal, value.attribute)
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        return [fill(v) for v in self.params]


class Compiler:
    """Compiles read operations for one strawberry schema; keeps the statements it made."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.gql = schema._schema
        self.cache: OrderedDict[tuple[Any, ...], Compiled | None] = OrderedDict()
        from schema.common import NODE_TYPES

        self.node_types: dict[str, tuple[Entity, Any]] = dict(NODE_TYPES)
        self.type_of_kind = {entity.kind: name for name, (entity, _) in self.node_types.items()}
        self.columns: dict[str, frozenset[str]] = {}

    # ---------------------------------------------------------------- entry point

    async def compile(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        query: str,
        variables: dict[str, Any] | None,
        principal: Principal,
        columns_of: Any,
    ) -> Compiled | None:
        """The operation as one statement, or None when it needs the resolvers. `columns_of(entity)` gives the
        column names of an entity's rows (read once per entity)."""
        if operation.operation != OperationType.QUERY:
            return None
        key = (
            query,
            operation.name.value if operation.name else None,
            orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
            principal_class(principal),
        )
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        try:
            compiled: Compiled | None = await Build(self, document, operation, variables or {}, principal).root(
                columns_of
            )
        except Unreadable as reason:
            log.debug("not compiled: %s", reason)
            compiled = None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            raise  # the database's trouble (a timeout, say), not the operation's: the request reports it
        except Exception as error:  # noqa: BLE001 - anything unexpected: the resolvers answer instead
            log.debug("not compiled: %r", error)
            compiled = None
        self.cache[key] = compiled
        if len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        return compiled


class NotCompilable(Unreadable):
    """The operation needs the resolvers."""


class Build(Selections):
    """One compilation."""

    def __init__(
        self,
        compiler: Compiler,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        principal: Principal,
    ) -> None:
        from graphql.execution.values import get_variable_values

        coerced = get_variable_values(compiler.gql, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            raise NotCompilable("variables do not coerce")
        super().__init__(compiler.schema, fragments_of(document.definitions), coerced)
        if self.cyclic():
            raise NotCompilable("a fragment spreads itself")
        self.compiler = compiler
        self.operation = operation
        self.raw_variables = variables
        self.principal = template_principal(principal)
        self.p = Params()
        self.aliases = 0
        self.ctes: list[str] = []
        self.columns_of: Any = None

    def alias(self) -> str:
        self.aliases += 1
        return f"x{self.aliases}"

    async def ask(self, strawberry_field: Any, kwargs: dict[str, Any]) -> Any:
        """Call a root field's resolver with the planning context: what it would read (resolve_connection raises
        it)."""
        resolver = strawberry_field.base_resolver
        if resolver is None:
            raise NotCompilable("no resolver")
        function = resolver.wrapped_func
        info = _Info(Planning(principal=self.principal))
        args: list[Any] = []
        parameters = list(inspect.signature(function).parameters)
        if parameters and parameters[0] == "self":
            args.append(None)
        call_kwargs = dict(kwargs)
        if "info" in parameters:
            call_kwargs["info"] = info
        try:
            result = function(*args, **call_kwargs)
            if inspect.isawaitable(result):
                await result
        except Planned as planned:
            return planned.what
        raise NotCompilable(f"resolver {strawberry_field.python_name} computes its answer")

    # ---------------------------------------------------------------- the statement

    async def root(self, columns_of: Any) -> Compiled:
        self.columns_of = columns_of
        query_type = self.gql.query_type
        assert query_type is not None
        pairs = []
        for key, nodes in self.collect([self.operation.selection_set], query_type.name).items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{query_type.name}'"))
                continue
            strawberry_field, kwargs = self.arguments(query_type, nodes)
            if name == "nodes":
                pairs.append((key, await self.nodes_by_ids(list(kwargs.get("ids") or []), nodes)))
                continue
            if name == "node":
                entity, record_type, pks = self.node_keys([kwargs["id"]])
                pairs.append((key, await self.by_key(entity, record_type, self.subselections(nodes), self.p(pks[0]))))
                continue
            planned = await self.ask(strawberry_field, kwargs)
            if not isinstance(planned, PlannedConnection):
                raise NotCompilable(f"root field {name}")
            pairs.append((key, await self.connection(planned, query_type.fields[name].type, nodes)))
        with_clause = ("with " + ", ".join(self.ctes) + " ") if self.ctes else ""
        sql = f"{with_clause}select {json_object(pairs)}::text"
        return Compiled(sql=sql, params=list(self.p.values))

    def node_keys(self, ids: list[str]) -> tuple[Entity, Any, list[int]]:
        """The entity, record type and primary keys of global ids that are all of one node type (else the resolver
        answers, and reports an id that is not one)."""
        from schema.common import from_global_id

        try:
            keys = [from_global_id(i) for i in ids]
        except Exception as error:  # noqa: BLE001 - the resolver reports a bad id
            raise NotCompilable("an id that is not one") from error
        type_names = {type_name for type_name, _ in keys}
        if len(type_names) != 1 or next(iter(type_names)) not in self.compiler.node_types:
            raise NotCompilable("ids of several types, or not of nodes")
        type_name = next(iter(type_names))
        return self.compiler.node_types[type_name][0], self.gql.get_type(type_name), [pk for _, pk in keys]

    async def nodes_by_ids(self, ids: list[str], nodes: list[FieldNode]) -> str:
        """nodes(ids:) when every id is of one type: the records in the order asked, null where missing or not
        visible (the resolver's answer); ids of several types go to the resolver."""
        if not ids or len(ids) > MAX_IDS:
            raise NotCompilable("nodes: no ids, or more than the resolver takes")
        entity, record_type, pks = self.node_keys(ids)
        y, u = self.alias(), self.alias()
        obj = await self.record(entity, record_type, self.subselections(nodes), y)
        p = self.p
        ids_param = p(pks)
        return (
            f"(select json_agg(case when {y}.id is null then null else {obj} end order by {u}.ord)"
            f" from unnest({ids_param}::bigint[]) with ordinality {u}(id, ord)"
            f" left join lateral ({self.visible_rows(entity, f't.id = {u}.id')}) {y} on true)"
        )

    async def connection(self, planned: PlannedConnection, gql_type: Any, nodes: list[FieldNode]) -> str:
        connection_type, _ = unwrap(gql_type)
        built: PageSql = page_sql(
            self.principal,
            self.p,
            planned.entity,
            build_where=planned.build_where,
            order=planned.order,
            descending=planned.descending,
            first=planned.first,
            after=planned.after,
        )
        cte = f"page{len(self.ctes) + 1}"
        self.ctes.append(f"{cte} as ({built.sql})")
        first = built.first
        pairs = []
        for key, field_nodes in self.collect(self.subselections(nodes), connection_type.name).items():
            name = field_nodes[0].name.value
            sub = self.subselections(field_nodes)
            if name == "__typename":
                pairs.append((key, f"'{connection_type.name}'"))
            elif name == "totalCount":
                pairs.append((key, f"({built.count_sql})"))
            elif name in ("edges", "nodes"):
                x = self.alias()
                node_type_name = named(connection_type.fields[name].type).name
                if name == "nodes":
                    item = await self.record(planned.entity, named(connection_type.fields[name].type), sub, x)
                else:
                    edge_pairs = []
                    edge_type = self.gql.get_type(node_type_name)
                    for edge_key, edge_nodes in self.collect(sub, node_type_name).items():
                        edge_name = edge_nodes[0].name.value
                        if edge_name == "__typename":
                            edge_pairs.append((edge_key, f"'{node_type_name}'"))
                        elif edge_name == "cursor":
                            edge_pairs.append((edge_key, cursor_sql(built.order, built.order_field, x)))
                        elif edge_name == "node":
                            record_type = named(edge_type.fields["node"].type)
                            edge_pairs.append(
                                (
                                    edge_key,
                                    await self.record(planned.entity, record_type, self.subselections(edge_nodes), x),
                                )
                            )
                        else:
                            raise NotCompilable(f"edge field {edge_name}")
                    item = json_object(edge_pairs)
                pairs.append(
                    (
                        key,
                        f"(select coalesce(json_agg({item} order by {x}._n), '[]'::json) from {cte} {x}"
                        f" where {x}._n <= {first})",
                    )
                )
            elif name == "pageInfo":
                info_pairs = []
                for info_key, info_nodes in self.collect(sub, "PageInfo").items():
                    info_name = info_nodes[0].name.value
                    if info_name == "__typename":
                        info_pairs.append((info_key, "'PageInfo'"))
                    elif info_name == "hasNextPage":
                        info_pairs.append((info_key, f"exists (select 1 from {cte} where _n > {first})"))
                    elif info_name == "hasPreviousPage":
                        info_pairs.append((info_key, "true" if built.after is not None else "false"))
                    elif info_name in ("startCursor", "endCursor"):
                        pick = "min" if info_name == "startCursor" else "max"
                        c = self.alias()
                        info_pairs.append(
                            (
                                info_key,
                                f"(select {cursor_sql(built.order, built.order_field, c)} from {cte} {c}"
                                f" where {c}._n = (select {pick}(_n) from {cte} where _n <= {first}))",
                            )
                        )
                    else:
                        raise NotCompilable(f"pageInfo field {info_name}")
                pairs.append((key, json_object(info_pairs)))
            else:
                raise NotCompilable(f"connection field {name}")
        return json_object(pairs)

    async def record(
        self, entity: Entity, gql_type: GraphQLObjectType, selection_sets: list[SelectionSetNode], x: str
    ) -> str:
        """The JSON of one record of `entity`, whose row (as the store selects it) is aliased `x`."""
        type_name = gql_type.name
        if self.compiler.node_types.get(type_name, (None,))[0] is not entity:
            raise NotCompilable(f"{type_name} is not the node type of {entity.kind}")
        columns = await self.columns_of(entity)
        definition = self.compiler.schema.get_type_by_name(type_name)
        by_name = {self.graphql_name(f): f for f in definition.fields}
        pairs = []
        for key, nodes in self.collect(selection_sets, type_name).items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{type_name}'"))
                continue
            strawberry_field = by_name.get(name)
            if strawberry_field is None:
                raise NotCompilable(f"field {type_name}.{name}")
            field_type = gql_type.fields[name].type
            if (type_name, name) in EMBEDDED:
                pairs.append((key, self.embedded(type_name, name, field_type, self.subselections(nodes), x)))
                continue
            declared = relation_of(strawberry_field)
            if declared is None:
                if strawberry_field.base_resolver is not None or computed_of(strawberry_field):
                    raise NotCompilable(f"{type_name}.{name} is computed")
                pairs.append((key, self.plain(type_name, strawberry_field.python_name, field_type, columns, x)))
            elif (type_name, name) == ("FrontierModel", "coverageOutcome"):
                pairs.append((key, self.coverage_outcome(x)))
            elif isinstance(declared.loads, Rows) and declared.loads.loader_name == "parties":
                pairs.append((key, await self.parties(self.subselections(nodes), x)))
            else:
                # a `first` the resolver would refuse raises its error: the resolvers answer, with that error
                page = declared.page_of(self.arguments(gql_type, nodes)[1] if declared.first is not None else {})
                pairs.append(
                    (key, await self.loaded(declared, page, field_type, self.subselections(nodes), x, columns))
                )
        return json_object(pairs)

    def embedded(
        self, type_name: str, name: str, field_type: Any, selection_sets: list[SelectionSetNode], x: str
    ) -> str:
        """An object from_row builds from the record's own columns (EMBEDDED)."""
        null_when, expressions = EMBEDDED[(type_name, name)]
        object_type = named(field_type)
        pairs = []
        for key, nodes in self.collect(selection_sets, object_type.name).items():
            field = nodes[0].name.value
            if field == "__typename":
                pairs.append((key, f"'{object_type.name}'"))
            elif field in expressions:
                pairs.append((key, expressions[field].format(x=x)))
            else:
                raise NotCompilable(f"field {object_type.name}.{field}")
        built = json_object(pairs)
        return built if null_when is None else f"case when {null_when.format(x=x)} then null else {built} end"

    async def parties(self, selection_sets: list[SelectionSetNode], x: str) -> str:
        """EarlyAccessAgreement.parties: the agencies named on the agreement (which is visible: we are inside it),
        by agency id, as hub.store.agreements.parties_by_agreement reads them."""
        a = self.alias()
        agency_entity, agency_type = self.compiler.node_types["Agency"][0], self.gql.get_type("Agency")
        pairs = []
        for key, nodes in self.collect(selection_sets, "AgreementParty").items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, "'AgreementParty'"))
            elif name == "acceptedAt":
                pairs.append((key, iso_timestamp(f"{a}.accepted_at")))
            elif name == "agency":
                pairs.append(
                    (key, await self.by_key(agency_entity, agency_type, self.subselections(nodes), f"{a}.agency_id"))
                )
            else:
                raise NotCompilable(f"field AgreementParty.{name}")
        return (
            f"(select coalesce(json_agg({json_object(pairs)} order by {a}.agency_id), '[]'::json)"
            f" from agreement_agencies {a} where {a}.agreement_id = {x}.id)"
        )

    def coverage_outcome(self, x: str) -> str:
        """FrontierModel.coverageOutcome: the outcome of the latest DECIDED one (by decided_at, then id) among the
        first 100 decisions on the model that the principal may see, as the resolver reads them."""
        from hub.store.coverage import DECISIONS_BY_MODEL

        relation = DECISIONS_BY_MODEL
        d = self.alias()
        rows = self.visible_rows(
            relation.entity,
            f"{relation.parent} = {x}.id",
            join=relation.join,
            tail=f" order by {relation.order}, t.id limit 100",
        )
        return (
            f"(select {d}.outcome from ({rows}) {d}"
            f" where {d}.state = 'DECIDED' order by {d}.decided_at desc, {d}.id desc limit 1)"
        )

    def plain(self, type_name: str, column: str, field_type: Any, columns: frozenset[str], x: str) -> str:
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

    async def by_key(
        self, entity: Entity, record_type: Any, selection_sets: list[SelectionSetNode], key_sql: str
    ) -> str:
        """One record of `entity` by id (`key_sql`), null when missing or not visible."""
        y = self.alias()
        obj = await self.record(entity, record_type, selection_sets, y)
        return f"(select {obj} from ({self.visible_rows(entity, f't.id = {key_sql}')}) {y})"

    def visible_rows(self, entity: Entity, condition: str, *, join: str = "", extra: str = "", tail: str = "") -> str:
        """`select` of `entity`'s rows as the store selects them (its columns and laterals, `t` the table), those
        matching `condition` that the principal may see; `extra` adds columns, `tail` an order or limit."""
        p = self.p
        return (
            f"select {entity.select_list(self.principal, p)}{extra} from {entity.source(self.principal, p)} {join}"
            f" where {condition} and {visible(entity.kind, 't', self.principal, p)}{tail}"
        )

    async def loaded(
        self,
        declared: Declared,
        page: int | None,
        field_type: Any,
        selection_sets: list[SelectionSetNode],
        x: str,
        columns: frozenset[str],
    ) -> str:
        """A field that loads one record by key or a related list, as it declares (schema/relations.py)."""
        # (record() refuses a field whose type is not the node type of the entity loaded)
        loads = declared.loads
        inner, _ = unwrap(field_type)
        if declared.convert is not None:
            raise NotCompilable("the field converts what it loads")
        if isinstance(loads, ById) and not isinstance(inner, GraphQLList):
            column = key_column(loads.key_attribute)
            if column not in columns:
                raise NotCompilable(f"{loads.key_attribute} is not read from a column")
            return await self.by_key(loads.entity, named(inner), selection_sets, f"{x}.{column}")
        if isinstance(loads, Related) and isinstance(inner, GraphQLList) and page is not None:
            relation = loads.relation
            y = self.alias()
            obj = await self.record(relation.entity, named(inner), selection_sets, y)
            ordering = f"{relation.order}, t.id"
            rows = self.visible_rows(
                relation.entity,
                f"{relation.parent} = {x}.id",
                join=relation.join,
                extra=f", row_number() over (order by {ordering}) as _rn",
                tail=f" order by {ordering} limit {int(page)}",
            )
            return f"(select coalesce(json_agg({obj} order by {y}._rn), '[]'::json) from ({rows}) {y})"
        raise NotCompilable(f"{type(loads).__name__} relation")


def key_column(attribute: str) -> str:
    """The column a record's key attribute is read from, as from_row names them: `pk` is the row's `id`, `<x>_pk`
    its `<x>_id`."""
    return "id" if attribute == "pk" else attribute.removesuffix("_pk") + "_id"
