"""Webhook endpoints (docs/live.md, "Webhooks"): registered by an agency's admins for the agency or a lab's liaisons
for the lab; their delivery log. The secret is made here, returned once, and stored encrypted."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from hub.access import Params, visible
from hub.auth import Principal
from hub.kinds import event_kinds
from hub.store.base import MAX_PAGE_SIZE, Entity, OrderField, Session, UserInputError, Where, standard_orders
from hub.webhooks import http
from hub.webhooks.secrets import SecretBox, new_secret
from hub.workflow import (
    bad_input,
    changed,
    check_remit,
    check_version,
    insert_row,
    lock_in_remit,
    reason_text,
    record_event,
    record_update,
    text,
    text_list,
    transition,
    update_row,
)

# what a read of an endpoint returns: never its secrets
COLUMNS = (
    "t.id, t.owner_agency_id, t.owner_lab_id, t.url, t.description, t.entity_kinds, t.actions, t.to_states, t.state,"
    " t.disabled_reason, t.disabled_at, t.previous_secret_expires_at, t.cursor, t.next_attempt_at,"
    " t.consecutive_failures, t.round, t.created_by, t.created_at, t.updated_at, t.version"
)
WEBHOOK = Entity(
    kind="WEBHOOK",
    columns=COLUMNS,
    orders={**standard_orders("t.url"), "STATE": OrderField("t.state", "text")},
    default_order="CREATED_AT",
)
ACTION = r"[A-Z][A-Z_]{0,59}"
MAX_OVERLAP_HOURS = 24 * 7


@dataclass(frozen=True)
class WebhookRules:
    """What the writes of endpoints need from the operator's settings: the key of the secrets and the URL rules."""

    box: SecretBox
    allow_http: bool
    allowed_networks: tuple[http.Network, ...]


def where_webhooks(w: Where, f: dict[str, Any]) -> None:
    states = f.get("state")
    if states is None:
        w.add("t.state <> 'DELETED'")
    w.any_of("t.state", states)


def check_url(url: str | None, rules: WebhookRules) -> str:
    checked = text(url, "input.url", required=True, max_length=http.MAX_URL_LENGTH)
    assert checked is not None
    try:
        http.check_literal(http.check_url(checked, allow_http=rules.allow_http), rules.allowed_networks)
    except http.UrlRefused as refused:
        raise bad_input("input.url", str(refused)) from None
    return checked


def subscription_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The checked columns of what an endpoint asks for (only the keys present): kinds, actions, states moved to."""
    fields: dict[str, Any] = {}
    if values.get("entity_kinds") is not None:
        known = {k.name for k in event_kinds()}
        kinds = text_list(values["entity_kinds"], "input.entityKinds", max_items=len(known), max_length=40) or []
        for index, kind in enumerate(kinds):
            if kind not in known:
                raise bad_input(f"input.entityKinds[{index}]", f"{kind!r} is not a kind of record")
        fields["entity_kinds"] = kinds
    if values.get("actions") is not None:
        fields["actions"] = (
            text_list(values["actions"], "input.actions", max_length=60, pattern=ACTION, hint=" (such as TRANSITIONED)")
            or []
        )
    if values.get("to_states") is not None:
        fields["to_states"] = (
            text_list(values["to_states"], "input.toStates", max_length=60, pattern=ACTION, hint=" (such as DISCLOSED)")
            or []
        )
    if "description" in values:
        fields["description"] = text(values["description"], "input.description", max_length=2000, multiline=True)
    return fields


async def register_webhook(
    con: asyncpg.Connection, principal: Principal, values: dict[str, Any], rules: WebhookRules
) -> tuple[int, str]:
    """An agency's admin registers an endpoint for the agency, a lab's liaison for the lab. Returns its id and its
    secret, which is shown this once."""
    check_remit(principal, "WEBHOOK", "registerWebhook", None)
    url = check_url(values.get("url"), rules)
    secret = new_secret()
    created = await insert_row(
        con,
        "webhook_endpoints",
        {
            "owner_agency_id": principal.agency_id,
            "owner_lab_id": principal.lab_id if principal.agency_id is None else None,
            "url": url,
            **subscription_fields(values),
            "secret_ciphertext": rules.box.seal(secret),
            # a new endpoint is sent what happens from now on (redeliverWebhook reaches back)
            "cursor": await con.fetchval("select coalesce(max(id), 0) from events"),
            "created_by": principal.id or None,
        },
    )
    # the event names the endpoint's choices, never its URL (which may carry a token of the receiver) or secret
    await record_event(
        con,
        principal,
        kind="WEBHOOK",
        entity_id=created["id"],
        action="REGISTERED",
        to_state=created["state"],
        reason=reason_text(values.get("reason")),
        details={"entityKinds": created["entity_kinds"], "actions": created["actions"]},
    )
    return int(created["id"]), secret


async def update_webhook(
    con: asyncpg.Connection,
    principal: Principal,
    endpoint_id: int,
    expected_version: int,
    values: dict[str, Any],
    rules: WebhookRules,
) -> int:
    row = await lock_in_remit(con, principal, "WEBHOOK", endpoint_id, "updateWebhook")
    check_version(row, expected_version)
    if row["state"] == "DELETED":
        raise bad_input("input.id", "the endpoint is deleted")
    fields = subscription_fields(values)
    if values.get("url") is not None:
        fields["url"] = check_url(values["url"], rules)
    changes = changed(row, fields)
    if changes:
        await record_update(con, principal, "WEBHOOK", row, changes, values, names=list(changes))
    return endpoint_id


async def rotate_webhook_secret(
    con: asyncpg.Connection,
    principal: Principal,
    endpoint_id: int,
    expected_version: int,
    overlap_hours: int,
    reason: str | None,
    rules: WebhookRules,
) -> str:
    """A new secret; the one it replaces signs too (a second signature) for `overlap_hours`. Returns the new
    secret, shown this once."""
    row = await lock_in_remit(con, principal, "WEBHOOK", endpoint_id, "rotateWebhookSecret")
    check_version(row, expected_version)
    if row["state"] == "DELETED":
        raise bad_input("input.id", "the endpoint is deleted")
    if not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        raise bad_input("input.overlapHours", f"must be between 0 and {MAX_OVERLAP_HOURS}, not {overlap_hours}")
    secret = new_secret()
    ends = datetime.now(UTC) + timedelta(hours=overlap_hours)
    await update_row(
        con,
        "WEBHOOK",
        endpoint_id,
        {
            "secret_ciphertext": rules.box.seal(secret),
            "previous_secret_ciphertext": row["secret_ciphertext"] if overlap_hours else None,
            "previous_secret_expires_at": ends if overlap_hours else None,
        },
    )
    await record_event(
        con,
        principal,
        kind="WEBHOOK",
        entity_id=endpoint_id,
        action="SECRET_ROTATED",
        reason=reason_text(reason),
        details={"overlapHours": overlap_hours},
    )
    return secret


async def transition_webhook(
    con: asyncpg.Connection,
    principal: Principal | None,
    endpoint_id: int,
    to: str,
    expected_version: int | None,
    reason: str | None,
) -> int:
    """Disable, enable or delete an endpoint (`principal` None: an operator, `hub webhook disable|enable`).
    Enabling starts again where the cursor stands, with the failures forgotten; deleting erases the secrets."""
    if principal is None:
        row = await con.fetchrow("select * from webhook_endpoints where id = $1 for update", endpoint_id)
        if row is None:
            raise bad_input("input.id", "no such endpoint")
        row = dict(row)
    else:
        row = await lock_in_remit(con, principal, "WEBHOOK", endpoint_id, "transitionWebhook", to=to)
    if expected_version is not None:
        check_version(row, expected_version)
    changes: dict[str, Any] = {}
    said = reason_text(reason)
    if to == "DISABLED":
        who = "an operator" if principal is None else principal.name
        changes = {
            "disabled_reason": f"disabled by {who}" + (f": {said}" if said else ""),
            "disabled_at": datetime.now(UTC),
        }
    elif to == "ENABLED":
        changes = {"disabled_reason": None, "disabled_at": None, "consecutive_failures": 0, "next_attempt_at": None}
    elif to == "DELETED":
        changes = {"secret_ciphertext": b"", "previous_secret_ciphertext": None, "previous_secret_expires_at": None}
    await transition(con, principal, "WEBHOOK", row, to, reason=said, changes=changes)
    return endpoint_id


async def redeliver_webhook(
    con: asyncpg.Connection,
    principal: Principal | None,
    endpoint_id: int,
    expected_version: int | None,
    from_cursor: str,
    reason: str | None = None,
) -> int:
    """Send the events after `from_cursor` again (those the owner may see now), in a new round of the log: the
    delivery worker starts over from there."""
    if principal is None:
        found = await con.fetchrow("select * from webhook_endpoints where id = $1 for update", endpoint_id)
        if found is None:
            raise bad_input("input.id", "no such endpoint")
        row = dict(found)
    else:
        row = await lock_in_remit(con, principal, "WEBHOOK", endpoint_id, "redeliverWebhook")
    if expected_version is not None:
        check_version(row, expected_version)
    if row["state"] == "DELETED":
        raise bad_input("input.id", "the endpoint is deleted")
    cursor = text(from_cursor, "input.fromCursor", required=True, max_length=19)
    if cursor is None or not cursor.isdigit():
        raise bad_input("input.fromCursor", "must be an event's cursor (digits), or 0 for the beginning")
    head = int(await con.fetchval("select coalesce(max(id), 0) from events"))
    if int(cursor) > head:
        raise bad_input("input.fromCursor", f"is past the newest event ({head})")
    await update_row(
        con,
        "WEBHOOK",
        endpoint_id,
        {"cursor": int(cursor), "round": row["round"] + 1, "consecutive_failures": 0, "next_attempt_at": None},
    )
    await record_event(
        con,
        principal,
        kind="WEBHOOK",
        entity_id=endpoint_id,
        action="REDELIVERY_REQUESTED",
        reason=reason_text(reason),
        details={"fromCursor": cursor},
    )
    return endpoint_id


# ------------------------------------------------------------------------------------------------ the delivery log

DELIVERY_COLUMNS = (
    "d.id, d.endpoint_id, d.event_id, d.round, d.type, d.status, d.attempts, d.response_status, d.latency_ms,"
    " d.error, d.first_attempt_at, d.last_attempt_at, d.delivered_at"
)


def delivery_cursor(delivery_id: int) -> str:
    return base64.urlsafe_b64encode(f"d:{delivery_id}".encode()).decode().rstrip("=")


def parse_delivery_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, value = raw.partition(":")
        if tag != "d" or not value.isdigit() or len(value) > 18:
            raise ValueError
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UserInputError("after: not a cursor of this list", field="after") from None


async def deliveries(
    db: Session, principal: Principal, endpoint_id: int, *, first: int, after: str | None, statuses: list[str] | None
) -> tuple[list[dict[str, Any]], bool, int]:
    """A page of an endpoint's delivery log, newest first, if the caller may see the endpoint (else empty): its
    rows, whether there are more, and the total."""
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise UserInputError(f"first must be between 0 and {MAX_PAGE_SIZE}, not {first}", field="first")
    p = Params()
    rule = visible("WEBHOOK", "t", principal, p)
    conditions = [
        f"d.endpoint_id = {p(endpoint_id)}",
        f"exists (select 1 from webhook_endpoints t where t.id = d.endpoint_id and {rule})",
    ]
    if statuses is not None:
        conditions.append(f"d.status = any({p(statuses)}::text[])")
    where = " and ".join(conditions)
    total = int(await db.fetchval(f"select count(*) from webhook_deliveries d where {where}", *p.values))
    if after is not None:
        where += f" and d.id < {p(parse_delivery_cursor(after))}"
    rows = await db.fetch(
        f"select {DELIVERY_COLUMNS} from webhook_deliveries d where {where} order by d.id desc limit {p(first + 1)}",
        *p.values,
    )
    found = [dict(r) for r in rows]
    return found[:first], len(found) > first, total
