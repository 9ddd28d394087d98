"""The one engine every write goes through: deposits, withdrawals, transfers, holds, captures
and voids, with or without an Idempotency-Key.

A request is a `Command`. Commands queue per wallet while a transaction on that wallet is in
flight in this worker (`ledger/queues.py`); a batch of them is then one transaction:

1. lock every wallet the batch touches, once, in id order;
2. load the holds it captures or voids, and lapse the holds past their expiry;
3. claim its idempotency keys (a key answered before is replayed, not decided again);
4. ask the rules (`ledger/rules.py`) about each command in arrival order, against the state the
   earlier ones left;
5. write everything accepted, and the outcome of every keyed command, in one statement;
6. commit; each request then gets its own outcome.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeGuard

from wallet_api import metrics, tracing
from wallet_api.events.outbox import Outbox, empty_wallet
from wallet_api.ledger import rules
from wallet_api.ledger.commands import Command, Decided
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    LedgerError,
)
from wallet_api.ledger.guarded import GuardedBatches, new_id_for, wallet_state
from wallet_api.ledger.idempotency import fingerprint, restored, stored
from wallet_api.ledger.queues import Batches
from wallet_api.ledger.records import (
    Hold,
    Operation,
    Record,
    Reversal,
    Transfer,
    hold_record,
    metadata_json,
    metadata_pairs,
    operation_record,
    transfer_record,
)
from wallet_api.ledger.retry import retry_conflicts
from wallet_api.ledger.rules import (
    CaptureHold,
    Change,
    Deposit,
    HoldState,
    HoldStatus,
    LapseHold,
    Metadata,
    Movement,
    OperationState,
    PlaceHold,
    ReverseOperation,
    ReverseTransfer,
    TransferFunds,
    TransferState,
    VoidHold,
    WalletState,
    Withdrawal,
)
from wallet_api.storage import batch as store
from wallet_api.storage.database import Database
from wallet_api.storage.errors import StorageConflict, StorageUnavailable

log = logging.getLogger(__name__)

# The most requests one transaction decides: a bound on the statement's size.
LARGEST_BATCH = 512


def batches_in_flight(hot_pool_size: int) -> int:
    """How many batches a worker runs at once: half its hot pool. Fewer transactions at a time
    make each batch bigger, so a spread load pays fewer round trips per request (measured: 19%
    more spread throughput than one batch per connection); the other half serves reads."""
    return max(1, hot_pool_size // 2)


# How a movement is named in the metrics.
KINDS: dict[type[Movement], str] = {
    Deposit: "DEPOSIT",
    Withdrawal: "WITHDRAW",
    TransferFunds: "TRANSFER",
    PlaceHold: "HOLD",
    CaptureHold: "HOLD_CAPTURE",
    VoidHold: "HOLD_VOID",
    ReverseOperation: "REVERSAL",
    ReverseTransfer: "TRANSFER_REVERSAL",
}


class Engine:
    def __init__(
        self,
        database: Database,
        default_currency: str,
        idempotency_ttl: timedelta,
        batching: bool = True,
    ) -> None:
        minor_units(default_currency)
        self._db = database
        self._default_currency = default_currency
        self._ttl = idempotency_ttl
        self._batching = batching
        self.guarded = GuardedBatches(database, default_currency, idempotency_ttl)
        self.batches: Batches[Command, Decided] = Batches(
            self._serve, batches_in_flight(database.hot_pool_size), LARGEST_BATCH
        )

    async def submit(self, command: Command) -> Decided:
        """Decide the command with whatever else is waiting for its wallets; its outcome once
        committed. Without batching (WALLET_GROUP_COMMIT=false), in a transaction of its own at
        once, as if each request had a worker of its own."""
        if not self._batching:
            return await self._alone(command)
        return await self.batches.submit(command)

    async def lapse_due_holds(self, wallet_ids: Sequence[uuid.UUID]) -> int:
        """Lapse the holds past their expiry on these wallets; how many lapsed."""
        attempt = self._attempt([], wallet_ids)
        await retry_conflicts(attempt.run)
        return attempt.lapsed

    async def _serve(self, commands: list[Command]) -> list[Decided]:
        try:
            with tracing.batch_span(len(commands)):
                decided = await self._decide(commands)
        except StorageUnavailable as failure:
            conflict = isinstance(failure, StorageConflict)
            _count_failure(commands, "conflict" if conflict else "unavailable")
            raise
        except Exception:
            if len(commands) == 1:
                _count_failure(commands, "error")
                raise
            # An unexpected failure of one must not fail the others: each goes alone.
            log.exception("a batch of %d commands failed; deciding each alone", len(commands))
            return [await self._alone(command) for command in commands]
        for command, outcome in zip(commands, decided, strict=True):
            _count(command, outcome)
        return decided

    async def _decide(self, commands: list[Command]) -> list[Decided]:
        """A guarded batch when batching and the rules accept it on what this worker last saw,
        else a locked one."""
        if self._batching:
            landed = await self.guarded.run(commands)
            if landed is not None:
                return [Decided(outcome) for outcome in landed]
        attempt = self._attempt(commands)
        decided = await retry_conflicts(attempt.run)
        self.guarded.remember(attempt.final_states)
        return decided

    def _attempt(self, commands: list[Command], sweep: Sequence[uuid.UUID] = ()) -> _Attempt:
        return _Attempt(self._db, self._default_currency, self._ttl, commands, sweep)

    async def _alone(self, command: Command) -> Decided:
        (decided,) = await self._serve([command])
        return decided


class _Attempt:
    """One try at a batch's transaction, from its first statement."""

    def __init__(
        self,
        database: Database,
        default_currency: str,
        ttl: timedelta,
        commands: list[Command],
        sweep: Sequence[uuid.UUID],
    ) -> None:
        self._db = database
        self._default_currency = default_currency
        self._ttl = ttl
        self._commands = commands
        self._sweep = sweep
        self.lapsed = 0
        self.final_states: list[WalletState] = []

    async def run(self) -> list[Decided]:
        commands = self._commands
        wallet_ids = sorted({w for c in commands for w in c.wallets}.union(self._sweep))
        hold_ids = [c.movement.hold_id for c in commands if _settles_a_hold(c.movement)]
        operation_ids, transfer_ids = _reversed(commands)
        asked = _references_asked(commands)
        requests = [fingerprint(c.movement) if c.key is not None else b"" for c in commands]
        keys = _first_of_each_key(commands, requests)
        async with self._db.hot_transaction() as connection:
            numbers = 1 + len(commands) + sum(_most_entries(c.movement) for c in commands)
            locked = await store.lock(connection, wallet_ids, numbers, keys, self._ttl)
            book = _BatchState(locked, self._default_currency)
            unclaimed = [
                (caller, key) for caller, key, _ in keys if (caller, key) not in locked.claimed
            ]
            if unclaimed:
                book.know_answers(await store.stored_keys(connection, unclaimed))
            if any(asked):
                book.know_references(await store.references(connection, *asked))
            if operation_ids or transfer_ids:
                book.load_originals(await store.originals(connection, operation_ids, transfer_ids))
            due = book.lapse_due()
            if hold_ids or due:
                book.load_holds(await store.holds(connection, hold_ids, due))
            if due:
                book.set_next_expiries(await store.next_expiries(connection, due))
                self.lapsed = book.lapse_holds()
            decided = [
                book.answer(command, request)
                for command, request in zip(commands, requests, strict=True)
            ]
            writes = book.writes()
            if writes:
                await store.write(connection, writes)
        self.final_states = book.final_states()
        return decided


class _BatchState:
    """The state of one batch's wallets and holds as the rules leave it, decision after
    decision, and the rows that record it."""

    def __init__(self, locked: store.Locked, default_currency: str) -> None:
        self._now = locked.now
        # Numbers in the order of decisions (see storage/batch.py): the first is the lapses'.
        self._numbers = iter(locked.operation_ids)
        self._lapse_number = next(self._numbers)
        self._wallets = {row.id: wallet_state(row) for row in locked.wallets}
        self._holds: dict[uuid.UUID, HoldState] = {}
        self._hold_labels: dict[uuid.UUID, tuple[str | None, Metadata]] = {}
        self._references: dict[rules.ReferenceKey, object] = {}
        self._operations: dict[int, OperationState] = {}
        self._transfers: dict[uuid.UUID, TransferState] = {}
        self._books = rules.Books(
            self._wallets,
            self._holds,
            self._now,
            default_currency,
            references=self._references,
            operations=self._operations,
            transfers=self._transfers,
        )
        self._existing_wallets = set(self._wallets)
        self._existing_holds: set[uuid.UUID] = set()
        self._changed_wallets: set[uuid.UUID] = set()
        # hold id -> (number of the decision that placed it, of the one that ended it)
        self._changed_holds: dict[uuid.UUID, tuple[int | None, int | None]] = {}
        self._claimed = locked.claimed
        self._answers: dict[tuple[int, str], tuple[bytes, Record | LedgerError]] = {}
        self._to_store: dict[tuple[int, str], Record | LedgerError | None] = {}
        self._writes = store.Writes()
        self._outbox = Outbox()

    def lapse_due(self) -> list[uuid.UUID]:
        return [w.id for w in self._wallets.values() if rules.lapse_due(w, self._now)]

    def load_holds(self, rows: Iterable[store.BatchHold]) -> None:
        for row in rows:
            if row.wallet_id not in self._wallets:
                continue  # a hold this batch could not have known of when it locked
            self._holds[row.id] = HoldState(
                row.id,
                row.wallet_id,
                row.amount_minor,
                HoldStatus(row.status),
                row.captured_minor,
                row.expires_at,
                row.created_at,
            )
            self._hold_labels[row.id] = (row.reference, metadata_pairs(row.metadata))
            self._existing_holds.add(row.id)

    def know_references(self, taken: dict[tuple[str, uuid.UUID | None, str], str]) -> None:
        self._references.update(taken)

    def load_originals(self, rows: Iterable[store.Original]) -> None:
        """The operations and transfers the batch reverses, on wallets it locked."""
        for row in rows:
            wallets = {row.wallet_id, row.other_wallet_id} - {None}
            if not wallets <= set(self._wallets):
                continue  # not known when the batch locked: as if it did not exist yet
            if isinstance(row.id, uuid.UUID):
                assert row.other_wallet_id is not None
                assert row.out_operation_id is not None and row.in_operation_id is not None
                self._transfers[row.id] = TransferState(
                    row.id,
                    row.wallet_id,
                    row.other_wallet_id,
                    row.amount_minor,
                    row.reversed_minor,
                    row.out_operation_id,
                    row.in_operation_id,
                )
            else:
                self._operations[row.id] = OperationState(
                    row.id,
                    row.wallet_id,
                    rules.OperationType(row.operation_type),
                    row.amount_minor,
                    row.reversed_minor,
                    row.transfer_id,
                )

    def set_next_expiries(self, expiries: dict[uuid.UUID, datetime | None]) -> None:
        """Bookkeeping, not a rule: the lower bound of the expiries of the holds that stay."""
        for wallet_id, next_expiry in expiries.items():
            wallet = self._wallets[wallet_id]
            self._wallets[wallet_id] = WalletState(
                wallet.id, wallet.currency, wallet.balance, wallet.held, next_expiry
            )
            self._changed_wallets.add(wallet_id)

    def lapse_holds(self) -> int:
        lapsed = [hold.id for hold in self._holds.values() if hold.lapsed(self._now)]
        for hold_id in lapsed:
            change = rules.decide(LapseHold(hold_id), self._books, hold_id)
            assert isinstance(change, Change), "a hold past its expiry always lapses"
            self._apply(change, self._lapse_number)
            (hold,) = change.holds
            record = self._hold_record(hold)
            self._outbox.add(self._lapse_number, record, self._now)
        return len(lapsed)

    def know_answers(self, answered: list[store.StoredKey]) -> None:
        """The outcomes stored under the keys this batch did not claim."""
        for row in answered:
            if row.outcome is not None:
                self._answers[(row.caller, row.key)] = (row.fingerprint, restored(row.outcome))

    def answer(self, command: Command, request: bytes) -> Decided:
        """The command's outcome: decided now, or the one its key holds already; `request` is
        the fingerprint of a keyed command."""
        number = next(self._numbers)
        if command.key is None:
            return Decided(self._decide(command.movement, number))
        key = (command.key.caller, command.key.key)
        if key in self._answers:
            first_request, outcome = self._answers[key]
            if first_request != request:
                return Decided(IdempotencyKeyReused())
            return Decided(outcome, replayed=True)
        if key not in self._claimed:
            return Decided(IdempotencyKeyInProgress())
        outcome = self._decide(command.movement, number)
        if isinstance(outcome, InvalidRequest):
            # A request that is wrong in itself is no answer: its key stays free.
            self._to_store[key] = None
        else:
            self._to_store[key] = outcome
            self._answers[key] = (request, outcome)
        return Decided(outcome)

    def _decide(self, movement: Movement, number: int) -> Record | LedgerError:
        decision = rules.decide(movement, self._books, new_id_for(movement))
        if isinstance(decision, LedgerError):
            return decision
        operations = self._apply(decision, number)
        record = self._record(movement, decision, operations)
        self._take_reference(movement, record)
        if isinstance(record, Reversal):
            for entry in record.entries:
                self._outbox.add(number, entry, self._now)
        else:
            self._outbox.add(number, record, self._now)
        return record

    def _take_reference(self, movement: Movement, record: Record) -> None:
        """A reference this batch takes is taken for the commands after it too."""
        key = rules.reference_key(movement)
        if key is not None and not isinstance(record, Reversal):
            self._references[key] = record.id

    def _apply(self, change: Change, number: int) -> list[Operation]:
        for wallet in change.wallets:
            if wallet.id not in self._wallets:
                opened = empty_wallet(wallet.id, wallet.currency, self._now)
                self._outbox.add(number, opened, self._now)
            self._wallets[wallet.id] = wallet
            self._changed_wallets.add(wallet.id)
        for original in change.reversed:
            if isinstance(original, TransferState):
                self._transfers[original.id] = original
            else:
                self._operations[original.id] = original
        for hold in change.holds:
            self._holds[hold.id] = hold
            placed, _ = self._changed_holds.get(hold.id, (None, None))
            if hold.status is HoldStatus.ACTIVE:
                self._changed_holds[hold.id] = (number, None)
            else:
                self._changed_holds[hold.id] = (placed, number)
        balances = {wallet.id: wallet.balance for wallet in change.wallets}
        operations = []
        for entry in change.entries:
            operation_id = next(self._numbers)
            balance_after = balances[entry.wallet_id]
            self._writes.entries.append(
                store.BatchEntry(
                    operation_id,
                    entry.wallet_id,
                    entry.operation_type.value,
                    entry.amount,
                    balance_after,
                    entry.transfer_id,
                    entry.hold_id,
                    entry.reverses_id,
                    entry.reference,
                    metadata_json(entry.metadata),
                )
            )
            currency = self._wallets[entry.wallet_id].currency
            operations.append(
                operation_record(entry, operation_id, currency, self._now, balance_after)
            )
        return operations

    def _record(self, movement: Movement, change: Change, operations: list[Operation]) -> Record:
        """What the client is answered: the operation, the transfer or the hold."""
        if isinstance(movement, Deposit | Withdrawal):
            (operation,) = operations
            return operation
        if isinstance(movement, ReverseOperation | ReverseTransfer):
            return Reversal(tuple(operations))
        if isinstance(movement, TransferFunds):
            out = change.entries[0]
            assert out.transfer_id is not None
            self._writes.transfers.append(
                (
                    out.transfer_id,
                    movement.from_wallet_id,
                    movement.to_wallet_id,
                    out.amount,
                    movement.reference,
                    metadata_json(movement.metadata),
                )
            )
            return transfer_record(movement, out, operations[0].currency, self._now)
        (hold,) = change.holds
        if isinstance(movement, PlaceHold):
            self._hold_labels[hold.id] = (movement.reference, movement.metadata)
        return self._hold_record(hold)

    def _hold_record(self, hold: HoldState) -> Hold:
        reference, metadata = self._hold_labels.get(hold.id, (None, ()))
        return hold_record(hold, self._wallets[hold.wallet_id].currency, reference, metadata)

    def final_states(self) -> list[WalletState]:
        return list(self._wallets.values())

    def writes(self) -> store.Writes:
        writes = self._writes
        writes.events = self._outbox.rows
        for wallet_id in self._changed_wallets:
            w = self._wallets[wallet_id]
            row = store.BatchWallet(w.id, w.currency, w.balance, w.held, w.next_expiry)
            (writes.updated if wallet_id in self._existing_wallets else writes.opened).append(row)
        for hold_id, (placed, settled) in self._changed_holds.items():
            h = self._holds[hold_id]
            reference, metadata = self._hold_labels.get(hold_id, (None, ()))
            hold_row = store.BatchHold(
                h.id,
                h.wallet_id,
                h.amount,
                h.status.value,
                h.captured,
                h.expires_at,
                h.created_at,
                placed,
                settled,
                reference,
                metadata_json(metadata),
            )
            (writes.settled if hold_id in self._existing_holds else writes.placed).append(hold_row)
        for (caller, key), outcome in self._to_store.items():
            if outcome is None:
                writes.released.append((caller, key))
            else:
                writes.answers.append((caller, key, stored(outcome)))
        return writes


def _settles_a_hold(movement: Movement) -> TypeGuard[CaptureHold | VoidHold]:
    return isinstance(movement, CaptureHold | VoidHold)


def _most_entries(movement: Movement) -> int:
    """How many operations a movement may append: the ids a batch draws before deciding."""
    if isinstance(movement, TransferFunds | ReverseTransfer):
        return 2
    if isinstance(movement, Deposit | Withdrawal | CaptureHold | ReverseOperation):
        return 1
    return 0


def _reversed(commands: list[Command]) -> tuple[list[int], list[uuid.UUID]]:
    """The operations and the transfers the batch's reversals name."""
    operations = [
        c.movement.operation_id for c in commands if isinstance(c.movement, ReverseOperation)
    ]
    transfers = [
        c.movement.transfer_id for c in commands if isinstance(c.movement, ReverseTransfer)
    ]
    return operations, transfers


def _references_asked(
    commands: list[Command],
) -> tuple[list[tuple[uuid.UUID, str]], list[tuple[uuid.UUID, str]], list[str]]:
    """The references the batch's writes would take: (wallet, reference) of operations, of
    holds, and the transfers' references."""
    operations: list[tuple[uuid.UUID, str]] = []
    holds: list[tuple[uuid.UUID, str]] = []
    transfers: list[str] = []
    for command in commands:
        key = rules.reference_key(command.movement)
        if key is None:
            continue
        kind, wallet_id, reference = key
        if kind == "transfer":
            transfers.append(reference)
        else:
            assert wallet_id is not None
            (operations if kind == "operation" else holds).append((wallet_id, reference))
    return operations, holds, transfers


def _first_of_each_key(
    commands: list[Command], requests: list[bytes]
) -> list[tuple[int, str, bytes]]:
    """(caller, key, fingerprint) of the first command of each key: what the batch claims."""
    keys: dict[tuple[int, str], bytes] = {}
    for command, request in zip(commands, requests, strict=True):
        if command.key is not None:
            key = (command.key.caller, command.key.key)
            if key not in keys:
                keys[key] = request
    return [(caller, key, request) for (caller, key), request in sorted(keys.items())]


def _count(command: Command, decided: Decided) -> None:
    """Count a decision for the operator: its result, and the money it moved."""
    kind = KINDS[type(command.movement)]
    outcome = decided.outcome
    if decided.replayed:
        result = "replayed"
    elif isinstance(outcome, LedgerError):
        result = outcome.code
    else:
        result = "ok"
    metrics.OPERATIONS.labels(kind, result).inc()
    if decided.replayed:
        return
    if isinstance(outcome, Operation | Transfer):
        metrics.record_money(outcome.currency, kind, outcome.amount)
    elif isinstance(outcome, Reversal):
        metrics.record_money(outcome.entries[0].currency, kind, outcome.entries[0].amount)
    elif isinstance(outcome, Hold) and outcome.status is HoldStatus.CAPTURED:
        assert outcome.captured_amount is not None
        metrics.record_money(outcome.currency, kind, outcome.captured_amount)


def _count_failure(commands: list[Command], reason: str) -> None:
    for command in commands:
        metrics.OPERATIONS.labels(KINDS[type(command.movement)], reason).inc()
