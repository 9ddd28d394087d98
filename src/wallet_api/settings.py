"""Every setting of the service: its environment name, its default, read once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wallet_api.storage.urls import checked

DATABASE_URL_ENV = "DATABASE_URL"
AUTH_ENV = "WALLET_AUTH"
RATE_LIMIT_ENV = "WALLET_RATE_LIMIT_PER_SECOND"

AuthMode = Literal["required", "disabled"]
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
# auto: human-readable lines when stderr is a terminal (`make run`), JSON lines otherwise.
LogFormat = Literal["auto", "json", "text"]

# prometheus-client reads this name itself, at import, in every process.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


class Settings(BaseSettings):
    """Read from the environment (and an optional `.env`); WALLET_ prefix except DATABASE_URL."""

    model_config = SettingsConfigDict(
        env_prefix="WALLET_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(DATABASE_URL_ENV, "WALLET_DATABASE_URL"),
        description="postgresql+asyncpg://user:pass@host:port/db; unset = embedded PostgreSQL. "
        "Several hosts (a failover cluster): postgresql://user@h1:p1,h2:p2/db"
        "?target_session_attrs=read-write.",
    )
    data_dir: Path = Field(
        default=Path(".wallet-data"),
        description="Data directory of the embedded PostgreSQL.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    log_level: LogLevel = "info"
    log_format: LogFormat = Field(
        default="auto",
        description="json, text, or auto: text on a terminal, JSON lines otherwise.",
    )
    build_revision: str | None = Field(
        default=None,
        description="The commit this build runs, for wallet_build_info; the image sets it, "
        "`serve` asks git when unset.",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
        description="The OpenTelemetry collector (OTLP over HTTP); set: every worker traces.",
    )
    otel_service_name: str = Field(
        default="wallet-api",
        validation_alias=AliasChoices("OTEL_SERVICE_NAME"),
        description="service.name of the spans.",
    )
    access_log: bool = Field(
        default=True, description="One JSON log line per request, at the info level."
    )
    metrics_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(METRICS_DIR_ENV),
        description="Where the workers keep their metrics; `serve` sets it for them.",
    )

    db_pool_size: int = Field(default=4, ge=1, le=50, description="Connections per worker.")
    db_pool_overflow: int = Field(
        default=0,
        ge=0,
        le=50,
        description="Extra connections past the pool; each is opened and closed per use.",
    )
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=5000, ge=0)
    db_lock_timeout_ms: int = Field(default=3000, ge=0)

    group_commit: bool = Field(
        default=True,
        description="Queue operations on a busy wallet and commit them together (see docs).",
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    idempotency_key_ttl_hours: float = Field(
        default=24.0, gt=0, description="How long an Idempotency-Key and its answer are kept."
    )
    idempotency_purge_interval_seconds: float = Field(default=300.0, gt=0)
    hold_sweep_interval_seconds: float = Field(
        default=30.0, gt=0, description="How often lapsed holds are marked EXPIRED in the database."
    )
    health_sample_seconds: float = Field(
        default=10.0,
        ge=0.5,
        le=60,
        description="How often each worker reads the metrics for GET /api/v1/health/summary.",
    )

    auth: AuthMode | None = Field(
        default=None,
        description=(
            "required or disabled. Unset: required, except on a loopback address while no API "
            "key exists. `serve` decides once at start and hands the answer to its workers."
        ),
    )
    bootstrap_api_key: SecretStr | None = Field(
        default=None,
        description="An API key (32+ characters) stored at start with wallets:read and write.",
    )
    rate_limit_per_second: float | None = Field(
        default=None,
        ge=0,
        description="Requests per second per API key in each worker; 0: none. Unset: none on "
        "a loopback address, 100 elsewhere.",
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="Requests a key may send at once.")

    events_nats_url: str | None = Field(
        default=None,
        description="nats://host:4222: publish every event to NATS JetStream (stream "
        "WALLET_EVENTS, subjects wallet.events.<type>).",
    )
    events_amqp_url: str | None = Field(
        default=None,
        description="amqp://user:pass@host:5672/: publish every event to RabbitMQ (topic "
        "exchange wallet.events, routing key = type).",
    )
    events_relay: bool = Field(
        default=True,
        description="Number committed events and deliver them (one worker of all replicas at "
        "a time does). Off: the feed stops advancing in this instance.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Accept webhook URLs that resolve to loopback, link-local or private "
        "addresses (for tests and closed networks).",
    )
    webhook_retry_hours: float = Field(
        default=24.0, gt=0, description="How long a failing delivery is retried."
    )
    webhook_backoff_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The first retry's delay; each next one doubles (up to an hour), jittered.",
    )

    @field_validator("events_nats_url", "events_amqp_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str | None) -> str | None:
        return None if value is None else checked(value)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "bootstrap_api_key", "database_url", "otel_exporter_otlp_endpoint", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes an unset variable as an empty string.
        return None if value == "" else value


def export_database_url(url: str) -> None:
    """Hand the database URL to worker processes, which read their settings from the environment."""
    os.environ[DATABASE_URL_ENV] = url


def child_environment(**values: str) -> dict[str, str]:
    """This process's environment with `values` set, for a child process that reads its own
    settings (the service under benchmark, its audit). WALLET_DATABASE_URL is left out, so a
    DATABASE_URL among `values` is the only database the child can pick."""
    inherited = {k: v for k, v in os.environ.items() if k != "WALLET_DATABASE_URL"}
    return {**inherited, **values}


def export_access(auth: AuthMode, rate_limit_per_second: float) -> None:
    """Hand the access decisions `serve` made at start to the workers, so that all agree."""
    os.environ[AUTH_ENV] = auth
    os.environ[RATE_LIMIT_ENV] = repr(rate_limit_per_second)


BUILD_REVISION_ENV = "WALLET_BUILD_REVISION"


def export_build_revision(revision: str) -> None:
    """Hand the commit `serve` found to the workers, for their wallet_build_info."""
    os.environ[BUILD_REVISION_ENV] = revision


def export_metrics_dir(path: Path) -> None:
    """Have worker processes keep their metrics in files there, for a scrape to add them up."""
    os.environ[METRICS_DIR_ENV] = str(path)
