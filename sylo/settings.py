"""Sylo's configuration: one pydantic-settings object, read once at start-up and passed down.

Every field is an environment variable `SYLO_<NAME>` (or a line in `.env`). The README documents
each one; `tests/test_settings.py` fails when a field is missing from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Sylo's settings, from `SYLO_*` environment variables and `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="SYLO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        Path(".sylo"), description="Where embedded state lives: warehouse, app DB, exports."
    )
    log_level: str = Field("INFO", description="Python logging level for Sylo's own loggers.")
    nango_url: str = Field(
        "https://api.nango.dev", description="Nango's API base URL (Cloud, self-hosted or the sandbox)."
    )
    nango_secret_key: SecretStr | None = Field(
        None,
        description="Nango environment secret key (a UUID v4). The sandbox accepts exactly this key.",
    )
    nango_webhook_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Nango webhook signing keys, comma-separated, newest first (rotation keeps both).",
    )
    warehouse_url: str | None = Field(
        None, description="postgresql://... for a Postgres warehouse; default DuckDB at <data_dir>/warehouse.duckdb."
    )
    app_db_url: str | None = Field(
        None, description="postgresql://... for a Postgres app DB; default SQLite at <data_dir>/app.db."
    )
    nango_timeout_seconds: float = Field(
        60.0, gt=0, description="Read timeout for Nango calls (Nango may retry upstream and refresh tokens first)."
    )
    sync_workers: int = Field(4, ge=1, description="Users synced in parallel by one process.")
    gmail_fetch_workers: int = Field(8, ge=1, description="Gmail messages fetched in parallel per mailbox (keep <= 10).")
    sync_overlap_seconds: int = Field(
        120, ge=0, description="How far back incremental Asana and Xero polls reach before their cursor."
    )
    asana_reconcile_hours: float = Field(
        6.0, ge=0, description="How often Asana task ids are reconciled to find deleted tasks (0 = every sync)."
    )
    xero_full_refresh_hours: float = Field(
        168.0, ge=0, description="How often Xero is re-read in full, for edits that don't bump UpdatedDateUTC."
    )
    export_dir: Path | None = Field(
        None, description="Where context documents and MCP configs are exported; default <data_dir>/exports."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="The API's public base URL; MCP configs point at <public_url>/mcp."
    )
    context_token_budget: int = Field(8000, ge=500, description="Token budget of all.md (estimated as chars / 4).")
    stale_after_hours: float = Field(
        6.0, gt=0, description="A source whose last successful sync is older than this is flagged stale."
    )
    sync_batch_size: int = Field(
        100, ge=1, description="Users per run of the scheduled incremental sync (one process syncs the whole batch)."
    )
    sensor_interval_seconds: int = Field(
        30, ge=1,
        description="How often the daemon's sensors tick: new connections (reconciled with Nango), runs whose worker died.",
    )
    compile_workers: int = Field(
        2, ge=1, description="Processes that render documents when many users are compiled at once."
    )
    n8n_url: str | None = Field(None, description="Base URL of the studio's n8n instance.")
    n8n_auth_header: str = Field(
        "X-Sylo-Auth", description="Header name n8n's Header Auth credential checks."
    )
    n8n_auth_value: SecretStr | None = Field(
        None, description="Header value n8n's Header Auth credential checks (a long random string)."
    )

    redis_url: str | None = Field(
        None, description="redis://... for shared API state (replay guard, rate limits); none: in-process."
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Keyring for secrets at rest: comma-separated <key id>:<base64 32-byte key>, newest first. "
                    "Empty: a key is generated once at <data_dir>/encryption.key.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser Origins allowed to call /mcp, comma-separated; the public URL's origin is always allowed.",
    )
    token_cache_seconds: float = Field(
        10.0, ge=0, description="How long at most an API worker remembers a valid token; a revocation reaches every "
                                "worker within a second (each checks for new revocations once a second), within this "
                                "if that check is not answered."
    )
    api_workers: int = Field(2, ge=1, description="gunicorn worker processes started by `sylo serve`.")

    n8n_signing_secret: SecretStr | None = Field(
        None, description="whsec_ secret Sylo signs forwarded commands with (Standard Webhooks), for n8n to verify."
    )
    n8n_routes: dict[str, str] = Field(
        default_factory=dict,
        description='Per-action n8n webhook overrides as JSON, e.g. {"veo.generate_video": "/webhook/veo"}; '
                    "a path is joined to SYLO_N8N_URL, a full URL is used as is.",
    )
    n8n_timeout_seconds: float = Field(30.0, gt=0, description="How long one delivery to n8n may take.")
    command_wait_seconds: float = Field(
        5.0, ge=0, description="How long POST /v1/commands waits for n8n's answer before replying 202 (0: never)."
    )
    command_max_age_hours: float = Field(
        24.0, gt=0, description="How long a command is retried (5xx, timeouts, n8n down) before it is failed."
    )
    n8n_setup_retry_minutes: float = Field(
        15.0, gt=0, description="How long a command is retried while n8n answers that it is not set up for it "
                                "(starting, webhook not registered, credential missing or rejected)."
    )
    command_result_timeout_minutes: float = Field(
        60.0, gt=0, description="How long a command may stay running (n8n answered 202) before it fails for want of a result."
    )
    command_rate_limit: int = Field(100, ge=1, description="Commands each user may send per minute.")
    approval_ttl_hours: float = Field(
        72.0, gt=0, description="How long a command waits for the owner's approval before it expires unsent."
    )
    external_actions_per_day: int = Field(
        50, ge=1, description="Commands each user may send in any 24 hours for actions that reach outside the studio "
                              "(mail, reminders, posts, videos); declined and expired ones do not count."
    )
    command_max_bytes: int = Field(64 * 1024, ge=1024, description="Largest accepted command body, in bytes.")
    # Deliveries mostly wait (on n8n, on the commit their outcome shares with the others in flight):
    # 32 at once let one commit settle a dozen of them; 8 drained the outbox at 0.6x the rate.
    worker_concurrency: int = Field(32, ge=1, description="Deliveries to n8n in flight at once per outbox worker.")
    signature_failure_limit: int = Field(
        20, ge=1,
        description="Commands refused before their signature verifies (bad signature, too large) one client address "
                    "may send per minute; past it they get 429 at once and write no audit entry.",
    )
    trusted_proxy_hops: int = Field(
        0, ge=0,
        description="Reverse proxies in front of the API that append to X-Forwarded-For; 0: the client address "
                    "is the direct peer and X-Forwarded-For is ignored.",
    )
    login_failures_per_account: int = Field(
        10, ge=1, description="Failed dashboard passwords per account per 15 minutes before it is throttled."
    )
    login_failures_per_address: int = Field(
        50, ge=1, description="Failed dashboard passwords per client address per 15 minutes before it is throttled."
    )
    oauth_access_token_minutes: float = Field(
        60.0, gt=0, le=24 * 60, description="Lifetime of an OAuth access token for /mcp (clients refresh it)."
    )
    oauth_refresh_token_days: float = Field(
        30.0, gt=0, description="Lifetime of an OAuth refresh token; each use replaces it with a new one."
    )
    oauth_registrations_per_hour: int = Field(
        20, ge=1, description="OAuth clients one client address may register per hour (RFC 7591 is open to anyone)."
    )

    @field_validator("nango_webhook_keys", "encryption_keys", "allowed_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def exports(self) -> Path:
        return self.export_dir or Path(self.data_dir) / "exports"

    @property
    def env_names(self) -> list[str]:
        """Return the environment variable name of every setting."""
        return [f"SYLO_{name.upper()}" for name in type(self).model_fields]
