"""Wallets, deposits, withdrawals and their history: the rules each request passes."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api.ledger import amounts, history
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    BalanceLimitExceeded,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    UnknownCurrency,
    WalletExists,
    WalletNotFound,
)
from wallet_api.ledger.idempotency import Answer, IdempotentRequest
from wallet_api.storage import idempotency as idempotency_store
from wallet_api.storage import migrations
from wallet_api.storage import wallets as store
from wallet_api.storage.database import Database
from wallet_api.storage.wallets import OperationRow, WalletRow


class OperationType(enum.StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"


@dataclass(frozen=True, slots=True)
class Wallet:
    id: uuid.UUID
    currency: str
    balance: Decimal
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Operation:
    id: int
    wallet_id: uuid.UUID
    operation_type: OperationType
    amount: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OperationsPage:
    items: list[Operation]
    next_cursor: str | None


# Refusals of the request itself: never stored under an idempotency key, so a corrected retry
# with the same key is free to go through.
VALIDATION_ERRORS = (InvalidAmount, UnknownCurrency)

Render = Callable[[Operation | LedgerError], Answer]

_CURRENCY_CACHE_SIZE = 100_000


class Ledger:
    """The one place that decides whether money may move; each decision lands atomically."""

    def __init__(
        self, database: Database, default_currency: str, idempotency_ttl: timedelta
    ) -> None:
        minor_units(default_currency)
        self._db = database
        self._default_currency = default_currency
        self._idempotency_ttl = idempotency_ttl
        # A wallet's currency never changes, so a remembered one is never stale.
        self._currencies: dict[uuid.UUID, str] = {}

    async def is_ready(self) -> bool:
        """The database answers and its schema is at the newest migration."""
        try:
            async with self._db.connect() as connection:
                revision = await store.schema_revision(connection)
        except Exception:
            return False
        return revision == migrations.head_revision()

    async def get_wallet(self, wallet_id: uuid.UUID) -> Wallet:
        async with self._db.connect() as connection:
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
        async with self._db.connect() as connection:
            return await self._apply(connection, wallet_id, operation_type, amount)

    async def apply_once(
        self,
        request: IdempotentRequest,
        wallet_id: uuid.UUID,
        operation_type: OperationType,
        amount: Decimal,
        render: Render,
    ) -> Answer:
        """`apply` under an idempotency key: the first answer is stored with the money movement
        in one transaction, and the same request with the same key gets that answer again."""
        async with self._db.transaction() as connection:
            try:
                stored = await idempotency_store.claim(
                    connection, request.key, request.fingerprint, self._idempotency_ttl
                )
            except idempotency_store.KeyBusy:
                raise IdempotencyKeyInProgress() from None
            if stored is not None:
                if stored.fingerprint != request.fingerprint:
                    raise IdempotencyKeyReused()
                return Answer(stored.status_code, stored.response_body, replayed=True)
            try:
                outcome: Operation | LedgerError = await self._apply(
                    connection, wallet_id, operation_type, amount
                )
            except VALIDATION_ERRORS:
                raise
            except LedgerError as refusal:
                outcome = refusal
            answer = render(outcome)
            await idempotency_store.answer(connection, request.key, answer.status_code, answer.body)
            return answer

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
        items = [_operation(row, wallet.currency) for row in rows[: query.limit]]
        has_more = len(rows) > query.limit
        return OperationsPage(items, history.encode_cursor(items[-1].id) if has_more else None)

    async def purge_expired_idempotency_keys(self) -> int:
        async with self._db.connect() as connection:
            return await idempotency_store.purge_expired(connection)

    async def _apply(
        self,
        connection: AsyncConnection,
        wallet_id: uuid.UUID,
        operation_type: OperationType,
        amount: Decimal,
    ) -> Operation:
        # An unknown wallet is assumed to be in the default currency; the statement refuses a
        # wrong guess and reports the real currency, and the second pass uses it.
        currency = self._currencies.get(wallet_id, self._default_currency)
        for _ in range(2):
            digits = minor_units(currency)
            amount_minor = amounts.to_minor_units(amount, digits)
            if operation_type is OperationType.DEPOSIT:
                limit = amounts.max_balance_minor(digits)
                movement = await store.deposit(connection, wallet_id, currency, amount_minor, limit)
            else:
                movement = await store.withdraw(connection, wallet_id, currency, amount_minor)

            if movement.operation is not None:
                self._remember(wallet_id, currency)
                return _operation(movement.operation, currency)
            actual = movement.wallet_currency
            if actual is None and operation_type is OperationType.DEPOSIT:
                # Created by a concurrent request after this statement's snapshot was taken.
                wallet = await store.get_wallet(connection, wallet_id)
                actual = wallet.currency if wallet else None
            if actual is None:
                raise WalletNotFound(wallet_id)
            self._remember(wallet_id, actual)
            if actual == currency:
                if operation_type is OperationType.DEPOSIT:
                    raise BalanceLimitExceeded(wallet_id)
                raise InsufficientFunds(wallet_id)
            currency = actual
        raise AssertionError("a wallet's currency changed while it was in use")

    def _remember(self, wallet_id: uuid.UUID, currency: str) -> None:
        if len(self._currencies) >= _CURRENCY_CACHE_SIZE:
            self._currencies.clear()
        self._currencies[wallet_id] = currency

    def _wallet(self, row: WalletRow) -> Wallet:
        self._remember(row.id, row.currency)
        digits = minor_units(row.currency)
        return Wallet(
            id=row.id,
            currency=row.currency,
            balance=amounts.from_minor_units(row.balance_minor, digits),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _operation(row: OperationRow, currency: str) -> Operation:
    return Operation(
        id=row.id,
        wallet_id=row.wallet_id,
        operation_type=OperationType(row.operation_type),
        amount=amounts.from_minor_units(row.amount_minor, minor_units(currency)),
        created_at=row.created_at,
    )
