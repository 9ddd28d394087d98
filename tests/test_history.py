"""Operation history: newest first, keyset pages that stay stable while money keeps moving."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import asyncpg
import httpx
import pytest

from tests.support import deposit, withdraw


def history_url(wallet_id: uuid.UUID) -> str:
    return f"/api/v1/wallets/{wallet_id}/operations"


async def fill(db: asyncpg.Connection, wallet_id: uuid.UUID, count: int) -> None:
    """`count` deposits of 0.01..count/100 written straight into the ledger, balance included."""
    await db.execute(
        "INSERT INTO wallets (id, balance_minor) VALUES ($1, $2 * ($2 + 1) / 2)", wallet_id, count
    )
    await db.execute(
        """
        INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)
        SELECT $1, 'DEPOSIT', n, n * (n + 1) / 2 FROM generate_series(1, $2) n
        """,
        wallet_id,
        count,
    )


async def test_history_lists_operations_newest_first_in_the_post_shape(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    posted = [await deposit(client, wallet_id, "3.00"), await withdraw(client, wallet_id, "1.5")]
    response = await client.get(history_url(wallet_id))
    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    assert page["items"] == [r.json() for r in reversed(posted)]
    assert '"amount":1.50' in response.text


async def test_paging_through_1000_operations_with_limit_37_while_deposits_arrive(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await fill(db, wallet_id, 1000)
    filled = await db.fetch("SELECT id FROM operations WHERE wallet_id = $1", wallet_id)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 37}
        if cursor:
            params["cursor"] = cursor
        response, *_ = await asyncio.gather(
            client.get(history_url(wallet_id), params=params),
            deposit(client, wallet_id, "0.01"),
            deposit(client, wallet_id, "0.02"),
        )
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 37
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen))
    assert {row["id"] for row in filled} <= set(seen)
    stored_then = await db.fetch(
        "SELECT id FROM operations WHERE wallet_id = $1 AND id <= $2", wallet_id, seen[0]
    )
    assert {row["id"] for row in stored_then} == set(seen)
    assert pages >= 1000 // 37


async def test_history_filters_by_type_and_creation_time(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "9.00")
    await withdraw(client, wallet_id, "1.00")
    await withdraw(client, wallet_id, "2.00")
    only_withdrawals = await client.get(
        history_url(wallet_id), params={"operation_type": "WITHDRAW"}
    )
    assert [i["operation_type"] for i in only_withdrawals.json()["items"]] == ["WITHDRAW"] * 2

    rows = await db.fetch(
        "SELECT id, created_at FROM operations WHERE wallet_id = $1 ORDER BY id", wallet_id
    )
    middle = rows[1]["created_at"]
    before = await client.get(history_url(wallet_id), params={"created_before": middle.isoformat()})
    assert [i["id"] for i in before.json()["items"]] == [rows[0]["id"]]
    after = await client.get(history_url(wallet_id), params={"created_after": middle.isoformat()})
    assert [i["id"] for i in after.json()["items"]] == [rows[2]["id"]]
    future = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
    assert (await client.get(history_url(wallet_id), params={"created_after": future})).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_history_of_unknown_wallet_returns_404(client: httpx.AsyncClient) -> None:
    response = await client.get(history_url(uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["code"] == "wallet_not_found"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "b3AxOi0x"},  # "op1:-1"
        {"cursor": "eHl6Ojk5"},  # "xyz:99"
        {"cursor": "!!!"},
        {"cursor": "x" * 500},
        {"operation_type": "deposit"},
        {"created_after": "yesterday"},
        {"created_after": "2026-01-01T00:00:00"},  # no UTC offset
    ],
)
async def test_bad_history_parameters_return_422(
    client: httpx.AsyncClient, params: dict[str, object]
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "1.00")
    response = await client.get(history_url(wallet_id), params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


async def test_limit_500_is_accepted_and_caps_the_page(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await fill(db, wallet_id, 600)
    page = (await client.get(history_url(wallet_id), params={"limit": 500})).json()
    assert len(page["items"]) == 500
    assert page["next_cursor"]
    rest = (await client.get(history_url(wallet_id), params={"cursor": page["next_cursor"]})).json()
    assert len(rest["items"]) == 50
