"""Transfers: money moves from one wallet to another, both change or neither does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    LedgerError,
    SameWallet,
    TransferNotFound,
    WalletNotFound,
)
from wallet_api.ledger.holds import without_lapsed_holds
from wallet_api.storage import transfers as store
from wallet_api.storage import wallets as wallet_store
from wallet_api.storage.database import driver_connection
from wallet_api.storage.transfers import TransferRow
from wallet_api.storage.wallets import LockedWallet


@dataclass(frozen=True, slots=True)
class Transfer:
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal
    currency: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TransferOrder:
    """A transfer as asked for, before the ledger decides it."""

    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal


async def transfer(connection: AsyncConnection, order: TransferOrder) -> Transfer:
    """Move the order's amount between two wallets of one currency, or raise the refusal; runs
    inside a transaction."""
    (outcome,) = await transfer_many(connection, [order])
    if isinstance(outcome, LedgerError):
        raise outcome
    return outcome


@dataclass(frozen=True, slots=True)
class _Accepted:
    id: uuid.UUID
    order: TransferOrder
    currency: str
    amount_minor: int

    def row(self) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, int]:
        return self.id, self.order.from_wallet_id, self.order.to_wallet_id, self.amount_minor

    def recorded(self, created_at: datetime) -> Transfer:
        amount = amounts.from_minor_units(self.amount_minor, minor_units(self.currency))
        order = self.order
        return Transfer(
            self.id, order.from_wallet_id, order.to_wallet_id, amount, self.currency, created_at
        )


async def transfer_many(
    connection: AsyncConnection, orders: list[TransferOrder]
) -> list[Transfer | LedgerError]:
    """Decide transfers in arrival order, each against the balances the ones before it left,
    with every wallet they touch locked once (in id order); record the accepted ones in one
    statement. Runs inside a transaction."""
    wallet_ids = sorted({w for order in orders for w in (order.from_wallet_id, order.to_wallet_id)})
    locked = await wallet_store.lock_wallets(connection, wallet_ids)
    for wallet_id, wallet in locked.items():
        locked[wallet_id] = await without_lapsed_holds(connection, wallet)
    balances = {wallet_id: wallet.balance_minor for wallet_id, wallet in locked.items()}
    decided: list[_Accepted | LedgerError] = []
    for order in orders:
        try:
            currency, amount_minor = _checked(order, locked, balances)
        except LedgerError as refusal:
            decided.append(refusal)
            continue
        balances[order.from_wallet_id] -= amount_minor
        balances[order.to_wallet_id] += amount_minor
        decided.append(_Accepted(uuid.uuid4(), order, currency, amount_minor))
    accepted = [d.row() for d in decided if isinstance(d, _Accepted)]
    if not accepted:
        return [d for d in decided if isinstance(d, LedgerError)]
    created_at = await store.record_transfers(await driver_connection(connection), accepted)
    return [d.recorded(created_at) if isinstance(d, _Accepted) else d for d in decided]


def _checked(
    order: TransferOrder, locked: dict[uuid.UUID, LockedWallet], balances: dict[uuid.UUID, int]
) -> tuple[str, int]:
    """The currency and the amount in minor units of a transfer that may land; else raise."""
    if order.from_wallet_id == order.to_wallet_id:
        raise SameWallet()
    source, target = locked.get(order.from_wallet_id), locked.get(order.to_wallet_id)
    if source is None:
        raise WalletNotFound(order.from_wallet_id)
    if target is None:
        raise WalletNotFound(order.to_wallet_id)
    if source.currency != target.currency:
        raise CurrencyMismatch(source.currency, target.currency)
    digits = minor_units(source.currency)
    amount_minor = amounts.to_minor_units(order.amount, digits)
    if balances[source.id] - source.held_minor < amount_minor:
        raise InsufficientFunds(source.id)
    if balances[target.id] + amount_minor > amounts.max_balance_minor(digits):
        raise BalanceLimitExceeded(target.id)
    return source.currency, amount_minor


async def get_transfer(connection: AsyncConnection, transfer_id: uuid.UUID) -> Transfer:
    row = await store.get_transfer(connection, transfer_id)
    if row is None:
        raise TransferNotFound(transfer_id)
    return _transfer(row)


def _transfer(row: TransferRow) -> Transfer:
    amount = amounts.from_minor_units(row.amount_minor, minor_units(row.currency))
    return Transfer(
        row.id, row.from_wallet_id, row.to_wallet_id, amount, row.currency, row.created_at
    )
