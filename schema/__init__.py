"""The GraphQL API: one strawberry schema merged from one module per domain.

Each domain module defines its root fields in a `<Domain>Query` class and, where it has writes, a
`<Domain>Mutation` class; both are merged here.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from hub.cost import ROWS_ESTIMATOR
from hub.errors import ErrorPolicy
from hub.pipeline import OperationCache, WebSocketAdmission
from hub.tracing import tracing_extensions
from schema import (
    agencies,
    agreements,
    coverage,
    engagements,
    events,
    evidence,
    findings,
    labs,
    lead_times,
    measures,
    models,
    program,
    requests,
    webhooks,
)
from schema.common import DECIMAL_SCALAR, Decimal
from schema.events import SharedExecutor
from schema.mutations import in_payload
from schema.relations import publish_sizes
from schema.scans import RowEstimator, publish_group_sizes

DOMAINS: tuple[ModuleType, ...] = (
    program,
    agencies,
    labs,
    models,
    agreements,
    lead_times,
    requests,
    coverage,
    evidence,
    findings,
    measures,
    engagements,
    events,
    webhooks,
)


def _root_types(suffix: str) -> tuple[type, ...]:
    """The `<Domain><suffix>` classes the domain modules define, in domain order."""
    found = []
    for module in DOMAINS:
        for name, value in vars(module).items():
            if (
                name.endswith(suffix)
                and isinstance(value, type)
                and value.__module__ == module.__name__
                and hasattr(value, "__strawberry_definition__")
            ):
                found.append(value)
    return tuple(found)


Query = merge_types("Query", _root_types("Query"))
# a mutation reports what is wrong with its input in its payload (schema/mutations.py, InputErrorsInPayload)
Mutation = in_payload(merge_types("Mutation", _root_types("Mutation")))
Subscription = merge_types("Subscription", _root_types("Subscription"))


class HubSchema(strawberry.Schema):
    """The schema; errors are logged once, by the HTTP layer, which masks the unexpected ones."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        return None


# ErrorPolicy: errors masked and coded alike over HTTP and WebSocket (hub/errors.py).
# WebSocketAdmission: the admission pipeline (hub/pipeline.py) for operations over WebSocket (HTTP: hub/app.py).
# OperationCache: an operation's text is parsed and validated once per worker, through the pipeline's caches.
schema = HubSchema(
    config=StrawberryConfig(scalar_map={Decimal: DECIMAL_SCALAR}),
    # a live event is executed once per sight and handed to each subscriber as it is (schema/events.py)
    execution_context_class=SharedExecutor,
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        # first, so that it sees every result last: the one error policy of HTTP and WebSocket
        ErrorPolicy,
        WebSocketAdmission,
        OperationCache,
        *tracing_extensions(),
    ],
)


# the relations' declared sizes, where the cost model reads them
publish_sizes(schema._schema)
# the planner's estimate of the rows an operation counts or groups, where the admission pipeline reads it (hub/cost.py)
schema._schema.extensions[ROWS_ESTIMATOR] = RowEstimator(schema)
publish_group_sizes(schema._schema)


def print_schema() -> str:
    """The SDL, as committed in schema/schema.graphql."""
    return schema.as_str() + "\n"
