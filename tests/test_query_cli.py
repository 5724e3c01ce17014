"""`hub query` as an analyst runs it: a real `hub serve --demo` over real HTTP, the command as a subprocess; and
every vetted operation in schema/operations/ validates against the schema."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, parse, validate

from hub.rows import parse_operation
from schema import schema
from tests.conftest import scratch_folder
from tests.live import HUB, Served, create_token, free_port, serve

OPERATIONS = Path(__file__).resolve().parent.parent / "schema" / "operations"
OPEN_STATES = ["REPORTED", "TRIAGED", "VALIDATED", "COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED"]
EXPORT = ["high_severity_open_findings_with_measures", "--all-pages", "--format", "csv", "--output", "findings.csv"]


@dataclass
class Hub:
    served: Served
    token: str

    @property
    def url(self) -> str:
        return self.served.url + "/graphql"

    def query(
        self, *args: str, token: str | None = "", cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`hub query ARGS` with HUB_URL and HUB_TOKEN (this hub's analyst token unless `token` says otherwise;
        None leaves HUB_TOKEN unset). Whatever it prints never holds the token."""
        environment = {**os.environ, "HUB_URL": self.url, **(env or {})}
        environment.pop("HUB_TOKEN", None)
        used = self.token if token == "" else token
        if used is not None:
            environment["HUB_TOKEN"] = used
        done = subprocess.run(
            [*HUB, "query", *args], env=environment, cwd=cwd, capture_output=True, text=True, timeout=120
        )
        for secret in {self.token, used or ""} - {""}:
            if len(secret.strip()) < 8:
                continue
            assert secret not in done.stdout and secret not in done.stderr
            assert secret[3:] not in done.stdout and secret[3:] not in done.stderr
        return done

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        return dict(body["data"])


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    with scratch_folder("hub-test-query-") as data_dir:
        for served in serve(data_dir):
            token = create_token(data_dir, "--agency", "CISA", "--role", "ANALYST", "--name", "Query analyst")
            yield Hub(served, token)


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    return done


def csv_rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


# ------------------------------------------------------------------------------------------------ the operations


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_vetted_operation_validates_and_is_one_uniquely_named_operation() -> None:
    files = sorted(OPERATIONS.glob("*.graphql"))
    assert len(files) >= 12
    names: dict[str, str] = {}
    for path in files:
        document = parse(path.read_text())
        errors = validate(schema._schema, document)
        assert errors == [], f"{path.name}: {[e.message for e in errors]}"
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        assert len(operations) == 1, f"{path.name} holds {len(operations)} operations"
        assert operations[0].name is not None, f"{path.name}: the operation has no name"
        name = operations[0].name.value
        assert name not in names, f"{name} is in {names.get(name)} and {path.name}"
        names[name] = path.name
        assert path.stem.replace("-", "_") == snake(name), f"{path.name} should be named {snake(name)}.graphql"
        assert path.read_text().startswith("# "), f"{path.name} starts with a comment saying what it is for"


def test_every_paged_operation_takes_first_and_after_and_selects_total_count_and_page_info() -> None:
    paged = 0
    for path in sorted(OPERATIONS.glob("*.graphql")):
        operation = parse_operation(path.read_text(), path.name)
        connection = operation.connection_field()
        if connection is None:
            continue
        paged += 1
        assert operation.paging_problem() is None, path.name
        assert operation.after_variable() == "after" and operation.first_variable() == "first", path.name
        assert connection.children is not None and "totalCount" in connection.children, path.name
    assert paged >= 12


# ------------------------------------------------------------------------------------------------ running them


def test_a_named_operation_by_file_stem_by_operation_name_and_by_path(hub: Hub, tmp_path: Path) -> None:
    by_stem = json.loads(ok(hub.query("labs_by_participation", "--var", "first=5")).stdout)
    by_kebab = json.loads(ok(hub.query("labs-by-participation", "--var", "first=5")).stdout)
    by_name = json.loads(ok(hub.query("LabsByParticipation", "--var", "first=5")).stdout)
    by_path = json.loads(
        ok(hub.query(str(OPERATIONS / "labs_by_participation.graphql"), "--var", "first=5", cwd=tmp_path)).stdout
    )
    assert by_stem == by_kebab == by_name == by_path
    labs = by_stem["labs"]
    assert len(labs["edges"]) == 5 and labs["totalCount"] == 30 and labs["pageInfo"]["hasNextPage"] is True
    # a file of one's own, by a relative path
    (tmp_path / "mine.graphql").write_text("query Mine { me { name role agency { code } } }\n")
    assert json.loads(ok(hub.query("mine.graphql", cwd=tmp_path)).stdout) == {
        "me": {"name": "Query analyst", "role": "ANALYST", "agency": {"code": "CISA"}}
    }


def test_variables_are_typed_int_enum_list_and_json_input_object(hub: Hub, tmp_path: Path) -> None:
    models = json.loads(
        ok(hub.query("models_by_coverage_outcome", "--var", "outcome=COVERED,not_covered", "--var", "first=4")).stdout
    )["models"]
    assert len(models["edges"]) == 4
    assert {e["node"]["coverageOutcome"] for e in models["edges"]} <= {"COVERED", "NOT_COVERED"}
    covered = hub.data("{ models(filter: {coverageOutcome: [COVERED, NOT_COVERED]}) { totalCount } }")
    assert models["totalCount"] == covered["models"]["totalCount"]
    # a JSON list works as well as A,B
    as_json = json.loads(
        ok(hub.query("models_by_coverage_outcome", "--var", 'outcome=["COVERED", "NOT_COVERED"]')).stdout
    )
    assert as_json["models"]["totalCount"] == models["totalCount"]

    (tmp_path / "filtered.graphql").write_text(
        "query Filtered($filter: FindingFilter, $first: Int) {\n"
        "  findings(filter: $filter, first: $first) { totalCount nodes { id sectors cvss { baseScore } } }\n"
        "}\n"
    )
    done = ok(
        hub.query(
            "filtered.graphql",
            "--var",
            'filter={"minBaseScore": 9.0, "sectors": ["ENERGY"], "state": ["VALIDATED", "COORDINATING"]}',
            "--var",
            "first=500",
            cwd=tmp_path,
        )
    )
    findings = json.loads(done.stdout)["findings"]
    assert findings["totalCount"] > 0 and len(findings["nodes"]) == findings["totalCount"]
    assert all(n["cvss"]["baseScore"] >= 9.0 and "ENERGY" in n["sectors"] for n in findings["nodes"])
    # an input object with a default in a vetted operation, replaced from the command line
    by_title = json.loads(
        ok(
            hub.query(
                "open_findings_by_sector_and_severity",
                "--var",
                "sectors=ENERGY",
                "--var",
                'orderBy={"field": "NAME", "direction": "ASC"}',
                "--var",
                "first=20",
            )
        ).stdout
    )
    by_name = hub.data(
        "query($s: [FindingState!]) { findings(first: 20, orderBy: {field: NAME}, filter: {state: $s,"
        " severity: [HIGH, CRITICAL], sectors: [ENERGY]}) { nodes { id } } }",
        {"s": OPEN_STATES},
    )
    assert [e["node"]["id"] for e in by_title["findings"]["edges"]] == [n["id"] for n in by_name["findings"]["nodes"]]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["models_by_coverage_outcome", "--var", "first=many"], "--var first: 'many' is not an Int"),
        (["models_by_coverage_outcome", "--var", "outcome=COVERED,MAYBE"], "--var outcome: 'MAYBE'"),
        (["open_findings_by_sector_and_severity", "--var", "orderBy={field"], "--var orderBy: not a JSON object"),
        (["open_findings_by_sector_and_severity", "--var", 'orderBy={"field": "NOPE"}'], "--var orderBy.field"),
        (["open_findings_by_sector_and_severity", "--var", "orderBy=[1]"], "--var orderBy: expected a JSON object"),
        (["models_by_coverage_outcome", "--var", "colour=blue"], "has no variable $colour"),
        (["models_by_coverage_outcome", "--var", "first"], "write NAME=VALUE"),
        (["model_history"], "missing --var id"),
        (["agreements_closing_within", "--var", "before=next week"], "--var before: 'next week' is not a DateTime"),
        (["dashboard", "--all-pages"], "--all-pages cannot follow the pages of Dashboard"),
        (["no_such_operation"], "no operation named 'no_such_operation'"),
        (["missing.graphql"], "no such file: missing.graphql"),
        ([], "name an operation"),
    ],
)
def test_bad_usage_exits_2_naming_what_is_wrong(hub: Hub, args: list[str], said: str) -> None:
    done = hub.query(*args)
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and done.stdout == ""


def test_csv_has_dotted_columns_and_one_row_per_node(hub: Hub) -> None:
    done = ok(hub.query("engagements_by_sector", "--var", "sectors=ENERGY", "--all-pages", "--format", "csv"))
    header, rows = csv_rows(done.stdout)
    assert header[:3] == ["id", "sector", "title"]
    assert {"lab.name", "ownerAgency.code", "findings.title", "findings.cveId", "milestones.dueOn"} <= set(header)
    total = hub.data("{ engagements(filter: {sectors: [ENERGY]}) { totalCount } }")["engagements"]["totalCount"]
    assert len(rows) == total > 0
    assert {row["sector"] for row in rows} == {"ENERGY"}
    assert all(row["lab.name"] for row in rows)
    # lists of objects are joined leaf by leaf, in the same order
    one = next(row for row in rows if row["milestones.title"])
    titles = one["milestones.title"].split("; ")
    assert len(titles) == len(one["milestones.dueOn"].split("; "))
    engagement = hub.data(
        "query($id: ID!) { node(id: $id) { ... on InfrastructureEngagement { milestones { title } } } }",
        {"id": one["id"]},
    )
    assert titles == [m["title"] for m in engagement["node"]["milestones"]]


def test_table_is_fixed_width_and_cuts_long_cells(hub: Hub) -> None:
    done = ok(hub.query("coverage_standards_with_signoffs", "--format", "table"))
    lines = done.stdout.splitlines()
    header, rule, *body, footer = lines
    assert header.split()[:4] == ["id", "standardVersion", "title", "state"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert footer == "(6 rows)" and len(body) == 6  # the demo's six coverage standards
    starts = [m.start() for m in re.finditer(r"-+", rule)]
    for line in body:  # every cell starts at its column
        assert all(i == 0 or line[i - 2 : i] == "  " for i in starts if i < len(line))
    assert any("…" in line for line in body)  # the long titles are cut
    assert max(len(w) for w in rule.split()) <= 40
    partial = ok(hub.query("labs_by_participation", "--var", "first=3", "--format", "table")).stdout
    assert partial.splitlines()[-1] == "(3 of 30 rows; add --all-pages for all of them)"


def test_all_pages_follows_the_cursors_to_the_end(hub: Hub) -> None:
    done = ok(hub.query("open_findings_by_sector_and_severity", "--var", "first=40", "--all-pages", "--format", "csv"))
    _, rows = csv_rows(done.stdout)
    total = hub.data(
        "query($s: [FindingState!]) { findings(filter: {state: $s, severity: [HIGH, CRITICAL]}) { totalCount } }",
        {"s": OPEN_STATES},
    )["findings"]["totalCount"]
    assert total > 80  # several pages of 40
    ids = [row["id"] for row in rows]
    assert len(ids) == total and len(set(ids)) == total
    pages = (total + 39) // 40
    assert f"page 2: 80 of {total:,} rows" in done.stderr
    assert f"page {pages}: {total:,} of {total:,} rows" in done.stderr
    scores = [float(row["cvss.baseScore"]) for row in rows]
    assert scores == sorted(scores, reverse=True)  # the order holds across pages
    # as JSON, the pages' edges are folded into one connection
    data = json.loads(ok(hub.query("labs_by_participation", "--var", "first=7", "--all-pages")).stdout)
    assert len(data["labs"]["edges"]) == data["labs"]["totalCount"] == 30
    assert data["labs"]["pageInfo"]["hasNextPage"] is False


def test_the_analysts_one_command_export_of_open_high_severity_findings_with_measures(hub: Hub, tmp_path: Path) -> None:
    done = ok(hub.query(*EXPORT, cwd=tmp_path))
    assert done.stdout == ""
    header, rows = csv_rows((tmp_path / "findings.csv").read_text())
    expected = hub.data(
        "query($s: [FindingState!]) { findings(filter: {state: $s, severity: [HIGH, CRITICAL]}) { totalCount } }",
        {"s": OPEN_STATES},
    )["findings"]["totalCount"]
    assert len(rows) == expected and len({row["id"] for row in rows}) == expected
    assert f"wrote {expected:,} rows to findings.csv" in done.stderr
    assert {"title", "cvss.baseScore", "cvss.severity", "lab.name", "measures.title", "measures.state"} <= set(header)
    assert {row["cvss.severity"] for row in rows} <= {"HIGH", "CRITICAL"}
    assert {row["state"] for row in rows} <= set(OPEN_STATES)
    with_measures = [row for row in rows if row["measures.title"]]
    assert with_measures
    row = with_measures[0]
    finding = hub.data(
        "query($id: ID!) { node(id: $id) { ... on Finding { measures { title state } } } }", {"id": row["id"]}
    )["node"]
    assert row["measures.title"] == "; ".join(m["title"] for m in finding["measures"])
    assert row["measures.state"] == "; ".join(m["state"] for m in finding["measures"])


def test_the_hubs_errors_exit_1_on_stderr_with_nothing_on_stdout(hub: Hub, tmp_path: Path) -> None:
    (tmp_path / "wrong.graphql").write_text("query Wrong { findings(first: 2) { totalCount nope } }\n")
    done = hub.query("wrong.graphql", cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert "GRAPHQL_VALIDATION_FAILED" in done.stderr and "nope" in done.stderr
    too_many = hub.query("labs_by_participation", "--var", "first=100000")
    assert too_many.returncode == 1 and too_many.stdout == ""
    assert "BAD_USER_INPUT" in too_many.stderr and "first" in too_many.stderr
    assert re.search(r"request id [0-9a-f]{32}", too_many.stderr)


def test_a_bad_token_exits_1_with_unauthenticated_and_is_never_printed(hub: Hub) -> None:
    bogus = "fh_" + "x" * 43
    done = hub.query("agencies", "--format", "table", token=bogus)
    assert done.returncode == 1 and done.stdout == ""
    assert "HTTP 401" in done.stderr and "UNAUTHENTICATED" in done.stderr
    assert bogus not in done.stderr and bogus[3:] not in done.stderr
    # the good token shows nowhere either, in any format or failure
    for args in (["agencies"], ["agencies", "--format", "csv"], ["agencies", "--all-pages", "--format", "table"]):
        ok(hub.query(*args))
    stuck = hub.query("labs_by_participation", "--var", "first=0", "--all-pages")
    assert stuck.returncode == 1 and "no new endCursor" in stuck.stderr


def test_a_missing_token_exits_2_and_an_unreachable_hub_exits_1(hub: Hub) -> None:
    done = hub.query("agencies", token=None)
    assert done.returncode == 2 and "HUB_TOKEN is not set" in done.stderr and done.stdout == ""
    blank = hub.query("agencies", token="  ")
    assert blank.returncode == 2 and "HUB_TOKEN is not set" in blank.stderr
    away = hub.query("agencies", env={"HUB_URL": f"http://127.0.0.1:{free_port()}/graphql"})
    assert away.returncode == 1 and "cannot reach the hub" in away.stderr and away.stdout == ""


def test_list_shows_every_operation_with_its_variables(hub: Hub) -> None:
    done = ok(hub.query("--list", token=None))
    for path in OPERATIONS.glob("*.graphql"):
        assert path.stem in done.stdout
    assert "$outcome: [CoverageOutcome!] = [COVERED]" in done.stdout


def test_relative_dates_and_output_of_non_connection_operations(hub: Hub) -> None:
    closing = json.loads(ok(hub.query("agreements_closing_within", "--var", "before=+30d", "--var", "from=now")).stdout)
    edges = closing["agreements"]["edges"]
    assert edges and all(e["node"]["state"] in ("PROPOSED", "ACTIVE") for e in edges)
    ends = [e["node"]["accessEnd"] for e in edges]
    assert ends == sorted(ends)
    # no connection: the first list of objects gives the rows (here the dashboard's counts)
    _, counts = csv_rows(ok(hub.query("dashboard", "--format", "csv")).stdout)
    assert counts and set(counts[0]) == {"kind", "state", "count"}
    model = hub.data('{ models(first: 1, filter: {search: "mythos"}) { nodes { id } } }')["models"]["nodes"][0]
    history = ok(hub.query("model_history", "--var", f"id={model['id']}", "--format", "csv")).stdout
    header, events = csv_rows(history)
    assert header[:3] == ["at", "action", "fromState"] and events[0]["action"] == "CREATED"
