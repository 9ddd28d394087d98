"""The transactional outbox: the event each committed change writes, in the same transaction.

An event's `data` is exactly what the matching GET answers for its object, amounts as exact
strings. The rows carry no `sequence`: the sequencer (`events/sequencer.py`) numbers them once
they have committed.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from wallet_api.ledger.records import (
    Hold,
    Operation,
    Record,
    Transfer,
    Wallet,
    hold_document,
    minor_to_decimal,
    operation_document,
    transfer_document,
    wallet_document,
)
from wallet_api.ledger.rules import HoldStatus


class EventType(enum.StrEnum):
    WALLET_CREATED = "wallet.created"
    OPERATION_CREATED = "operation.created"
    TRANSFER_CREATED = "transfer.created"
    HOLD_CREATED = "hold.created"
    HOLD_CAPTURED = "hold.captured"
    HOLD_VOIDED = "hold.voided"
    HOLD_EXPIRED = "hold.expired"


_HOLD_EVENTS = {
    HoldStatus.ACTIVE: EventType.HOLD_CREATED,
    HoldStatus.CAPTURED: EventType.HOLD_CAPTURED,
    HoldStatus.VOIDED: EventType.HOLD_VOIDED,
    HoldStatus.EXPIRED: EventType.HOLD_EXPIRED,
}


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event as its transaction writes it. `recorded` is the number of the decision that
    wrote it (drawn under its wallets' locks), `position` its place among that decision's."""

    recorded: int
    position: int
    id: uuid.UUID
    type: EventType
    wallet_id: uuid.UUID
    other_wallet_id: uuid.UUID | None
    data: str
    created_at: datetime


def _exact(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):  # the driver's own UUID subclass
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an event")


def document_json(document: dict[str, Any]) -> str:
    """A record's document as an event carries it: amounts as exact strings."""
    return orjson.dumps(document, default=_exact).decode()


def describe(record: Record | Wallet) -> tuple[EventType, uuid.UUID, uuid.UUID | None, str]:
    """The event a record is told as: its type, its wallets and its data."""
    if isinstance(record, Operation):
        data = operation_document(record)
        return EventType.OPERATION_CREATED, record.wallet_id, None, document_json(data)
    if isinstance(record, Transfer):
        data = transfer_document(record)
        kind = EventType.TRANSFER_CREATED
        return kind, record.from_wallet_id, record.to_wallet_id, document_json(data)
    if isinstance(record, Hold):
        return (
            _HOLD_EVENTS[record.status],
            record.wallet_id,
            None,
            document_json(hold_document(record)),
        )
    assert isinstance(record, Wallet), "a reversal is told by the operations it records"
    return EventType.WALLET_CREATED, record.id, None, document_json(wallet_document(record))


def empty_wallet(wallet_id: uuid.UUID, currency: str, now: datetime) -> Wallet:
    """A wallet as it is the moment it is opened, before anything moved."""
    zero = minor_to_decimal(0, currency)
    return Wallet(wallet_id, currency, zero, zero, now, now)


@dataclass(slots=True)
class Outbox:
    """The events of one transaction, in the order of its decisions."""

    rows: list[EventRow] = field(default_factory=list)
    _positions: dict[int, int] = field(default_factory=dict)

    def add(self, recorded: int, record: Record | Wallet, now: datetime) -> EventRow:
        position = self._positions.get(recorded, 0)
        self._positions[recorded] = position + 1
        kind, wallet_id, other_wallet_id, data = describe(record)
        row = EventRow(
            recorded, position, uuid.uuid4(), kind, wallet_id, other_wallet_id, data, now
        )
        self.rows.append(row)
        return row
