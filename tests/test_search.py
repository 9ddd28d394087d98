"""The reference lookup across wallets: what carries a reference, as each GET shows it."""

from __future__ import annotations

import uuid

import httpx

from tests.support import create_wallet, operation_url

SEARCH = "/api/v1/search"


async def deposit_with(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, amount: str, reference: str
) -> dict[str, object]:
    body = {"operation_type": "DEPOSIT", "amount": amount, "reference": reference}
    made = await client.post(operation_url(wallet_id), json=body)
    assert made.status_code == 200, made.text
    return made.json()


async def test_a_reference_is_found_in_every_wallet_newest_first(
    client: httpx.AsyncClient,
) -> None:
    reference = f"invoice-{uuid.uuid4()}"
    first, second = uuid.uuid4(), uuid.uuid4()
    older = await deposit_with(client, first, "10.00", reference)
    newer = await deposit_with(client, second, "20.00", reference)
    await deposit_with(client, first, "1.00", f"other-{uuid.uuid4()}")

    found = await client.get(SEARCH, params={"reference": reference})

    assert found.status_code == 200, found.text
    assert found.json() == {
        "reference": reference,
        "operations": [newer, older],
        "transfers": [],
        "holds": [],
    }


async def test_a_transfer_is_found_with_its_two_legs_and_a_hold_by_its_reference(
    client: httpx.AsyncClient,
) -> None:
    reference = f"order-{uuid.uuid4()}"
    payer = await create_wallet(client, funds="50.00")
    payee = await create_wallet(client)
    body = {
        "from_wallet_id": str(payer),
        "to_wallet_id": str(payee),
        "amount": "12.50",
        "reference": reference,
    }
    transfer = await client.post("/api/v1/transfers", json=body)
    assert transfer.status_code == 201, transfer.text
    held = await client.post(
        f"/api/v1/wallets/{payer}/holds", json={"amount": "5.00", "reference": reference}
    )
    assert held.status_code == 201, held.text

    found = (await client.get(SEARCH, params={"reference": reference})).json()

    assert found["transfers"] == [transfer.json()]
    assert found["holds"] == [held.json()]
    legs = {(leg["wallet_id"], leg["operation_type"]) for leg in found["operations"]}
    assert legs == {(str(payer), "TRANSFER_OUT"), (str(payee), "TRANSFER_IN")}


async def test_search_gives_exact_string_amounts_when_asked(client: httpx.AsyncClient) -> None:
    reference = f"big-{uuid.uuid4()}"
    await deposit_with(client, uuid.uuid4(), "987654321098.76", reference)
    found = await client.get(
        SEARCH, params={"reference": reference}, headers={"Wallet-Amount-Format": "string"}
    )
    (operation,) = found.json()["operations"]
    assert operation["amount"] == "987654321098.76"
    assert operation["balance_after"] == "987654321098.76"


async def test_search_returns_at_most_limit_of_each_kind(client: httpx.AsyncClient) -> None:
    reference = f"shared-{uuid.uuid4()}"
    for _ in range(3):
        await deposit_with(client, uuid.uuid4(), "1.00", reference)
    found = await client.get(SEARCH, params={"reference": reference, "limit": 2})
    assert len(found.json()["operations"]) == 2


async def test_an_unknown_reference_finds_nothing(client: httpx.AsyncClient) -> None:
    found = await client.get(SEARCH, params={"reference": f"none-{uuid.uuid4()}"})
    assert found.status_code == 200
    assert found.json()["operations"] == found.json()["transfers"] == found.json()["holds"] == []


async def test_a_missing_empty_or_too_long_reference_or_a_bad_limit_is_refused(
    client: httpx.AsyncClient,
) -> None:
    for params in (
        {},
        {"reference": ""},
        {"reference": "x" * 129},
        {"reference": "x", "limit": 0},
        {"reference": "x", "limit": 101},
        {"reference": "x", "limit": "many"},
        {"reference": "x", "unknown": "1"},
        {"reference": "a\x00b"},  # PostgreSQL's text cannot hold it: it found a 500 once
        {"reference": "tab\there"},
        {"reference": "caf\u00e9"},
    ):
        refused = await client.get(SEARCH, params=params)
        assert refused.status_code == 422, params
        assert refused.json()["code"] == "validation_error", params
