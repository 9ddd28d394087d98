"""Idempotency keys: a retried request moves money once and gets the first answer again."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.support import assert_books_balance, balance_of, create_key, deposit, operation_url


async def post_with_key(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, key: str, operation_type: str, amount: str
) -> httpx.Response:
    return await client.post(
        operation_url(wallet_id),
        json={"operation_type": operation_type, "amount": amount},
        headers={"Idempotency-Key": key},
    )


async def count_operations(db: asyncpg.Connection, wallet_id: uuid.UUID) -> int:
    return await db.fetchval("SELECT count(*) FROM operations WHERE wallet_id = $1", wallet_id)


async def test_retried_deposit_with_the_same_key_is_applied_once_and_replayed(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    first = await post_with_key(client, wallet_id, key, "DEPOSIT", "25.00")
    retry = await post_with_key(client, wallet_id, key, "DEPOSIT", "25.00")

    assert first.status_code == retry.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    assert await balance_of(db, wallet_id) == Decimal("25.00")
    assert await count_operations(db, wallet_id) == 1


async def test_same_key_with_another_amount_returns_409_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    assert (await post_with_key(client, wallet_id, key, "DEPOSIT", "25.00")).status_code == 200
    other = await post_with_key(client, wallet_id, key, "DEPOSIT", "26.00")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    elsewhere = await post_with_key(client, uuid.uuid4(), key, "DEPOSIT", "25.00")
    assert elsewhere.json()["code"] == "idempotency_key_reused"
    assert await balance_of(db, wallet_id) == Decimal("25.00")
    assert await count_operations(db, wallet_id) == 1


async def test_twenty_concurrent_requests_with_one_key_move_money_once(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    responses = await asyncio.gather(
        *(post_with_key(client, wallet_id, key, "DEPOSIT", "10.00") for _ in range(20))
    )
    succeeded = [r for r in responses if r.status_code == 200]
    busy = [r for r in responses if r.status_code == 409]
    assert len(succeeded) + len(busy) == 20
    assert {r.json()["code"] for r in busy} <= {"idempotency_key_in_progress"}
    assert len({r.content for r in succeeded}) == 1
    assert sum(1 for r in succeeded if "idempotent-replayed" not in r.headers) == 1
    assert await balance_of(db, wallet_id) == Decimal("10.00")
    assert await count_operations(db, wallet_id) == 1
    assert_books_balance(database_url)


async def test_refused_withdrawal_is_stored_and_replayed_even_after_a_deposit(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    await deposit(client, wallet_id, "5.00")
    refused = await post_with_key(client, wallet_id, key, "WITHDRAW", "8.00")
    assert refused.status_code == 400
    await deposit(client, wallet_id, "5.00")
    replay = await post_with_key(client, wallet_id, key, "WITHDRAW", "8.00")
    assert replay.status_code == 400
    assert replay.json()["code"] == "insufficient_funds"
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == "application/problem+json"
    assert await balance_of(db, wallet_id) == Decimal("10.00")


async def test_request_rejected_by_validation_is_not_stored_under_its_key(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    invalid = await post_with_key(client, wallet_id, key, "DEPOSIT", "0.001")
    assert invalid.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = $1", key) == 0
    corrected = await post_with_key(client, wallet_id, key, "DEPOSIT", "0.01")
    assert corrected.status_code == 200
    assert "idempotent-replayed" not in corrected.headers


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tkey", "ключ"])
async def test_malformed_idempotency_key_returns_422(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post(
        operation_url(uuid.uuid4()),
        json={"operation_type": "DEPOSIT", "amount": "1.00"},
        headers={"Idempotency-Key": key.encode()},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_expired_key_is_taken_as_new_and_purged_keys_disappear(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    assert (await post_with_key(client, wallet_id, key, "DEPOSIT", "1.00")).status_code == 200
    await db.execute(
        "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1", key
    )
    again = await post_with_key(client, wallet_id, key, "DEPOSIT", "1.00")
    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert await balance_of(db, wallet_id) == Decimal("2.00")


async def test_keys_are_kept_for_at_least_24_hours(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    key = f"key-{uuid.uuid4()}"
    await post_with_key(client, uuid.uuid4(), key, "DEPOSIT", "1.00")
    kept = await db.fetchval(
        "SELECT expires_at - created_at FROM idempotency_keys WHERE key = $1", key
    )
    assert kept.total_seconds() >= 24 * 3600


async def test_the_same_request_written_differently_is_a_replay_not_a_reuse(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id, key = uuid.uuid4(), f"key-{uuid.uuid4()}"
    url = operation_url(wallet_id)
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    first = await client.post(
        url, content=b'{"operation_type":"DEPOSIT","amount":100}', headers=headers
    )
    same_bodies = [
        b'{"operation_type": "DEPOSIT", "amount": "100.00"}',
        b'{ "amount" : 100.0 ,\n "operation_type" : "DEPOSIT" }',
        b'{"amount":"100","operation_type":"DEPOSIT"}',
    ]
    replays = [await client.post(url, content=body, headers=headers) for body in same_bodies]

    assert first.status_code == 200
    assert all(r.headers.get("idempotent-replayed") == "true" for r in replays)
    assert all(r.content == first.content for r in replays)
    other = await client.post(
        url, content=b'{"operation_type":"DEPOSIT","amount":100.01}', headers=headers
    )
    assert other.json()["code"] == "idempotency_key_reused"
    assert await balance_of(db, wallet_id) == Decimal("100.00")
    assert await count_operations(db, wallet_id) == 1


async def test_a_replayed_hold_answers_what_its_first_answer_said_after_it_was_captured(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "10.00")
    headers = {"Idempotency-Key": f"hold-{uuid.uuid4()}"}
    url = f"/api/v1/wallets/{wallet_id}/holds"
    placed = await client.post(url, json={"amount": "4.00"}, headers=headers)
    hold_id = placed.json()["id"]
    captured = await client.post(f"/api/v1/holds/{hold_id}/capture", json={})
    replay = await client.post(url, json={"amount": "4.00"}, headers=headers)

    assert placed.status_code == replay.status_code == 201
    assert captured.json()["status"] == "CAPTURED"
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == placed.content
    assert replay.json()["status"] == "ACTIVE"


async def test_two_api_keys_that_choose_the_same_idempotency_key_each_get_their_own_deposit(
    secured_service: tuple[str, object], secured_database_url: str
) -> None:
    base_url, _ = secured_service
    alice = await create_key(secured_database_url, "wallets:read", "wallets:write", name="alice")
    bob = await create_key(secured_database_url, "wallets:read", "wallets:write", name="bob")
    wallet_id, key = uuid.uuid4(), "order-1001"
    body = {"operation_type": "DEPOSIT", "amount": "7.00"}
    answers = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for name, api_key in (("alice", alice), ("bob", bob), ("alice again", alice)):
            headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": key}
            answers[name] = await http.post(operation_url(wallet_id), json=body, headers=headers)
        balance = await http.get(
            f"/api/v1/wallets/{wallet_id}", headers={"Authorization": f"Bearer {alice}"}
        )

    assert answers["alice"].status_code == answers["bob"].status_code == 200
    assert "idempotent-replayed" not in answers["bob"].headers
    assert answers["alice"].json()["id"] != answers["bob"].json()["id"]
    assert answers["alice again"].headers["idempotent-replayed"] == "true"
    assert answers["alice again"].content == answers["alice"].content
    assert json.loads(balance.text, parse_float=Decimal)["balance"] == Decimal("14.00")
