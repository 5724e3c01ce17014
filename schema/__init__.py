"""The GraphQL API: one strawberry schema merged from one module per domain."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types

from schema.agencies import AgencyQuery
from schema.agreements import EarlyAccessAgreementQuery
from schema.coverage import CoverageQuery
from schema.engagements import InfrastructureEngagementQuery
from schema.events import EventQuery
from schema.findings import FindingQuery
from schema.labs import LabQuery
from schema.measures import CyberMeasureQuery
from schema.models import FrontierModelQuery
from schema.program import ProgramQuery

Query = merge_types(
    "Query",
    (
        ProgramQuery,
        AgencyQuery,
        LabQuery,
        FrontierModelQuery,
        EarlyAccessAgreementQuery,
        CoverageQuery,
        FindingQuery,
        CyberMeasureQuery,
        InfrastructureEngagementQuery,
        EventQuery,
    ),
)


class HubSchema(strawberry.Schema):
    """The schema; errors are logged once, by the HTTP layer, which masks the unexpected ones."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        return None


schema = HubSchema(query=Query)


def print_schema() -> str:
    """The SDL, as committed in schema/schema.graphql."""
    return schema.as_str() + "\n"
