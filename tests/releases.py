"""The releases of releases.toml and the previous release's files from git history, for the tests of rolling
upgrades (docs/operators.md, "Rolling upgrades")."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Release:
    version: str
    commit: str


def version_key(version: str) -> tuple[int, ...]:
    """ "0.10.1" -> (0, 10, 1): releases are numbered MAJOR.MINOR.PATCH."""
    parts = version.split(".")
    if not all(part.isdigit() for part in parts):
        raise ValueError(f"a release's version is numbers joined by dots, not {version!r}")
    return tuple(int(part) for part in parts)


def releases() -> list[Release]:
    """Every release of releases.toml, oldest first."""
    listed = tomllib.loads((ROOT / "releases.toml").read_text()).get("release", [])
    return [Release(version=str(entry["version"]), commit=str(entry["commit"])) for entry in listed]


def version_being_made() -> str:
    """The version of this checkout (pyproject.toml): the release being made."""
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def previous_release() -> Release:
    """The last release of releases.toml: the one whose nodes run beside this release's during its rolling upgrade."""
    listed = releases()
    assert listed, "releases.toml lists no release"
    return listed[-1]


def git(*args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def require_commit(release: Release) -> None:
    """Fail (never skip) when the release's commit is not in this clone: a shallow clone cannot test the upgrade."""
    if not (ROOT / ".git").exists():
        pytest.fail(f"{ROOT} is not a git checkout: the rolling-upgrade tests read release {release.version} from git")
    found = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{release.commit}^{{commit}}"], capture_output=True, timeout=60
    )
    if found.returncode != 0:
        shallow = (ROOT / ".git" / "shallow").exists()
        pytest.fail(
            f"release {release.version}'s commit {release.commit} (releases.toml) is not in this clone's history"
            + (" (the clone is shallow)" if shallow else "")
            + ": the rolling-upgrade tests run that release's code from git; fetch the history "
            "(`git fetch --unshallow`, or clone without --depth)"
        )


def release_migrations(release: Release) -> dict[str, str]:
    """The sql/ migrations of a release: file name -> text."""
    require_commit(release)
    names = git("ls-tree", "--name-only", release.commit, "sql/").decode().split()
    found = [name for name in names if name.endswith(".sql")]
    return {Path(name).name: git("show", f"{release.commit}:{name}").decode() for name in found}


def export_release(release: Release, folder: Path) -> Path:
    """The release's files (`git archive`) unpacked into `folder`."""
    require_commit(release)
    archive = git("archive", "--format=tar", release.commit)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder
