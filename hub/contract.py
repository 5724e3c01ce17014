"""The schema contract: what a change to the SDL breaks for the frontends that rely on it."""

from __future__ import annotations

from dataclasses import dataclass

from graphql import build_schema, find_breaking_changes, find_dangerous_changes


@dataclass(frozen=True)
class ContractReport:
    breaking: list[str]
    dangerous: list[str]


def compare(old_sdl: str, new_sdl: str) -> ContractReport:
    """Breaking and dangerous changes from `old_sdl` to `new_sdl` (graphql-core's change finder)."""
    old, new = build_schema(old_sdl), build_schema(new_sdl)
    return ContractReport(
        breaking=[f"{c.type.name}: {c.description}" for c in find_breaking_changes(old, new)],
        dangerous=[f"{c.type.name}: {c.description}" for c in find_dangerous_changes(old, new)],
    )


MARKER = "schema-break:"


@dataclass(frozen=True)
class CommitVerdict:
    commit: str
    subject: str
    breaking: list[str]
    allowed: bool


def _git(repo: str, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout


def check_history(repo: str, path: str = "schema/schema.graphql", since: str | None = None) -> list[CommitVerdict]:
    """Every commit (after `since`, oldest first) that changed the SDL at `path`, judged against its parent: a
    breaking change is allowed only when the commit message says `schema-break: <reason>`."""
    revisions = f"{since}..HEAD" if since else "HEAD"
    commits = _git(repo, "log", "--reverse", "--format=%H", revisions, "--", path).split()
    verdicts = []
    for commit in commits:
        parents = _git(repo, "log", "-1", "--format=%P", commit).split()
        if not parents:
            continue
        try:
            old = _git(repo, "show", f"{parents[0]}:{path}")
        except Exception:  # noqa: BLE001 - the file is new in this commit: nothing to break
            continue
        new = _git(repo, "show", f"{commit}:{path}")
        message = _git(repo, "log", "-1", "--format=%B", commit)
        report = compare(old, new)
        verdicts.append(
            CommitVerdict(
                commit=commit,
                subject=message.splitlines()[0] if message else "",
                breaking=report.breaking,
                allowed=not report.breaking or MARKER in message,
            )
        )
    return verdicts


def main(argv: list[str] | None = None) -> int:
    """`python -m hub.contract [--repo DIR] [--since REV]`: exit 1 when a commit breaks the schema without saying
    `schema-break: <reason>` in its message (CI runs this)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hub.contract", description=main.__doc__)
    parser.add_argument("--repo", default=".")
    parser.add_argument("--since", help="judge only the commits after this revision")
    args = parser.parse_args(argv)
    failed = False
    for verdict in check_history(args.repo, since=args.since):
        if not verdict.breaking:
            continue
        status = "allowed (schema-break)" if verdict.allowed else "REFUSED: say `schema-break: <reason>` to allow"
        print(f"{verdict.commit[:12]} {verdict.subject}: {len(verdict.breaking)} breaking change(s), {status}")
        for change in verdict.breaking:
            print(f"    {change}")
        failed = failed or not verdict.allowed
    print(
        "schema contract: " + ("a breaking change without schema-break" if failed else "no unannounced breaking change")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
