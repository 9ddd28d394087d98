"""Reversals: undo all or part of an operation or a transfer, never more than the original."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import asyncpg
import httpx

from tests.support import (
    assert_books_balance,
    create_wallet,
    deposit,
    ledger_problems,
    transfer,
    wallet_json,
    withdraw,
)


async def reverse(
    client: httpx.AsyncClient, operation_id: object, amount: str | None = None, **headers: str
) -> httpx.Response:
    body = {} if amount is None else {"amount": amount}
    return await client.post(
        f"/api/v1/operations/{operation_id}/reverse", json=body, headers=headers
    )


async def balance(client: httpx.AsyncClient, wallet_id: uuid.UUID) -> Decimal:
    return Decimal(str((await wallet_json(client, wallet_id))["balance"]))


async def test_reversing_a_withdrawal_gives_the_money_back_and_keeps_the_original(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = await create_wallet(client, funds="100.00")
    taken = (await withdraw(client, wallet_id, "30.00")).json()
    response = await reverse(client, taken["id"], "10.00")
    assert response.status_code == 201, response.text
    (entry,) = response.json()["entries"]
    assert entry["operation_type"] == "REVERSAL"
    assert entry["reverses_id"] == taken["id"]
    assert Decimal(str(entry["amount"])) == Decimal("10.00")
    assert Decimal(str(entry["balance_after"])) == Decimal("80.00")
    assert await balance(client, wallet_id) == Decimal("80.00")
    rest = await reverse(client, taken["id"])  # default: what is left
    assert Decimal(str(rest.json()["entries"][0]["amount"])) == Decimal("20.00")
    assert await balance(client, wallet_id) == Decimal("100.00")
    history = (await client.get(f"/api/v1/wallets/{wallet_id}/operations")).json()["items"]
    kinds = [(op["operation_type"], op["reverses_id"]) for op in history]
    assert kinds[:3] == [("REVERSAL", taken["id"]), ("REVERSAL", taken["id"]), ("WITHDRAW", None)]
    original = next(op for op in history if op["id"] == taken["id"])
    assert original == {**taken}  # never changed
    assert await ledger_problems(db, [wallet_id]) == []


async def test_a_reversal_never_exceeds_the_original(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client, funds="100.00")
    taken = (await withdraw(client, wallet_id, "5.00")).json()
    too_much = await reverse(client, taken["id"], "5.01")
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "reversal_exceeds_original"
    assert (await reverse(client, taken["id"], "5.00")).status_code == 201
    again = await reverse(client, taken["id"])
    assert again.status_code == 409 and again.json()["code"] == "reversal_exceeds_original"
    assert await balance(client, wallet_id) == Decimal("100.00")


async def test_reversing_a_deposit_needs_the_funds(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    put = (await deposit(client, wallet_id, "50.00")).json()
    assert (await withdraw(client, wallet_id, "45.00")).status_code == 200
    short = await reverse(client, put["id"])
    assert short.status_code == 400 and short.json()["code"] == "insufficient_funds"
    partly = await reverse(client, put["id"], "5.00")
    assert partly.status_code == 201
    assert await balance(client, wallet_id) == Decimal("0.00")


async def test_what_cannot_be_reversed(client: httpx.AsyncClient) -> None:
    source = await create_wallet(client, funds="10.00")
    target = await create_wallet(client)
    moved = (await transfer(client, source, target, "1.00")).json()
    history = (await client.get(f"/api/v1/wallets/{target}/operations")).json()["items"]
    leg = next(op for op in history if op["transfer_id"] == moved["id"])
    refused = await reverse(client, leg["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "not_reversible"
    taken = (await withdraw(client, source, "1.00")).json()
    reversal = (await reverse(client, taken["id"])).json()["entries"][0]
    twice = await reverse(client, reversal["id"])
    assert twice.status_code == 409 and twice.json()["code"] == "not_reversible"
    unknown = await reverse(client, 2**62)
    assert unknown.status_code == 404 and unknown.json()["code"] == "operation_not_found"
    for bad in ("0", "-1", "abc", str(2**63)):
        assert (await reverse(client, bad)).status_code == 422, bad
    for body in ({"amount": "0"}, {"amount": "1.001"}, {"amount": 1, "extra": 1}, []):
        response = await client.post(f"/api/v1/operations/{taken['id']}/reverse", json=body)
        assert response.status_code == 422, body


async def test_reversing_a_transfer_moves_money_back_on_both_wallets(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    source = await create_wallet(client, funds="100.00")
    target = await create_wallet(client)
    moved = (await transfer(client, source, target, "40.00")).json()
    url = f"/api/v1/transfers/{moved['id']}/reverse"
    response = await client.post(url, json={"amount": "15.00"})
    assert response.status_code == 201, response.text
    entries = response.json()["entries"]
    assert {e["wallet_id"] for e in entries} == {str(source), str(target)}
    assert all(
        e["operation_type"] == "REVERSAL" and e["transfer_id"] == moved["id"] for e in entries
    )
    assert await balance(client, source) == Decimal("75.00")
    assert await balance(client, target) == Decimal("25.00")
    assert (await withdraw(client, target, "20.00")).status_code == 200
    short = await client.post(url, json={})
    assert short.status_code == 400 and short.json()["code"] == "insufficient_funds"
    assert (await client.post(url, json={"amount": "5.00"})).status_code == 201
    done = await client.post(url, json={"amount": "20.01"})
    assert done.status_code == 409 and done.json()["code"] == "reversal_exceeds_original"
    missing = await client.post(f"/api/v1/transfers/{uuid.uuid4()}/reverse", json={})
    assert missing.status_code == 404 and missing.json()["code"] == "transfer_not_found"
    assert await ledger_problems(db, [source, target]) == []


async def test_parallel_reversals_of_one_original_never_exceed_it(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_id = await create_wallet(client, funds="1000.00")
    taken = (await withdraw(client, wallet_id, "10.00")).json()
    source = await create_wallet(client, funds="1000.00")
    target = await create_wallet(client)
    moved = (await transfer(client, source, target, "10.00")).json()
    answers = await asyncio.gather(
        *(reverse(client, taken["id"], "0.30") for _ in range(50)),
        *(
            client.post(f"/api/v1/transfers/{moved['id']}/reverse", json={"amount": "0.30"})
            for _ in range(50)
        ),
    )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}
    assert statuses[:50].count(201) == 33 and statuses[50:].count(201) == 33  # 33 x 0.30 <= 10
    reversed_total = await db.fetchval(
        "SELECT sum(amount_minor) FROM operations WHERE reverses_id = $1", taken["id"]
    )
    assert reversed_total == 990
    assert await balance(client, wallet_id) == Decimal("999.90")
    assert await balance(client, target) == Decimal("0.10")
    assert await ledger_problems(db, [wallet_id, source, target]) == []
    assert_books_balance(database_url)


async def test_a_keyed_reversal_is_replayed_not_repeated(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client, funds="100.00")
    taken = (await withdraw(client, wallet_id, "10.00")).json()
    key = {"Idempotency-Key": f"reverse-{uuid.uuid4()}"}
    first = await reverse(client, taken["id"], "1.00", **key)
    second = await reverse(client, taken["id"], "1.00", **key)
    assert first.status_code == second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json() == second.json()
    assert await balance(client, wallet_id) == Decimal("91.00")
