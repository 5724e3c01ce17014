"""Every setting of the hub, read once from the environment (and overridden by CLI flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

APP_NAME = "frontier-hub"
# Used when the hub runs as root: the embedded server runs as another system user and needs every folder above
# its data folder to be traversable, so the data must not sit under a private home folder.
ROOT_DATA_DIR = Path("/var/lib/frontier-hub")


def default_data_dir() -> Path:
    """The folder for the embedded PostgreSQL when HUB_DATA_DIR is not set."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ROOT_DATA_DIR
    return Path(platformdirs.user_data_dir(APP_NAME))


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The hub's settings. Build with `Settings.from_env()`; change with `settings.with_(...)`."""

    database_url: str | None
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    env: str = "development"
    max_page_size: int = 500
    pool_min_size: int = 1
    pool_max_size: int = 10
    log_level: str = "info"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = os.environ.get("HUB_DATA_DIR")
        return cls(
            database_url=os.environ.get("HUB_DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            host=os.environ.get("HUB_HOST") or "127.0.0.1",
            port=_int("HUB_PORT", 8000),
            workers=_int("HUB_WORKERS", 1),
            env=os.environ.get("HUB_ENV") or "development",
            pool_min_size=_int("HUB_POOL_MIN_SIZE", 1),
            pool_max_size=_int("HUB_POOL_MAX_SIZE", 10),
            log_level=os.environ.get("HUB_LOG_LEVEL") or "info",
        )

    @property
    def production(self) -> bool:
        return self.env == "production"

    def with_(self, **changes: object) -> Settings:
        """A copy with the given settings changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
