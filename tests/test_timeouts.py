"""A request that cannot get a database connection or a row lock in time gets a quick 503 with
Retry-After; it never hangs, and it changes nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tests.support import (
    balance_of,
    deposit,
    ledger_problems,
    plain_dsn,
    running_service,
    service_environment,
    withdraw,
)

LOCK_TIMEOUT_SECONDS = 1.0
POOL_TIMEOUT_SECONDS = 0.5


@pytest.fixture(scope="module")
def impatient_service_url(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One worker with one connection, short lock and pool timeouts."""
    env = service_environment(
        DATABASE_URL=database_url,
        WALLET_WORKERS="1",
        WALLET_DB_POOL_SIZE="1",
        WALLET_DB_POOL_OVERFLOW="0",
        WALLET_DB_POOL_TIMEOUT_SECONDS=str(POOL_TIMEOUT_SECONDS),
        WALLET_DB_LOCK_TIMEOUT_MS=str(int(LOCK_TIMEOUT_SECONDS * 1000)),
    )
    log = tmp_path_factory.mktemp("impatient") / "service.log"
    with running_service(env, log, ("--no-migrate",)) as (base_url, _):
        yield base_url


@pytest.fixture
async def impatient(impatient_service_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=impatient_service_url, timeout=30) as http:
        yield http


async def lock_wallet(database_url: str, wallet_id: uuid.UUID) -> tuple[asyncpg.Connection, object]:
    """A connection holding the wallet's row lock in an open transaction."""
    connection = await asyncpg.connect(plain_dsn(database_url))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", wallet_id)
    return connection, transaction


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "service_unavailable"
    assert int(response.headers["retry-after"]) >= 1


async def test_a_withdrawal_behind_a_held_row_lock_gets_503_after_the_lock_timeout(
    impatient: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(impatient, wallet_id, 10)).status_code == 200
    connection, transaction = await lock_wallet(database_url, wallet_id)
    try:
        started = time.monotonic()
        response = await withdraw(impatient, wallet_id, 4)
        elapsed = time.monotonic() - started
    finally:
        await transaction.rollback()
        await connection.close()
    assert_unavailable(response)
    assert LOCK_TIMEOUT_SECONDS * 0.9 <= elapsed < LOCK_TIMEOUT_SECONDS + 3
    assert await balance_of(db, wallet_id) == 10
    assert (await withdraw(impatient, wallet_id, 4)).status_code == 200
    assert await ledger_problems(db, [wallet_id]) == []


async def test_a_request_that_cannot_get_a_connection_gets_503_after_the_pool_timeout(
    impatient: httpx.AsyncClient, database_url: str
) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(impatient, wallet_id, 10)).status_code == 200
    connection, transaction = await lock_wallet(database_url, wallet_id)
    try:
        # The withdrawal holds the worker's only connection while it waits for the lock.
        blocked = asyncio.create_task(withdraw(impatient, wallet_id, 1))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        response = await impatient.get(f"/api/v1/wallets/{uuid.uuid4()}")
        elapsed = time.monotonic() - started
        assert_unavailable(await blocked)
    finally:
        await transaction.rollback()
        await connection.close()
    assert_unavailable(response)
    assert elapsed < POOL_TIMEOUT_SECONDS + 2
