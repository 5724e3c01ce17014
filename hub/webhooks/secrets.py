"""Webhook signing secrets: made here, shown once, stored encrypted (AES-256-GCM) with the operator's key.

The key is HUB_WEBHOOK_SECRET_KEY (32 bytes, URL-safe base64: `hub webhook new-key` prints one). In production the
hub refuses to start without it (hub/settings.py). Elsewhere, without it, the hub makes one and keeps it in the data
folder (webhook-secret.key, mode 600), so that a development hub needs nothing set. A secret is never logged: it
leaves the hub in the payload of registerWebhook or rotateWebhookSecret once, and as HMACs after that.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
KEY_FILE = "webhook-secret.key"
NONCE_BYTES = 12
# bound into every ciphertext: a ciphertext copied to another column or table does not decrypt there
ASSOCIATED_DATA = b"frontier-hub webhook secret v1"


class WebhookKeyError(ValueError):
    """The operator's key is not 32 bytes of URL-safe base64."""


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes them: whsec_ and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_key() -> str:
    """A key for HUB_WEBHOOK_SECRET_KEY."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise WebhookKeyError(
            "HUB_WEBHOOK_SECRET_KEY must be 32 bytes in URL-safe base64 (hub webhook new-key)"
        ) from None
    if len(key) != 32:
        raise WebhookKeyError("HUB_WEBHOOK_SECRET_KEY must be 32 bytes in URL-safe base64 (hub webhook new-key)")
    return key


def development_key(data_dir: Path) -> str:
    """The key kept in the data folder for a hub without HUB_WEBHOOK_SECRET_KEY (never in production): made once,
    by whichever process comes first."""
    path = data_dir / KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


class SecretBox:
    """Encrypts and decrypts signing secrets with the operator's key."""

    def __init__(self, key: str) -> None:
        self._aead = AESGCM(parse_key(key))

    def seal(self, secret: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), ASSOCIATED_DATA)

    def open(self, sealed: bytes) -> str:
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], ASSOCIATED_DATA).decode()

    def __repr__(self) -> str:  # never the key
        return "SecretBox(...)"
