"""`hub webhook ...`: the operators' commands on webhook endpoints (docs/operators.md, "Webhooks"). They act as the
hub itself (the events name no principal) on the database directly, like `hub token revoke`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from hub.settings import Settings

Work = Callable[[Any, Settings], Awaitable[int]]


def add_webhook_parser(
    commands: Any,
    database_options: Callable[[argparse.ArgumentParser], None],
    with_database: Callable[[argparse.Namespace, Work], int],
) -> None:
    webhook = commands.add_parser(
        "webhook", help="list, disable, enable and redeliver webhook endpoints"
    ).add_subparsers(dest="webhook_command", required=True)
    listing = webhook.add_parser("list", help="list endpoints with their state, cursor and failures (no secrets)")
    database_options(listing)
    listing.set_defaults(func=lambda args: with_database(args, _list))

    for name, to, help_text in (
        ("disable", "DISABLED", "stop delivering to an endpoint (its owner sees the reason)"),
        ("enable", "ENABLED", "deliver again, from where its cursor stands"),
    ):
        sub = webhook.add_parser(name, help=help_text)
        sub.add_argument("id", type=int)
        sub.add_argument("--reason", help="said to the endpoint's owner")
        database_options(sub)
        sub.set_defaults(func=lambda args, to=to: with_database(args, _transition(args, to)))

    redeliver = webhook.add_parser("redeliver", help="send again every event after a cursor")
    redeliver.add_argument("id", type=int)
    redeliver.add_argument("--from", dest="from_cursor", required=True, help="an event's cursor (0: from the start)")
    database_options(redeliver)
    redeliver.set_defaults(func=lambda args: with_database(args, _redeliver(args)))

    key = webhook.add_parser("new-key", help="print a new key for HUB_WEBHOOK_SECRET_KEY")
    key.set_defaults(func=_new_key)


def _new_key(args: argparse.Namespace) -> int:
    from hub.webhooks.secrets import new_key

    print(new_key())
    return 0


async def _list(con: Any, settings: Settings) -> int:
    rows = await con.fetch(
        """select e.id, e.state, coalesce(a.code, l.name) as owner, e.cursor, e.consecutive_failures, e.url,
                  e.disabled_reason
             from webhook_endpoints e left join agencies a on a.id = e.owner_agency_id
             left join labs l on l.id = e.owner_lab_id order by e.id"""
    )
    print(f"{'id':>5}  {'state':<9} {'owner':<18} {'cursor':>8} {'fails':>5}  url")
    for r in rows:
        print(
            f"{r['id']:>5}  {r['state']:<9} {r['owner']:<18} {r['cursor']:>8} {r['consecutive_failures']:>5}"
            f"  {r['url']}"
        )
        if r["disabled_reason"]:
            print(f"{'':>7}{r['disabled_reason']}")
    return 0


def _transition(args: argparse.Namespace, to: str) -> Work:
    async def work(con: Any, settings: Settings) -> int:
        from hub.store.webhooks import transition_webhook
        from hub.workflow import Rejected

        try:
            async with con.transaction():
                await transition_webhook(con, None, args.id, to, None, args.reason)
        except Rejected as refused:
            print(f"hub webhook: {refused.message}", file=sys.stderr)
            return 2
        print(f"webhook endpoint {args.id}: {to}")
        return 0

    return work


def _redeliver(args: argparse.Namespace) -> Work:
    async def work(con: Any, settings: Settings) -> int:
        from hub.store.webhooks import redeliver_webhook
        from hub.workflow import Rejected

        try:
            async with con.transaction():
                await redeliver_webhook(con, None, args.id, None, args.from_cursor, "hub webhook redeliver")
        except Rejected as refused:
            print(f"hub webhook: {refused.message}", file=sys.stderr)
            return 2
        print(f"webhook endpoint {args.id}: redelivering the events after {args.from_cursor}")
        return 0

    return work
