"""`wallet-api verify` proves the books balance, and fails loudly when they do not."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg

from tests.support import plain_dsn, run_verify, scratch_database
from wallet_api.storage import migrations


async def write_consistent_ledger(url: str, wallets: int) -> list[uuid.UUID]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        ids = [uuid.uuid4() for _ in range(wallets)]
        await connection.executemany(
            "INSERT INTO wallets (id, balance_minor) VALUES ($1, 300)", [(i,) for i in ids]
        )
        await connection.executemany(
            """
            INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)
            VALUES ($1, 'DEPOSIT', 500, 500), ($1, 'WITHDRAW', 200, 300)
            """,
            [(i,) for i in ids],
        )
        return ids
    finally:
        await connection.close()


async def tamper(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def test_verify_passes_on_balanced_books_read_in_several_batches(admin_url: str) -> None:
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        asyncio.run(write_consistent_ledger(url, 2500))
        audit = run_verify(url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "2500 wallets and 5000 operations checked, 0 problems found" in audit.stdout


def test_verify_reads_a_ledger_whose_statements_outlast_the_request_statement_timeout(
    admin_url: str,
) -> None:
    # Summing a batch of 1,000 wallets' operations takes milliseconds; on a big ledger, where
    # one wallet may have a million operations, it outlasts the service's 5 s. The audit of a
    # whole ledger must not be cut off by the timeout meant for a request's statements.
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        asyncio.run(write_consistent_ledger(url, 2500))
        audit = run_verify(url, WALLET_DB_STATEMENT_TIMEOUT_MS="1")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "2500 wallets and 5000 operations checked, 0 problems found" in audit.stdout


def test_verify_exits_nonzero_on_a_balance_tampered_with_by_hand(admin_url: str) -> None:
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        ids = asyncio.run(write_consistent_ledger(url, 3))
        asyncio.run(tamper(url, f"UPDATE wallets SET balance_minor = 1000 WHERE id = '{ids[1]}'"))
        audit = run_verify(url)
    assert audit.returncode == 1
    assert f"wallet {ids[1]}: balance 10.00 USD != sum of its 2 operations 3.00 USD" in audit.stdout
    assert "1 problems found" in audit.stdout


def test_verify_reports_negative_balances_and_operations_without_a_wallet(
    admin_url: str,
) -> None:
    orphan = uuid.uuid4()
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        ids = asyncio.run(write_consistent_ledger(url, 1))
        asyncio.run(
            tamper(
                url,
                "ALTER TABLE wallets DROP CONSTRAINT wallets_balance_not_negative",
                "ALTER TABLE wallets DROP CONSTRAINT wallets_held_within_balance",
                f"UPDATE wallets SET balance_minor = -5 WHERE id = '{ids[0]}'",
                "SET session_replication_role = replica",  # lets the orphan past the foreign key
                "INSERT INTO operations (wallet_id, operation_type, amount_minor, balance_after)"
                f" VALUES ('{orphan}', 'DEPOSIT', 1, 1)",
            )
        )
        audit = run_verify(url)
    assert audit.returncode == 1
    assert f"wallet {ids[0]}: negative balance -0.05 USD" in audit.stdout
    assert f"operations without a wallet: 1 for wallet id {orphan}" in audit.stdout


async def last_recorded_run(url: str) -> asyncpg.Record:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        return await connection.fetchrow("SELECT * FROM verify_runs ORDER BY id DESC LIMIT 1")
    finally:
        await connection.close()


def test_verify_records_its_outcome_with_the_first_problems(admin_url: str) -> None:
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        ids = asyncio.run(write_consistent_ledger(url, 30))
        started = datetime.now(UTC)
        assert run_verify(url).returncode == 0
        balanced = asyncio.run(last_recorded_run(url))
        asyncio.run(tamper(url, "UPDATE wallets SET balance_minor = 1000"))
        assert run_verify(url).returncode == 1
        broken = asyncio.run(last_recorded_run(url))
    assert (balanced["wallets"], balanced["operations"], balanced["problems"]) == (30, 60, 0)
    assert started <= balanced["started_at"] <= balanced["finished_at"]
    assert json.loads(balanced["first_problems"]) == []
    assert broken["problems"] == 30
    first = json.loads(broken["first_problems"])
    assert len(first) == 20 and f"wallet {min(ids)}: balance 10.00 USD" in first[0]


def test_verify_on_a_database_that_cannot_keep_its_outcome_still_gives_its_verdict(
    admin_url: str,
) -> None:
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        asyncio.run(write_consistent_ledger(url, 2))
        asyncio.run(tamper(url, "DROP TABLE verify_runs"))
        audit = run_verify(url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "the outcome was not recorded in the database" in audit.stdout
    assert "0 problems found" in audit.stdout
