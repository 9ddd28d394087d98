"""Every setting of the service: its environment name, its default, read once."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DATABASE_URL_ENV = "DATABASE_URL"
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
        description="postgresql+asyncpg://user:pass@host:port/db; unset = embedded PostgreSQL.",
    )
    data_dir: Path = Field(
        default=Path(".wallet-data"),
        description="Data directory of the embedded PostgreSQL.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    log_level: str = "info"
    access_log: bool = Field(
        default=True, description="One JSON log line per request, at the info level."
    )
    metrics_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices(METRICS_DIR_ENV),
        description="Where the workers keep their metrics; `serve` sets it for them.",
    )

    db_pool_size: int = Field(default=4, ge=1, le=50, description="Connections per worker.")
    db_pool_overflow: int = Field(default=4, ge=0, le=50)
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


def export_database_url(url: str) -> None:
    """Hand the database URL to worker processes, which read their settings from the environment."""
    os.environ[DATABASE_URL_ENV] = url


def export_metrics_dir(path: Path) -> None:
    """Have worker processes keep their metrics in files there, for a scrape to add them up."""
    os.environ[METRICS_DIR_ENV] = str(path)
