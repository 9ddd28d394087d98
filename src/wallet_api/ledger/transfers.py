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
from wallet_api.ledger.records import Transfer, metadata_pairs
from wallet_api.ledger.rules import Metadata, ReverseTransfer, TransferFunds
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
        reference: str | None = None,
        metadata: Metadata = (),
    ) -> Decided:
        """Both wallets change or neither does."""
        movement = TransferFunds(from_wallet_id, to_wallet_id, amount, reference, metadata)
        return await self._engine.submit(Command(movement, (from_wallet_id, to_wallet_id), key))

    async def reverse(
        self, transfer_id: uuid.UUID, amount: Decimal | None, key: IdempotencyKey | None = None
    ) -> Decided:
        """Move all or part of a transfer back: a REVERSAL on each of its wallets."""
        async with self._db.hot() as connection:
            wallets = await store.wallets_of(connection, transfer_id)
        command = Command(ReverseTransfer(transfer_id, amount), wallets or (), key)
        return await self._engine.submit(command)

    async def get(self, transfer_id: uuid.UUID) -> Transfer:
        async with self._db.connect() as connection:
            row = await store.get_transfer(connection, transfer_id)
        if row is None:
            raise TransferNotFound(transfer_id)
        return transfer_from_row(row)


def transfer_from_row(row: store.TransferRow) -> Transfer:
    amount = amounts.from_minor_units(row.amount_minor, minor_units(row.currency))
    return Transfer(
        row.id,
        row.from_wallet_id,
        row.to_wallet_id,
        amount,
        row.currency,
        row.created_at,
        row.reference,
        metadata_pairs(row.metadata),
    )
