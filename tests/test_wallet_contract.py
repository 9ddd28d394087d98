"""The seed contract: reading a balance, depositing and withdrawing, over HTTP on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from decimal import Decimal

import asyncpg
import httpx

from tests.support import balance_of, deposit, operation_url, withdraw

OPERATION_FIELDS = {"id", "wallet_id", "operation_type", "amount", "created_at"}
LINK_FIELDS = {"transfer_id", "hold_id"}  # set only on transfer legs and hold captures
# Issue 14's additions: the balance right after, the reversed operation, the client's labels.
ADDED_FIELDS = {"balance_after", "reverses_id", "reference", "metadata"}


async def count_operations(db: asyncpg.Connection, wallet_id: uuid.UUID) -> int:
    return await db.fetchval("SELECT count(*) FROM operations WHERE wallet_id = $1", wallet_id)


async def test_get_unknown_wallet_returns_404_wallet_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/wallets/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "wallet_not_found"
    assert response.json()["detail"]


async def test_get_wallet_with_id_that_is_not_a_uuid_returns_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/wallets/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_first_deposit_creates_the_wallet_and_returns_the_stored_operation(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    response = await client.post(
        operation_url(wallet_id),
        content=b'{"operation_type": "DEPOSIT", "amount": 1000.00}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == OPERATION_FIELDS | LINK_FIELDS | ADDED_FIELDS
    assert body["transfer_id"] is None and body["hold_id"] is None
    assert isinstance(body["id"], int)
    assert body["wallet_id"] == str(wallet_id)
    assert body["operation_type"] == "DEPOSIT"
    assert '"amount":1000.00' in response.text
    created_at = datetime.fromisoformat(body["created_at"])
    assert created_at.utcoffset() is not None
    stored = await db.fetchrow("SELECT * FROM operations WHERE id = $1", body["id"])
    assert stored["wallet_id"] == wallet_id and stored["amount_minor"] == 100000
    assert await balance_of(db, wallet_id) == Decimal("1000.00")


async def test_balance_reads_back_exactly_with_two_decimals(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, "1000.00")).status_code == 200
    assert (await withdraw(client, wallet_id, "500.5")).status_code == 200
    response = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert response.status_code == 200
    assert response.json()["id"] == str(wallet_id)
    assert '"balance":499.50' in response.text


async def test_depositing_ten_cents_ten_times_reads_back_exactly_one(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    for _ in range(10):
        assert (await deposit(client, wallet_id, 0.1)).status_code == 200
    response = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert re.search(r'"balance":1\.00[,}]', response.text), response.text


async def test_amount_may_be_a_decimal_string_and_is_answered_as_a_number(
    client: httpx.AsyncClient,
) -> None:
    response = await deposit(client, uuid.uuid4(), "12.3")
    assert response.status_code == 200
    assert '"amount":12.30' in response.text


async def test_largest_operation_amount_is_accepted(client: httpx.AsyncClient) -> None:
    response = await deposit(client, uuid.uuid4(), "1000000000000.00")
    assert response.status_code == 200
    assert '"amount":1000000000000.00' in response.text


async def test_withdraw_from_unknown_wallet_returns_404_and_creates_no_wallet(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    response = await withdraw(client, wallet_id, 1)
    assert response.status_code == 404
    assert response.json()["code"] == "wallet_not_found"
    assert await balance_of(db, wallet_id) is None


async def test_withdraw_more_than_balance_returns_400_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "10.00")
    response = await withdraw(client, wallet_id, "10.01")
    assert response.status_code == 400
    assert response.json()["code"] == "insufficient_funds"
    assert await balance_of(db, wallet_id) == Decimal("10.00")
    assert await count_operations(db, wallet_id) == 1


async def test_withdraw_of_the_whole_balance_leaves_zero(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "10.00")
    assert (await withdraw(client, wallet_id, 10)).status_code == 200
    response = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert '"balance":0.00' in response.text


async def test_deposit_above_the_balance_limit_returns_400_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    # A thousand of the largest deposits, in parallel, reach the limit exactly.
    for _ in range(10):
        largest = (deposit(client, wallet_id, "1000000000000.00") for _ in range(100))
        responses = await asyncio.gather(*largest)
        assert {r.status_code for r in responses} == {200}
    assert await balance_of(db, wallet_id) == Decimal("1000000000000000.00")

    response = await deposit(client, wallet_id, "0.01")
    assert response.status_code == 400
    assert response.json()["code"] == "balance_limit_exceeded"
    assert await balance_of(db, wallet_id) == Decimal("1000000000000000.00")
    assert await count_operations(db, wallet_id) == 1000
    balance = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert '"balance":1000000000000000.00' in balance.text
