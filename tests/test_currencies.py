"""Explicit wallets: a currency fixed at creation decides how many decimals an amount has."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.support import deposit, operation_url, withdraw


async def create(client: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await client.post("/api/v1/wallets", json=body)


async def test_create_wallet_with_id_and_currency_returns_201(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    response = await create(client, id=str(wallet_id), currency="EUR")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == str(wallet_id)
    assert body["currency"] == "EUR"
    assert '"balance":0.00' in response.text
    assert body["created_at"] and body["updated_at"]
    read = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert read.json() == body


async def test_create_wallet_without_body_fields_generates_id_in_default_currency(
    client: httpx.AsyncClient,
) -> None:
    response = await create(client)
    assert response.status_code == 201
    assert uuid.UUID(response.json()["id"])
    assert response.json()["currency"] == "USD"


async def test_creating_an_existing_wallet_returns_409_wallet_exists(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = str(uuid.uuid4())
    assert (await create(client, id=wallet_id, currency="JPY")).status_code == 201
    again = await create(client, id=wallet_id, currency="EUR")
    assert again.status_code == 409
    assert again.json()["code"] == "wallet_exists"
    assert (await client.get(f"/api/v1/wallets/{wallet_id}")).json()["currency"] == "JPY"


@pytest.mark.parametrize(
    "body",
    [
        {"currency": "XYZ"},
        {"currency": "eur"},
        {"currency": "EURO"},
        {"currency": 978},
        {"id": "nope"},
        {"colour": "red"},
    ],
)
async def test_create_wallet_with_bad_fields_returns_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/api/v1/wallets", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_jpy_wallet_rejects_fractions_and_writes_whole_amounts(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    await create(client, id=str(wallet_id), currency="JPY")
    refused = await deposit(client, wallet_id, "1.5")
    assert refused.status_code == 422
    assert refused.json()["code"] == "validation_error"
    accepted = await deposit(client, wallet_id, 1500)
    assert accepted.status_code == 200
    assert '"amount":1500,' in accepted.text
    assert '"balance":1500,' in (await client.get(f"/api/v1/wallets/{wallet_id}")).text


async def test_kwd_wallet_takes_three_decimals(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    await create(client, id=str(wallet_id), currency="KWD")
    assert (await deposit(client, wallet_id, "1.234")).status_code == 200
    assert (await deposit(client, wallet_id, "0.0001")).status_code == 422
    withdrawn = await withdraw(client, wallet_id, "0.2")
    assert '"amount":0.200' in withdrawn.text
    assert '"balance":1.034' in (await client.get(f"/api/v1/wallets/{wallet_id}")).text


async def test_kwd_balance_limit_is_one_quadrillion_units(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    await create(client, id=str(wallet_id), currency="KWD")
    for _ in range(10):
        batch = [deposit(client, wallet_id, "1000000000000.000") for _ in range(100)]
        assert {r.status_code for r in await asyncio.gather(*batch)} == {200}
    over = await deposit(client, wallet_id, "0.001")
    assert over.json()["code"] == "balance_limit_exceeded"


async def test_auto_created_wallet_takes_the_default_currency(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, "2.50")).status_code == 200
    assert (await client.get(f"/api/v1/wallets/{wallet_id}")).json()["currency"] == "USD"


async def test_withdraw_from_a_wallet_in_another_currency_uses_its_decimals(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    await create(client, id=str(wallet_id), currency="JPY")
    await deposit(client, wallet_id, 100)
    body = {"operation_type": "WITHDRAW", "amount": "40"}
    response = await client.post(operation_url(wallet_id), json=body)
    assert response.status_code == 200
    assert '"balance":60,' in (await client.get(f"/api/v1/wallets/{wallet_id}")).text
