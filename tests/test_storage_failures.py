"""When the database fails a request: conflicts run again, lost connections are a 503 and heal."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from decimal import Decimal

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.support import (
    balance_of,
    ledger_problems,
    plain_dsn,
    scratch_database,
    wait_for_blocked_service_statements,
)
from wallet_api.ledger import retry
from wallet_api.ledger.commands import Decided
from wallet_api.ledger.history import HistoryQuery
from wallet_api.ledger.idempotency import ANONYMOUS, IdempotencyKey
from wallet_api.ledger.ledger import Ledger
from wallet_api.ledger.records import Transfer
from wallet_api.ledger.rules import OperationType
from wallet_api.settings import Settings
from wallet_api.storage import migrations
from wallet_api.storage.database import Database
from wallet_api.storage.errors import (
    StorageConflict,
    StorageUnavailable,
    conflict_reason,
    is_unavailable,
)

RETRIES = "wallet_db_transaction_retries_total"


def retries(reason: str) -> float:
    return REGISTRY.get_sample_value(RETRIES, {"reason": reason}) or 0.0


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    settings = Settings(_env_file=None, db_pool_size=2, db_pool_overflow=0)
    database = Database(settings, database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def ledger(database: Database) -> Ledger:
    return Ledger(database, default_currency="USD", idempotency_ttl=timedelta(hours=1))


async def funded_wallets(ledger: Ledger, count: int, funds: str = "100.00") -> list[uuid.UUID]:
    # Python orders UUIDs as PostgreSQL does: by their bytes.
    wallet_ids = sorted(uuid.uuid4() for _ in range(count))
    for wallet_id in wallet_ids:
        await ledger.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal(funds))
    return wallet_ids


class FakeDriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def driver_error(sqlstate: str) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", {}, FakeDriverError(sqlstate))


def test_serialization_failures_and_deadlocks_are_conflicts_not_outages() -> None:
    assert conflict_reason(driver_error("40001")) == "serialization_failure"
    assert conflict_reason(driver_error("40P01")) == "deadlock"
    assert conflict_reason(asyncpg.exceptions.SerializationError("")) == "serialization_failure"
    assert conflict_reason(asyncpg.exceptions.DeadlockDetectedError("")) == "deadlock"
    assert conflict_reason(driver_error("23505")) is None
    assert conflict_reason(driver_error("57P01")) is None
    assert is_unavailable(driver_error("57P01"))
    # What the driver raises when the server ends a session in the middle of an operation.
    assert is_unavailable(asyncpg.InternalClientError("cannot switch to state 12"))
    assert not is_unavailable(driver_error("40001"))


async def test_a_conflict_runs_the_transaction_again_until_it_goes_through() -> None:
    attempts = []

    async def transaction() -> str:
        attempts.append(time.monotonic())
        if len(attempts) < retry.ATTEMPTS:
            raise StorageConflict("serialization_failure")
        return "committed"

    before = retries("serialization_failure")
    assert await retry.retry_conflicts(transaction) == "committed"
    assert len(attempts) == retry.ATTEMPTS
    assert retries("serialization_failure") == before + retry.ATTEMPTS - 1
    assert attempts[-1] - attempts[0] < 1, "the backoff is short"


async def test_a_conflict_on_every_attempt_gives_up_with_a_storage_conflict() -> None:
    attempts = 0

    async def transaction() -> None:
        nonlocal attempts
        attempts += 1
        raise StorageConflict("deadlock")

    with pytest.raises(StorageConflict):
        await retry.retry_conflicts(transaction)
    assert attempts == retry.ATTEMPTS
    # The HTTP layer answers it like an outage: 503 with Retry-After.
    assert issubclass(StorageConflict, StorageUnavailable)


async def test_a_lost_connection_is_never_run_again_inside_the_service() -> None:
    attempts = 0

    async def transaction() -> None:
        nonlocal attempts
        attempts += 1
        raise StorageUnavailable("ConnectionDoesNotExistError")

    with pytest.raises(StorageUnavailable):
        await retry.retry_conflicts(transaction)
    assert attempts == 1, "its COMMIT may have landed: only the client, with its key, may retry"


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-key"])
async def test_a_transfer_rolled_back_by_a_deadlock_runs_again_and_lands_once(
    ledger: Ledger, db: asyncpg.Connection, database_url: str, keyed: bool
) -> None:
    low, high = await funded_wallets(ledger, 2)
    before = retries("deadlock")
    key = IdempotencyKey(ANONYMOUS, f"deadlock-{uuid.uuid4()}") if keyed else None
    other = await asyncpg.connect(plain_dsn(database_url))
    try:
        # Only the ledger's side checks for the deadlock in time, so it is the one rolled back.
        await other.execute("SET deadlock_timeout = '60s'")
        async with other.transaction():
            await other.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", high)
            moving = asyncio.create_task(ledger.transfers.create(low, high, Decimal("10.00"), key))
            # The transfer locks `low`, then waits for `high`; taking `low` closes the cycle.
            await wait_for_blocked_service_statements(db)
            await other.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", low)
    finally:
        await other.close()

    decided = await asyncio.wait_for(moving, timeout=30)
    assert isinstance(decided.outcome, Transfer)
    assert retries("deadlock") == before + 1
    transfers = await db.fetchval("SELECT count(*) FROM transfers WHERE from_wallet_id = $1", low)
    assert transfers == 1
    assert await balance_of(db, low) == Decimal("90.00")
    assert await balance_of(db, high) == Decimal("110.00")
    assert await ledger_problems(db, [low, high]) == []


async def test_under_serializable_isolation_conflicting_transfers_retry_and_conserve_money(
    database_url: str, db: asyncpg.Connection
) -> None:
    # What a distributed SQL engine does to every transaction: SERIALIZABLE, 40001 on conflict.
    settings = Settings(_env_file=None, db_pool_size=10, db_pool_overflow=0)
    database = Database(settings, database_url, isolation_level="SERIALIZABLE")
    # Without group commit: queued in one worker, these transfers would share one transaction
    # and never conflict; one transaction each is what several workers or replicas amount to.
    ledger = Ledger(
        database, default_currency="USD", idempotency_ttl=timedelta(hours=1), group_commit=False
    )
    try:
        first, second = await funded_wallets(ledger, 2, funds="1000.00")
        before = retries("serialization_failure")
        plan = [(first, second), (second, first)] * 10
        outcomes = await asyncio.gather(
            *(ledger.transfers.create(a, b, Decimal("1.00")) for a, b in plan),
            return_exceptions=True,
        )
    finally:
        await database.dispose()

    landed = [(a, b) for (a, b), o in zip(plan, outcomes, strict=True) if isinstance(o, Decided)]
    assert all(isinstance(o, Decided | StorageConflict) for o in outcomes), outcomes
    assert all(isinstance(o.outcome, Transfer) for o in outcomes if isinstance(o, Decided))
    assert landed, "some transfers went through"
    assert retries("serialization_failure") > before
    moved_out = sum(1 for a, _ in landed if a == first) - sum(1 for a, _ in landed if a == second)
    assert await balance_of(db, first) == Decimal("1000.00") - moved_out
    assert await balance_of(db, second) == Decimal("1000.00") + moved_out
    assert await ledger_problems(db, [first, second]) == []


async def backend_pids(database: Database, count: int) -> set[int]:
    """The server processes behind both pools' connections, all of them checked out at once."""
    async with contextlib.AsyncExitStack() as stack:
        connections = [await stack.enter_async_context(database.connect()) for _ in range(count)]
        hot = [await stack.enter_async_context(database.hot()) for _ in range(count)]
        pids = {
            (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            for connection in connections
        }
        return pids | {await connection.fetchval("SELECT pg_backend_pid()") for connection in hot}


async def test_connections_lost_to_a_database_restart_cost_at_most_one_503_then_pools_heal(
    ledger: Ledger, database: Database, db: asyncpg.Connection
) -> None:
    (wallet_id,) = await funded_wallets(ledger, 1)
    pids = list(await backend_pids(database, 2))
    # As a restart does: the server ends them (waiting up to 5 s for each to exit).
    ended = await db.fetchval(
        "SELECT bool_and(pg_terminate_backend(pid, 5000)) FROM unnest($1::int[]) AS pid", pids
    )
    assert ended

    # The driver's pool replaces a connection it sees closed before lending it; SQLAlchemy's
    # learns on first use, and that statement never reached the server: not a 500, a 503 the
    # client may retry, after which the whole pool connects afresh.
    with pytest.raises(StorageUnavailable):
        await ledger.history.page(wallet_id, HistoryQuery(10, None, None, None, None))
    failures = 0
    for _ in range(4):
        try:
            await ledger.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal("1.00"))
        except StorageUnavailable:
            failures += 1
    assert failures <= 1
    assert await balance_of(db, wallet_id) == Decimal("100.00") + 4 - failures
    await ledger.wallets.create(None, "USD")
    assert await ledger.is_ready()


@pytest.fixture
def own_database_url(admin_url: str) -> Iterator[str]:
    """A database of its own, which a test may turn read-only."""
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        yield url


@pytest.fixture
async def own_ledger(own_database_url: str) -> AsyncIterator[tuple[Ledger, Database, str]]:
    settings = Settings(_env_file=None, db_pool_size=2, db_pool_overflow=0)
    database = Database(settings, own_database_url)
    try:
        yield (
            Ledger(database, "USD", idempotency_ttl=timedelta(hours=1)),
            database,
            own_database_url,
        )
    finally:
        await database.dispose()


def test_a_read_only_refusal_is_an_outage_not_a_failure() -> None:
    # 25006: the node was demoted by a failover; the new primary takes the retry.
    assert is_unavailable(driver_error("25006"))
    assert conflict_reason(driver_error("25006")) is None


async def test_a_database_turned_read_only_is_a_503_and_not_ready_then_pools_heal(
    own_ledger: tuple[Ledger, Database, str],
) -> None:
    """What a failover does to the service's connections, on one server: the node they reach
    refuses writes (SQLSTATE 25006, as a demoted primary does) until they find a writable one."""
    ledger, database, url = own_ledger
    (wallet_id,) = await funded_wallets(ledger, 1)
    name = make_url(url).database
    db = await asyncpg.connect(plain_dsn(url))
    try:
        await _read_only_then_healed(ledger, database, db, name, wallet_id)
    finally:
        await db.close()


async def _read_only_then_healed(
    ledger: Ledger, database: Database, db: asyncpg.Connection, name: str, wallet_id: uuid.UUID
) -> None:
    await db.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        pids = list(await backend_pids(database, 2))
        await db.execute("SELECT pg_terminate_backend(pid, 5000) FROM unnest($1::int[]) pid", pids)
        for _ in range(3):
            with pytest.raises(StorageUnavailable):
                await ledger.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal("1.00"))
            with pytest.raises(StorageUnavailable):
                await ledger.purge_expired_idempotency_keys()
        assert not await ledger.is_ready()
    finally:
        await db.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')

    # The pooled connections are still read-only sessions: a failure drops them all, so a few
    # requests heal both pools, with no restart.
    failures = {"move": 0, "purge": 0}
    for _ in range(4):
        try:
            await ledger.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal("1.00"))
        except StorageUnavailable:
            failures["move"] += 1
        try:
            # A DELETE, on SQLAlchemy's pool.
            await ledger.purge_expired_idempotency_keys()
        except StorageUnavailable:
            failures["purge"] += 1
    assert failures["move"] <= 1
    assert failures["purge"] <= 1
    assert await ledger.is_ready()
    assert await balance_of(db, wallet_id) == Decimal("100.00") + 4 - failures["move"]
