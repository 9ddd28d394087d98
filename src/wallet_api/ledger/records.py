"""What the ledger answers: wallets, operations, transfers and holds, amounts as exact decimals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

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


# What the API answers for each record, and what an event carries as its `data`: one shape.


def wallet_document(wallet: Wallet) -> dict[str, Any]:
    return {
        "id": wallet.id,
        "currency": wallet.currency,
        "balance": wallet.balance,
        "available_balance": wallet.available_balance,
        "created_at": wallet.created_at,
        "updated_at": wallet.updated_at,
    }


def operation_document(operation: Operation) -> dict[str, Any]:
    return {
        "id": operation.id,
        "wallet_id": operation.wallet_id,
        "operation_type": operation.operation_type.value,
        "amount": operation.amount,
        "created_at": operation.created_at,
        "transfer_id": operation.transfer_id,
        "hold_id": operation.hold_id,
    }


def transfer_document(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "from_wallet_id": transfer.from_wallet_id,
        "to_wallet_id": transfer.to_wallet_id,
        "amount": transfer.amount,
        "created_at": transfer.created_at,
    }


def hold_document(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "wallet_id": hold.wallet_id,
        "amount": hold.amount,
        "status": hold.status.value,
        "captured_amount": hold.captured_amount,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
    }
