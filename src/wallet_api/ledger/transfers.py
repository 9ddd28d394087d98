"""Transfers as the HTTP layer asks for them: move money between two wallets, read one back."""

from __future__ import annotations

import uuid
from decimal import Decimal

from wallet_api.ledger import amounts
from wallet_api.ledger.commands import Command, Decided
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.engine import Engine
from wallet_api.ledger.errors import TransferNotFound
from wallet_api.ledger.idempotency import IdempotencyKey
from wallet_api.ledger.records import Transfer
from wallet_api.ledger.rules import TransferFunds
from wallet_api.storage import transfers as store
from wallet_api.storage.database import Database


class Transfers:
    def __init__(self, database: Database, engine: Engine) -> None:
        self._db = database
        self._engine = engine

    async def create(
        self,
        from_wallet_id: uuid.UUID,
        to_wallet_id: uuid.UUID,
        amount: Decimal,
        key: IdempotencyKey | None = None,
    ) -> Decided:
        """Both wallets change or neither does."""
        movement = TransferFunds(from_wallet_id, to_wallet_id, amount)
        return await self._engine.submit(Command(movement, (from_wallet_id, to_wallet_id), key))

    async def get(self, transfer_id: uuid.UUID) -> Transfer:
        async with self._db.connect() as connection:
            row = await store.get_transfer(connection, transfer_id)
        if row is None:
            raise TransferNotFound(transfer_id)
        amount = amounts.from_minor_units(row.amount_minor, minor_units(row.currency))
        return Transfer(
            row.id, row.from_wallet_id, row.to_wallet_id, amount, row.currency, row.created_at
        )
