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
    SameWallet,
    TransferNotFound,
    WalletNotFound,
)
from wallet_api.ledger.holds import without_lapsed_holds
from wallet_api.storage import transfers as store
from wallet_api.storage import wallets as wallet_store
from wallet_api.storage.transfers import TransferRow


@dataclass(frozen=True, slots=True)
class Transfer:
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal
    currency: str
    created_at: datetime


async def transfer(
    connection: AsyncConnection, from_wallet_id: uuid.UUID, to_wallet_id: uuid.UUID, amount: Decimal
) -> Transfer:
    """Move `amount` between two wallets of one currency; runs inside a transaction."""
    if from_wallet_id == to_wallet_id:
        raise SameWallet()
    locked = await wallet_store.lock_wallets(connection, [from_wallet_id, to_wallet_id])
    source, target = locked.get(from_wallet_id), locked.get(to_wallet_id)
    if source is None:
        raise WalletNotFound(from_wallet_id)
    if target is None:
        raise WalletNotFound(to_wallet_id)
    if source.currency != target.currency:
        raise CurrencyMismatch(source.currency, target.currency)
    digits = minor_units(source.currency)
    amount_minor = amounts.to_minor_units(amount, digits)
    source = await without_lapsed_holds(connection, source)
    if source.available_minor < amount_minor:
        raise InsufficientFunds(from_wallet_id)
    if target.balance_minor + amount_minor > amounts.max_balance_minor(digits):
        raise BalanceLimitExceeded(to_wallet_id)
    # All validation is complete.
    transfer_id = uuid.uuid4()
    created_at = await store.record_transfer(
        connection, transfer_id, from_wallet_id, to_wallet_id, amount_minor
    )
    return Transfer(
        transfer_id,
        from_wallet_id,
        to_wallet_id,
        amounts.from_minor_units(amount_minor, digits),
        source.currency,
        created_at,
    )


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
