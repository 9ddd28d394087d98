"""Wallets as the HTTP layer asks for them: open one, read its balance, deposit or withdraw."""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from decimal import Decimal

from wallet_api.events.outbox import Outbox
from wallet_api.ledger import amounts
from wallet_api.ledger.commands import Command, Decided
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.engine import Engine
from wallet_api.ledger.errors import WalletExists, WalletNotFound
from wallet_api.ledger.idempotency import IdempotencyKey
from wallet_api.ledger.queues import SharedReads
from wallet_api.ledger.records import Wallet
from wallet_api.ledger.rules import Deposit, Metadata, OperationType, Withdrawal
from wallet_api.storage import events as event_store
from wallet_api.storage import wallets as store
from wallet_api.storage.database import Database


class Wallets:
    def __init__(self, database: Database, engine: Engine, default_currency: str) -> None:
        self._db = database
        self._engine = engine
        self._default_currency = default_currency
        self._reads: SharedReads[Wallet] = SharedReads(self._read)

    async def get(self, wallet_id: uuid.UUID) -> Wallet:
        """Concurrent reads of one wallet share one query that starts after they all arrived."""
        return await self._reads.submit(wallet_id)

    async def create(self, wallet_id: uuid.UUID | None, currency: str | None) -> Wallet:
        currency = currency or self._default_currency
        minor_units(currency)
        wallet_id = wallet_id or uuid.uuid4()
        async with self._db.hot_transaction() as connection:
            created = await store.create_wallet(connection, wallet_id, currency)
            if created is None:
                raise WalletExists(wallet_id)
            row, number = created
            wallet = wallet_from_row(row)
            outbox = Outbox()
            outbox.add(number, wallet, wallet.created_at)
            await event_store.insert(connection, outbox.rows)
        return wallet

    async def move(
        self,
        wallet_id: uuid.UUID,
        operation_type: OperationType,
        amount: Decimal,
        key: IdempotencyKey | None = None,
        reference: str | None = None,
        metadata: Metadata = (),
    ) -> Decided:
        """Deposit (opening the wallet if new) or withdraw."""
        if operation_type is OperationType.DEPOSIT:
            movement: Deposit | Withdrawal = Deposit(wallet_id, amount, reference, metadata)
        else:
            movement = Withdrawal(wallet_id, amount, reference, metadata)
        return await self._engine.submit(Command(movement, (wallet_id,), key))

    async def _read(self, wallet_id: Hashable) -> Wallet:
        assert isinstance(wallet_id, uuid.UUID)
        async with self._db.hot() as connection:
            row = await store.get_wallet(connection, wallet_id)
        if row is None:
            raise WalletNotFound(wallet_id)
        return wallet_from_row(row)


def wallet_from_row(row: store.WalletRow) -> Wallet:
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
