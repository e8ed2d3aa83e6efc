"""Settings: the only place that reads the environment (prefix ``QUALITYAPI_``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The repository root in a source checkout; the Docker image sets QUALITYAPI_MIGRATIONS_DIR.
_REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUALITYAPI_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./qualityapi.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    bootstrap_admin_key: SecretStr | None = None
    scheduler_enabled: bool = True
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    # Postgres pool size per process; SQLite always uses one connection (single writer).
    db_pool_size: int = Field(default=20, ge=1)
    # SQLite: how often a worker thread copies the write-ahead log back into the database
    # file (db/sqlite_checkpoint.py), so that no request's commit has to.
    sqlite_checkpoint_interval_seconds: float = Field(default=0.2, gt=0, le=60)
    # How long an authenticated key stays cached in-process; a revocation reaches other
    # replicas after at most this long.
    auth_cache_seconds: float = Field(default=30.0, ge=0)
    # The SLA scanner runs at the earliest next check and at once when this process changes
    # a clock; it also looks at least this often (for changes made by other replicas).
    sla_safety_interval_seconds: float = Field(default=1.0, gt=0, le=300)
    sla_scan_batch: int = Field(default=500, ge=1, le=10_000)
    migrations_dir: Path = _REPO_ROOT / "migrations"

    # --- webhooks (see README "Webhooks") ---
    # Deliveries in flight per process, and per endpoint (a receiver is not flooded).
    webhook_concurrency: int = Field(default=50, ge=1, le=1000)
    webhook_endpoint_concurrency: int = Field(default=20, ge=1, le=1000)
    webhook_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    # Delays before each retry, in seconds (jittered ±20%); their sum is the retry span.
    webhook_retry_delays: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [
            5.0,
            30.0,
            120.0,
            600.0,
            1800.0,
            3600.0,
            7200.0,
            14400.0,
            28800.0,
            43200.0,
            57600.0,
            86400.0,
        ]
    )
    # An endpoint whose every attempt failed for this long is disabled.
    webhook_disable_after_seconds: float = Field(default=5 * 86400, gt=0)
    # The dispatcher wakes when this process commits a message, and polls this often for
    # messages of other replicas and for retries.
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # After a wake, the dispatcher waits this long before routing, so that a burst of
    # commits (one message each) is routed and claimed in one pass instead of one each.
    webhook_wake_coalesce_seconds: float = Field(default=0.02, ge=0, le=1)
    # How long a claimed delivery stays reserved; after a crash it is claimed again.
    webhook_lease_seconds: float = Field(default=60.0, ge=1)
    # On shutdown, how long sends in flight may finish; those cut short are given back.
    webhook_shutdown_grace_seconds: float = Field(default=5.0, ge=0, le=120)

    # --- staff quality (see README "Staff quality records") ---
    # 001 §4.1: the third service error within the window flags the person for retraining.
    staff_retraining_threshold: int = Field(default=3, ge=1, le=100)
    staff_retraining_window_days: int = Field(default=90, ge=1, le=3650)
    # Automatic error records: for the assignee of a breached clock (once per clock), and
    # for the person an upheld complaint is about (once per complaint).
    staff_error_from_breach: bool = False
    staff_error_from_complaint: bool = False

    # --- complaints (see README "Complaints") ---
    # 001 §3.1 high-frequency problems: this many complaints with the same category (or
    # location, or customer) within the window raise a flag and an improvement plan.
    complaint_recurrence_threshold: int = Field(default=3, ge=2, le=1000)
    complaint_recurrence_window_days: int = Field(default=30, ge=1, le=3650)
    # A dissatisfied survey answer opens a complaint linked to the work order.
    complaint_from_dissatisfied_survey: bool = False

    # --- surveys (see README "Surveys") ---
    # Failed call attempts (no answer, wrong number) after which a callback ends unreached.
    survey_max_failed_attempts: int = Field(default=3, ge=1, le=20)
    # How long a customer's answer link works (links are commonly valid 7 days).
    survey_link_valid_days: float = Field(default=7.0, gt=0, le=90)
    # A customer (same phone or e-mail) is not surveyed again within this many days; 0: no limit.
    survey_throttle_days: float = Field(default=30.0, ge=0, le=3650)
    # An overall score at or below this raises survey.dissatisfied (so does "not solved").
    survey_dissatisfied_threshold: int = Field(default=2, ge=1, le=4)
    # "Not solved" in an answer reopens the work order.
    survey_reopen_when_not_solved: bool = False
    # Where customers open /s/{token}, e.g. https://feedback.example.com (behind a proxy);
    # default: the base URL of the request that created the link.
    survey_link_base_url: str | None = Field(default=None, pattern=r"^https?://", max_length=500)

    # --- reports (see README "Reports") ---
    # Goals each figure is compared with: CSAT and first-contact resolution at least, the
    # complaint rate (complaints per work order) below, SLA attainment at least.
    report_target_csat: float = Field(default=0.85, ge=0, le=1)
    report_target_fcr: float = Field(default=0.90, ge=0, le=1)
    report_target_complaint_rate: float = Field(default=0.01, ge=0, le=1)
    report_target_attainment: float = Field(default=0.95, ge=0, le=1)
    # First-contact resolution: a reopen before the end of the Nth working day (business
    # calendar) after the resolution's date makes it not first-contact.
    report_fcr_reopen_working_days: int = Field(default=7, ge=1, le=60)
    # Categories that cannot be resolved at first contact (e.g. "installation"): left out
    # of the net FCR figure. Comma-separated.
    report_fcr_excluded_categories: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # How often the rollup job folds new clock outcomes into the daily and hourly sums
    # (reports are exact without it, only slower as unfolded outcomes accumulate).
    report_rollup_interval_seconds: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("report_fcr_excluded_categories", mode="before")
    @classmethod
    def _split_categories(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # --- contract: collisions (see README "Versions, ETags and 409s") ---
    # A write that collides with work the client did not cause (the SLA scanner or another
    # replica holding the row: lock timeout, deadlock, serialization failure) is re-run
    # whole in a fresh transaction this many times in all before it becomes a 503.
    collision_attempts: int = Field(default=3, ge=1, le=10)
    # PostgreSQL lock_timeout: how long one attempt waits for a row another transaction
    # holds before it gives up and is retried (0: wait for ever, never a 503 from locks).
    lock_timeout_ms: int = Field(default=1000, ge=0, le=60_000)

    # --- board (see README "The live board") ---
    # The live page's stream looks at the board this often (one query set per process,
    # however many pages are open) and pushes when its content changed.
    board_stream_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A comment line this often keeps proxies and the page's watchdog from timing out.
    board_stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # A stream ends after this long; the page reconnects with Last-Event-ID (and its key is
    # checked again, so a revoked key stops within this).
    board_stream_max_seconds: float = Field(default=300.0, ge=1, le=3600)
    # Open streams per process; more get a 503 and the page falls back to polling.
    board_stream_max_clients: int = Field(default=200, ge=1, le=10_000)

    # --- operations (issue 11; see README "Operations") ---
    # Failed authentication (a key sent and refused) per client address: after half the
    # limit within the window each further failure is answered more slowly (up to the
    # delay), at the limit the address gets 429 + Retry-After until the window has passed.
    # Behind a proxy, run uvicorn with --forwarded-allow-ips so the address is the client's.
    auth_failure_limit: int = Field(default=20, ge=1, le=10_000)
    auth_failure_window_seconds: float = Field(default=300.0, gt=0, le=86_400)
    auth_failure_max_delay_seconds: float = Field(default=1.0, ge=0, le=10)
    # Addresses remembered at most (memory stays bounded under a spray of addresses).
    auth_failure_max_clients: int = Field(default=10_000, ge=10, le=1_000_000)
    # Front-end origins allowed to call the API from a browser (CORS), e.g.
    # "https://desk.example.com"; empty (the default): no cross-origin access at all.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Retention: rows older than this are deleted by the retention job (0: keep for ever).
    # Outbox messages go only once every delivery of theirs has finished.
    retention_webhook_deliveries_days: float = Field(default=30.0, ge=0)
    retention_webhook_attempts_days: float = Field(default=30.0, ge=0)
    retention_outbox_days: float = Field(default=30.0, ge=0)
    # An Idempotency-Key is recognised for at least 24 h (README "Operations", Retention).
    retention_idempotency_hours: float = Field(default=48.0, ge=24)
    retention_interval_seconds: float = Field(default=3600.0, gt=0, le=86_400)
    retention_batch: int = Field(default=1000, ge=10, le=10_000)
    # /metrics reads the outbox backlog from the database at most this often.
    metrics_outbox_refresh_seconds: float = Field(default=5.0, ge=0, le=300)
    # The release's commit, shown in qualityapi_build_info (the image sets it at build).
    build_commit: str | None = Field(default=None, max_length=64)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("QUALITYAPI_BOOTSTRAP_ADMIN_KEY must be at least 16 characters")
        return value

    @field_validator("webhook_allowed_networks", "webhook_retry_delays", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        # Operators write "127.0.0.0/8,10.0.0.0/8" in an env var; JSON lists still work.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays(cls, value: list[float]) -> list[float]:
        if not value or any(d <= 0 for d in value):
            raise ValueError("QUALITYAPI_WEBHOOK_RETRY_DELAYS: positive seconds, at least one")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class ConfigError(ValueError):
    """Settings the environment got wrong, named by variable, never with their values:
    pydantic's own message quotes each bad input, and an input may be a key or a password
    (and this message goes to a console, a log collector, a crash report)."""

    def __init__(self, error: ValidationError) -> None:
        lines = []
        for item in error.errors(include_input=False, include_url=False):
            name = "QUALITYAPI_" + "_".join(str(p) for p in item["loc"][:1]).upper()
            lines.append(f"{name}: {item['msg']}")
        super().__init__("invalid configuration: " + "; ".join(lines))


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # ``from None``: the chained ValidationError would print the values after all.
        raise ConfigError(exc) from None
