"""Group commit: queued operations on a hot wallet land together, each with its own outcome."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.support import assert_books_balance, balance_of, deposit, ledger_problems, withdraw
from wallet_api.ledger.errors import InsufficientFunds, InvalidAmount
from wallet_api.ledger.operations import Ledger, Operation, OperationType
from wallet_api.settings import Settings
from wallet_api.storage.database import Database


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    database = Database(Settings(db_pool_size=4, db_pool_overflow=0), database_url)
    try:
        yield Ledger(database, default_currency="USD", idempotency_ttl=timedelta(hours=24))
    finally:
        await database.dispose()


async def test_parallel_deposits_on_one_wallet_are_committed_in_batches(
    ledger: Ledger, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    results = await asyncio.gather(
        *(ledger.apply(wallet_id, OperationType.DEPOSIT, Decimal("0.01")) for _ in range(300))
    )
    assert ledger.group_commit is not None
    assert ledger.group_commit.stats.largest > 1
    assert len({operation.id for operation in results}) == 300
    assert await balance_of(db, wallet_id) == Decimal("3.00")
    assert await ledger_problems(db, [wallet_id]) == []


async def test_a_withdrawal_that_would_overdraw_fails_alone_inside_its_batch(
    ledger: Ledger, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await ledger.apply(wallet_id, OperationType.DEPOSIT, Decimal("10.00"))
    moves = [(OperationType.WITHDRAW, Decimal("3.00"))] * 8
    moves += [(OperationType.DEPOSIT, Decimal("1.00"))] * 8
    moves += [(OperationType.WITHDRAW, Decimal("0.001"))] * 2
    outcomes = await asyncio.gather(
        *(ledger.apply(wallet_id, kind, amount) for kind, amount in moves),
        return_exceptions=True,
    )
    assert ledger.group_commit is not None and ledger.group_commit.stats.largest > 1
    landed = [o for o in outcomes if isinstance(o, Operation)]
    refused = [o for o in outcomes if not isinstance(o, Operation)]
    assert {type(o) for o in refused} <= {InsufficientFunds, InvalidAmount}
    assert sum(isinstance(o, InvalidAmount) for o in refused) == 2
    assert sum(o.operation_type is OperationType.DEPOSIT for o in landed) == 8
    withdrawn = sum(o.operation_type is OperationType.WITHDRAW for o in landed)
    assert 1 <= withdrawn <= 6
    assert await balance_of(db, wallet_id) == Decimal("18.00") - 3 * withdrawn
    assert await ledger_problems(db, [wallet_id]) == []


async def test_keyed_and_unkeyed_requests_on_a_hot_wallet_move_money_once_each(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "100.00")
    keys = [f"hot-{uuid.uuid4()}" for _ in range(20)]
    body = {"operation_type": "DEPOSIT", "amount": "1.00"}
    url = f"/api/v1/wallets/{wallet_id}/operation"
    keyed = [client.post(url, json=body, headers={"Idempotency-Key": k}) for k in keys * 3]
    plain = [withdraw(client, wallet_id, "0.50") for _ in range(100)]
    responses = await asyncio.gather(*keyed, *plain)
    assert all(r.status_code in (200, 409) for r in responses[: len(keyed)])
    assert all(r.status_code == 200 for r in responses[len(keyed) :])
    deposits = await db.fetchval(
        "SELECT count(*) FROM operations WHERE wallet_id = $1 AND operation_type = 'DEPOSIT'",
        wallet_id,
    )
    assert deposits == 1 + len(keys)
    assert await balance_of(db, wallet_id) == Decimal("100.00") + len(keys) - Decimal("50.00")
    assert_books_balance(database_url)


async def test_a_read_shared_with_others_still_sees_every_write_acknowledged_before_it(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "0.01")
    acknowledged = 1
    stale: list[tuple[int, str]] = []

    async def write_then_read() -> None:
        nonlocal acknowledged
        assert (await deposit(client, wallet_id, "0.01")).status_code == 200
        acknowledged += 1
        floor = acknowledged
        read = await client.get(f"/api/v1/wallets/{wallet_id}")
        balance = json.loads(read.text, parse_float=Decimal)["balance"]
        if balance * 100 < floor:
            stale.append((floor, str(balance)))

    async def reader() -> None:
        for _ in range(20):
            await client.get(f"/api/v1/wallets/{wallet_id}")

    await asyncio.gather(*(write_then_read() for _ in range(150)), *(reader() for _ in range(20)))
    assert stale == []
    assert '"balance":1.51' in (await client.get(f"/api/v1/wallets/{wallet_id}")).text
