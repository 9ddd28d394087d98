"""Guarded batches rest on one claim: a batch the rules accepted on one state is decided the
same way on any state within the guards computed from the rules' margins. Checked with
Hypothesis without a database, then on a real one with two workers that see stale states."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import balance_of, ledger_problems
from wallet_api.ledger import rules
from wallet_api.ledger.errors import InsufficientFunds
from wallet_api.ledger.guarded import guard_for
from wallet_api.ledger.idempotency import ANONYMOUS, IdempotencyKey
from wallet_api.ledger.ledger import Ledger
from wallet_api.ledger.records import Operation
from wallet_api.ledger.rules import (
    Change,
    Deposit,
    Margin,
    OperationType,
    PlaceHold,
    TransferFunds,
    WalletState,
    Withdrawal,
)
from wallet_api.settings import Settings
from wallet_api.storage.database import Database

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WALLETS = [uuid.UUID(int=n) for n in range(1, 4)]
LIMIT = WalletState(WALLETS[0], "USD", 0, 0, None).limit

amounts = st.integers(min_value=1, max_value=5_000).map(lambda cents: Decimal(cents).scaleb(-2))
wallet_ids = st.sampled_from(WALLETS)
movements = st.one_of(
    st.builds(Deposit, wallet_ids, amounts),
    st.builds(Withdrawal, wallet_ids, amounts),
    st.builds(TransferFunds, wallet_ids, wallet_ids, amounts),
    st.builds(PlaceHold, wallet_ids, amounts, st.integers(min_value=1, max_value=3600)),
)
balances = st.one_of(
    st.integers(min_value=0, max_value=20_000),
    st.integers(min_value=LIMIT - 20_000, max_value=LIMIT),
)


@st.composite
def states(draw: st.DrawFn) -> dict[uuid.UUID, WalletState]:
    wallets = {}
    for wallet_id in WALLETS:
        balance = draw(balances)
        held = draw(st.integers(min_value=0, max_value=balance))
        wallets[wallet_id] = WalletState(wallet_id, "USD", balance, held, None)
    return wallets


def decide_all(
    batch: list[rules.Movement], start: dict[uuid.UUID, WalletState], margins: list[Margin] | None
) -> list[rules.Decision]:
    wallets = dict(start)
    books = rules.Books(wallets, {}, NOW, "USD", margins)
    decisions = []
    for number, movement in enumerate(batch):
        decision = rules.decide(movement, books, uuid.UUID(int=1000 + number))
        if isinstance(decision, Change):
            for wallet in decision.wallets:
                wallets[wallet.id] = wallet
        decisions.append(decision)
    return decisions


def shifted(wallet: WalletState, balance: int, held: int) -> WalletState:
    return replace(wallet, balance=balance, held=held)


@settings(max_examples=400, deadline=None)
@given(
    start=states(),
    batch=st.lists(movements, min_size=1, max_size=8),
    shifts=st.lists(
        st.tuples(st.integers(-20_000, 20_000), st.integers(-20_000, 20_000)),
        min_size=3,
        max_size=3,
    ),
)
def test_a_batch_accepted_on_one_state_is_decided_alike_on_any_state_within_its_guards(
    start: dict[uuid.UUID, WalletState],
    batch: list[rules.Movement],
    shifts: list[tuple[int, int]],
) -> None:
    margins: list[Margin] = []
    decisions = decide_all(batch, start, margins)
    if not all(isinstance(decision, Change) for decision in decisions):
        return  # a guarded batch takes only batches the rules accept in full
    final = dict(start)
    for decision in decisions:
        assert isinstance(decision, Change)
        for wallet in decision.wallets:
            final[wallet.id] = wallet
    guards = {w: guard_for(start[w], final[w], None, margins) for w in WALLETS}

    actual = {}
    for (balance_shift, held_shift), wallet_id in zip(shifts, WALLETS, strict=True):
        wallet = start[wallet_id]
        balance = min(max(wallet.balance + balance_shift, 0), LIMIT)
        held = min(max(wallet.held + held_shift, 0), balance)
        actual[wallet_id] = shifted(wallet, balance, held)
    within = all(
        actual[w].available >= guards[w].available_at_least
        and actual[w].balance <= guards[w].balance_at_most
        for w in WALLETS
    )
    again = decide_all(batch, actual, None)

    if within:
        for first, second in zip(decisions, again, strict=True):
            assert isinstance(second, Change), "within its guards, every decision stands"
            assert isinstance(first, Change)
            assert first.entries == second.entries
            assert first.holds == second.holds
        for w in WALLETS:
            # The deltas the statement applies give what deciding on the actual state gives.
            after = dict(actual)
            for decision in again:
                assert isinstance(decision, Change)
                for wallet in decision.wallets:
                    after[wallet.id] = wallet
            assert after[w].balance == actual[w].balance + guards[w].delta_balance
            assert after[w].held == actual[w].held + guards[w].delta_held


@settings(max_examples=200, deadline=None)
@given(start=states(), batch=st.lists(movements, min_size=1, max_size=8))
def test_guards_hold_on_the_state_the_batch_was_decided_on(
    start: dict[uuid.UUID, WalletState], batch: list[rules.Movement]
) -> None:
    margins: list[Margin] = []
    decisions = decide_all(batch, start, margins)
    if not all(isinstance(decision, Change) for decision in decisions):
        return
    for wallet in start.values():
        guard = guard_for(wallet, wallet, None, margins)
        assert wallet.available >= guard.available_at_least
        assert wallet.balance <= guard.balance_at_most


def test_a_withdrawal_guards_the_available_balance_it_needs_and_no_more() -> None:
    wallet = WalletState(WALLETS[0], "USD", balance=1_000, held=100, next_expiry=None)
    margins: list[Margin] = []
    (decision,) = decide_all([Withdrawal(wallet.id, Decimal("3.00"))], {wallet.id: wallet}, margins)
    assert isinstance(decision, Change)
    guard = guard_for(wallet, decision.wallets[0], None, margins)
    assert guard.available_at_least == 300
    assert guard.balance_at_most == 2**62
    assert (guard.delta_balance, guard.delta_held) == (-300, 0)


def test_a_deposit_guards_the_room_it_needs_below_the_limit() -> None:
    wallet = WalletState(WALLETS[0], "USD", balance=LIMIT - 800, held=0, next_expiry=None)
    margins: list[Margin] = []
    (decision,) = decide_all([Deposit(wallet.id, Decimal("5.00"))], {wallet.id: wallet}, margins)
    assert isinstance(decision, Change)
    guard = guard_for(wallet, decision.wallets[0], None, margins)
    assert guard.balance_at_most == LIMIT - 500
    assert guard.available_at_least == -(2**62)
    over = shifted(wallet, LIMIT - 499, 0)
    (refused,) = decide_all([Deposit(wallet.id, Decimal("5.00"))], {wallet.id: over}, None)
    assert refused.code == "balance_limit_exceeded"  # type: ignore[union-attr]


@pytest.fixture
async def two_workers(database_url: str) -> AsyncIterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one database, as two workers of the service are: each remembers what it
    saw, and neither sees what the other wrote."""
    databases = [Database(Settings(db_pool_size=2, db_pool_overflow=0), database_url) for _ in "ab"]
    try:
        yield tuple(  # type: ignore[misc]
            Ledger(database, default_currency="USD", idempotency_ttl=timedelta(hours=1))
            for database in databases
        )
    finally:
        for database in databases:
            await database.dispose()


async def test_a_batch_decided_on_a_stale_state_lands_only_within_its_guards(
    two_workers: tuple[Ledger, Ledger], db: asyncpg.Connection
) -> None:
    first, second = two_workers
    wallet_id = uuid.uuid4()
    opened = await first.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal("10.00"))
    assert isinstance(opened.outcome, Operation)
    assert first.engine.guarded.stats.landed == 1
    # The second worker takes 8.00: the first still remembers 10.00.
    await second.wallets.move(wallet_id, OperationType.WITHDRAW, Decimal("8.00"))

    # Within its guards (needs 1.00 of the 2.00 there is): lands as decided.
    small = await first.wallets.move(wallet_id, OperationType.WITHDRAW, Decimal("1.00"))
    assert isinstance(small.outcome, Operation)
    assert first.engine.guarded.stats.landed == 2
    # Outside them (needs 5.00): nothing of it lands; decided again under the lock, refused.
    large = await first.wallets.move(wallet_id, OperationType.WITHDRAW, Decimal("5.00"))
    assert isinstance(large.outcome, InsufficientFunds)
    assert first.engine.guarded.stats.missed == 1
    assert await balance_of(db, wallet_id) == Decimal("1.00")
    assert await ledger_problems(db, [wallet_id]) == []


async def test_a_key_answered_by_another_worker_is_replayed_not_decided_again(
    two_workers: tuple[Ledger, Ledger], db: asyncpg.Connection
) -> None:
    first, second = two_workers
    wallet_id = uuid.uuid4()
    key = IdempotencyKey(ANONYMOUS, f"guarded-{uuid.uuid4()}")
    answered = await first.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal("3.00"), key)
    again = await second.wallets.move(wallet_id, OperationType.DEPOSIT, Decimal("3.00"), key)
    assert not answered.replayed and again.replayed
    assert again.outcome == answered.outcome
    assert await balance_of(db, wallet_id) == Decimal("3.00")
    assert await ledger_problems(db, [wallet_id]) == []


async def test_a_deposit_into_a_wallet_this_worker_never_saw_lands_in_its_own_currency(
    two_workers: tuple[Ledger, Ledger], db: asyncpg.Connection
) -> None:
    first, second = two_workers
    euros = await first.wallets.create(None, "EUR")
    yen = await first.wallets.create(None, "JPY")
    # The second worker decides on a new USD wallet, as for any wallet it has not seen: the
    # statement finds another currency, lands nothing, and the locked batch decides again.
    into_euros = await second.wallets.move(euros.id, OperationType.DEPOSIT, Decimal("2.50"))
    into_yen = await second.wallets.move(yen.id, OperationType.DEPOSIT, Decimal("2.50"))

    assert isinstance(into_euros.outcome, Operation)
    assert into_euros.outcome.currency == "EUR"
    assert into_yen.outcome.code == "validation_error"  # type: ignore[union-attr]
    assert second.engine.guarded.stats.missed == 2
    assert await db.fetchval("SELECT balance_minor FROM wallets WHERE id = $1", euros.id) == 250
    assert await db.fetchval("SELECT balance_minor FROM wallets WHERE id = $1", yen.id) == 0
    assert await ledger_problems(db, [euros.id, yen.id]) == []
