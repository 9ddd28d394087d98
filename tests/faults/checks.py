"""After the faults, the books: what the clients were told is exactly what the ledger holds."""

from __future__ import annotations

import collections
import json
import time
import uuid

import asyncpg
import httpx

from tests.faults.clients import Movement, Tally
from tests.support import assert_books_balance, operation_url, plain_dsn


async def assert_ledger_is_what_clients_were_told(
    database_url: str, wallets: list[uuid.UUID], acknowledged: list[Movement]
) -> None:
    """Every acknowledged movement is in the ledger exactly once, under the id its client got;
    nothing else moved (so no retried key moved money twice); every balance and the total are
    the sums of the acknowledged movements; `wallet-api verify` finds no problem."""
    assert len({m.id for m in acknowledged}) == len(acknowledged), "two answers share an id"
    db = await asyncpg.connect(plain_dsn(database_url))
    try:
        operations = await db.fetch(
            """
            SELECT id, wallet_id, operation_type, amount_minor, transfer_id FROM operations
            WHERE wallet_id = ANY($1::uuid[])
            """,
            wallets,
        )
        transfers = await db.fetch(
            "SELECT id, from_wallet_id, to_wallet_id, amount_minor FROM transfers "
            "WHERE from_wallet_id = ANY($1::uuid[])",
            wallets,
        )
        balances = dict(
            await db.fetch("SELECT id, balance_minor FROM wallets WHERE id = ANY($1)", wallets)
        )
        keys = [m.key for m in acknowledged if m.key is not None]
        stored = await db.fetch(
            "SELECT key, outcome FROM idempotency_keys WHERE caller = 0 AND key = ANY($1)", keys
        )
    finally:
        await db.close()

    by_id = {row["id"]: row for row in operations}
    legs: dict[uuid.UUID, list[asyncpg.Record]] = collections.defaultdict(list)
    for row in operations:
        if row["transfer_id"] is not None:
            legs[row["transfer_id"]].append(row)
    expected_operations: set[int] = set()
    for movement in acknowledged:
        if movement.kind == "TRANSFER":
            transfer_id = uuid.UUID(str(movement.id))
            found = sorted(
                (row["operation_type"], row["wallet_id"], row["amount_minor"])
                for row in legs[transfer_id]
            )
            assert found == [
                ("TRANSFER_IN", movement.target, movement.amount_minor),
                ("TRANSFER_OUT", movement.source, movement.amount_minor),
            ], movement
            expected_operations.update(row["id"] for row in legs[transfer_id])
        else:
            row = by_id.get(movement.id)
            assert row is not None, f"acknowledged but not in the ledger: {movement}"
            wallet = movement.target if movement.kind == "DEPOSIT" else movement.source
            found_op = (row["operation_type"], row["wallet_id"], row["amount_minor"])
            assert found_op == (movement.kind, wallet, movement.amount_minor), movement
            expected_operations.add(movement.id)  # type: ignore[arg-type]

    unexplained = set(by_id) - expected_operations
    assert not unexplained, f"{len(unexplained)} operations no client was told about"
    acknowledged_transfers = {str(m.id) for m in acknowledged if m.kind == "TRANSFER"}
    assert {str(row["id"]) for row in transfers} == acknowledged_transfers

    # Each key's stored answer is the one its client got, so a replay names the same movement.
    told = {m.key: m for m in acknowledged if m.key is not None}
    assert len(stored) == len(told)
    for row in stored:
        ((kind, outcome),) = json.loads(row["outcome"]).items()
        assert kind in ("operation", "transfer"), outcome
        assert outcome["id"] == told[row["key"]].id

    expected_balances = dict.fromkeys(wallets, 0)
    for movement in acknowledged:
        if movement.source is not None:
            expected_balances[movement.source] -= movement.amount_minor
        if movement.target is not None:
            expected_balances[movement.target] += movement.amount_minor
    assert balances == expected_balances
    deposited = sum(m.amount_minor for m in acknowledged if m.kind == "DEPOSIT")
    withdrawn = sum(m.amount_minor for m in acknowledged if m.kind == "WITHDRAW")
    assert sum(balances.values()) == deposited - withdrawn
    assert_books_balance(database_url)


def assert_no_error_leaked(tally: Tally) -> None:
    assert tally.statuses[500] == 0, tally
    assert set(tally.refused) <= {"insufficient_funds"}, tally


async def assert_unavailable_quickly(base_url: str, wallet_id: uuid.UUID) -> None:
    """With the database down: 503 service_unavailable with Retry-After at once (well before
    any pool or connect timeout of 5 s); not ready; still live."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        started_at = time.monotonic()
        refused = await http.post(
            operation_url(wallet_id),
            json={"operation_type": "DEPOSIT", "amount": "1.00"},
            headers={"Idempotency-Key": f"probe-{uuid.uuid4()}"},
        )
        elapsed = time.monotonic() - started_at
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "service_unavailable"
        assert refused.headers["retry-after"] == "1"
        assert elapsed < 3, f"a 503 took {elapsed:.1f} s"
        assert (await http.get("/health/ready")).status_code == 503
        assert (await http.get("/health/live")).status_code == 200
