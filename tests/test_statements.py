"""Balances after and as of, statements (JSON and CSV), lists, string amounts, problem pages."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from tests.support import create_wallet, deposit, hold, transfer, withdraw
from wallet_api.http.problems import MEANINGS, STATUS_OF_CODE
from wallet_api.ledger import amounts


def money(value: object) -> Decimal:
    return Decimal(str(value))


async def db_now(db: asyncpg.Connection) -> datetime:
    return await db.fetchval("SELECT clock_timestamp()")


async def test_every_history_item_carries_the_balance_right_after_it(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = await create_wallet(client, funds="10.00")
    other = await create_wallet(client, funds="1.00")
    await withdraw(client, wallet_id, "2.50")
    await transfer(client, other, wallet_id, "0.75")
    await asyncio.gather(*(deposit(client, wallet_id, "0.01") for _ in range(20)))
    items = (await client.get(f"/api/v1/wallets/{wallet_id}/operations?limit=500")).json()["items"]
    running = Decimal("0.00")
    for item in reversed(items):
        credit = item["operation_type"] in ("DEPOSIT", "TRANSFER_IN")
        running += money(item["amount"]) if credit else -money(item["amount"])
        assert money(item["balance_after"]) == running, item
    assert running == money((await client.get(f"/api/v1/wallets/{wallet_id}")).json()["balance"])


async def test_the_balance_as_of_an_instant(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "10.00")
    first = await db_now(db)
    await asyncio.sleep(0.01)
    await deposit(client, wallet_id, "5.00")
    placed = (await hold(client, wallet_id, "3.00")).json()
    second = await db_now(db)
    await client.post(f"/api/v1/holds/{placed['id']}/void")
    await withdraw(client, wallet_id, "1.00")
    url = f"/api/v1/wallets/{wallet_id}"
    at_first = (await client.get(url, params={"as_of": first.isoformat()})).json()
    assert money(at_first["balance"]) == Decimal("10.00")
    at_second = (await client.get(url, params={"as_of": second.isoformat()})).json()
    assert money(at_second["balance"]) == Decimal("15.00")
    assert money(at_second["available_balance"]) == Decimal("12.00")
    now = (await client.get(url)).json()
    assert money(now["balance"]) == Decimal("14.00")
    assert money(now["available_balance"]) == Decimal("14.00")

    before = (first - timedelta(days=1)).isoformat()
    gone = await client.get(url, params={"as_of": before})
    assert gone.status_code == 404 and gone.json()["code"] == "wallet_not_found"
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for bad in (future, "yesterday", "2026-01-01T00:00:00"):  # the last: no time zone
        assert (await client.get(url, params={"as_of": bad})).status_code == 422, bad


async def test_a_statement_in_json_and_in_csv(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "100.00")
    start = await db_now(db)
    await withdraw(client, wallet_id, "30.00")
    await deposit(client, wallet_id, "5.50")
    taken = (await withdraw(client, wallet_id, "1.00")).json()
    await client.post(f"/api/v1/operations/{taken['id']}/reverse", json={})
    end = await db_now(db)
    await deposit(client, wallet_id, "1000.00")  # after the statement's end
    params = {"from": start.isoformat(), "to": end.isoformat()}
    url = f"/api/v1/wallets/{wallet_id}/statement"
    statement = (await client.get(url, params=params)).json()
    assert money(statement["opening_balance"]) == Decimal("100.00")
    assert money(statement["closing_balance"]) == Decimal("75.50")
    assert money(statement["total_in"]) == Decimal("6.50")  # 5.50 and the reversal's 1.00
    assert money(statement["total_out"]) == Decimal("31.00")
    kinds = [line["operation_type"] for line in statement["lines"]]
    assert kinds == ["WITHDRAW", "DEPOSIT", "WITHDRAW", "REVERSAL"]
    assert money(statement["lines"][-1]["balance_after"]) == Decimal("75.50")

    as_csv = await client.get(url, params=params, headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["operation_type"] for row in rows] == kinds
    assert [row["balance_after"] for row in rows] == ["70.00", "75.50", "74.50", "75.50"]
    assert rows[0]["amount"] == "30.00" and rows[0]["currency"] == "USD"


async def test_bad_statement_ranges_are_422(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client)
    url = f"/api/v1/wallets/{wallet_id}/statement"
    now = datetime.now(UTC)
    for start, end in (
        (now, now - timedelta(seconds=1)),
        (now, now),
        (now - timedelta(days=367), now),
    ):
        response = await client.get(url, params={"from": start.isoformat(), "to": end.isoformat()})
        assert response.status_code == 422, (start, end)
    assert (await client.get(url, params={"from": now.isoformat()})).status_code == 422
    ok = {"from": (now - timedelta(days=366)).isoformat(), "to": now.isoformat()}
    assert (await client.get(url, params=ok)).status_code == 200
    missing = await client.get(f"/api/v1/wallets/{uuid.uuid4()}/statement", params=ok)
    assert missing.status_code == 404


async def test_lists_of_transfers_and_holds_page_by_keyset(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client, funds="100.00")
    others = [await create_wallet(client, funds="10.00") for _ in range(3)]
    for other in others:
        await transfer(client, wallet_id, other, "1.00")
        await transfer(client, other, wallet_id, "0.50")
    seen, cursor = [], None
    while True:
        params = {"wallet_id": str(wallet_id), "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/transfers", params=params)).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and len({t["id"] for t in seen}) == 6
    times = [t["created_at"] for t in seen]
    assert times == sorted(times, reverse=True)

    placed = [(await hold(client, wallet_id, "1.00")).json() for _ in range(3)]
    await client.post(f"/api/v1/holds/{placed[0]['id']}/void")
    url = f"/api/v1/wallets/{wallet_id}/holds"
    active = (await client.get(url, params={"status": "ACTIVE"})).json()["items"]
    assert {h["id"] for h in active} == {placed[1]["id"], placed[2]["id"]}
    voided = (await client.get(url, params={"status": "VOIDED"})).json()["items"]
    assert [h["id"] for h in voided] == [placed[0]["id"]]
    assert (await client.get(url, params={"status": "GONE"})).status_code == 422
    assert (await client.get(url, params={"cursor": "nope"})).status_code == 422
    assert (await client.get("/api/v1/transfers")).status_code == 422  # wallet_id is required


async def test_the_wallets_list_pages_through_every_wallet(client: httpx.AsyncClient) -> None:
    made = {str(await create_wallet(client)) for _ in range(5)}
    seen, cursor = [], None
    while True:
        params: dict[str, object] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/wallets", params=params)).json()
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert made <= set(seen) and seen == sorted(seen)


async def test_string_amounts_on_request(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    headers = {"Wallet-Amount-Format": "string"}
    body = {"operation_type": "DEPOSIT", "amount": "123456789012.34"}
    url = f"/api/v1/wallets/{wallet_id}/operation"
    made = await client.post(url, json=body, headers=headers)
    assert '"amount":"123456789012.34"' in made.text
    assert '"balance_after":"123456789012.34"' in made.text
    read = await client.get(f"/api/v1/wallets/{wallet_id}", headers=headers)
    assert '"balance":"123456789012.34"' in read.text
    history = await client.get(f"/api/v1/wallets/{wallet_id}/operations", headers=headers)
    assert '"amount":"123456789012.34"' in history.text
    as_number = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert '"balance":123456789012.34' in as_number.text
    refused = await client.get(
        f"/api/v1/wallets/{wallet_id}", headers={"Wallet-Amount-Format": "x"}
    )
    assert refused.status_code == 422 and refused.json()["code"] == "validation_error"


@pytest.mark.parametrize("code", sorted(MEANINGS))
async def test_each_problem_type_is_a_page(client: httpx.AsyncClient, code: str) -> None:
    response = await client.get(f"/problems/{code}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert code in response.text


async def test_problems_point_to_their_page_and_every_code_has_one(
    client: httpx.AsyncClient,
) -> None:
    assert set(STATUS_OF_CODE) <= set(MEANINGS)
    missing = await client.get(f"/api/v1/wallets/{uuid.uuid4()}")
    assert missing.json()["type"] == "/problems/wallet_not_found"
    assert (await client.get("/problems/no_such_code")).status_code == 404


async def test_openapi_names_operations_and_documents_headers(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    ids = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {
        "get_wallet",
        "post_operation",
        "list_operations",
        "create_transfer",
        "reverse_operation",
        "reverse_transfer",
        "get_statement",
        "list_transfers",
        "list_wallet_holds",
        "list_wallets",
        "list_events",
    } <= ids
    post = document["paths"]["/api/v1/wallets/{wallet_id}/operation"]["post"]["responses"]
    assert {"Idempotent-Replayed", "X-Request-ID"} <= set(post["200"]["headers"])
    assert "Retry-After" in post["503"]["headers"]
    assert "WWW-Authenticate" in post["401"]["headers"]


async def test_sql_formats_minor_units_as_the_amounts_module_does(db: asyncpg.Connection) -> None:
    values = [0, 1, 5, 9, 10, 99, 100, 101, 12345, 10**15, 10**18, 987654321987654321]
    for digits in (0, 2, 3):
        for minor in values:
            sql = await db.fetchval("SELECT minor_to_text($1, $2)", minor, digits)
            assert sql == format(amounts.from_minor_units(minor, digits), "f"), (minor, digits)
