"""Holds: funds reserved on a wallet until captured, voided or lapsed, and their release."""

from __future__ import annotations

import enum
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    WalletNotFound,
)
from wallet_api.storage import holds as store
from wallet_api.storage import wallets as wallet_store
from wallet_api.storage.database import Database
from wallet_api.storage.holds import HoldRow
from wallet_api.storage.wallets import LockedWallet, OperationRow

log = logging.getLogger(__name__)

DEFAULT_HOLD_SECONDS = 7 * 24 * 3600
MAX_HOLD_SECONDS = 30 * 24 * 3600
SWEEP_BATCH = 100


class HoldStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class Hold:
    id: uuid.UUID
    wallet_id: uuid.UUID
    amount: Decimal
    currency: str
    status: HoldStatus
    captured_amount: Decimal | None
    expires_at: datetime
    created_at: datetime


async def release_lapsed_holds(database: Database, wallet_id: uuid.UUID) -> int:
    """Mark the wallet's lapsed holds EXPIRED and make their funds available, in one transaction."""
    async with database.transaction() as connection:
        if not await wallet_store.lock_wallets(connection, [wallet_id]):
            return 0
        return await store.release_lapsed_holds(connection, wallet_id)


async def sweep_lapsed_holds(database: Database) -> int:
    """Release the lapsed holds of up to SWEEP_BATCH wallets; returns how many holds lapsed."""
    async with database.connect() as connection:
        wallet_ids = await store.wallets_with_lapsed_holds(connection, SWEEP_BATCH)
    released = 0
    for wallet_id in wallet_ids:
        released += await release_lapsed_holds(database, wallet_id)
    return released


async def create_hold(
    connection: AsyncConnection, wallet_id: uuid.UUID, amount: Decimal, expires_in_seconds: int
) -> Hold:
    """Reserve `amount` of the wallet's available funds; runs inside a transaction."""
    wallet = await _locked_wallet(connection, wallet_id)
    digits = minor_units(wallet.currency)
    amount_minor = amounts.to_minor_units(amount, digits)
    if wallet.available_minor < amount_minor:
        raise InsufficientFunds(wallet_id)
    # All validation is complete.
    hold_id = uuid.uuid4()
    await store.create_hold(connection, hold_id, wallet_id, amount_minor, expires_in_seconds)
    return await get_hold(connection, hold_id)


async def capture_hold(
    connection: AsyncConnection, hold_id: uuid.UUID, amount: Decimal | None
) -> tuple[Hold, OperationRow]:
    """Take `amount` (all of the hold when None) from the wallet and release the rest."""
    hold = await _locked_active_hold(connection, hold_id)
    digits = minor_units(hold.currency)
    captured_minor = hold.amount_minor if amount is None else amounts.to_minor_units(amount, digits)
    if captured_minor > hold.amount_minor:
        held = amounts.format_amount(amounts.from_minor_units(hold.amount_minor, digits), digits)
        raise InvalidAmount(f"amount must be at most the held amount, {held}")
    # All validation is complete.
    operation = await store.capture_hold(connection, hold_id, captured_minor)
    return await get_hold(connection, hold_id), operation


async def void_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> Hold:
    await _locked_active_hold(connection, hold_id)
    # All validation is complete.
    await store.void_hold(connection, hold_id)
    return await get_hold(connection, hold_id)


async def get_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> Hold:
    row = await store.get_hold(connection, hold_id)
    if row is None:
        raise HoldNotFound(hold_id)
    return _hold(row)


async def without_lapsed_holds(connection: AsyncConnection, wallet: LockedWallet) -> LockedWallet:
    """A wallet this transaction has locked, as it is once its lapsed holds are released."""
    if not wallet.holds_lapsed:
        return wallet
    await store.release_lapsed_holds(connection, wallet.id)
    return (await wallet_store.lock_wallets(connection, [wallet.id]))[wallet.id]


async def _locked_wallet(connection: AsyncConnection, wallet_id: uuid.UUID) -> LockedWallet:
    """The wallet locked by this transaction, with any lapsed hold already released."""
    wallet = (await wallet_store.lock_wallets(connection, [wallet_id])).get(wallet_id)
    if wallet is None:
        raise WalletNotFound(wallet_id)
    return await without_lapsed_holds(connection, wallet)


async def _locked_active_hold(connection: AsyncConnection, hold_id: uuid.UUID) -> HoldRow:
    # The wallet is locked before the hold, the order every writer follows.
    wallet_id = await store.wallet_of_hold(connection, hold_id)
    if wallet_id is None:
        raise HoldNotFound(hold_id)
    await wallet_store.lock_wallets(connection, [wallet_id])
    hold = await store.lock_hold(connection, hold_id)
    if hold.lapsed:
        raise HoldNotActive(hold_id, HoldStatus.EXPIRED)
    if hold.status != HoldStatus.ACTIVE:
        raise HoldNotActive(hold_id, hold.status)
    return hold


def _hold(row: HoldRow) -> Hold:
    digits = minor_units(row.currency)
    status = HoldStatus.EXPIRED if row.lapsed else HoldStatus(row.status)
    captured = row.captured_minor
    return Hold(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=amounts.from_minor_units(row.amount_minor, digits),
        currency=row.currency,
        status=status,
        captured_amount=None if captured is None else amounts.from_minor_units(captured, digits),
        expires_at=row.expires_at,
        created_at=row.created_at,
    )
