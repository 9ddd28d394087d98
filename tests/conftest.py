"""Fixtures: a real PostgreSQL (embedded, or WALLET_TEST_DATABASE_URL) and a running service."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.support import (
    RUNNING_SERVICE_LOGS,
    create_key,
    plain_dsn,
    running_service,
    scratch_database,
    service_environment,
)
from wallet_api.storage import migrations
from wallet_api.storage.embedded import embedded_database


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A failing test's report ends with the last lines of every running service's log: on CI
    that log is gone with the checkout, and a dropped connection is explained only there."""
    report: pytest.TestReport = yield
    if report.failed:
        for log in RUNNING_SERVICE_LOGS:
            tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(no log)"
            report.sections.append((f"service log {log.parent.name}/{log.name}", tail))
    return report


@pytest.fixture(scope="session")
def admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server the tests may create databases on: the configured one, or a throwaway embedded."""
    configured = os.environ.get("WALLET_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with embedded_database(tmp_path_factory.mktemp("embedded") / "pgdata") as url:
        yield url


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """A fresh database of this test run, at the newest migration."""
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def service_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service with two workers, as `wallet-api serve` runs it, on the test database."""
    # The tests run the hold sweep themselves: the service's own (every 30 s) could mark a hold
    # EXPIRED between a test's steps.
    # Webhook receivers in the tests listen on loopback, and retry quickly. The health summary
    # gets a point a second.
    env = service_environment(
        DATABASE_URL=database_url,
        WALLET_WORKERS="2",
        WALLET_HOLD_SWEEP_INTERVAL_SECONDS="3600",
        WALLET_WEBHOOKS_ALLOW_PRIVATE="true",
        WALLET_WEBHOOK_BACKOFF_SECONDS="0.2",
        WALLET_HEALTH_SAMPLE_SECONDS="1",
        # The workers' lifecycle (a worker that died or was restarted) is logged at info; a
        # line per request is not wanted.
        WALLET_LOG_LEVEL="info",
        WALLET_ACCESS_LOG="false",
    )
    log = tmp_path_factory.mktemp("service") / "service.log"
    with running_service(env, log, ("--no-migrate",)) as (base_url, _):
        yield base_url


@pytest.fixture
async def client(service_url: str) -> AsyncIterator[httpx.AsyncClient]:
    # Idle connections are dropped before the service's keep-alive (5 s) can close one under a
    # request being sent: httpx's default is 5 s too, the likely cause of a request of a batch
    # lost to a closed connection on a loaded CI machine.
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=service_url, timeout=60, limits=limits) as http:
        yield http


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def secured_database_url(admin_url: str) -> Iterator[str]:
    """A database of its own for the service that requires keys, so that the keys created on it
    never turn auth on for `service_url`, which runs without keys on loopback."""
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def secured_service(
    secured_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The service with WALLET_AUTH=required, and the path of its log. The console's health
    panel reads its summary, which gets a point a second."""
    env = service_environment(
        DATABASE_URL=secured_database_url,
        WALLET_WORKERS="1",
        WALLET_AUTH="required",
        WALLET_HEALTH_SAMPLE_SECONDS="1",
    )
    log = tmp_path_factory.mktemp("secured") / "service.log"
    with running_service(env, log, ("--no-migrate",)) as (base_url, _):
        yield base_url, log


@pytest.fixture(scope="session")
def full_key(secured_database_url: str) -> str:
    """A key with wallets:read and wallets:write on the secured service's database."""
    return asyncio.run(create_key(secured_database_url, "wallets:read", "wallets:write"))


@pytest.fixture
async def secured_client(
    secured_service: tuple[str, Path], full_key: str
) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {full_key}"}
    async with httpx.AsyncClient(base_url=secured_service[0], timeout=60, headers=headers) as http:
        yield http
