"""What the ledger answers: wallets, operations, transfers and holds, amounts as exact decimals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.rules import (
    Entry,
    HoldState,
    HoldStatus,
    Metadata,
    OperationType,
    TransferFunds,
)


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
    balance_after: Decimal | None = None  # None only while a guarded batch has not landed
    reverses_id: int | None = None
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class Transfer:
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal
    currency: str
    created_at: datetime
    reference: str | None = None
    metadata: Metadata = ()


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
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class Reversal:
    """What a reversal wrote: a REVERSAL operation on each wallet it moved money back on."""

    entries: tuple[Operation, ...]


Record = Operation | Transfer | Hold | Reversal


def metadata_json(metadata: Metadata) -> str | None:
    """Metadata as stored: a JSON object, or nothing."""
    return orjson.dumps(dict(metadata)).decode() if metadata else None


def metadata_pairs(text: str | None) -> Metadata:
    """Metadata as stored, as the ledger carries it."""
    return tuple(orjson.loads(text).items()) if text else ()


def minor_to_decimal(minor: int, currency: str) -> Decimal:
    return amounts.from_minor_units(minor, minor_units(currency))


def hold_record(
    hold: HoldState, currency: str, reference: str | None = None, metadata: Metadata = ()
) -> Hold:
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
        reference,
        metadata,
    )


def operation_record(
    entry: Entry, operation_id: int, currency: str, now: datetime, balance_after: int | None
) -> Operation:
    """The operation an entry of the rules becomes, written at `now` under `operation_id`,
    leaving its wallet's balance at `balance_after` (minor units)."""
    return Operation(
        operation_id,
        entry.wallet_id,
        entry.operation_type,
        minor_to_decimal(entry.amount, currency),
        currency,
        now,
        entry.transfer_id,
        entry.hold_id,
        None if balance_after is None else minor_to_decimal(balance_after, currency),
        entry.reverses_id,
        entry.reference,
        entry.metadata,
    )


def transfer_record(movement: TransferFunds, out: Entry, currency: str, now: datetime) -> Transfer:
    """The transfer the rules accepted, from its TRANSFER_OUT entry."""
    assert out.transfer_id is not None
    amount = minor_to_decimal(out.amount, currency)
    return Transfer(
        out.transfer_id,
        movement.from_wallet_id,
        movement.to_wallet_id,
        amount,
        currency,
        now,
        movement.reference,
        movement.metadata,
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
        "balance_after": operation.balance_after,
        "created_at": operation.created_at,
        "transfer_id": operation.transfer_id,
        "hold_id": operation.hold_id,
        "reverses_id": operation.reverses_id,
        "reference": operation.reference,
        "metadata": dict(operation.metadata),
    }


def transfer_document(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "from_wallet_id": transfer.from_wallet_id,
        "to_wallet_id": transfer.to_wallet_id,
        "amount": transfer.amount,
        "created_at": transfer.created_at,
        "reference": transfer.reference,
        "metadata": dict(transfer.metadata),
    }


def reversal_document(reversal: Reversal) -> dict[str, Any]:
    return {"entries": [operation_document(entry) for entry in reversal.entries]}


def hold_document(hold: Hold) -> dict[str, Any]:
    return {
        "id": hold.id,
        "wallet_id": hold.wallet_id,
        "amount": hold.amount,
        "status": hold.status.value,
        "captured_amount": hold.captured_amount,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
        "reference": hold.reference,
        "metadata": dict(hold.metadata),
    }
