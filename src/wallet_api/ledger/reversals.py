"""Reversals as the HTTP layer asks for them: undo all or part of an operation or a transfer."""

from __future__ import annotations

from decimal import Decimal

from wallet_api.ledger.commands import Command, Decided
from wallet_api.ledger.engine import Engine
from wallet_api.ledger.idempotency import IdempotencyKey
from wallet_api.ledger.rules import ReverseOperation
from wallet_api.storage import wallets as store
from wallet_api.storage.database import Database


class Reversals:
    def __init__(self, database: Database, engine: Engine) -> None:
        self._db = database
        self._engine = engine

    async def reverse_operation(
        self, operation_id: int, amount: Decimal | None, key: IdempotencyKey | None = None
    ) -> Decided:
        """A REVERSAL the other way from the operation, for `amount` or all that is left."""
        async with self._db.hot() as connection:
            wallet_id = await store.wallet_of_operation(connection, operation_id)
        wallets = () if wallet_id is None else (wallet_id,)
        return await self._engine.submit(
            Command(ReverseOperation(operation_id, amount), wallets, key)
        )
