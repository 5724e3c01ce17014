"""The SQL compiler (docs/compiler.md): a read operation whose selection maps onto tables becomes ONE SQL statement
that applies the visibility rule and returns the response's `data` as JSON built by PostgreSQL, so that the
resolvers, their asyncio tasks and graphql-core's per-field work are skipped altogether.

What it compiles: root connections (`models`, `findings`, ... with their filter, orderBy, first and after, as their
resolvers read them: the compiler asks the resolver itself for its page, plan.py), `node`, `nodes` of one type,
`edges { cursor node }`, `nodes`, `pageInfo`, `totalCount`; on records, plain fields read from a column (strings,
numbers, booleans, enums, dates, timestamps, JSON and lists of those), global ids, `__typename`, and the fields that
load one record by a key (`lab`, `model`, `ownerAgency`, ...) or a related list (`coverageDecisions`, `findings`,
...), as they declare where they are declared (schema/relations.py). Anything else (a computed field, a union,
history, a mutation, an argument the resolver would refuse) makes the whole operation fall back to the resolvers,
which answer exactly as before. tests/test_compiler.py holds the two paths to identical `data`.

plan.py reads what the operation asks for, response.py writes the statement that answers it, sql.py holds the
pieces of SQL that print values as the resolvers print them.

Compiled statements are cached per operation text, variables and principal class (an agency's, a lab's, by role):
the principal's own ids are parameters, filled in per request.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import asyncpg
import orjson
from graphql import DocumentNode, OperationDefinitionNode, OperationType

from hub.auth import Principal
from hub.selections import Unreadable
from hub.store.base import Entity
from schema.common import NODE_TYPES
from schema.compiler.plan import Compiled, NotCompilable, principal_class, template_principal
from schema.compiler.response import Build

__all__ = ["Compiled", "Compiler", "NotCompilable"]

log = logging.getLogger(__name__)

CACHE_SIZE = 512


class Compiler:
    """Compiles read operations for one strawberry schema; keeps the statements it made."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.cache: OrderedDict[tuple[Any, ...], Compiled | None] = OrderedDict()
        self.node_types: dict[str, tuple[Entity, Any]] = dict(NODE_TYPES)
        # the column names of each entity's rows, read once (by hub/app.py's columns_of)
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
            build = Build(
                self.schema, self.node_types, document, operation, variables or {}, template_principal(principal)
            )
            compiled: Compiled | None = await build.root(columns_of)
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
