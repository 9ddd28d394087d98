"""Deposits, withdrawals and balances: the rules each request passes before money moves."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from wallet_api.ledger import amounts
from wallet_api.ledger.errors import BalanceLimitExceeded, InsufficientFunds, WalletNotFound
from wallet_api.storage import migrations
from wallet_api.storage.wallets import OperationRow, Refusal, WalletStore


class OperationType(enum.StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"


@dataclass(frozen=True, slots=True)
class Wallet:
    id: uuid.UUID
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


class Ledger:
    """The one place that decides whether money may move; the store makes the decision atomic."""

    def __init__(self, store: WalletStore) -> None:
        self._store = store

    async def is_ready(self) -> bool:
        """The database answers and its schema is at the newest migration."""
        try:
            return await self._store.schema_revision() == migrations.head_revision()
        except Exception:
            return False

    async def get_wallet(self, wallet_id: uuid.UUID) -> Wallet:
        row = await self._store.get_wallet(wallet_id)
        if row is None:
            raise WalletNotFound(wallet_id)
        return Wallet(
            id=row.id,
            balance=amounts.from_minor_units(row.balance_minor),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def apply(
        self, wallet_id: uuid.UUID, operation_type: OperationType, amount: Decimal
    ) -> Operation:
        """Deposit (creating the wallet if new) or withdraw; raise when the ledger refuses."""
        amount_minor = amounts.to_minor_units(amount)
        if operation_type is OperationType.DEPOSIT:
            limit = amounts.max_balance_minor()
            deposited = await self._store.deposit(wallet_id, amount_minor, limit)
            if deposited is None:
                raise BalanceLimitExceeded(wallet_id)
            return _operation(deposited)

        withdrawn = await self._store.withdraw(wallet_id, amount_minor)
        if isinstance(withdrawn, Refusal):
            if not withdrawn.wallet_exists:
                raise WalletNotFound(wallet_id)
            raise InsufficientFunds(wallet_id)
        return _operation(withdrawn)


def _operation(row: OperationRow) -> Operation:
    return Operation(
        id=row.id,
        wallet_id=row.wallet_id,
        operation_type=OperationType(row.operation_type),
        amount=amounts.from_minor_units(row.amount_minor),
        created_at=row.created_at,
    )
