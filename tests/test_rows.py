"""hub/rows.py: the flattening (offline) and the paging helper over real HTTP against a real `hub serve --demo`;
the hub never imports pandas."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub.query import csv_text, table_text
from hub.rows import OperationError, Page, QueryError, columns, fetch_rows, iter_rows, page_of, parse_operation
from tests.conftest import scratch_folder
from tests.live import Served, serve

OPEN_STATES = ["REPORTED", "TRIAGED", "VALIDATED", "COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED"]

# ------------------------------------------------------------------------------------------------ flattening

FLATTEN = """
query F($after: String) {
  findings(first: 2, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...Basics  lab { name } score: cvss { baseScore } measures { title state } } }
  }
}
fragment Basics on Finding { id title sectors ... on Finding { state } }
"""


def test_rows_have_dotted_columns_in_query_order_whatever_the_data() -> None:
    operation = parse_operation(FLATTEN)
    data = {
        "findings": {
            "totalCount": 7,
            "pageInfo": {"hasNextPage": True, "endCursor": "c2"},
            "edges": [
                {
                    "cursor": "c1",
                    "node": {
                        "id": "F1",
                        "title": "One",
                        "sectors": ["ENERGY", "DAMS"],
                        "state": "VALIDATED",
                        "lab": {"name": "Lab A"},
                        "score": {"baseScore": 9.8},
                        "measures": [{"title": "a", "state": "PLANNED"}, {"title": "b", "state": None}],
                    },
                },
                {
                    "cursor": "c2",
                    "node": {
                        "id": "F2",
                        "title": "Two",
                        "sectors": [],
                        "state": "REPORTED",
                        "lab": None,
                        "score": None,
                        "measures": [],
                    },
                },
            ],
        }
    }
    page = page_of(operation, data)
    expected = ["id", "title", "sectors", "state", "lab.name", "score.baseScore", "measures.title", "measures.state"]
    assert page.columns == expected
    assert page.rows == [
        {
            "id": "F1",
            "title": "One",
            "sectors": "ENERGY; DAMS",
            "state": "VALIDATED",
            "lab.name": "Lab A",
            "score.baseScore": 9.8,
            "measures.title": "a; b",
            "measures.state": "PLANNED; ",
        },
        {
            "id": "F2",
            "title": "Two",
            "sectors": "",
            "state": "REPORTED",
            "lab.name": None,
            "score.baseScore": None,
            "measures.title": "",
            "measures.state": "",
        },
    ]
    assert (page.total_count, page.has_next_page, page.end_cursor) == (7, True, "c2")
    # an empty answer still has its columns; a null connection gives no rows
    empty = page_of(operation, {"findings": {"totalCount": 0, "pageInfo": {}, "edges": []}})
    assert empty.rows == [] and empty.columns == expected
    assert page_of(operation, {"findings": None}).rows == []


def test_nodes_json_leaves_and_the_fallbacks_without_a_connection() -> None:
    nodes = parse_operation("{ me { name } labs { nodes { name models { name capabilities } } } }")
    assert nodes.connection_path == ["labs"]
    page = page_of(nodes, {"me": {"name": "x"}, "labs": {"nodes": [{"name": "L", "models": [{"name": "m"}]}]}})
    assert page.rows == [{"name": "L", "models.name": "m", "models.capabilities": ""}]
    events = parse_operation("{ node(id: 1) { ... on FrontierModel { name history { action details } } } }")
    assert events.connection_path is None
    page = page_of(events, {"node": {"name": "M", "history": [{"action": "CREATED", "details": {"a": [1]}}]}})
    assert page.rows == [{"action": "CREATED", "details": '{"a":[1]}'}]  # the first list of objects; JSON as text
    policy = parse_operation("{ policy { orderDate requiredSignoffs } me { name } }")
    page = page_of(policy, {"policy": {"orderDate": "2026-01-01", "requiredSignoffs": ["CISA", "NIST"]}, "me": None})
    assert page.rows == [{"policy.orderDate": "2026-01-01", "policy.requiredSignoffs": "CISA; NIST", "me.name": None}]
    assert columns(policy.shape) == ["policy.orderDate", "policy.requiredSignoffs", "me.name"]


GROUPED = """
query G($after: String) {
  findings(first: 3, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id } }
    aggregate {
      count
      bySector: groups(by: [SECTOR, REPORTED_MONTH]) {
        key { sector reportedMonth lab { name } }
        count
        avg { cvssBaseScore }
      }
      groups(by: [STATE]) { key { state } count }
    }
  }
}
"""


def test_an_aggregates_groups_are_the_rows_with_their_keys_and_figures_as_columns() -> None:
    """The first `aggregate { groups }` wins over the connection's nodes: a row per group, `key.*` then the figures
    as the query orders them; the whole answer is one page (nothing to follow)."""
    operation = parse_operation(GROUPED)
    assert operation.groups_path == ["findings", "aggregate", "bySector"] and operation.paging_problem() is None
    data = {
        "findings": {
            "totalCount": 9,
            "pageInfo": {"hasNextPage": True, "endCursor": "c"},
            "edges": [{"node": {"id": "a"}}],
            "aggregate": {
                "count": 9,
                "bySector": [
                    {
                        "key": {"sector": "ENERGY", "reportedMonth": "2026-10-01", "lab": None},
                        "count": 4,
                        "avg": {"cvssBaseScore": 7.25},
                    },
                    {
                        "key": {"sector": None, "reportedMonth": "2026-11-01", "lab": {"name": "L"}},
                        "count": 5,
                        "avg": {"cvssBaseScore": None},
                    },
                ],
                "groups": [{"key": {"state": "REPORTED"}, "count": 9}],
            },
        }
    }
    page = page_of(operation, data)
    assert page.columns == ["key.sector", "key.reportedMonth", "key.lab.name", "count", "avg.cvssBaseScore"]
    assert page.rows == [
        {
            "key.sector": "ENERGY",
            "key.reportedMonth": "2026-10-01",
            "key.lab.name": None,
            "count": 4,
            "avg.cvssBaseScore": 7.25,
        },
        {
            "key.sector": None,
            "key.reportedMonth": "2026-11-01",
            "key.lab.name": "L",
            "count": 5,
            "avg.cvssBaseScore": None,
        },
    ]
    assert not page.has_next_page
    empty = page_of(operation, {"findings": {"aggregate": {"bySector": []}}})
    assert empty.rows == [] and empty.columns == page.columns
    text = csv_text(page.columns, page.rows)
    assert text.splitlines() == [
        "key.sector,key.reportedMonth,key.lab.name,count,avg.cvssBaseScore",
        "ENERGY,2026-10-01,,4,7.25",
        ",2026-11-01,L,5,",
    ]
    table = table_text(page.columns, page.rows, "2 rows").splitlines()
    assert table[0].split() == page.columns and table[2].split() == ["ENERGY", "2026-10-01", "4", "7.25"]
    # groups under a connection's nodes are no table: the nodes are the rows
    nested = parse_operation(
        "{ labs { edges { node { name findings { aggregate { groups(by: [STATE]) { count } } } } } } }"
    )
    assert nested.groups_path is None and nested.connection_path == ["labs"]


def test_what_cannot_be_paged_says_why() -> None:
    assert "selects no connection" in (parse_operation("{ me { name } }").paging_problem() or "")
    no_after = parse_operation("{ labs(first: 2) { pageInfo { hasNextPage endCursor } nodes { id } } }")
    assert "$after: String" in (no_after.paging_problem() or "")
    no_info = parse_operation("query($after: String) { labs(after: $after) { nodes { id } } }")
    assert "pageInfo { hasNextPage endCursor }" in (no_info.paging_problem() or "")
    with pytest.raises(OperationError, match="does not parse"):
        parse_operation("{ labs {")
    with pytest.raises(OperationError, match="2 operations"):
        parse_operation("query A { me { name } } query B { me { name } }")


# ------------------------------------------------------------------------------------------------ over HTTP


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-rows-") as data_dir:
        yield from serve(data_dir)


def total(served: Served, token: str, query: str, variables: dict[str, Any] | None = None) -> int:
    body = httpx.post(
        served.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ).json()
    return int(next(iter(body["data"].values()))["totalCount"])


def test_iter_rows_follows_the_pages_of_a_vetted_operation_into_flat_rows(served: Served) -> None:
    token = served.tokens()["CISA"]
    seen: list[tuple[int, int, int | None]] = []

    def on_page(page: Page, count: int) -> None:
        seen.append((page.number, count, page.total_count))

    rows = list(
        iter_rows(
            served.url + "/graphql",
            token,
            "high_severity_open_findings_with_measures",
            page_size=100,
            on_page=on_page,
        )
    )
    expected = total(
        served,
        token,
        "query($s: [FindingState!]) { findings(filter: {state: $s, severity: [HIGH, CRITICAL]}) { totalCount } }",
        {"s": OPEN_STATES},
    )
    assert len(rows) == expected and len({r["id"] for r in rows}) == expected
    assert len(seen) == (expected + 99) // 100 > 1
    assert seen[-1] == (len(seen), expected, expected)
    keys = list(rows[0])
    assert {"title", "cvss.baseScore", "lab.name", "measures.title", "measures.state"} <= set(keys)
    for row in rows:
        assert list(row) == keys  # every row has every column, in the same order
        assert all(not isinstance(v, dict | list) for v in row.values())
    assert isinstance(rows[0]["cvss.baseScore"], float)
    assert any(row["measures.title"] for row in rows)


def test_fetch_rows_with_a_document_from_the_environment(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_URL", served.url)  # the bare address: /graphql is added
    monkeypatch.setenv("HUB_TOKEN", served.tokens()["NIST"])
    query = """query Labs($first: Int, $after: String, $filter: LabFilter) {
      labs(first: $first, after: $after, filter: $filter) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id name participation models { name } }
      }
    }"""
    rows = fetch_rows(None, None, query, page_size=7)
    assert len(rows) == 30 and len({r["id"] for r in rows}) == 30
    assert set(rows[0]) == {"id", "name", "participation", "models.name"}
    participating = fetch_rows(None, None, query, {"filter": {"participation": ["PARTICIPATING"]}}, page_size=3)
    assert participating and {r["participation"] for r in participating} == {"PARTICIPATING"}
    one_page = fetch_rows(None, None, query, {"first": 4}, all_pages=False)
    assert len(one_page) == 4


def test_errors_raise_with_the_hubs_codes(served: Served) -> None:
    url = served.url + "/graphql"
    with pytest.raises(QueryError) as bad_token:
        fetch_rows(url, "fh_not-a-token", "agencies")
    assert bad_token.value.status == 401 and bad_token.value.codes == ["UNAUTHENTICATED"]
    token = served.tokens()["CISA"]
    with pytest.raises(QueryError) as bad_page:
        fetch_rows(url, token, "agencies", page_size=100000)
    assert bad_page.value.codes == ["BAD_USER_INPUT"] and bad_page.value.request_id
    with pytest.raises(OperationError, match="cannot follow the pages"):
        fetch_rows(url, token, "{ agencies { nodes { code } } }")
    assert len(fetch_rows(url, token, "{ agencies { nodes { code } } }", all_pages=False)) == 9


def test_the_hub_never_imports_pandas() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, hub.rows, hub.query, hub.cli; hub.cli.build_parser(); "
            "assert 'pandas' not in sys.modules, 'pandas was imported'",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_rows_make_a_dataframe(served: Served) -> None:
    import pandas

    rows = fetch_rows(served.url + "/graphql", served.tokens()["CISA"], "labs_by_participation")
    frame = pandas.DataFrame(rows)
    assert len(frame) == 30 and "models.name" in frame.columns
