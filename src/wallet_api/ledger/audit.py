"""The ledger audit: every balance is the sum of its operations, holds are backed, no orphans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.rules import CREDIT_TYPES
from wallet_api.storage import audit as store
from wallet_api.storage.database import Database

BATCH_SIZE = 1000
MAX_ORPHANS_REPORTED = 100
# The problems a recorded run keeps: enough to start on, however broken the books are.
PROBLEMS_RECORDED = 20

VerifyRun = store.VerifyRunRow


@dataclass
class AuditReport:
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    wallets: int = 0
    operations: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def books_balance(self) -> bool:
        return not self.problems


async def audit(
    database: Database,
    on_problem: Callable[[str], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> AuditReport:
    """Read every wallet in batches of BATCH_SIZE and report each problem as it is found;
    `on_start` learns how many wallets there are, `on_progress` how many were checked."""
    report = AuditReport()

    def found(problem: str) -> None:
        report.problems.append(problem)
        if on_problem is not None:
            on_problem(problem)

    after_id = store.FIRST_WALLET_ID
    async with database.connect() as connection:
        credit_types = [str(kind) for kind in CREDIT_TYPES]
        if on_start is not None:
            on_start(await store.wallet_count(connection))
        while batch := await store.wallet_batch(connection, after_id, credit_types, BATCH_SIZE):
            for wallet in batch:
                for problem in _wallet_problems(wallet):
                    found(problem)
                report.wallets += 1
                report.operations += wallet.operations
            after_id = batch[-1].id
            if on_progress is not None:
                on_progress(report.wallets)
        for wallet_id, count in await store.orphan_operations(connection, MAX_ORPHANS_REPORTED):
            found(f"operations without a wallet: {count} for wallet id {wallet_id}")
    report.finished_at = datetime.now(UTC)
    return report


async def record_run(database: Database, report: AuditReport) -> None:
    """Keep the outcome of a finished audit, for the service to show (the last one)."""
    assert report.finished_at is not None, "only a finished audit is recorded"
    run = store.VerifyRunRow(
        report.started_at,
        report.finished_at,
        report.wallets,
        report.operations,
        len(report.problems),
        report.problems[:PROBLEMS_RECORDED],
    )
    async with database.connect() as connection:
        await store.record_run(connection, run)


async def last_run(database: Database) -> VerifyRun | None:
    async with database.connect() as connection:
        return await store.last_run(connection)


def _wallet_problems(wallet: store.WalletTotals) -> list[str]:
    digits = minor_units(wallet.currency)

    def money(minor: int) -> str:
        return f"{amounts.from_minor_units(minor, digits)} {wallet.currency}"

    problems = []
    if wallet.balance_minor != wallet.operations_total_minor:
        problems.append(
            f"wallet {wallet.id}: balance {money(wallet.balance_minor)} != sum of its "
            f"{wallet.operations} operations {money(wallet.operations_total_minor)}"
        )
    if wallet.balances_after_wrong:
        problems.append(
            f"wallet {wallet.id}: {wallet.balances_after_wrong} operations whose balance_after "
            "is not the running sum of its operations"
        )
    if wallet.balance_minor < 0:
        problems.append(f"wallet {wallet.id}: negative balance {money(wallet.balance_minor)}")
    if wallet.held_minor != wallet.active_holds_minor:
        problems.append(
            f"wallet {wallet.id}: held {money(wallet.held_minor)} != sum of its active holds "
            f"{money(wallet.active_holds_minor)}"
        )
    available = wallet.balance_minor - wallet.held_minor
    if available < 0:
        problems.append(f"wallet {wallet.id}: negative available balance {money(available)}")
    return problems
