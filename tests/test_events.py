"""Events: one per committed change, in commit order, in the feed, long-polled and streamed."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson

from tests.support import (
    create_wallet,
    deposit,
    hold,
    plain_dsn,
    scratch_database,
    service_environment,
    transfer,
    withdraw,
)
from wallet_api.events.outbox import EventType

Event = dict[str, Any]


async def feed(client: httpx.AsyncClient, **params: object) -> dict[str, Any]:
    response = await client.get("/api/v1/events", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def events_of(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, count: int, after: int = 0
) -> list[Event]:
    """The wallet's events, waiting (briefly) until there are `count` of them."""
    deadline = time.monotonic() + 15
    seen: list[Event] = []
    while True:
        page = await feed(client, after=after, wallet_id=str(wallet_id), limit=1000, wait=1)
        seen += page["items"]
        after = page["next_after"]
        if len(seen) >= count or time.monotonic() > deadline:
            return seen


async def head(client: httpx.AsyncClient) -> int:
    """The newest sequence the feed shows now."""
    after = 0
    while True:
        page = await feed(client, after=after, limit=1000)
        if not page["items"]:
            return after
        after = page["next_after"]


def exact(document: dict[str, Any]) -> dict[str, Any]:
    """A JSON document with its numbers (and numeric strings) compared as Decimals."""
    return {
        k: Decimal(str(v))
        if k in ("amount", "balance", "available_balance", "balance_after")
        else v
        for k, v in document.items()
    }


async def test_every_change_is_told_once_with_the_data_its_get_answers(
    client: httpx.AsyncClient,
) -> None:
    payer = await create_wallet(client)
    payee = uuid.uuid4()
    assert (await deposit(client, payer, "100.00")).status_code == 200
    assert (await deposit(client, payee, "1.00")).status_code == 200
    assert (await withdraw(client, payer, "0.10")).status_code == 200
    moved = await transfer(client, payer, payee, "2.50")
    assert moved.status_code == 201
    captured = (await hold(client, payer, "3.00")).json()
    assert (await client.post(f"/api/v1/holds/{captured['id']}/capture", json={})).is_success
    voided = (await hold(client, payer, "4.00")).json()
    assert (await client.post(f"/api/v1/holds/{voided['id']}/void")).is_success
    lapsing = (await hold(client, payer, "5.00", seconds=1)).json()
    await asyncio.sleep(1.2)
    assert (await deposit(client, payer, "0.01")).status_code == 200  # lapses the hold first

    told = await events_of(client, payer, 11)
    assert [e["type"] for e in told] == [
        "wallet.created",
        "operation.created",
        "operation.created",
        "transfer.created",
        "hold.created",
        "hold.captured",
        "hold.created",
        "hold.voided",
        "hold.created",
        "hold.expired",
        "operation.created",
    ]
    sequences = [e["sequence"] for e in told]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert len({e["id"] for e in told}) == len(told)
    assert all(str(payer) in e["wallet_ids"] for e in told)

    # data is exactly what the matching GET answers, amounts as exact strings
    wallet = (await client.get(f"/api/v1/wallets/{payer}")).json()
    assert told[0]["data"] == {
        **wallet,
        "balance": "0.00",
        "available_balance": "0.00",
        "updated_at": wallet["created_at"],
    }
    history = (await client.get(f"/api/v1/wallets/{payer}/operations")).json()["items"]
    deposits = [e["data"] for e in told if e["type"] == "operation.created"]
    own = [op for op in reversed(history) if op["operation_type"] in ("DEPOSIT", "WITHDRAW")]
    assert [exact(d) for d in deposits] == [exact(op) for op in own]
    assert all(isinstance(d["amount"], str) for d in deposits)
    transferred = next(e for e in told if e["type"] == "transfer.created")
    assert transferred["wallet_ids"] == [str(payer), str(payee)]
    assert exact(transferred["data"]) == exact(moved.json())
    expired = next(e for e in told if e["type"] == "hold.expired")
    got = (await client.get(f"/api/v1/holds/{lapsing['id']}")).json()
    assert exact(expired["data"]) == exact(got) and got["status"] == "EXPIRED"

    # the payee's own story: opened by its first deposit, then paid
    payee_events = await events_of(client, payee, 3)
    kinds = [e["type"] for e in payee_events]
    assert kinds == ["wallet.created", "operation.created", "transfer.created"]


async def test_a_refused_or_replayed_request_tells_nothing(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client, funds="1.00")
    assert (await withdraw(client, wallet_id, "5.00")).status_code == 400
    headers = {"Idempotency-Key": f"replay-{wallet_id}"}
    body = {"operation_type": "DEPOSIT", "amount": "2.00"}
    url = f"/api/v1/wallets/{wallet_id}/operation"
    for _ in range(3):
        assert (await client.post(url, json=body, headers=headers)).status_code == 200
    told = await events_of(client, wallet_id, 3)
    await asyncio.sleep(0.3)
    told += (await feed(client, after=told[-1]["sequence"], wallet_id=str(wallet_id)))["items"]
    assert [e["type"] for e in told] == ["wallet.created", "operation.created", "operation.created"]


async def test_a_thousand_concurrent_deposits_are_a_thousand_events_each_once(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallets = [uuid.uuid4() for _ in range(10)]
    start = await head(client)
    answers = await asyncio.gather(*(deposit(client, wallets[i % 10], "0.01") for i in range(1000)))
    assert all(a.status_code == 200 for a in answers)
    acknowledged = {a.json()["id"] for a in answers}

    ours = {str(w) for w in wallets}
    seen: list[Event] = []
    after, deadline = start, time.monotonic() + 30
    while len([e for e in seen if e["type"] == "operation.created"]) < 1000:
        assert time.monotonic() < deadline, "the feed did not show every deposit"
        page = await feed(client, after=after, limit=1000, wait=1)
        seen += [e for e in page["items"] if ours & set(e["wallet_ids"])]
        after = page["next_after"]
    created = [e for e in seen if e["type"] == "operation.created"]
    assert len(created) == 1000 and len({e["id"] for e in created}) == 1000
    assert {e["data"]["id"] for e in created} == acknowledged
    stored = await db.fetch("SELECT id FROM operations WHERE wallet_id = ANY($1::uuid[])", wallets)
    assert {row["id"] for row in stored} == acknowledged
    # per wallet, events come in the order of the wallet's operations
    for wallet_id in wallets:
        ids = [e["data"]["id"] for e in created if e["wallet_ids"] == [str(wallet_id)]]
        assert ids == sorted(ids)


async def test_an_event_committed_late_is_not_skipped_by_a_poller(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A transaction that began (and drew its number) before others but commits after them:
    a poller that has read past the others still gets it, after them."""
    late_wallet = uuid.uuid4()
    late_id = uuid.uuid4()
    slow = await asyncpg.connect(plain_dsn(database_url))
    try:
        transaction = slow.transaction()
        await transaction.start()
        number = await slow.fetchval("SELECT nextval('operations_id_seq')")
        await slow.execute(
            """
            INSERT INTO events (recorded, position, id, type, wallet_id, data, created_at)
            VALUES ($1, 0, $2, 'wallet.created', $3, '{}'::json, now())
            """,
            number,
            late_id,
            late_wallet,
        )
        early = [uuid.uuid4() for _ in range(5)]
        for wallet_id in early:
            assert (await deposit(client, wallet_id, "1.00")).status_code == 200
        told = await events_of(client, early[-1], 2)
        poller_after = told[-1]["sequence"]  # the poller has read past every early event
        await transaction.commit()
    finally:
        await slow.close()
    page = await feed(client, after=poller_after, limit=1000, wait=5)
    late = [e for e in page["items"] if e["id"] == str(late_id)]
    assert late, "the late event was skipped"
    assert late[0]["sequence"] > poller_after


async def test_a_long_poll_answers_when_something_commits(client: httpx.AsyncClient) -> None:
    wallet_id = uuid.uuid4()
    started = time.monotonic()
    empty = await feed(client, after=0, wallet_id=str(wallet_id), wait=1)
    assert empty == {"items": [], "next_after": 0}
    assert time.monotonic() - started >= 0.9

    async def deposit_soon() -> None:
        await asyncio.sleep(0.5)
        assert (await deposit(client, wallet_id, "1.00")).status_code == 200

    started = time.monotonic()
    polled, _ = await asyncio.gather(
        feed(client, after=0, wallet_id=str(wallet_id), wait=10), deposit_soon()
    )
    waited = time.monotonic() - started
    assert polled["items"], "the long poll answered empty"
    assert waited < 3, f"the long poll took {waited:.1f}s to answer"


async def test_the_feed_filters_by_type_and_wallet(client: httpx.AsyncClient) -> None:
    wallet_id = await create_wallet(client, funds="10.00")
    other = await create_wallet(client, funds="10.00")
    assert (await transfer(client, wallet_id, other, "1.00")).status_code == 201
    await events_of(client, other, 3)
    only = await feed(client, wallet_id=str(other), type=["transfer.created", "wallet.created"])
    assert [e["type"] for e in only["items"]] == ["wallet.created", "transfer.created"]
    assert only["next_after"] == only["items"][-1]["sequence"]
    # a page of one, of a type that is not the wallet's first event, still finds it
    first = await feed(client, wallet_id=str(other), type="operation.created", limit=1)
    assert [e["type"] for e in first["items"]] == ["operation.created"]


async def test_bad_feed_parameters_are_422(client: httpx.AsyncClient) -> None:
    for params in (
        {"type": "wallet.deleted"},
        {"limit": 0},
        {"limit": 1001},
        {"wait": 31},
        {"after": -1},
        {"after": "x"},
        {"wallet_id": "nope"},
        {"afterr": 1},
    ):
        response = await client.get("/api/v1/events", params=params)
        assert response.status_code == 422, params
        assert response.json()["code"] == "validation_error"


async def test_the_stream_sends_events_and_resumes_from_last_event_id(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = await create_wallet(client, funds="1.00")
    assert (await deposit(client, wallet_id, "2.00")).status_code == 200
    told = await events_of(client, wallet_id, 3)

    async def first_events(count: int, **headers: str) -> list[tuple[int, str, Event]]:
        received: list[tuple[int, str, Event]] = []
        params = {"wallet_id": str(wallet_id)}
        async with client.stream(
            "GET", "/api/v1/events/stream", params=params, headers=headers
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in fields:
                        received.append(
                            (int(fields["id"]), fields["event"], orjson.loads(fields["data"]))
                        )
                    fields = {}
                    if len(received) == count:
                        return received
                elif not line.startswith(":"):
                    name, _, text = line.partition(": ")
                    fields[name] = text
        return received

    streamed = await asyncio.wait_for(first_events(3), 10)
    assert [(s, k) for s, k, _ in streamed] == [(e["sequence"], e["type"]) for e in told]
    assert [d for _, _, d in streamed] == told

    async def deposit_soon() -> None:
        await asyncio.sleep(0.5)
        assert (await deposit(client, wallet_id, "3.00")).status_code == 200

    resumed, _ = await asyncio.gather(
        asyncio.wait_for(first_events(1, **{"Last-Event-ID": str(told[1]["sequence"])}), 10),
        deposit_soon(),
    )
    assert resumed[0][0] == told[2]["sequence"]


def test_event_types_are_the_contracts() -> None:
    assert {kind.value for kind in EventType} == {
        "wallet.created",
        "operation.created",
        "transfer.created",
        "hold.created",
        "hold.captured",
        "hold.voided",
        "hold.expired",
    }


def test_events_status_prints_the_head_and_each_destinations_backlog(
    database_url: str, admin_url: str
) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "wallet_api", "events", "status"],
        env=service_environment(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert re.search(r"last sequence: \d+ ", status.stdout)
    with scratch_database(admin_url) as empty:
        refused = subprocess.run(
            [sys.executable, "-m", "wallet_api", "events", "status"],
            env=service_environment(DATABASE_URL=empty),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert refused.returncode == 1
    assert "run `wallet-api migrate`" in refused.stdout
