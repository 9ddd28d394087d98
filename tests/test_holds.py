"""Holds: reserved funds leave the available balance until captured, voided or lapsed."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.support import (
    assert_books_balance,
    balance_of,
    create_wallet,
    deposit,
    hold,
    ledger_problems,
    transfer,
    wallet_json,
    withdraw,
)
from wallet_api.ledger.ledger import Ledger
from wallet_api.settings import Settings
from wallet_api.storage.database import Database

HOLD_FIELDS = {
    "id",
    "wallet_id",
    "amount",
    "status",
    "captured_amount",
    "expires_at",
    "created_at",
    "reference",
    "metadata",
}


async def test_hold_reserves_funds_from_the_available_balance_only(
    client: httpx.AsyncClient,
) -> None:
    wallet = await create_wallet(client, funds="100.00")
    response = await hold(client, wallet, "30.00")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == HOLD_FIELDS
    assert body["status"] == "ACTIVE" and body["captured_amount"] is None
    lifetime = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]
    )
    assert abs(lifetime - timedelta(days=7)) < timedelta(seconds=5)
    read = await wallet_json(client, wallet)
    assert (read["balance"], read["available_balance"]) == (100.0, 70.0)
    assert '"available_balance":70.00' in (await client.get(f"/api/v1/wallets/{wallet}")).text
    assert (await client.get(f"/api/v1/holds/{body['id']}")).json() == body


async def test_withdrawals_transfers_and_holds_check_the_available_balance(
    client: httpx.AsyncClient,
) -> None:
    wallet = await create_wallet(client, funds="100.00")
    other = await create_wallet(client)
    await hold(client, wallet, "80.00")
    for refused in (
        await withdraw(client, wallet, "20.01"),
        await transfer(client, wallet, other, "20.01"),
        await hold(client, wallet, "20.01"),
    ):
        assert refused.status_code == 400
        assert refused.json()["code"] == "insufficient_funds"
    assert (await withdraw(client, wallet, "20.00")).status_code == 200
    assert (await wallet_json(client, wallet))["available_balance"] == 0.0


async def test_capture_takes_part_of_the_hold_and_releases_the_rest(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet = await create_wallet(client, funds="100.00")
    hold_id = (await hold(client, wallet, "40.00")).json()["id"]
    response = await client.post(f"/api/v1/holds/{hold_id}/capture", json={"amount": "25.50"})
    assert response.status_code == 200
    assert response.json()["status"] == "CAPTURED"
    assert '"captured_amount":25.50' in response.text
    read = await wallet_json(client, wallet)
    assert (read["balance"], read["available_balance"]) == (74.5, 74.5)
    newest = (await client.get(f"/api/v1/wallets/{wallet}/operations")).json()["items"][0]
    assert newest["operation_type"] == "HOLD_CAPTURE"
    assert newest["hold_id"] == hold_id
    assert '"amount":25.50' in (await client.get(f"/api/v1/wallets/{wallet}/operations")).text
    assert await ledger_problems(db, [wallet]) == []


async def test_capture_without_a_body_takes_the_whole_hold(client: httpx.AsyncClient) -> None:
    wallet = await create_wallet(client, funds="10.00")
    hold_id = (await hold(client, wallet, "4.00")).json()["id"]
    response = await client.post(f"/api/v1/holds/{hold_id}/capture")
    assert response.status_code == 200
    assert response.json()["captured_amount"] == 4.0
    assert (await wallet_json(client, wallet))["balance"] == 6.0


async def test_capture_above_the_held_amount_returns_422_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    wallet = await create_wallet(client, funds="10.00")
    hold_id = (await hold(client, wallet, "4.00")).json()["id"]
    response = await client.post(f"/api/v1/holds/{hold_id}/capture", json={"amount": "4.01"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert (await client.get(f"/api/v1/holds/{hold_id}")).json()["status"] == "ACTIVE"


async def test_void_releases_the_funds_and_a_hold_ends_only_once(
    client: httpx.AsyncClient,
) -> None:
    wallet = await create_wallet(client, funds="10.00")
    hold_id = (await hold(client, wallet, "4.00")).json()["id"]
    voided = await client.post(f"/api/v1/holds/{hold_id}/void")
    assert voided.status_code == 200
    assert voided.json()["status"] == "VOIDED"
    assert (await wallet_json(client, wallet))["available_balance"] == 10.0
    for action in ("void", "capture"):
        again = await client.post(f"/api/v1/holds/{hold_id}/{action}")
        assert again.status_code == 409
        assert again.json()["code"] == "hold_not_active"


async def test_unknown_hold_returns_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get(f"/api/v1/holds/{uuid.uuid4()}"),
        await client.post(f"/api/v1/holds/{uuid.uuid4()}/void"),
        await client.post(f"/api/v1/holds/{uuid.uuid4()}/capture"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "hold_not_found"


async def test_hold_on_an_unknown_wallet_returns_404(client: httpx.AsyncClient) -> None:
    response = await hold(client, uuid.uuid4(), "1.00")
    assert response.status_code == 404
    assert response.json()["code"] == "wallet_not_found"


@pytest.mark.parametrize("seconds", [0, -1, 30 * 24 * 3600 + 1, "60", 1.5, True])
async def test_hold_lifetime_outside_one_second_to_30_days_returns_422(
    client: httpx.AsyncClient, seconds: object
) -> None:
    wallet = await create_wallet(client, funds="10.00")
    response = await client.post(
        f"/api/v1/wallets/{wallet}/holds", json={"amount": "1.00", "expires_in_seconds": seconds}
    )
    assert response.status_code == 422


async def test_capture_racing_void_on_one_hold_has_exactly_one_winner(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    for _ in range(10):
        wallet = await create_wallet(client, funds="10.00")
        hold_id = (await hold(client, wallet, "5.00")).json()["id"]
        capture, void = await asyncio.gather(
            client.post(f"/api/v1/holds/{hold_id}/capture"),
            client.post(f"/api/v1/holds/{hold_id}/void"),
        )
        assert sorted([capture.status_code, void.status_code]) == [200, 409]
        final = (await client.get(f"/api/v1/holds/{hold_id}")).json()["status"]
        winner = "CAPTURED" if capture.status_code == 200 else "VOIDED"
        assert final == winner
        expected = Decimal("5.00") if winner == "CAPTURED" else Decimal("10.00")
        assert await balance_of(db, wallet) == expected
        assert await ledger_problems(db, [wallet]) == []


async def test_a_lapsed_hold_frees_its_funds_at_once_without_any_sweep(
    client: httpx.AsyncClient,
) -> None:
    wallet = await create_wallet(client, funds="10.00")
    hold_id = (await hold(client, wallet, "8.00", seconds=1)).json()["id"]
    assert (await withdraw(client, wallet, "5.00")).status_code == 400
    await asyncio.sleep(1.2)
    assert (await client.get(f"/api/v1/holds/{hold_id}")).json()["status"] == "EXPIRED"
    assert (await wallet_json(client, wallet))["available_balance"] == 10.0
    assert (await withdraw(client, wallet, "5.00")).status_code == 200
    late = await client.post(f"/api/v1/holds/{hold_id}/capture")
    assert late.status_code == 409
    assert late.json()["code"] == "hold_not_active"


async def test_the_sweep_marks_lapsed_holds_expired_in_the_database(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet = await create_wallet(client, funds="10.00")
    hold_id = uuid.UUID((await hold(client, wallet, "3.00", seconds=1)).json()["id"])
    await asyncio.sleep(1.2)
    assert await db.fetchval("SELECT status FROM holds WHERE id = $1", hold_id) == "ACTIVE"

    database = Database(Settings(), database_url)
    ledger = Ledger(database, default_currency="USD", idempotency_ttl=timedelta(hours=24))
    try:
        while await ledger.holds.sweep():
            pass
    finally:
        await database.dispose()

    assert await db.fetchval("SELECT status FROM holds WHERE id = $1", hold_id) == "EXPIRED"
    assert await db.fetchval("SELECT held_minor FROM wallets WHERE id = $1", wallet) == 0
    assert_books_balance(database_url)


async def test_random_parallel_mix_of_transfers_holds_captures_and_voids_conserves_money(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallets = [await create_wallet(client, funds="200.00") for _ in range(6)]
    held = [(await hold(client, w, "20.00")).json()["id"] for w in wallets for _ in range(3)]
    rng = random.Random(4)

    def amount() -> str:
        return str(Decimal(rng.randint(1, 3000)).scaleb(-2))

    actions = [transfer(client, *rng.sample(wallets, 2), amount()) for _ in range(150)]
    actions += [hold(client, rng.choice(wallets), amount()) for _ in range(60)]
    actions += [client.post(f"/api/v1/holds/{h}/{rng.choice(['capture', 'void'])}") for h in held]
    actions += [
        client.post(f"/api/v1/holds/{h}/capture", json={"amount": "5.00"}) for h in held[:6]
    ]
    actions += [deposit(client, rng.choice(wallets), amount()) for _ in range(30)]
    rng.shuffle(actions)
    responses = await asyncio.gather(*actions)
    assert all(r.status_code < 500 for r in responses), {r.text for r in responses}
    assert {r.status_code for r in responses} <= {200, 201, 400, 409}

    captured = await db.fetchval(
        "SELECT COALESCE(sum(amount_minor), 0) FROM operations"
        " WHERE operation_type = 'HOLD_CAPTURE' AND wallet_id = ANY($1::uuid[])",
        wallets,
    )
    deposited = await db.fetchval(
        "SELECT sum(amount_minor) FROM operations"
        " WHERE operation_type = 'DEPOSIT' AND wallet_id = ANY($1::uuid[])",
        wallets,
    )
    total = sum([await balance_of(db, w) for w in wallets], Decimal(0))
    assert total == Decimal(deposited - captured).scaleb(-2)
    for wallet in wallets:
        read = await wallet_json(client, wallet)
        assert 0 <= read["available_balance"] <= read["balance"]
    assert await ledger_problems(db, wallets) == []
    assert_books_balance(database_url)
