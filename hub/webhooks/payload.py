"""The body of a webhook and its headers (docs/live.md, "Webhooks"), as the Standard Webhooks specification has
them.

Body, version 1 (JSON, UTF-8):

    {"type": "finding.transitioned", "timestamp": "2026-12-04T18:00:00.123456+00:00", "version": 1,
     "data": {"cursor": "1234", "eventId": "...", "entityKind": "FINDING", "entityId": "...", "action": "TRANSITIONED",
              "fromState": "REPORTED", "toState": "TRIAGED", "reason": "...", "at": "...",
              "actorAgencyId": "...", "actorLabId": null, "details": {...}}}

`type` is the record's kind and the event's action in lower case; a record the endpoint's owner lost sight of is one
`<kind>.access_revoked` with nothing but its cursor, time and record. `data` holds what the GraphQL type Event shows
of the event (ids are the API's global ids): fetch the record through GraphQL for more. A later version adds fields
to `data` (read what you know, ignore the rest); a change that is not an addition gets a new `version`.

Headers: `webhook-id` is the event's cursor (the same at every attempt and redelivery; `<cursor>-revoked` for an
ACCESS_REVOKED, so that it never collides with the event itself), `webhook-timestamp` the attempt's time in Unix
seconds, `webhook-signature` the spec's `v1,<base64 HMAC-SHA256>` of `id.timestamp.body`, by the current secret and,
during a rotation's overlap, by the previous one too (space separated).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook

from hub.events import shown_details
from hub.kinds import KINDS
from schema.common import to_global_id

BODY_VERSION = 1
REVOKED = "ACCESS_REVOKED"


def message_id(row: dict[str, Any]) -> str:
    """The webhook-id of a delivery: the event's cursor, or the cursor and `-revoked` for a revocation."""
    return f"{row['id']}-revoked" if row["action"] == REVOKED else str(row["id"])


def message_type(row: dict[str, Any]) -> str:
    return f"{row['entity_kind'].lower()}.{row['action'].lower()}"


def _global(kind: str, pk: int | None) -> str | None:
    if pk is None:
        return None
    registered = KINDS.get(kind)
    if registered is None or not registered.ids or registered.type_name is None:
        return None
    return str(to_global_id(registered.type_name, pk))


def body(row: dict[str, Any]) -> bytes:
    """The JSON body of the event `row` (a row of hub.events.readable_events, or its revocation)."""
    data = {
        "cursor": str(row["id"]),
        "eventId": str(to_global_id("Event", row["id"])),
        "entityKind": row["entity_kind"],
        "entityId": _global(row["entity_kind"], row["entity_id"]),
        "action": row["action"],
        "fromState": row["from_state"],
        "toState": row["to_state"],
        "reason": row["reason"],
        "at": row["at"].isoformat(),
        "actorAgencyId": _global("AGENCY", row["actor_agency_id"]),
        "actorLabId": _global("LAB", row["actor_lab_id"]),
        "details": shown_details(row["details"]),
    }
    return orjson.dumps(
        {"type": message_type(row), "timestamp": row["at"].isoformat(), "version": BODY_VERSION, "data": data}
    )


def headers(msg_id: str, at: datetime, payload: bytes, secrets: list[str]) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt, signed with each secret in `secrets` (the current first)."""
    signatures = " ".join(Webhook(secret).sign(msg_id, at, payload) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
    }
