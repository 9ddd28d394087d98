"""Fixtures of the fault tests: a PostgreSQL they may restart, a fresh database on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.postgres import RestartablePostgres
from tests.support import scratch_database, service_environment
from wallet_api.storage import migrations


@pytest.fixture(scope="package")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartablePostgres]:
    """Always an embedded server of its own, whatever WALLET_TEST_DATABASE_URL says: the tests
    stop and start it."""
    server = RestartablePostgres(tmp_path_factory.mktemp("faults") / "pgdata")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fault_database_url(postgres: RestartablePostgres) -> Iterator[str]:
    with scratch_database(postgres.url) as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture
def fault_env(fault_database_url: str) -> dict[str, str]:
    """The service as `wallet-api serve` runs it: two workers, logging every request."""
    return service_environment(
        DATABASE_URL=fault_database_url, WALLET_WORKERS="2", WALLET_LOG_LEVEL="info"
    )
