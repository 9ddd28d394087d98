"""Transfers: both wallets change or neither does, exactly, and never deadlock."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.support import (
    assert_books_balance,
    balance_of,
    create_wallet,
    ledger_problems,
    transfer,
    wallet_json,
)


async def test_transfer_moves_money_and_writes_both_legs(client: httpx.AsyncClient) -> None:
    source = await create_wallet(client, funds="100.00")
    target = await create_wallet(client)
    response = await transfer(client, source, target, "30.25")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "from_wallet_id",
        "to_wallet_id",
        "amount",
        "created_at",
        "reference",
        "metadata",
    }
    assert (body["from_wallet_id"], body["to_wallet_id"]) == (str(source), str(target))
    assert '"amount":30.25' in response.text

    assert (await client.get(f"/api/v1/transfers/{body['id']}")).json() == body
    assert (await wallet_json(client, source))["balance"] == 69.75
    assert (await wallet_json(client, target))["balance"] == 30.25
    out_leg = (await client.get(f"/api/v1/wallets/{source}/operations")).json()["items"][0]
    in_leg = (await client.get(f"/api/v1/wallets/{target}/operations")).json()["items"][0]
    assert (out_leg["operation_type"], in_leg["operation_type"]) == ("TRANSFER_OUT", "TRANSFER_IN")
    assert out_leg["transfer_id"] == in_leg["transfer_id"] == body["id"]


async def test_unknown_transfer_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/transfers/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["code"] == "transfer_not_found"


@pytest.mark.parametrize("side", ["source", "target"])
async def test_transfer_with_an_unknown_wallet_returns_404_and_creates_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, side: str
) -> None:
    known = await create_wallet(client, funds="10.00")
    unknown = uuid.uuid4()
    pair = (unknown, known) if side == "source" else (known, unknown)
    response = await transfer(client, *pair, "1.00")
    assert response.status_code == 404
    assert response.json()["code"] == "wallet_not_found"
    assert await balance_of(db, unknown) is None
    assert await balance_of(db, known) == Decimal("10.00")


async def test_transfer_to_the_same_wallet_returns_422(client: httpx.AsyncClient) -> None:
    wallet = await create_wallet(client, funds="10.00")
    response = await transfer(client, wallet, wallet, "1.00")
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_transfer_between_currencies_returns_422_currency_mismatch(
    client: httpx.AsyncClient,
) -> None:
    source = await create_wallet(client, "EUR", funds="10.00")
    target = await create_wallet(client, "USD")
    response = await transfer(client, source, target, "1.00")
    assert response.status_code == 422
    assert response.json()["code"] == "currency_mismatch"


async def test_transfer_above_available_funds_returns_400_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    source = await create_wallet(client, funds="10.00")
    target = await create_wallet(client)
    response = await transfer(client, source, target, "10.01")
    assert response.status_code == 400
    assert response.json()["code"] == "insufficient_funds"
    assert await balance_of(db, source) == Decimal("10.00")
    assert await balance_of(db, target) == Decimal("0.00")


async def test_transfer_amount_takes_the_currency_decimals(client: httpx.AsyncClient) -> None:
    source = await create_wallet(client, "JPY", funds="100")
    target = await create_wallet(client, "JPY")
    assert (await transfer(client, source, target, "1.5")).status_code == 422
    response = await transfer(client, source, target, 40)
    assert '"amount":40,' in response.text


async def test_transfer_with_an_idempotency_key_is_applied_once(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    source = await create_wallet(client, funds="10.00")
    target = await create_wallet(client)
    key = {"Idempotency-Key": f"transfer-{uuid.uuid4()}"}
    first, retry = [await transfer(client, source, target, "4.00", key) for _ in range(2)]
    assert first.status_code == retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    assert await balance_of(db, source) == Decimal("6.00")


async def test_parallel_opposite_transfers_never_deadlock(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    left = await create_wallet(client, funds="1000.00")
    right = await create_wallet(client, funds="1000.00")
    moves = [transfer(client, left, right, "1.00") for _ in range(100)]
    moves += [transfer(client, right, left, "2.00") for _ in range(100)]
    random.shuffle(moves)
    responses = await asyncio.gather(*moves)
    assert [r.status_code for r in responses] == [201] * 200, {r.text for r in responses}
    assert await balance_of(db, left) == Decimal("1100.00")
    assert await balance_of(db, right) == Decimal("900.00")


async def test_500_random_parallel_transfers_among_10_wallets_conserve_money(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallets = [await create_wallet(client, funds="100.00") for _ in range(10)]
    rng = random.Random(500)
    plan = [
        (*rng.sample(wallets, 2), str(Decimal(rng.randint(1, 5000)).scaleb(-2))) for _ in range(500)
    ]
    responses = await asyncio.gather(*(transfer(client, a, b, amount) for a, b, amount in plan))

    assert {r.status_code for r in responses} <= {201, 400}
    assert {r.json()["code"] for r in responses if r.status_code == 400} <= {"insufficient_funds"}
    balances = [await balance_of(db, wallet) for wallet in wallets]
    assert sum(balances) == Decimal("1000.00")
    assert min(balances) >= 0
    expected = dict.fromkeys(wallets, Decimal("100.00"))
    for (source, target, amount), response in zip(plan, responses, strict=True):
        if response.status_code == 201:
            expected[source] -= Decimal(amount)
            expected[target] += Decimal(amount)
    assert balances == [expected[wallet] for wallet in wallets]
    assert await ledger_problems(db, wallets) == []
    assert_books_balance(database_url)
