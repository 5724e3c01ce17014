"""The compiled statement's response (docs/compiler.md): the `data` of a read operation as one JSON value built by
PostgreSQL, field by field as the selection asks (fragments, aliases, @skip/@include, arguments read with
schema/selections.py), over the store's own SQL of each page and the visibility rule on every table it reads."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLList,
    GraphQLObjectType,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import get_variable_values

from hub.access import Params, visible
from hub.auth import Principal
from hub.selections import fragments_of
from hub.store import aggregates as store_aggregates
from hub.store.aggregates import SPECS, aggregate_sql
from hub.store.aggregates import key_column as group_column
from hub.store.base import Entity, PageSql, page_sql
from schema.aggregates import AggregateTypes
from schema.common import ConnectionSource
from schema.compiler.plan import Compiled, NotCompilable, ask, node_keys
from schema.compiler.sql import (
    EMBEDDED,
    column_json,
    cursor_sql,
    decimal_json,
    float_json,
    global_id,
    iso_timestamp,
    json_object,
    key_column,
    named,
    unwrap,
)
from schema.relations import ById, Declared, Paged, PlannedConnection, Related, Rows, computed_of, relation_of
from schema.selections import Selections

MAX_IDS = 500
FIGURES = {"min", "max", "avg", "sum"}  # nodes(ids:) takes at most MAX_PAGE_SIZE ids


class Build(Selections):
    """One compilation, for a principal whose ids are slots (plan.py's template_principal)."""

    def __init__(
        self,
        schema: Any,
        node_types: dict[str, tuple[Entity, Any]],
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        principal: Principal,
    ) -> None:
        coerced = get_variable_values(schema._schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            raise NotCompilable("variables do not coerce")
        super().__init__(schema, fragments_of(document.definitions), coerced)
        if self.cyclic():
            raise NotCompilable("a fragment spreads itself")
        self.node_types = node_types
        self.operation = operation
        self.principal = principal
        self.p = Params()
        self.aliases = 0
        self.ctes: list[str] = []
        self.columns_of: Any = None
        # whether the statement may stop on too many groups (the resolvers then answer)
        self.refusable = False

    def alias(self) -> str:
        self.aliases += 1
        return f"x{self.aliases}"

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
                type_name, entity, pks = node_keys([kwargs["id"]], self.node_types)
                record_type = self.gql.get_type(type_name)
                pairs.append((key, await self.by_key(entity, record_type, self.subselections(nodes), self.p(pks[0]))))
                continue
            planned = await ask(strawberry_field, kwargs, self.principal)
            if not isinstance(planned, PlannedConnection):
                raise NotCompilable(f"root field {name}")
            pairs.append((key, await self.connection(planned, query_type.fields[name].type, nodes)))
        with_clause = ("with " + ", ".join(self.ctes) + " ") if self.ctes else ""
        sql = f"{with_clause}select {json_object(pairs)}::text"
        return Compiled(sql=sql, params=list(self.p.values), refusable=self.refusable)

    async def nodes_by_ids(self, ids: list[str], nodes: list[FieldNode]) -> str:
        """nodes(ids:) when every id is of one type: the records in the order asked, null where missing or not
        visible (the resolver's answer); ids of several types go to the resolver."""
        if not ids or len(ids) > MAX_IDS:
            raise NotCompilable("nodes: no ids, or more than the resolver takes")
        type_name, entity, pks = node_keys(ids, self.node_types)
        record_type = self.gql.get_type(type_name)
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
        """A root connection: its page a CTE of the statement."""
        built: PageSql = page_sql(
            self.principal,
            self.p,
            planned.entity,
            build_where=planned.build_where,
            order=planned.order,
            descending=planned.descending,
            first=planned.first,
            after=planned.after,
            last=planned.last,
            before=planned.before,
        )
        cte = f"page{len(self.ctes) + 1}"
        self.ctes.append(f"{cte} as ({built.sql})")
        source = ConnectionSource(planned.entity, planned.build_where)
        return await self.connection_json(built, cte, planned.entity, gql_type, nodes, source)

    async def connection_json(
        self,
        built: PageSql,
        cte: str,
        entity: Entity,
        gql_type: Any,
        nodes: list[FieldNode],
        source: ConnectionSource | None = None,
    ) -> str:
        """The JSON of a connection, root or nested, whose page's rows (`built.sql`) are the CTE `cte`; `source` says
        what it reads, for its aggregate (a nested connection's `within` names its parent's id in SQL)."""
        connection_type, _ = unwrap(gql_type)
        on_page = built.page_condition
        pairs = []
        for key, field_nodes in self.collect(self.subselections(nodes), connection_type.name).items():
            name = field_nodes[0].name.value
            sub = self.subselections(field_nodes)
            if name == "__typename":
                pairs.append((key, f"'{connection_type.name}'"))
            elif name == "totalCount":
                pairs.append((key, f"({built.count_sql})"))
            elif name == "aggregate":
                if source is None:
                    raise NotCompilable("an aggregate without its source")
                pairs.append((key, await self.aggregate(source, connection_type.fields[name].type, field_nodes)))
            elif name in ("edges", "nodes"):
                x = self.alias()
                node_type_name = named(connection_type.fields[name].type).name
                if name == "nodes":
                    item = await self.record(entity, named(connection_type.fields[name].type), sub, x)
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
                                (edge_key, await self.record(entity, record_type, self.subselections(edge_nodes), x))
                            )
                        else:
                            raise NotCompilable(f"edge field {edge_name}")
                    item = json_object(edge_pairs)
                pairs.append(
                    (
                        key,
                        f"(select coalesce(json_agg({item} order by {x}._n), '[]'::json) from {cte} {x}"
                        f" where {on_page(x)})",
                    )
                )
            elif name == "pageInfo":
                info_pairs = []
                for info_key, info_nodes in self.collect(sub, "PageInfo").items():
                    info_name = info_nodes[0].name.value
                    if info_name == "__typename":
                        info_pairs.append((info_key, "'PageInfo'"))
                    elif info_name == "hasNextPage":
                        info_pairs.append((info_key, built.has_next_sql(cte)))
                    elif info_name == "hasPreviousPage":
                        info_pairs.append((info_key, built.has_previous_sql(cte)))
                    elif info_name in ("startCursor", "endCursor"):
                        pick = "min" if info_name == "startCursor" else "max"
                        c, d = self.alias(), self.alias()
                        info_pairs.append(
                            (
                                info_key,
                                f"(select {cursor_sql(built.order, built.order_field, c)} from {cte} {c}"
                                f" where {c}._n = (select {pick}({d}._n) from {cte} {d} where {on_page(d)}))",
                            )
                        )
                    else:
                        raise NotCompilable(f"pageInfo field {info_name}")
                pairs.append((key, json_object(info_pairs)))
            else:
                raise NotCompilable(f"connection field {name}")
        return json_object(pairs)

    async def aggregate(self, source: ConnectionSource, gql_type: Any, nodes: list[FieldNode]) -> str:
        """A connection's `aggregate` (schema/aggregates.py): its figures from the rows of hub.store.aggregates'
        builder, the one the resolvers read, as JSON; `groups` past MAX_GROUPS stops the statement
        (hub_too_many_groups, sql/026_aggregates.sql) so that the resolvers answer and refuse it."""
        aggregate_type = named(gql_type)
        types: AggregateTypes = self.schema.get_type_by_name(aggregate_type.name).origin._types
        totals = ""
        pairs = []
        selected = self.collect(self.subselections(nodes), aggregate_type.name)
        for key, field_nodes in selected.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{aggregate_type.name}'"))
                continue
            if name == "groups":
                by = [b.value for b in self.arguments(aggregate_type, field_nodes)[1]["by"]]
                pairs.append((key, await self.groups(types, source, by, aggregate_type, field_nodes)))
                continue
            if not totals:
                # the numbers only when min/max/avg/sum are asked: without them a summary table may count
                figures: list[str] | None = None if self.selected(nodes, aggregate_type.name) & FIGURES else []
                totals_sql = aggregate_sql(self.principal, self.p, source, numbers=figures)
                if source.within is None:
                    totals = f"aggregate{len(self.ctes) + 1}"
                    self.ctes.append(f"{totals} as ({totals_sql})")
                else:
                    # under a parent's row: a subquery correlated to it (a CTE of the statement cannot see it)
                    totals = f"({totals_sql})"
            a = self.alias()
            if name == "count":
                pairs.append((key, f"(select {a}.count from {totals} {a})"))
            elif name in ("min", "max", "avg", "sum"):
                numbers = self.numbers(types, name, aggregate_type.fields[name].type, field_nodes, a)
                pairs.append((key, f"(select {numbers} from {totals} {a})"))
            else:
                raise NotCompilable(f"aggregate field {name}")
        return json_object(pairs)

    def selected(self, nodes: list[FieldNode], type_name: str) -> set[str]:
        """The names of the fields selected under `nodes` (of type `type_name`)."""
        return {found[0].name.value for found in self.collect(self.subselections(nodes), type_name).values()}

    def numbers(self, types: AggregateTypes, function: str, gql_type: Any, nodes: list[FieldNode], a: str) -> str:
        """The numbers of `function` (min, max, avg, sum) of an aggregate's row `a`, as JSON."""
        numbers_type = named(gql_type)
        by_name = {self.graphql_name(f): f for f in self.schema.get_type_by_name(numbers_type.name).fields}
        pairs = []
        for key, field_nodes in self.collect(self.subselections(nodes), numbers_type.name).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{numbers_type.name}'"))
                continue
            python_name = by_name[name].python_name
            column = f"{a}.{function}_{python_name}"
            is_float = types.number_types[python_name] is float
            pairs.append((key, float_json(column) if is_float else decimal_json(column)))
        return json_object(pairs)

    async def groups(
        self, types: AggregateTypes, source: ConnectionSource, by: list[str], gql_type: GraphQLObjectType, nodes: Any
    ) -> str:
        """An aggregate's `groups(by:)`: a JSON list of the builder's groups, in their order."""
        group_type = named(gql_type.fields["groups"].type)
        spec = SPECS[types.kind]
        asked = {spec.keys[k].name: k for k in dict.fromkeys(by)}
        a = self.alias()
        pairs = []
        selected = self.collect(self.subselections(nodes), group_type.name)
        for key, field_nodes in selected.items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{group_type.name}'"))
            elif name == "count":
                pairs.append((key, f"{a}.count"))
            elif name == "key":
                pairs.append((key, await self.group_keys(types, asked, group_type, field_nodes, a)))
            elif name in ("min", "max", "avg", "sum"):
                pairs.append((key, self.numbers(types, name, group_type.fields[name].type, field_nodes, a)))
            else:
                raise NotCompilable(f"group field {name}")
        self.refusable = True
        figures: list[str] | None = None if self.selected(nodes, group_type.name) & FIGURES else []
        rows = aggregate_sql(self.principal, self.p, source, by=by, numbers=figures)
        return (
            f"(select case when count(*) > {store_aggregates.MAX_GROUPS} then hub_too_many_groups(count(*))"
            f" else coalesce(json_agg({json_object(pairs)} order by {a}._ord), '[]'::json) end from ({rows}) {a})"
        )

    async def group_keys(
        self, types: AggregateTypes, asked: dict[str, str], group_type: GraphQLObjectType, nodes: Any, a: str
    ) -> str:
        """A group's `key`: each key field from the group's row when grouped by, else null."""
        keys_type = named(group_type.fields["key"].type)
        by_name = {self.graphql_name(f): f for f in self.schema.get_type_by_name(keys_type.name).fields}
        related = {
            kf.related[0]: (key_name, kf.related) for key_name, kf in types.key_fields.items() if kf.related is not None
        }
        pairs = []
        for key, field_nodes in self.collect(self.subselections(nodes), keys_type.name).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, f"'{keys_type.name}'"))
                continue
            python_name = by_name[name].python_name
            if python_name in related:
                key_name, (_, entity, type_name, _) = related[python_name]
                if key_name not in asked:
                    pairs.append((key, "null"))
                    continue
                column = f"{a}.{group_column(asked[key_name])}"
                record = await self.by_key(
                    entity, self.gql.get_type(type_name), self.subselections(field_nodes), column
                )
                pairs.append((key, record))
            elif python_name not in asked:
                pairs.append((key, "null"))
            else:
                column = f"{a}.{group_column(asked[python_name])}"
                key_field = types.key_fields[python_name]
                pairs.append((key, global_id(key_field.related[2], column) if key_field.related else column))
        return json_object(pairs)

    async def record(
        self, entity: Entity, gql_type: GraphQLObjectType, selection_sets: list[SelectionSetNode], x: str
    ) -> str:
        """The JSON of one record of `entity`, whose row (as the store selects it) is aliased `x`."""
        type_name = gql_type.name
        if self.node_types.get(type_name, (None,))[0] is not entity:
            raise NotCompilable(f"{type_name} is not the node type of {entity.kind}")
        columns = await self.columns_of(entity)
        definition = self.schema.get_type_by_name(type_name)
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
                pairs.append((key, column_json(type_name, strawberry_field.python_name, field_type, columns, x)))
            elif (type_name, name) == ("FrontierModel", "coverageOutcome"):
                pairs.append((key, self.coverage_outcome(x)))
            elif isinstance(declared.loads, Rows) and declared.loads.loader_name == "parties":
                pairs.append((key, await self.parties(self.subselections(nodes), x)))
            elif isinstance(declared.loads, Rows) and declared.loads.loader_name == "lead_times":
                pairs.append((key, await self.lead_times(self.subselections(nodes), x)))
            elif (type_name, name) == ("EarlyAccessRequest", "agencies"):
                pairs.append((key, await self.request_agencies(self.subselections(nodes), x)))
            elif isinstance(declared.loads, Paged):
                pairs.append((key, await self.nested_connection(gql_type, nodes, field_type, x)))
            else:
                # a `first` the resolver would refuse raises its error: the resolvers answer, with that error
                page = declared.page_of(self.arguments(gql_type, nodes)[1] if declared.first is not None else {})
                pairs.append(
                    (key, await self.loaded(declared, page, field_type, self.subselections(nodes), x, columns))
                )
        return json_object(pairs)

    async def nested_connection(
        self, gql_type: GraphQLObjectType, nodes: list[FieldNode], field_type: Any, x: str
    ) -> str:
        """A nested connection (`<name>Connection`): the page its resolver would read (asked of the resolver, as a
        root connection's), under the parent's row `x`, in a CTE of its own subquery (correlated to `x`)."""
        strawberry_field, kwargs = self.arguments(gql_type, nodes)
        planned = await ask(strawberry_field, kwargs, self.principal)
        if not isinstance(planned, PlannedConnection) or planned.within is None:
            raise NotCompilable(f"{gql_type.name}.{nodes[0].name.value} is not a nested connection")
        built = page_sql(
            self.principal,
            self.p,
            planned.entity,
            build_where=planned.build_where,
            order=planned.order,
            descending=planned.descending,
            first=planned.first,
            after=planned.after,
            last=planned.last,
            before=planned.before,
            within=(planned.within, f"{x}.id"),
        )
        cte = self.alias()
        source = ConnectionSource(planned.entity, planned.build_where, within=(planned.within, f"{x}.id"))
        built_json = await self.connection_json(built, cte, planned.entity, field_type, nodes, source)
        return f"(with {cte} as ({built.sql}) select {built_json})"

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
        agency_entity, agency_type = self.node_types["Agency"][0], self.gql.get_type("Agency")
        pairs = []
        for key, nodes in self.collect(selection_sets, "AgreementParty").items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, "'AgreementParty'"))
            elif name in ("acceptedAt", "joinedAt"):
                pairs.append((key, iso_timestamp(f"{a}.accepted_at")))
            elif name == "leftAt":
                pairs.append((key, iso_timestamp(f"{a}.left_at")))
            elif name == "leftReason":
                pairs.append((key, f"{a}.left_reason"))
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

    async def lead_times(self, selection_sets: list[SelectionSetNode], x: str) -> str:
        """EarlyAccessAgreement.leadTimes: the rows of the one statement hub.store.lead_times reads them with, for
        this agreement, by agency code."""
        from hub.store.lead_times import lead_time_sql

        a = self.alias()
        scalars = {
            "joinedAt": iso_timestamp(f"{a}.joined_at"),
            "accessStart": iso_timestamp(f"{a}.access_start"),
            "accessStartOn": f"{a}.access_start_on",
            "generalAvailabilityOn": f"{a}.general_availability_on",
            "basis": f"{a}.basis",
            "days": f"{a}.days",
            "askedDays": f"{a}.asked_days",
            "given": f"{a}.given",
        }
        related = {"agency": ("Agency", f"{a}.agency_id"), "agreement": ("EarlyAccessAgreement", f"{a}.agreement_id")}
        pairs = []
        for key, nodes in self.collect(selection_sets, "PreviewLeadTime").items():
            name = nodes[0].name.value
            if name == "__typename":
                pairs.append((key, "'PreviewLeadTime'"))
            elif name in scalars:
                pairs.append((key, scalars[name]))
            elif name in related:
                type_name, column = related[name]
                entity, gql_type = self.node_types[type_name][0], self.gql.get_type(type_name)
                pairs.append((key, await self.by_key(entity, gql_type, self.subselections(nodes), column)))
            else:
                raise NotCompilable(f"field PreviewLeadTime.{name}")
        rows = lead_time_sql(self.principal, self.p, f"g.id = {x}.id")
        aggregated = f"coalesce(json_agg({json_object(pairs)} order by {a}.agency_code), '[]'::json)"
        return f"(select {aggregated} from ({rows}) {a})"

    async def request_agencies(self, selection_sets: list[SelectionSetNode], x: str) -> str:
        """EarlyAccessRequest.agencies: the agencies of the request's agency_ids, in that order, as the resolver
        loads them by id."""
        agency_entity, agency_type = self.node_types["Agency"][0], self.gql.get_type("Agency")
        y = self.alias()
        obj = await self.record(agency_entity, agency_type, selection_sets, y)
        rows = self.visible_rows(agency_entity, f"t.id = any({x}.agency_ids)")
        return (
            f"(select coalesce(json_agg({obj} order by array_position({x}.agency_ids, {y}.id)), '[]'::json)"
            f" from ({rows}) {y})"
        )

    def coverage_outcome(self, x: str) -> str:
        """FrontierModel.coverageOutcome: the outcome of the newest standing one (by decided_at, then id) among the
        first 100 decisions on the model that the principal may see, as the resolver reads them."""
        from hub.access import STANDING_DECISION_STATES
        from hub.kinds import sql_list
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
            f" where {d}.outcome is not null and {d}.state in {sql_list(STANDING_DECISION_STATES)}"
            f" order by {d}.decided_at desc, {d}.id desc limit 1)"
        )

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
