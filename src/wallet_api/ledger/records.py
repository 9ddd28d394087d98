"""What the ledger answers: wallets, operations, transfers and holds, amounts as exact decimals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.rules import Entry, HoldState, HoldStatus, OperationType, TransferFunds


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
class Transfer:
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal
    currency: str
    created_at: datetime


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


Record = Operation | Transfer | Hold


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    return amounts.from_minor_units(minor, minor_units(currency))


def hold_record(hold: HoldState, currency: str) -> Hold:
    captured = None if hold.captured is None else minor_to_decimal(hold.captured, currency)
    return Hold(
        hold.id,
        hold.wallet_id,
        minor_to_decimal(hold.amount, currency),
        currency,
        hold.status,
        captured,
        hold.expires_at,
        hold.created_at,
    )


def operation_record(entry: Entry, operation_id: int, currency: str, now: datetime) -> Operation:
    """The operation an entry of the rules becomes, written at `now` under `operation_id`."""
    return Operation(
        operation_id,
        entry.wallet_id,
        entry.operation_type,
        minor_to_decimal(entry.amount, currency),
        currency,
        now,
        entry.transfer_id,
        entry.hold_id,
    )


def transfer_record(movement: TransferFunds, out: Entry, currency: str, now: datetime) -> Transfer:
    """The transfer the rules accepted, from its TRANSFER_OUT entry."""
    assert out.transfer_id is not None
    amount = minor_to_decimal(out.amount, currency)
    return Transfer(
        out.transfer_id, movement.from_wallet_id, movement.to_wallet_id, amount, currency, now
    )
