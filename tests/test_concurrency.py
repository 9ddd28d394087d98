"""Parallel requests on one wallet behave as if run one after another; the ledger always adds up."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import asyncpg
import httpx

from tests.support import assert_books_balance, balance_of, deposit, ledger_problems, withdraw
from wallet_api.client import AsyncWalletClient, InsufficientFunds


async def stored_operation_ids(db: asyncpg.Connection, wallet_ids: list[uuid.UUID]) -> set[int]:
    rows = await db.fetch("SELECT id FROM operations WHERE wallet_id = ANY($1::uuid[])", wallet_ids)
    return {row["id"] for row in rows}


async def test_200_parallel_first_deposits_into_a_new_wallet_all_succeed(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_id = uuid.uuid4()
    amounts = [Decimal(random.randint(1, 100_000)).scaleb(-2) for _ in range(200)]
    responses = await asyncio.gather(*(deposit(client, wallet_id, str(a)) for a in amounts))

    assert [r.status_code for r in responses] == [200] * 200
    assert await balance_of(db, wallet_id) == sum(amounts)
    assert await stored_operation_ids(db, [wallet_id]) == {r.json()["id"] for r in responses}
    assert await ledger_problems(db, [wallet_id]) == []
    assert_books_balance(database_url)


async def test_300_parallel_withdrawals_of_one_from_a_hundred_leave_exactly_zero(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, "100.00")).status_code == 200
    responses = await asyncio.gather(*(withdraw(client, wallet_id, "1.00") for _ in range(300)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 100
    assert statuses.count(400) == 200
    refused = [r for r in responses if r.status_code == 400]
    assert {r.json()["code"] for r in refused} == {"insufficient_funds"}
    assert await balance_of(db, wallet_id) == Decimal("0.00")
    withdrawals = await db.fetchval(
        "SELECT count(*) FROM operations WHERE wallet_id = $1 AND operation_type = 'WITHDRAW'",
        wallet_id,
    )
    assert withdrawals == 100
    assert await ledger_problems(db, [wallet_id]) == []
    assert_books_balance(database_url)


async def test_random_parallel_mix_over_several_wallets_keeps_every_balance_exact(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallet_ids = [uuid.uuid4() for _ in range(5)]
    for wallet_id in wallet_ids:
        assert (await deposit(client, wallet_id, "50.00")).status_code == 200

    rng = random.Random(20261127)
    plan = [
        (
            rng.choice((deposit, withdraw)),
            rng.choice(wallet_ids),
            f"{rng.randint(1, 3000) / 100:.2f}",
        )
        for _ in range(600)
    ]
    responses = await asyncio.gather(*(move(client, w, a) for move, w, a in plan))

    assert {r.status_code for r in responses} <= {200, 400}
    refused = [r for r in responses if r.status_code == 400]
    assert {r.json()["code"] for r in refused} <= {"insufficient_funds"}
    acknowledged = {r.json()["id"] for r in responses if r.status_code == 200}
    assert acknowledged <= await stored_operation_ids(db, wallet_ids)
    assert len(await stored_operation_ids(db, wallet_ids)) == len(acknowledged) + len(wallet_ids)

    for wallet_id in wallet_ids:
        expected = Decimal("50.00")
        for (move, target, amount), response in zip(plan, responses, strict=True):
            if target == wallet_id and response.status_code == 200:
                expected += Decimal(amount) if move is deposit else -Decimal(amount)
        assert await balance_of(db, wallet_id) == expected
        assert expected >= 0
    assert await ledger_problems(db, wallet_ids) == []
    assert_books_balance(database_url)


async def test_the_python_client_in_parallel_never_overdraws_and_never_doubles(
    service_url: str, db: asyncpg.Connection
) -> None:
    """Through wallet_api.client, as an integrating team would call the service: 60 withdrawals
    of 10 and 60 transfers of 5 race on a wallet holding 500; each either lands once or is a
    typed InsufficientFunds, and the books say exactly what the answers said."""
    source, target = uuid.uuid4(), uuid.uuid4()
    async with AsyncWalletClient(service_url, retry_deadline=60) as client:
        await client.deposit(source, "500.00")
        await client.deposit(target, "0.01")

        async def attempt(kind: str) -> Decimal:
            try:
                if kind == "withdraw":
                    return (await client.withdraw(source, Decimal("10.00"))).amount
                return (await client.transfer(source, target, Decimal("5.00"))).amount
            except InsufficientFunds as refused:
                assert refused.status == 400 and refused.request_id
                return Decimal(0)

        kinds = ["withdraw", "transfer"] * 60
        random.Random(14).shuffle(kinds)
        moved = await asyncio.gather(*(attempt(kind) for kind in kinds))
        left = (await client.get_wallet(source)).balance
    assert sum(moved) + left == Decimal("500.00")
    assert left >= 0 and left < Decimal("5.00")
    assert await ledger_problems(db, [source, target]) == []
