"""The schema contract: breaking changes are found, and CI refuses one that a commit does not announce."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hub.contract import check_history, compare

V1 = "type Query {\n  models: [String!]!\n  labs: [String!]!\n}\n"
V2_REMOVES_A_FIELD = "type Query {\n  models: [String!]!\n}\n"
V2_ADDS_A_FIELD = "type Query {\n  models: [String!]!\n  labs: [String!]!\n  policy: String\n}\n"


def test_compare_finds_a_removed_field_and_accepts_an_added_one() -> None:
    assert compare(V1, V2_REMOVES_A_FIELD).breaking == ["FIELD_REMOVED: Field Query.labs was removed."]
    assert compare(V1, V2_ADDS_A_FIELD).breaking == []


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
    )


def commit_schema(repo: Path, sdl: str, message: str) -> None:
    (repo / "schema").mkdir(exist_ok=True)
    (repo / "schema" / "schema.graphql").write_text(sdl)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def contract_exit_code(repo: Path) -> int:
    return subprocess.run([sys.executable, "-m", "hub.contract", "--repo", str(repo)], capture_output=True).returncode


def test_a_commit_that_removes_a_field_fails_unless_it_says_schema_break(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    commit_schema(tmp_path, V1, "first schema")
    commit_schema(tmp_path, V2_ADDS_A_FIELD, "add a field")
    assert contract_exit_code(tmp_path) == 0
    commit_schema(tmp_path, V1, "remove the field again")
    verdicts = check_history(str(tmp_path))
    assert [v.allowed for v in verdicts] == [True, False]
    assert contract_exit_code(tmp_path) == 1
    git(tmp_path, "commit", "-q", "--amend", "-m", "remove policy\n\nschema-break: nobody used it yet")
    assert contract_exit_code(tmp_path) == 0


def test_this_repository_has_no_unannounced_breaking_change() -> None:
    repo = Path(__file__).resolve().parent.parent
    assert all(v.allowed for v in check_history(str(repo)))
