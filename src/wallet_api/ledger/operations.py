"""Wallets, deposits, withdrawals and their history: the rules each request passes."""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api import metrics
from wallet_api.ledger import amounts, history, holds, transfers
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    BalanceLimitExceeded,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    WalletExists,
    WalletNotFound,
)
from wallet_api.ledger.group_commit import Pending, SharedRoundTrips, WalletQueues
from wallet_api.ledger.holds import Hold, HoldStatus, release_lapsed_holds, without_lapsed_holds
from wallet_api.ledger.idempotency import Answer, IdempotentRequest, run_once
from wallet_api.ledger.retry import retry_conflicts
from wallet_api.ledger.transfers import Transfer, TransferOrder
from wallet_api.storage import idempotency as idempotency_store
from wallet_api.storage import migrations
from wallet_api.storage import wallets as store
from wallet_api.storage.database import Database, driver_connection
from wallet_api.storage.errors import StorageConflict, StorageUnavailable
from wallet_api.storage.wallets import LockedWallet, OperationRow, WalletRow

log = logging.getLogger(__name__)


class OperationType(enum.StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"
    TRANSFER_IN = "TRANSFER_IN"
    TRANSFER_OUT = "TRANSFER_OUT"
    HOLD_CAPTURE = "HOLD_CAPTURE"


# Operation types that add to a balance; every other type takes away from it.
CREDIT_TYPES = (OperationType.DEPOSIT, OperationType.TRANSFER_IN)


@dataclass(frozen=True, slots=True)
class Wallet:
    id: uuid.UUID
    currency: str
    balance: Decimal
    available_balance: Decimal
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Operation:
    id: int
    wallet_id: uuid.UUID
    operation_type: OperationType
    amount: Decimal
    currency: str
    created_at: datetime
    transfer_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Move:
    """A deposit or a withdrawal waiting for its wallet."""

    operation_type: OperationType
    amount: Decimal


QueuedMove = Pending[Move, Operation]
WalletMove = tuple[uuid.UUID, Move]


@dataclass(frozen=True, slots=True)
class Decision:
    """A hold, its capture or its void waiting for its wallet: `decide` runs inside a
    transaction."""

    wallets: tuple[uuid.UUID, ...]
    decide: Callable[[AsyncConnection], Awaitable[object]]


QueuedDecision = Pending[Decision, object]


@dataclass(frozen=True, slots=True)
class OperationsPage:
    items: list[Operation]
    next_cursor: str | None


T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

# How many wallet currencies (and hold wallets) a worker remembers before it starts afresh.
_CACHE_SIZE = 100_000

# The kinds of money-moving request the metrics count, besides the operation types themselves.
TRANSFER = "TRANSFER"
HOLD = "HOLD"
HOLD_VOID = "HOLD_VOID"
# What a request decided when its Idempotency-Key had been answered before.
REPLAYED = "replayed"


class Ledger:
    """The one place that decides whether money may move; each decision lands atomically."""

    def __init__(
        self,
        database: Database,
        default_currency: str,
        idempotency_ttl: timedelta,
        group_commit: bool = True,
    ) -> None:
        minor_units(default_currency)
        self._db = database
        self._group_commit: WalletQueues[Move, Operation] | None = (
            WalletQueues("writes", self._apply_one, self._apply_batch) if group_commit else None
        )
        self._across: SharedRoundTrips[WalletMove, Operation] | None = (
            SharedRoundTrips(
                "across", database.hot_pool_size, self._apply_alone, self._apply_across
            )
            if group_commit
            else None
        )
        self._transfers: WalletQueues[TransferOrder, Transfer] | None = (
            WalletQueues("transfers", self._transfer_one, self._transfer_batch)
            if group_commit
            else None
        )
        self._decisions: WalletQueues[Decision, object] | None = (
            WalletQueues("decisions", self._decide_one, self._decide_batch)
            if group_commit
            else None
        )
        self._reads: WalletQueues[None, Wallet] = WalletQueues(
            "reads", self._read_one, self._read_shared
        )
        self._default_currency = default_currency
        self._idempotency_ttl = idempotency_ttl
        # A wallet's currency never changes, nor a hold's wallet: a remembered one is never stale.
        self._currencies: dict[uuid.UUID, str] = {}
        self._hold_wallets: dict[uuid.UUID, uuid.UUID] = {}

    @property
    def group_commit(self) -> WalletQueues[Move, Operation] | None:
        return self._group_commit

    async def is_ready(self) -> bool:
        """The database answers and its schema is at the newest migration."""
        # Twice: after a database restart the first use of a pooled connection fails and makes
        # the pool connect afresh, and readiness should not lag behind the requests that healed.
        for _ in range(2):
            try:
                async with self._db.connect() as connection:
                    revision = await store.schema_revision(connection)
            except Exception as failure:
                log.info("readiness check failed: %s", type(failure).__name__)
                continue
            return revision == migrations.head_revision()
        return False

    async def get_wallet(self, wallet_id: uuid.UUID) -> Wallet:
        """Concurrent reads of one wallet share one query that starts after they all arrived."""
        return await self._reads.submit(wallet_id, None)

    async def _read_shared(
        self, wallet_id: uuid.UUID, waiting: list[Pending[None, Wallet]]
    ) -> None:
        try:
            wallet = await self._read_one(wallet_id, None)
        except LedgerError as refusal:
            for pending in waiting:
                pending.future.set_exception(refusal)
            return
        for pending in waiting:
            pending.future.set_result(wallet)

    async def _read_one(self, wallet_id: uuid.UUID, _: None) -> Wallet:
        async with self._db.hot() as connection:
            row = await store.get_wallet(connection, wallet_id)
        if row is None:
            raise WalletNotFound(wallet_id)
        return self._wallet(row)

    async def create_wallet(self, wallet_id: uuid.UUID | None, currency: str | None) -> Wallet:
        currency = currency or self._default_currency
        minor_units(currency)
        wallet_id = wallet_id or uuid.uuid4()
        async with self._db.connect() as connection:
            row = await store.create_wallet(connection, wallet_id, currency)
        if row is None:
            raise WalletExists(wallet_id)
        return self._wallet(row)

    async def apply(
        self, wallet_id: uuid.UUID, operation_type: OperationType, amount: Decimal
    ) -> Operation:
        """Deposit (creating the wallet if new) or withdraw; raise when the ledger refuses."""
        move = Move(operation_type, amount)
        try:
            if self._group_commit is None:
                operation = await self._apply_one(wallet_id, move)
            else:
                operation = await self._group_commit.submit(wallet_id, move)
        except Exception as failure:
            _count(operation_type, failure)
            raise
        _count(operation_type, operation)
        return operation

    async def _apply_one(self, wallet_id: uuid.UUID, move: Move) -> Operation:
        """An operation on an idle wallet: alone, or with those of other idle wallets while
        the pool is busy (see `SharedRoundTrips`)."""
        if self._across is None:
            return await self._apply_alone((wallet_id, move))
        return await self._across.submit((wallet_id, move))

    async def _apply_alone(self, wallet_move: WalletMove) -> Operation:
        wallet_id, move = wallet_move

        async def attempt() -> Operation:
            async with self._db.hot() as connection:
                return await self._apply(connection, wallet_id, move.operation_type, move.amount)

        return await retry_conflicts(attempt)

    async def _apply_across(self, batch: list[Pending[WalletMove, Operation]]) -> None:
        """Operations on distinct wallets in one statement, each landing or refused as its
        own statement would have decided; a refused one (or one whose wallet's currency was
        guessed wrong) then goes alone, to learn exactly why."""
        moves: list[store.Move] = []
        together: list[tuple[Pending[WalletMove, Operation], str]] = []
        alone: list[Pending[WalletMove, Operation]] = []
        wallets: set[uuid.UUID] = set()
        for pending in batch:
            wallet_id, move = pending.item
            currency = self._currencies.get(wallet_id, self._default_currency)
            digits = minor_units(currency)
            try:
                amount_minor = amounts.to_minor_units(move.amount, digits)
            except InvalidAmount:
                alone.append(pending)
                continue
            if wallet_id in wallets:  # one row per wallet in the statement
                alone.append(pending)
                continue
            wallets.add(wallet_id)
            limit = amounts.max_balance_minor(digits)
            moves.append(store.Move(wallet_id, currency, move.operation_type, amount_minor, limit))
            together.append((pending, currency))

        async def attempt() -> list[store.Movement]:
            async with self._db.hot() as connection:
                return await store.apply_across(connection, moves)

        movements = await retry_conflicts(attempt) if moves else []
        for (pending, currency), movement in zip(together, movements, strict=True):
            if movement.operation is None:
                alone.append(pending)
                continue
            self._remember(movement.operation.wallet_id, currency)
            pending.future.set_result(operation_from_row(movement.operation, currency))
        await asyncio.gather(*(pending.settle_with(self._apply_alone) for pending in alone))

    async def _apply_batch(self, wallet_id: uuid.UUID, batch: list[QueuedMove]) -> None:
        """Serve a queue of operations on one wallet: in one statement when all of them may
        land, else checked one by one in arrival order under the wallet's lock."""
        currency = self._currencies.get(wallet_id)
        if currency is None or not await self._batch_at_once(wallet_id, currency, batch):
            await self._batch_checked(wallet_id, batch)

    async def _batch_at_once(
        self, wallet_id: uuid.UUID, currency: str, batch: list[QueuedMove]
    ) -> bool:
        digits = minor_units(currency)
        valid: list[tuple[QueuedMove, int]] = []
        for pending in batch:
            try:
                valid.append((pending, amounts.to_minor_units(pending.item.amount, digits)))
            except InvalidAmount as refusal:
                pending.future.set_exception(refusal)
        if not valid:
            return True
        moves = [(pending.item.operation_type, amount_minor) for pending, amount_minor in valid]
        limit = amounts.max_balance_minor(digits)

        async def attempt() -> list[OperationRow] | None:
            async with self._db.hot() as connection:
                return await store.apply_batch(connection, wallet_id, currency, moves, limit)

        rows = await retry_conflicts(attempt)
        if rows is None:
            return False
        for (pending, _), row in zip(valid, rows, strict=True):
            pending.future.set_result(operation_from_row(row, currency))
        return True

    async def _batch_checked(self, wallet_id: uuid.UUID, batch: list[QueuedMove]) -> None:
        waiting = [pending for pending in batch if not pending.future.done()]

        async def attempt() -> list[tuple[QueuedMove, Operation | LedgerError]] | None:
            async with self._db.transaction() as connection:
                locked = (await store.lock_wallets(connection, [wallet_id])).get(wallet_id)
                if locked is None:
                    return None
                return await self._checked_under_lock(connection, locked, waiting)

        outcomes = await retry_conflicts(attempt)
        if outcomes is None:
            # Nothing to lock: each goes alone (a first deposit creates the wallet).
            await self._one_by_one(wallet_id, waiting)
            return
        _settle(outcomes)

    async def _checked_under_lock(
        self,
        connection: AsyncConnection,
        locked: LockedWallet,
        waiting: list[QueuedMove],
    ) -> list[tuple[QueuedMove, Operation | LedgerError]]:
        """Check each operation in arrival order against the locked wallet, then write the
        accepted ones in one statement: a withdrawal that would overdraw fails alone."""
        wallet_id = locked.id
        locked = await without_lapsed_holds(connection, locked)
        self._remember(wallet_id, locked.currency)
        digits = minor_units(locked.currency)
        limit = amounts.max_balance_minor(digits)
        balance, available = locked.balance_minor, locked.available_minor
        outcomes: list[tuple[QueuedMove, Operation | LedgerError]] = []
        accepted: list[tuple[QueuedMove, int]] = []
        for pending in waiting:
            try:
                amount_minor = amounts.to_minor_units(pending.item.amount, digits)
                if pending.item.operation_type == OperationType.DEPOSIT:
                    if balance + amount_minor > limit:
                        raise BalanceLimitExceeded(wallet_id)
                    balance, available = balance + amount_minor, available + amount_minor
                else:
                    if available < amount_minor:
                        raise InsufficientFunds(wallet_id)
                    balance, available = balance - amount_minor, available - amount_minor
            except LedgerError as refusal:
                outcomes.append((pending, refusal))
                continue
            accepted.append((pending, amount_minor))
        if accepted:
            moves = [
                (pending.item.operation_type, amount_minor) for pending, amount_minor in accepted
            ]
            driver = await driver_connection(connection)
            rows = await store.apply_batch(driver, wallet_id, locked.currency, moves, limit)
            assert rows is not None, "checked under the wallet's lock, the batch must land"
            outcomes += [
                (pending, operation_from_row(row, locked.currency))
                for (pending, _), row in zip(accepted, rows, strict=True)
            ]
        return outcomes

    async def _one_by_one(self, wallet_id: uuid.UUID, waiting: list[QueuedMove]) -> None:
        for pending in waiting:
            try:
                operation = await self._apply_one(wallet_id, pending.item)
            except LedgerError as refusal:
                pending.future.set_exception(refusal)
            else:
                pending.future.set_result(operation)

    async def apply_once(
        self,
        request: IdempotentRequest,
        wallet_id: uuid.UUID,
        operation_type: OperationType,
        amount: Decimal,
        render: Callable[[Operation | LedgerError], Answer],
    ) -> Answer:
        """`apply` under an idempotency key (see `run_once`)."""

        async def action(connection: AsyncConnection) -> Operation:
            driver = await driver_connection(connection)
            return await self._apply(driver, wallet_id, operation_type, amount)

        return await self._execute(operation_type, action, render, request)

    async def transfer(
        self,
        from_wallet_id: uuid.UUID,
        to_wallet_id: uuid.UUID,
        amount: Decimal,
        render: Callable[[Transfer | LedgerError], Answer],
        request: IdempotentRequest | None = None,
    ) -> Answer:
        order = TransferOrder(from_wallet_id, to_wallet_id, amount)

        async def action(connection: AsyncConnection) -> Transfer:
            return await transfers.transfer(connection, order)

        queued = None
        if self._transfers is not None:
            queued = functools.partial(self._transfers.submit, from_wallet_id, order, to_wallet_id)
        return await self._execute(TRANSFER, action, render, request, queued)

    async def _transfer_one(self, _: uuid.UUID, order: TransferOrder) -> Transfer:
        return await self._in_transaction(functools.partial(transfers.transfer, order=order))

    async def _transfer_batch(
        self, _: uuid.UUID, batch: list[Pending[TransferOrder, Transfer]]
    ) -> None:
        """Serve a queue of transfers: decided together, recorded in one statement, one commit."""
        orders = [pending.item for pending in batch]
        decide = functools.partial(transfers.transfer_many, orders=orders)
        _settle(zip(batch, await self._in_transaction(decide), strict=True))

    async def get_transfer(self, transfer_id: uuid.UUID) -> Transfer:
        async with self._db.connect() as connection:
            return await transfers.get_transfer(connection, transfer_id)

    async def create_hold(
        self,
        wallet_id: uuid.UUID,
        amount: Decimal,
        expires_in_seconds: int,
        render: Callable[[Hold | LedgerError], Answer],
        request: IdempotentRequest | None = None,
    ) -> Answer:
        async def action(connection: AsyncConnection) -> Hold:
            hold = await holds.create_hold(connection, wallet_id, amount, expires_in_seconds)
            self._remember_hold(hold)
            return hold

        return await self._execute(HOLD, action, render, request, self._queued(action, wallet_id))

    async def capture_hold(
        self,
        hold_id: uuid.UUID,
        amount: Decimal | None,
        render: Callable[[Hold | LedgerError], Answer],
        request: IdempotentRequest | None = None,
    ) -> Answer:
        async def action(connection: AsyncConnection) -> Hold:
            hold, _ = await holds.capture_hold(connection, hold_id, amount)
            return hold

        queued = self._queued(action, *self._wallets_of_hold(hold_id))
        return await self._execute(OperationType.HOLD_CAPTURE, action, render, request, queued)

    async def void_hold(
        self,
        hold_id: uuid.UUID,
        render: Callable[[Hold | LedgerError], Answer],
        request: IdempotentRequest | None = None,
    ) -> Answer:
        async def action(connection: AsyncConnection) -> Hold:
            return await holds.void_hold(connection, hold_id)

        queued = self._queued(action, *self._wallets_of_hold(hold_id))
        return await self._execute(HOLD_VOID, action, render, request, queued)

    async def get_hold(self, hold_id: uuid.UUID) -> Hold:
        async with self._db.connect() as connection:
            hold = await holds.get_hold(connection, hold_id)
        self._remember_hold(hold)
        return hold

    def _remember_hold(self, hold: Hold) -> None:
        _remember_in(self._hold_wallets, hold.id, hold.wallet_id)

    def _queued(
        self, action: Callable[[AsyncConnection], Awaitable[T]], *wallets: uuid.UUID
    ) -> Callable[[], Awaitable[T]] | None:
        """The action decided in the queue of its wallet (group commit), when there is one."""
        if self._decisions is None or not wallets:
            return None
        decision = Decision(wallets, action)
        return cast(
            Callable[[], Awaitable[T]],
            functools.partial(self._decisions.submit, wallets[0], decision, *wallets[1:]),
        )

    def _wallets_of_hold(self, hold_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
        """The hold's wallet when this worker has seen the hold; a hold it has not seen is
        captured or voided in a transaction of its own."""
        wallet_id = self._hold_wallets.get(hold_id)
        return () if wallet_id is None else (wallet_id,)

    async def sweep_lapsed_holds(self) -> int:
        return await holds.sweep_lapsed_holds(self._db)

    async def _execute(
        self,
        kind: str,
        action: Callable[[AsyncConnection], Awaitable[T]],
        render: Callable[[T | LedgerError], Answer],
        request: IdempotentRequest | None,
        queued: Callable[[], Awaitable[T]] | None = None,
    ) -> Answer:
        """Run `action` in one transaction, under the idempotency key when there is one, again
        after a conflict; count what was decided once it is committed. Without a key, `queued`
        (when given) decides it instead, in a batch with others on its wallets."""
        decided: list[T | LedgerError] = []

        def remember(outcome: T | LedgerError) -> Answer:
            decided.append(outcome)
            return render(outcome)

        try:
            if request is not None:
                answer = await run_once(self._db, request, self._idempotency_ttl, action, remember)
            elif queued is not None:
                answer = remember(await queued())
            else:
                answer = remember(await self._in_transaction(action))
        except Exception as failure:
            _count(kind, failure)
            raise
        _count(kind, REPLAYED if answer.replayed else decided[-1])
        return answer

    async def _in_transaction(self, action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`action` in a transaction of its own, again after a conflict."""

        async def attempt() -> T:
            async with self._db.transaction() as connection:
                return await action(connection)

        return await retry_conflicts(attempt)

    async def _decide_one(self, _: uuid.UUID | None, decision: Decision) -> object:
        return await self._in_transaction(decision.decide)

    async def _decide_batch(self, _: uuid.UUID, batch: list[QueuedDecision]) -> None:
        """Serve a queue of hold decisions in one transaction: every wallet they touch
        locked at once in id order, each decided in arrival order inside a savepoint, so a
        refusal undoes only its own writes; one commit."""
        wallets = sorted({wallet for pending in batch for wallet in pending.item.wallets})

        async def attempt() -> list[object]:
            async with self._db.transaction() as connection:
                await store.lock_wallets(connection, wallets)
                return [await _decided(connection, pending.item) for pending in batch]

        try:
            outcomes = await retry_conflicts(attempt)
        except (StorageConflict, StorageUnavailable):
            raise
        except Exception:
            # An unexpected failure of one must not fail the others: each goes alone.
            log.exception("a batch of %d decisions failed; deciding each alone", len(batch))
            for pending in batch:
                await pending.settle_with(functools.partial(self._decide_one, None))
            return
        _settle(zip(batch, outcomes, strict=True))

    async def history(self, wallet_id: uuid.UUID, query: history.HistoryQuery) -> OperationsPage:
        before_id = history.decode_cursor(query.cursor)
        wallet = await self.get_wallet(wallet_id)
        types = [query.operation_type] if query.operation_type else list(OperationType)
        async with self._db.connect() as connection:
            rows = await store.operations_page(
                connection,
                wallet_id,
                before_id=before_id,
                operation_types=types,
                created_after=query.created_after or history.EARLIEST,
                created_before=query.created_before or history.LATEST,
                limit=query.limit + 1,
            )
        items = [operation_from_row(row, wallet.currency) for row in rows[: query.limit]]
        has_more = len(rows) > query.limit
        return OperationsPage(items, history.encode_cursor(items[-1].id) if has_more else None)

    async def purge_expired_idempotency_keys(self) -> int:
        async with self._db.connect() as connection:
            return await idempotency_store.purge_expired(connection)

    async def _apply(
        self,
        connection: asyncpg.Connection,
        wallet_id: uuid.UUID,
        operation_type: OperationType,
        amount: Decimal,
    ) -> Operation:
        # An unknown wallet is assumed to be in the default currency; the statement refuses a
        # wrong guess and reports the real currency, and the next pass uses it. A withdrawal
        # that met a lapsed hold releases it and tries once more.
        currency = self._currencies.get(wallet_id, self._default_currency)
        released = False
        for _ in range(3):
            digits = minor_units(currency)
            amount_minor = amounts.to_minor_units(amount, digits)
            if operation_type is OperationType.DEPOSIT:
                limit = amounts.max_balance_minor(digits)
                movement = await store.deposit(connection, wallet_id, currency, amount_minor, limit)
            else:
                movement = await store.withdraw(connection, wallet_id, currency, amount_minor)

            if movement.operation is not None:
                self._remember(wallet_id, currency)
                return operation_from_row(movement.operation, currency)
            actual = movement.wallet_currency
            if actual is None and operation_type is OperationType.DEPOSIT:
                # Created by a concurrent request after this statement's snapshot was taken.
                wallet = await store.get_wallet(connection, wallet_id)
                actual = wallet.currency if wallet else None
            if actual is None:
                raise WalletNotFound(wallet_id)
            self._remember(wallet_id, actual)
            if actual != currency:
                currency = actual
            elif movement.holds_lapsed and not released:
                await release_lapsed_holds(self._db, wallet_id)
                released = True
            elif operation_type is OperationType.DEPOSIT:
                raise BalanceLimitExceeded(wallet_id)
            else:
                raise InsufficientFunds(wallet_id)
        raise AssertionError("a wallet's currency changed while it was in use")

    def _remember(self, wallet_id: uuid.UUID, currency: str) -> None:
        _remember_in(self._currencies, wallet_id, currency)

    def _wallet(self, row: WalletRow) -> Wallet:
        self._remember(row.id, row.currency)
        digits = minor_units(row.currency)
        held_minor = row.held_minor - row.lapsed_held_minor
        return Wallet(
            id=row.id,
            currency=row.currency,
            balance=amounts.from_minor_units(row.balance_minor, digits),
            available_balance=amounts.from_minor_units(row.balance_minor - held_minor, digits),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _remember_in(cache: dict[K, V], key: K, value: V) -> None:
    """Remember a fact that never changes, in a cache that starts afresh when full."""
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


def _settle(outcomes: Iterable[tuple[Pending[Any, Any], Any]]) -> None:
    """Committed: now every waiting request learns its own outcome."""
    for pending, outcome in outcomes:
        if isinstance(outcome, LedgerError):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)


async def _decided(connection: AsyncConnection, decision: Decision) -> object:
    """The outcome of one decision of a batch; a refusal rolls back to before it."""
    savepoint = await connection.begin_nested()
    try:
        outcome = await decision.decide(connection)
    except LedgerError as refusal:
        await savepoint.rollback()
        return refusal
    await savepoint.commit()
    return outcome


def operation_from_row(row: OperationRow, currency: str) -> Operation:
    return Operation(
        id=row.id,
        wallet_id=row.wallet_id,
        operation_type=OperationType(row.operation_type),
        amount=amounts.from_minor_units(row.amount_minor, minor_units(currency)),
        currency=currency,
        created_at=row.created_at,
        transfer_id=row.transfer_id,
        hold_id=row.hold_id,
    )


def _count(kind: str, outcome: object) -> None:
    """Count a decision for the operator: its result, and the money it moved."""
    metrics.OPERATIONS.labels(kind, _result(outcome)).inc()
    moved = _moved(outcome)
    if moved is not None:
        metrics.record_money(moved[0], kind, moved[1])


def _result(outcome: object) -> str:
    if isinstance(outcome, str):
        return outcome
    if isinstance(outcome, StorageConflict):
        return "conflict"
    if isinstance(outcome, StorageUnavailable):
        return "unavailable"
    if isinstance(outcome, LedgerError):
        return _refusal_name(type(outcome))
    if isinstance(outcome, Exception):
        return "error"
    return "ok"


@functools.cache
def _refusal_name(refusal: type[LedgerError]) -> str:
    """InsufficientFunds -> insufficient_funds."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", refusal.__name__).lower()


def _moved(outcome: object) -> tuple[str, Decimal] | None:
    """The currency and amount a landed decision moved; None when it moved no money."""
    if isinstance(outcome, Operation | Transfer):
        return outcome.currency, outcome.amount
    if isinstance(outcome, Hold) and outcome.status is HoldStatus.CAPTURED:
        assert outcome.captured_amount is not None
        return outcome.currency, outcome.captured_amount
    return None
