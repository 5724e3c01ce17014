"""Every setting of the hub, read once from the environment (and overridden by CLI flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from hub.limits import Limits
from hub.ratelimit import Budget

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


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {raw!r}") from None


def default_workers() -> int:
    """One worker process per core: each runs its own event loop, so this is how the hub uses the machine."""
    return max(1, os.cpu_count() or 1)


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "on", "true", "yes"):
        return True
    if raw.lower() in ("0", "off", "false", "no"):
        return False
    raise SystemExit(f"{name} must be on or off, not {raw!r}")


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
    database_connect_timeout_seconds: float = 5.0
    # beyond one machine (docs/operators.md, "Beyond one machine"): the role requests log in as, the direct
    # connection for what is session-scoped, the pooler between the hub and PostgreSQL, a streaming replica for reads
    request_database_url: str | None = field(default=None, repr=False)
    direct_database_url: str | None = field(default=None, repr=False)
    database_pooler: str = "none"
    replica_database_url: str | None = field(default=None, repr=False)
    replica_max_lag_seconds: float = 30.0
    consistency_wait_seconds: float = 1.0
    migrate_on_start: bool = True
    log_level: str = "info"
    ws_init_timeout_seconds: int = 10
    ws_max_subscriptions_per_connection: int = 20
    ws_max_subscriptions_per_principal: int = 50
    ws_queue_limit: int = 1000
    events_poll_seconds: float = 2.0
    scheduler_interval_seconds: float = 30.0
    scheduler_enabled: bool = True
    shutdown_grace_seconds: float = 5.0
    clock_offset_seconds: float = 0.0
    log_format: str = "json"
    max_depth: int = 12
    max_aliases: int = 30
    max_root_fields: int = 20
    max_directives_per_field: int = 5
    max_tokens: int = 5000
    max_cost: int = 500_000
    rate_limit_cost: int = 5_000_000
    rate_limit_window_seconds: float = 60.0
    max_body_bytes: int = 1_000_000
    statement_timeout_ms: int = 10_000
    request_timeout_seconds: float = 30.0
    # answer read operations with one compiled SQL statement where their selection allows (schema/compiler/)
    sql_compiler: bool = True
    ws_allowed_origins: tuple[str, ...] = ()
    ws_token_recheck_seconds: float = 30.0
    operations_allowlist: bool = False
    # signed webhooks (docs/live.md, "Webhooks"; docs/operators.md, "Webhooks")
    webhooks_enabled: bool = True
    webhook_secret_key: str | None = field(default=None, repr=False)  # never printed
    webhook_allowed_networks: tuple[str, ...] = ()
    webhook_allow_http: bool = True
    webhook_timeout_seconds: float = 10.0
    webhook_max_failures: int = 15
    webhook_backoff_seconds: float = 5.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_poll_seconds: float = 1.0
    webhook_concurrency: int = 10

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = os.environ.get("HUB_DATA_DIR")
        settings = cls(
            database_url=os.environ.get("HUB_DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            host=os.environ.get("HUB_HOST") or "127.0.0.1",
            port=_int("HUB_PORT", 8000),
            workers=_int("HUB_WORKERS", default_workers()),
            env=os.environ.get("HUB_ENV") or "development",
            pool_min_size=_int("HUB_POOL_MIN_SIZE", 1),
            pool_max_size=_int("HUB_POOL_MAX_SIZE", 10),
            database_connect_timeout_seconds=_float("HUB_DATABASE_CONNECT_TIMEOUT_SECONDS", 5.0),
            request_database_url=os.environ.get("HUB_REQUEST_DATABASE_URL") or None,
            direct_database_url=os.environ.get("HUB_DIRECT_DATABASE_URL") or None,
            database_pooler=(os.environ.get("HUB_DATABASE_POOLER") or "none").lower(),
            replica_database_url=os.environ.get("HUB_REPLICA_DATABASE_URL") or None,
            replica_max_lag_seconds=_float("HUB_REPLICA_MAX_LAG_SECONDS", 30.0),
            consistency_wait_seconds=_float("HUB_CONSISTENCY_WAIT_SECONDS", 1.0),
            migrate_on_start=_bool("HUB_MIGRATE_ON_START", True),
            log_level=os.environ.get("HUB_LOG_LEVEL") or "info",
            ws_init_timeout_seconds=_int("HUB_WS_INIT_TIMEOUT_SECONDS", 10),
            ws_max_subscriptions_per_connection=_int("HUB_WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", 20),
            ws_max_subscriptions_per_principal=_int("HUB_WS_MAX_SUBSCRIPTIONS_PER_PRINCIPAL", 50),
            ws_queue_limit=_int("HUB_WS_QUEUE_LIMIT", 1000),
            events_poll_seconds=_float("HUB_EVENTS_POLL_SECONDS", 2.0),
            scheduler_interval_seconds=_float("HUB_SCHEDULER_INTERVAL_SECONDS", 30.0),
            scheduler_enabled=(os.environ.get("HUB_SCHEDULER") or "on").lower() not in ("off", "0", "false", "no"),
            shutdown_grace_seconds=_float("HUB_SHUTDOWN_GRACE_SECONDS", 5.0),
            clock_offset_seconds=_float("HUB_CLOCK_OFFSET_SECONDS", 0.0),
            log_format=os.environ.get("HUB_LOG_FORMAT") or "json",
            max_depth=_int("HUB_MAX_DEPTH", 12),
            max_aliases=_int("HUB_MAX_ALIASES", 30),
            max_root_fields=_int("HUB_MAX_ROOT_FIELDS", 20),
            max_directives_per_field=_int("HUB_MAX_DIRECTIVES_PER_FIELD", 5),
            max_tokens=_int("HUB_MAX_TOKENS", 5000),
            max_cost=_int("HUB_MAX_COST", 500_000),
            rate_limit_cost=_int("HUB_RATE_LIMIT_COST", 5_000_000),
            rate_limit_window_seconds=_float("HUB_RATE_LIMIT_WINDOW_SECONDS", 60.0),
            max_body_bytes=_int("HUB_MAX_BODY_BYTES", 1_000_000),
            statement_timeout_ms=_int("HUB_STATEMENT_TIMEOUT_MS", 10_000),
            request_timeout_seconds=_float("HUB_REQUEST_TIMEOUT_SECONDS", 30.0),
            sql_compiler=_bool("HUB_SQL_COMPILER", True),
            ws_allowed_origins=tuple(
                o.strip() for o in (os.environ.get("HUB_WS_ALLOWED_ORIGINS") or "").split(",") if o.strip()
            ),
            ws_token_recheck_seconds=_float("HUB_WS_TOKEN_RECHECK_SECONDS", 30.0),
            operations_allowlist=(os.environ.get("HUB_OPERATIONS_ALLOWLIST") or "off").lower() in ("on", "1", "true"),
            webhooks_enabled=_bool("HUB_WEBHOOKS", True),
            webhook_secret_key=os.environ.get("HUB_WEBHOOK_SECRET_KEY") or None,
            webhook_allowed_networks=tuple(
                n.strip() for n in (os.environ.get("HUB_WEBHOOK_ALLOWED_NETWORKS") or "").split(",") if n.strip()
            ),
            webhook_allow_http=_bool("HUB_WEBHOOK_ALLOW_HTTP", (os.environ.get("HUB_ENV") or "") != "production"),
            webhook_timeout_seconds=_float("HUB_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_max_failures=_int("HUB_WEBHOOK_MAX_FAILURES", 15),
            webhook_backoff_seconds=_float("HUB_WEBHOOK_BACKOFF_SECONDS", 5.0),
            webhook_backoff_max_seconds=_float("HUB_WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0),
            webhook_poll_seconds=_float("HUB_WEBHOOK_POLL_SECONDS", 1.0),
            webhook_concurrency=_int("HUB_WEBHOOK_CONCURRENCY", 10),
        )
        if settings.production and not settings.webhook_secret_key:
            raise SystemExit(
                "HUB_WEBHOOK_SECRET_KEY must be set in production: the key that encrypts the webhook signing secrets "
                "(hub webhook new-key prints one; docs/operators.md, Webhooks)"
            )
        if settings.webhook_secret_key:
            from hub.webhooks.secrets import WebhookKeyError, parse_key

            try:
                parse_key(settings.webhook_secret_key)
            except WebhookKeyError as error:
                raise SystemExit(str(error)) from None
        if settings.webhook_max_failures < 1 or settings.webhook_concurrency < 1:
            raise SystemExit("HUB_WEBHOOK_MAX_FAILURES and HUB_WEBHOOK_CONCURRENCY must be 1 or more")
        try:
            from hub.webhooks.http import parse_networks

            parse_networks(settings.webhook_allowed_networks)
        except ValueError as error:
            raise SystemExit(f"HUB_WEBHOOK_ALLOWED_NETWORKS: {error}") from None
        if settings.database_pooler not in ("none", "transaction"):
            raise SystemExit(f"HUB_DATABASE_POOLER must be none or transaction, not {settings.database_pooler!r}")
        if settings.replica_max_lag_seconds <= 0 or settings.consistency_wait_seconds < 0:
            raise SystemExit(
                "HUB_REPLICA_MAX_LAG_SECONDS must be more than 0 and HUB_CONSISTENCY_WAIT_SECONDS 0 or more"
            )
        if settings.max_cost < 0:
            raise SystemExit(f"HUB_MAX_COST must be 0 (no limit) or more, not {settings.max_cost}")
        if settings.rate_limit_cost < 0:
            raise SystemExit(f"HUB_RATE_LIMIT_COST must be 0 (no rate limit) or more, not {settings.rate_limit_cost}")
        if settings.rate_limit_window_seconds <= 0:
            raise SystemExit(
                f"HUB_RATE_LIMIT_WINDOW_SECONDS must be more than 0, not {settings.rate_limit_window_seconds:g}"
            )
        return settings

    @property
    def limits(self) -> Limits:
        return Limits(
            max_depth=self.max_depth,
            max_aliases=self.max_aliases,
            max_root_fields=self.max_root_fields,
            max_directives_per_field=self.max_directives_per_field,
            max_tokens=self.max_tokens,
            max_cost=self.max_cost,
        )

    @property
    def rate_limit(self) -> Budget:
        return Budget(limit=self.rate_limit_cost, window_seconds=self.rate_limit_window_seconds)

    @property
    def production(self) -> bool:
        return self.env == "production"

    def webhook_key(self) -> str:
        """The key that encrypts webhook secrets: HUB_WEBHOOK_SECRET_KEY, or outside production one kept in the data
        folder (hub/webhooks/secrets.py)."""
        if self.webhook_secret_key:
            return self.webhook_secret_key
        if self.production:
            raise RuntimeError("HUB_WEBHOOK_SECRET_KEY is not set")
        from hub.webhooks.secrets import development_key

        return development_key(self.data_dir)

    def with_(self, **changes: object) -> Settings:
        """A copy with the given settings changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]
