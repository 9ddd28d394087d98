"""What the client answers: frozen records with Decimal amounts, UUID ids and aware datetimes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Generic, TypeVar

from wallet_api.client.amounts import parse_amount

T = TypeVar("T")
Json = Mapping[str, Any]


class OperationType(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"
    TRANSFER_IN = "TRANSFER_IN"
    TRANSFER_OUT = "TRANSFER_OUT"
    HOLD_CAPTURE = "HOLD_CAPTURE"
    REVERSAL = "REVERSAL"


class HoldStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class Wallet:
    id: uuid.UUID
    currency: str
    balance: Decimal
    available_balance: Decimal
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_json(cls, data: Json) -> Wallet:
        return cls(
            id=uuid.UUID(data["id"]),
            currency=data["currency"],
            balance=parse_amount(data["balance"]),
            available_balance=parse_amount(data["available_balance"]),
            created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]),
        )


@dataclass(frozen=True)
class Operation:
    """One line of a wallet's history. `replayed` is true when a write's answer was the stored
    answer of its Idempotency-Key (nothing moved this time); it takes no part in equality."""

    id: int
    wallet_id: uuid.UUID
    operation_type: OperationType | str
    amount: Decimal
    created_at: datetime
    transfer_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    balance_after: Decimal | None = None
    reverses_id: int | uuid.UUID | None = None
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def from_json(cls, data: Json, replayed: bool = False) -> Operation:
        return cls(
            id=int(data["id"]),
            wallet_id=uuid.UUID(data["wallet_id"]),
            operation_type=_known(OperationType, data["operation_type"]),
            amount=parse_amount(data["amount"]),
            created_at=_time(data["created_at"]),
            transfer_id=_uuid(data.get("transfer_id")),
            hold_id=_uuid(data.get("hold_id")),
            reference=data.get("reference"),
            metadata=dict(data.get("metadata") or {}),
            balance_after=_amount(data.get("balance_after")),
            reverses_id=_id(data.get("reverses_id")),
            replayed=replayed,
        )


@dataclass(frozen=True)
class Transfer:
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal
    created_at: datetime
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def from_json(cls, data: Json, replayed: bool = False) -> Transfer:
        return cls(
            id=uuid.UUID(data["id"]),
            from_wallet_id=uuid.UUID(data["from_wallet_id"]),
            to_wallet_id=uuid.UUID(data["to_wallet_id"]),
            amount=parse_amount(data["amount"]),
            created_at=_time(data["created_at"]),
            reference=data.get("reference"),
            metadata=dict(data.get("metadata") or {}),
            replayed=replayed,
        )


@dataclass(frozen=True)
class Hold:
    id: uuid.UUID
    wallet_id: uuid.UUID
    amount: Decimal
    status: HoldStatus | str
    captured_amount: Decimal | None
    expires_at: datetime
    created_at: datetime
    reference: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def from_json(cls, data: Json, replayed: bool = False) -> Hold:
        return cls(
            id=uuid.UUID(data["id"]),
            wallet_id=uuid.UUID(data["wallet_id"]),
            amount=parse_amount(data["amount"]),
            status=_known(HoldStatus, data["status"]),
            captured_amount=_amount(data.get("captured_amount")),
            expires_at=_time(data["expires_at"]),
            created_at=_time(data["created_at"]),
            reference=data.get("reference"),
            metadata=dict(data.get("metadata") or {}),
            replayed=replayed,
        )


@dataclass(frozen=True)
class Statement:
    wallet_id: uuid.UUID
    currency: str
    start: datetime
    end: datetime
    opening_balance: Decimal
    closing_balance: Decimal
    total_in: Decimal
    total_out: Decimal
    lines: tuple[Operation, ...]

    @classmethod
    def from_json(cls, data: Json) -> Statement:
        return cls(
            wallet_id=uuid.UUID(data["wallet_id"]),
            currency=data["currency"],
            start=_time(data["from"]),
            end=_time(data["to"]),
            opening_balance=parse_amount(data["opening_balance"]),
            closing_balance=parse_amount(data["closing_balance"]),
            total_in=parse_amount(data["total_in"]),
            total_out=parse_amount(data["total_out"]),
            lines=tuple(Operation.from_json(line) for line in data["lines"]),
        )


@dataclass(frozen=True)
class ReferenceMatches:
    """What carries one reference, in every wallet, newest first."""

    reference: str
    operations: tuple[Operation, ...]
    transfers: tuple[Transfer, ...]
    holds: tuple[Hold, ...]

    @classmethod
    def from_json(cls, data: Json) -> ReferenceMatches:
        return cls(
            reference=data["reference"],
            operations=tuple(Operation.from_json(item) for item in data["operations"]),
            transfers=tuple(Transfer.from_json(item) for item in data["transfers"]),
            holds=tuple(Hold.from_json(item) for item in data["holds"]),
        )


@dataclass(frozen=True)
class Event:
    """A committed change. `data` is what the matching GET answers, amounts as exact strings."""

    id: uuid.UUID
    sequence: int
    type: str
    created_at: datetime
    wallet_ids: tuple[uuid.UUID, ...]
    data: Mapping[str, Any] = field(hash=False)

    @classmethod
    def from_json(cls, data: Json) -> Event:
        return cls(
            id=uuid.UUID(data["id"]),
            sequence=int(data["sequence"]),
            type=data["type"],
            created_at=_time(data["created_at"]),
            wallet_ids=tuple(uuid.UUID(w) for w in data["wallet_ids"]),
            data=dict(data["data"]),
        )


@dataclass(frozen=True)
class EventsPage:
    items: tuple[Event, ...]
    next_after: int

    @classmethod
    def from_json(cls, data: Json) -> EventsPage:
        items = tuple(Event.from_json(item) for item in data["items"])
        return cls(items=items, next_after=int(data["next_after"]))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` until it is None."""

    items: tuple[T, ...]
    next_cursor: str | None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


def _amount(value: object) -> Decimal | None:
    return None if value is None else parse_amount(value)


def _id(value: object) -> int | uuid.UUID | None:
    if value is None or isinstance(value, int):
        return value
    return uuid.UUID(str(value))


E = TypeVar("E", bound=StrEnum)


def _known(kind: type[E], value: str) -> E | str:
    # A value this client does not know yet stays a plain str rather than failing the answer.
    try:
        return kind(value)
    except ValueError:
        return value
