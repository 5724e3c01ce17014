"""The resolver path's look-ahead: a connection loads every relation its selection asks for, for the whole page at
once, so nested fields answer synchronously and the asyncio tasks of a request depend on its depth, not its rows.

These run with the SQL compiler off (the operations below would mostly compile), over the in-process ASGI app, and
count the tasks created on the event loop while one request runs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import Api

WIDE = """query($first: Int!) {
  models(first: $first) {
    totalCount
    edges { cursor node {
      id name releaseStatus
      lab { name participation }
      coverageOutcome
      coverageDecisions(first: 5) { state outcome decidedBy { code } }
    } }
  }
}"""

# four levels under the page, lists at each, fragments and an alias on the way
DEEP = """query($first: Int!, $withHistory: Boolean!) {
  models(first: $first) {
    nodes {
      ...M
      lab { name models(first: 3) { name lab { name } } }
      agreements(first: 5) { state parties { agency { code } } model { name } }
      findings(first: 10) {
        title cvss { severity }
        measures(first: 3) { title ownerAgency { code } models(first: 2) { name } }
        engagements(first: 2) { title lab { name } milestones { title } }
      }
      recent: history(first: 10) @include(if: $withHistory) { action actorAgency { code } }
    }
  }
}
fragment M on FrontierModel { name coverageDecisions(first: 5) { standard { standardVersion } } }"""


@contextmanager
def counting_tasks() -> Iterator[list[int]]:
    """Counts the tasks created on the running loop while the block runs."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    count = [0]

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        count[0] += 1
        if previous is not None:
            return previous(loop, coro, **kwargs)  # type: ignore[no-any-return]
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        yield count
    finally:
        loop.set_task_factory(previous)


@pytest.fixture(scope="module")
async def resolver_api(demo_url: str) -> AsyncIterator[Api]:
    settings = dataclasses.replace(
        Settings.from_env().with_(database_url=demo_url), scheduler_enabled=False, sql_compiler=False
    )
    app = create_app(settings, database_url=demo_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            yield Api(client, demo_url)


async def tasks_of(api: Api, query: str, variables: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
    with counting_tasks() as count:
        body = await api.query(query, variables, token=token)
    assert "errors" not in body, body["errors"]
    assert body["extensions"].get("compiled") is not True
    return count[0], body


# nodes(ids:) of several types at once, each with its own nested fields
NODES = """query($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    ... on FrontierModel { name lab { name } findings(first: 5) { title measures(first: 2) { title } } }
    ... on Finding { title model { name lab { name } } ownerAgency { code } shareWith { __typename } }
  }
}"""


@pytest.mark.parametrize(("query", "most"), [(WIDE, 12), (DEEP, 40)], ids=["wide", "deep"])
async def test_tasks_depend_on_depth_not_rows(resolver_api: Api, query: str, most: int) -> None:
    token = await resolver_api.token(agency="CISA", role="ANALYST")
    variables = {"withHistory": True}
    small, small_body = await tasks_of(resolver_api, query, {**variables, "first": 10}, token)
    large, large_body = await tasks_of(resolver_api, query, {**variables, "first": 200}, token)
    rows = large_body["data"]["models"]
    assert len(rows.get("edges") or rows.get("nodes")) == 200
    print(f"tasks per request: {small} at 10 models, {large} at 200")
    assert large == small
    # and few: one per loader batch and a handful for the request, not one per nested field of each row
    assert large <= most
    assert small_body["extensions"]["sqlStatements"] == large_body["extensions"]["sqlStatements"]


async def test_nodes_look_ahead_by_type(resolver_api: Api) -> None:
    token = await resolver_api.token(agency="CISA", role="ANALYST")
    ids = await resolver_api.data(
        "{ models(first: 100) { nodes { id } } findings(first: 100) { nodes { id } } }", token=token
    )
    model_ids = [n["id"] for n in ids["models"]["nodes"]]
    finding_ids = [n["id"] for n in ids["findings"]["nodes"]]
    small, _ = await tasks_of(resolver_api, NODES, {"ids": model_ids[:5] + finding_ids[:5]}, token)
    large, body = await tasks_of(resolver_api, NODES, {"ids": model_ids + finding_ids}, token)
    print(f"tasks per request: {small} at 10 nodes, {large} at 200")
    assert len(body["data"]["nodes"]) == 200
    assert large == small


async def test_a_nested_error_stays_on_its_field(resolver_api: Api) -> None:
    """The look-ahead skips a field whose arguments its resolver refuses: the field reports it when it runs, at its
    own path (not the connection's), as it would without the look-ahead."""
    token = await resolver_api.token(agency="CISA", role="ANALYST")
    query = """{ models(first: 3) { edges { node { name lab { name } agreements(first: 100000) { state } } } } }"""
    body = await resolver_api.query(query, token=token)
    (error,) = body["errors"]  # a non-null list: the first error nulls the page, graphql-core reports that one
    assert error["path"] == ["models", "edges", 0, "node", "agreements"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "first"
