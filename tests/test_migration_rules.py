"""Expand, then contract (docs/operators.md, "Rolling upgrades"): the migrations added since the previous release
(releases.toml) leave the schema the previous release's code reads in place, so that its nodes keep serving while
this release's start. The statements are read by PostgreSQL's own parser (tests/migration_rules.py)."""

from __future__ import annotations

from pathlib import Path

import hub
from hub.db import load_migrations
from tests.migration_rules import contract_steps, problems
from tests.releases import ROOT, previous_release, release_migrations, releases, version_being_made, version_key


def test_the_version_being_made_follows_every_release() -> None:
    listed = [release.version for release in releases()]
    assert listed, "releases.toml lists no release"
    assert [version_key(v) for v in listed] == sorted({version_key(v) for v in listed}), listed
    made = version_being_made()
    assert hub.__version__ == made, "pyproject.toml and hub/__init__.py name different versions"
    assert version_key(made) > version_key(listed[-1]), (
        f"pyproject.toml's version {made} is not after the last release {listed[-1]}: set the next version"
    )


def test_the_previous_release_s_migrations_are_all_here_unchanged() -> None:
    here = {path.name: path.read_text() for path in (ROOT / "sql").glob("*.sql")}
    for name, text in release_migrations(previous_release()).items():
        assert name in here, f"migration {name} of release {previous_release().version} is gone"
        assert here[name] == text, f"migration {name} was edited after release {previous_release().version}"


def test_migrations_since_the_previous_release_only_expand() -> None:
    released = set(release_migrations(previous_release()))
    added = [path for path in sorted((ROOT / "sql").glob("*.sql")) if path.name not in released]
    # every migration this release knows is either released or added since, and the added ones come after
    assert {f"{m.version}_{m.name}.sql" for m in load_migrations()} == {p.name for p in (ROOT / "sql").glob("*.sql")}
    if added and released:
        assert added[0].name > max(released), f"{added[0].name} is numbered before a released migration"
    versions = [release.version for release in releases()]
    found = [problem for path in added for problem in problems(path.name, path.read_text(), versions)]
    assert not found, "\n".join(found)


# the rules themselves, on statements of each kind


def _whats(sql: str) -> list[str]:
    return [step.what for step in contract_steps(sql)]


def test_each_kind_of_contract_step_is_seen() -> None:
    sql = """
        alter table findings drop column old_score, alter column title type varchar(80);
        alter table findings alter column cve_id set not null;
        alter table findings add column weight int not null;
        alter table findings rename column title to headline;
        alter table findings rename to reports;
        drop table measures;
        drop view if exists open_findings;
        drop function hub_visible(text, bigint);
        drop type tlp_level;
        alter type tlp_level rename value 'AMBER' to 'AMBER_PLUS';
    """
    assert _whats(sql) == [
        "drops column findings.old_score",
        "changes the type of column findings.title",
        "makes column findings.cve_id NOT NULL",
        "adds column findings.weight NOT NULL without a default",
        "renames column findings.title to headline",
        "renames table findings to reports",
        "drops table measures",
        "drops view open_findings",
        "drops function hub_visible",
        "drops type tlp_level",
        "renames value 'AMBER' of type tlp_level",
    ]


def test_expanding_statements_pass() -> None:
    sql = """
        create table notes (id bigint primary key, body text);
        alter table notes add column author text not null;  -- created here: no release knows it
        alter table notes alter column body set not null;
        alter table findings add column weight int not null default 1;
        alter table findings add column note text;
        alter table findings add column n bigint generated always as identity;
        create index on findings (weight);
        drop index if exists findings_weight_idx;
        drop policy if exists findings_read on findings;
        create view open_findings as select 1;
        drop view open_findings;
        create or replace function hub_visible(a text) returns boolean language sql as 'select true';
        alter table findings drop constraint findings_title_check;
        alter table findings alter column cve_id drop not null;
    """
    assert _whats(sql) == []


def test_a_contract_step_passes_when_its_marker_names_a_release_that_is_out() -> None:
    sql = """
        -- contract: findings.old_score is unread since release 0.1.0
        alter table findings drop column old_score;
        alter table findings drop column other_score;
    """
    found = problems("027_x.sql", sql, ["0.1.0"])
    assert len(found) == 1 and "drops column findings.other_score" in found[0], found
    assert "mark it `-- contract: ... unread since release X.Y.Z`" in found[0]
    # the release named must be out: a release still being made may have nodes of the one before it running
    early = problems("027_x.sql", sql.replace("0.1.0", "0.2.0"), ["0.1.0"])
    assert any("unread since release 0.2.0, which is not out" in problem for problem in early), early


def test_the_rules_would_have_caught_the_contract_steps_in_the_history() -> None:
    """Before rolling upgrades, migrations contracted in the same release: the rules see those real statements."""
    sql = Path(ROOT / "sql" / "015_engagement_counterparts.sql").read_text()
    assert "drops column infrastructure_engagements.counterparty" in _whats(sql)
    sql = Path(ROOT / "sql" / "005_token_hashes.sql").read_text()
    assert "drops column api_tokens.token_hash" in _whats(sql)
