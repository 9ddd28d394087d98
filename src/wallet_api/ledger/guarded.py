"""Guarded batches: the engine's fast way, one statement and no lock held while Python runs.

A locked batch holds its wallets' row locks across four round trips and the event loop's turns
between them, and with two workers on one hot wallet the second waits for all of it. A guarded
batch is decided by the rules against the state this worker last saw of each wallet, which may
be stale. While deciding, the rules note every comparison of a balance they make and how far it
was from going the other way (`rules.Margin`). From those margins follow bounds on each
wallet's balance and available balance within which every decision of the batch would be the
same. One autocommit statement then locks the wallets, checks that each lies within its bounds,
and applies the batch's changes as deltas; if one does not, the statement changes nothing and
the batch goes the locked way, where the rules decide again on the locked state.

The statement compares numbers the rules computed; it restates no rule. Only batches the rules
accept in full take this way (a refusal is decided under the lock, where its exact state is
known), and only deposits, withdrawals, transfers and new holds (captures and voids need their
hold's state). Its measured gain is in docs/design.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from wallet_api import metrics
from wallet_api.events.outbox import Outbox, empty_wallet
from wallet_api.ledger import rules
from wallet_api.ledger.commands import Command
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import LedgerError
from wallet_api.ledger.idempotency import fingerprint, stored
from wallet_api.ledger.records import (
    Operation,
    Record,
    hold_record,
    minor_to_decimal,
    operation_record,
    transfer_record,
)
from wallet_api.ledger.rules import (
    Change,
    Deposit,
    Margin,
    PlaceHold,
    Quantity,
    TransferFunds,
    WalletState,
    Withdrawal,
)
from wallet_api.storage import batch as store
from wallet_api.storage.batch import GuardedWrites, GuardsMissed
from wallet_api.storage.database import Database
from wallet_api.storage.errors import StorageConflict

GUARDABLE = (Deposit, Withdrawal, TransferFunds, PlaceHold)

# No bound: beyond any balance a wallet can hold.
_LOWEST = -(2**62)
_HIGHEST = 2**62

_NO_ID = uuid.UUID(int=0)

# How many wallets a worker remembers the state of before it starts afresh.
_MEMORY = 100_000


@dataclass(slots=True)
class GuardStats:
    landed: int = 0
    missed: int = 0


@dataclass(slots=True)
class _Plan:
    """A batch decided against remembered states: its writes and its outcomes."""

    writes: GuardedWrites
    outcomes: list[Record]
    # For each outcome that is an operation: the ordinal of the number that becomes its id.
    operation_ordinals: list[int | None] = field(default_factory=list)
    final: dict[uuid.UUID, WalletState] = field(default_factory=dict)
    # For each operation's ordinal: its wallet's balance right after it, as decided.
    balances_after: dict[int, tuple[uuid.UUID, int]] = field(default_factory=dict)


class GuardedBatches:
    def __init__(self, database: Database, default_currency: str, ttl: timedelta) -> None:
        self._db = database
        self._default_currency = default_currency
        self._ttl = ttl
        self._seen: dict[uuid.UUID, WalletState] = {}
        self.stats = GuardStats()

    def remember(self, wallets: Iterable[WalletState]) -> None:
        """The state of wallets as a locked batch left them."""
        for wallet in wallets:
            self._remember(wallet)

    async def run(self, commands: Sequence[Command]) -> list[Record] | None:
        """The outcome of each command, landed; None when the batch must go the locked way
        (nothing of it landed)."""
        if not _guardable(commands):
            return None
        wallet_ids = sorted({wallet for command in commands for wallet in command.wallets})
        deposited_only = _only_deposited(commands)
        unseen = [w for w in wallet_ids if w not in self._seen and w not in deposited_only]
        if unseen:
            async with self._db.hot() as connection:
                for row in await store.states(connection, unseen):
                    self._remember(wallet_state(row))
        plan = self._plan(commands, wallet_ids, datetime.now(UTC))
        if plan is None:
            return None
        try:
            async with self._db.hot() as connection:
                landed = await store.write_guarded(connection, plan.writes, self._ttl)
        except (GuardsMissed, StorageConflict) as missed:
            if isinstance(missed, StorageConflict):
                # Rolled back whole, like a locked batch's conflict: it runs again, locked.
                metrics.TRANSACTION_RETRIES.labels(missed.reason).inc()
            self.stats.missed += 1
            metrics.GUARDED_BATCHES.labels("missed").inc()
            for wallet_id in wallet_ids:
                self._seen.pop(wallet_id, None)
            return None
        self.stats.landed += 1
        metrics.GUARDED_BATCHES.labels("landed").inc()
        for wallet in plan.final.values():
            self._remember(wallet)
        return [
            _landed(outcome, ordinal, plan, landed)
            for outcome, ordinal in zip(plan.outcomes, plan.operation_ordinals, strict=True)
        ]

    def _plan(
        self, commands: Sequence[Command], wallet_ids: list[uuid.UUID], now: datetime
    ) -> _Plan | None:
        initial = {w: self._seen[w] for w in wallet_ids if w in self._seen}
        if any(rules.lapse_due(wallet, now) for wallet in initial.values()):
            return None
        margins: list[Margin] = []
        wallets = dict(initial)
        books = rules.Books(wallets, {}, now, self._default_currency, margins)
        writes = GuardedWrites(now=now, numbers=0)
        plan = _Plan(writes, [])
        new_expiries: dict[uuid.UUID, datetime] = {}
        # Events are recorded under the ordinal of their decision's number, still to be drawn.
        outbox = Outbox()
        for command in commands:
            decision = rules.decide(command.movement, books, new_id_for(command.movement))
            if isinstance(decision, LedgerError):
                return None
            writes.numbers += 1
            number = writes.numbers
            for wallet in decision.wallets:
                if wallet.id not in wallets:
                    # Told only if the statement does insert it (it may exist unseen).
                    opened = empty_wallet(wallet.id, wallet.currency, now)
                    writes.events.append((outbox.add(number, opened, now), None))
                wallets[wallet.id] = wallet
            outcome, ordinal = _outcome(command.movement, decision, wallets, writes, number, now)
            writes.events.append((outbox.add(number, outcome, now), ordinal))
            for entry_ordinal, entry in zip(
                range(number + 1, writes.numbers + 1), decision.entries, strict=True
            ):
                plan.balances_after[entry_ordinal] = (
                    entry.wallet_id,
                    wallets[entry.wallet_id].balance,
                )
            for hold in decision.holds:
                expiry = new_expiries.get(hold.wallet_id, hold.expires_at)
                new_expiries[hold.wallet_id] = min(expiry, hold.expires_at)
            plan.outcomes.append(outcome)
            plan.operation_ordinals.append(ordinal)
            if command.key is not None:
                writes.answers.append(
                    (
                        command.key.caller,
                        command.key.key,
                        fingerprint(command.movement),
                        stored(outcome),
                        ordinal,
                    )
                )
        for wallet_id, final in wallets.items():
            start = initial.get(wallet_id)
            if start is None or final != start or any(m.wallet_id == wallet_id for m in margins):
                new_expiry = new_expiries.get(wallet_id)
                writes.guards.append(guard_for(start, final, new_expiry, margins))
        plan.final = wallets
        # The statement learns each balance after only as it lands: it gets each as an offset
        # from the balance the batch leaves on the wallet.
        writes.entries = [_with_offset(entry, plan, wallets) for entry in writes.entries]
        return plan

    def _remember(self, wallet: WalletState) -> None:
        if len(self._seen) >= _MEMORY:
            self._seen.clear()
        self._seen[wallet.id] = wallet


def _guardable(commands: Sequence[Command]) -> bool:
    """Commands of the kinds a guarded batch takes, each key at most once, none with a
    reference or metadata (a reference is checked against the stored ones, under the lock)."""
    keys = [(c.key.caller, c.key.key) for c in commands if c.key is not None]
    if len(keys) != len(set(keys)):
        return False
    return all(
        isinstance(c.movement, GUARDABLE)
        and c.movement.reference is None
        and not c.movement.metadata
        for c in commands
    )


def _only_deposited(commands: Sequence[Command]) -> set[uuid.UUID]:
    """Wallets the batch only deposits into: one this worker has not seen needs no read, the
    rules decide on a new, empty wallet, and the guards hold whatever it turns out to hold."""
    deposited = {c.movement.wallet_id for c in commands if isinstance(c.movement, Deposit)}
    others = {w for c in commands if not isinstance(c.movement, Deposit) for w in c.wallets}
    return deposited - others


def wallet_state(row: store.BatchWallet) -> WalletState:
    """A wallet's row as the rules see it."""
    return WalletState(row.id, row.currency, row.balance_minor, row.held_minor, row.next_expiry)


def _outcome(
    movement: rules.Movement,
    change: Change,
    wallets: dict[uuid.UUID, WalletState],
    writes: GuardedWrites,
    number: int,
    now: datetime,
) -> tuple[Record, int | None]:
    """The record the client is answered (an operation's id still to be drawn: its ordinal is
    returned with it), and the rows that write it."""
    if isinstance(movement, PlaceHold):
        (hold,) = change.holds
        writes.placed.append((hold.id, hold.wallet_id, hold.amount, hold.expires_at, number))
        return hold_record(hold, wallets[hold.wallet_id].currency), None
    ordinals = []
    for entry in change.entries:
        writes.numbers += 1
        ordinals.append(writes.numbers)
        # The last two (the balance after, and the currency's digits) are set once planned.
        writes.entries.append(
            (
                writes.numbers,
                entry.wallet_id,
                entry.operation_type.value,
                entry.amount,
                entry.transfer_id,
                0,
                0,
            )
        )
    first = change.entries[0]
    currency = wallets[first.wallet_id].currency
    if isinstance(movement, TransferFunds):
        assert first.transfer_id is not None
        writes.transfers.append(
            (first.transfer_id, movement.from_wallet_id, movement.to_wallet_id, first.amount)
        )
        return transfer_record(movement, first, currency, now), None
    # The operation's id and balance after are known once the statement ran: 0 and None till then.
    return operation_record(first, 0, currency, now, None), ordinals[0]


def guard_for(
    start: WalletState | None,
    final: WalletState,
    new_expiry: datetime | None,
    margins: list[Margin],
) -> store.Guard:
    """The wallet's change as deltas, with the bounds on the state it may land on: each margin
    a decision had on `start` stays non-negative on any state within them. With no `start`
    the rules decided on a new, empty wallet: that is the row to insert if none exists, and the
    bounds hold whatever the wallet turns out to hold."""
    opened = None
    if start is None:
        start = WalletState(final.id, final.currency, balance=0, held=0, next_expiry=None)
        opened = store.BatchWallet(
            final.id, final.currency, final.balance, final.held, final.next_expiry
        )
    own = [m for m in margins if m.wallet_id == start.id]
    available = [start.available - m.margin for m in own if m.quantity is Quantity.AVAILABLE]
    room = [start.balance + m.margin for m in own if m.quantity is Quantity.ROOM]
    return store.Guard(
        start.id,
        start.currency,
        final.balance - start.balance,
        final.held - start.held,
        new_expiry,
        max(available, default=_LOWEST),
        min(room, default=_HIGHEST),
        opened,
    )


def new_id_for(movement: rules.Movement) -> uuid.UUID:
    """The id of the transfer or hold a movement creates; none is drawn for the others."""
    if isinstance(movement, TransferFunds | PlaceHold):
        return uuid.uuid4()
    return _NO_ID


def _with_offset(
    entry: tuple[int, uuid.UUID, str, int, uuid.UUID | None, int, int],
    plan: _Plan,
    final: dict[uuid.UUID, WalletState],
) -> tuple[int, uuid.UUID, str, int, uuid.UUID | None, int, int]:
    """The entry with its balance after as an offset from its wallet's final balance."""
    wallet_id, balance_after = plan.balances_after[entry[0]]
    wallet = final[wallet_id]
    return (*entry[:5], balance_after - wallet.balance, minor_units(wallet.currency))


def _landed(outcome: Record, ordinal: int | None, plan: _Plan, landed: store.Landed) -> Record:
    """The outcome with what only the statement knew: an operation's id and balance after."""
    if ordinal is None:
        return outcome
    assert isinstance(outcome, Operation)
    wallet_id, decided = plan.balances_after[ordinal]
    balance_after = landed.balances[wallet_id] - plan.final[wallet_id].balance + decided
    return replace(
        outcome,
        id=landed.numbers[ordinal - 1],
        balance_after=minor_to_decimal(balance_after, outcome.currency),
    )
