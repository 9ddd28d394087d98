"""Idempotency keys: whose key it is, what makes two requests the same, and the outcome stored
under it, so that a replay answers exactly what the first answer said."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from wallet_api.ledger.errors import LedgerError, StoredRefusal
from wallet_api.ledger.records import Hold, Operation, Record, Reversal, Transfer
from wallet_api.ledger.rules import HoldStatus, Metadata, Movement, OperationType

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7E]{1,255}$"

# The caller of every request when auth is disabled; API key ids start at 1.
ANONYMOUS = 0


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A key as its caller sent it: two callers choosing the same text hold two keys."""

    caller: int
    key: str


def fingerprint(movement: Movement) -> bytes:
    """What makes two requests 'the same request' under a key: the movement as parsed, each
    amount by its value, so `"amount": 100` and `"amount": "100.00"` are one request."""
    fields = [_canonical(getattr(movement, f.name)) for f in dataclasses.fields(movement)]
    return hashlib.sha256(orjson.dumps([type(movement).__name__, *fields])).digest()


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value.normalize()) if value.is_finite() else str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


_KINDS: dict[type[Any], str] = {
    Operation: "operation",
    Transfer: "transfer",
    Hold: "hold",
    Reversal: "reversal",
}


def stored(outcome: Record | LedgerError) -> str:
    """The outcome as the idempotency store keeps it (JSON, amounts as exact strings)."""
    if isinstance(outcome, LedgerError):
        refusal = {"code": outcome.code, "detail": outcome.detail}
        existing = getattr(outcome, "existing_id", None)
        if existing is not None:
            refusal["existing_id"] = str(existing)
        document: dict[str, Any] = {"refusal": refusal}
    else:
        document = {_KINDS[type(outcome)]: dataclasses.asdict(outcome)}
    return orjson.dumps(document, default=str).decode()


def restored(text: str) -> Record | LedgerError:
    """The outcome `stored` wrote, as it was."""
    ((kind, fields),) = orjson.loads(text).items()
    if kind == "refusal":
        return StoredRefusal(fields["code"], fields["detail"], fields.get("existing_id"))
    if kind == "operation":
        return _operation(fields)
    if kind == "reversal":
        return Reversal(tuple(_operation(entry) for entry in fields["entries"]))
    if kind == "transfer":
        return Transfer(
            id=uuid.UUID(fields["id"]),
            from_wallet_id=uuid.UUID(fields["from_wallet_id"]),
            to_wallet_id=uuid.UUID(fields["to_wallet_id"]),
            amount=Decimal(fields["amount"]),
            currency=fields["currency"],
            created_at=datetime.fromisoformat(fields["created_at"]),
            reference=fields.get("reference"),
            metadata=_metadata(fields.get("metadata")),
        )
    captured = fields["captured_amount"]
    return Hold(
        id=uuid.UUID(fields["id"]),
        wallet_id=uuid.UUID(fields["wallet_id"]),
        amount=Decimal(fields["amount"]),
        currency=fields["currency"],
        status=HoldStatus(fields["status"]),
        captured_amount=None if captured is None else Decimal(captured),
        expires_at=datetime.fromisoformat(fields["expires_at"]),
        created_at=datetime.fromisoformat(fields["created_at"]),
        reference=fields.get("reference"),
        metadata=_metadata(fields.get("metadata")),
    )


def _operation(fields: dict[str, Any]) -> Operation:
    balance_after = fields.get("balance_after")
    return Operation(
        id=fields["id"],
        wallet_id=uuid.UUID(fields["wallet_id"]),
        operation_type=OperationType(fields["operation_type"]),
        amount=Decimal(fields["amount"]),
        currency=fields["currency"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        transfer_id=_uuid_or_none(fields["transfer_id"]),
        hold_id=_uuid_or_none(fields["hold_id"]),
        balance_after=None if balance_after is None else Decimal(balance_after),
        reverses_id=fields.get("reverses_id"),
        reference=fields.get("reference"),
        metadata=_metadata(fields.get("metadata")),
    )


def _metadata(pairs: list[list[str]] | None) -> Metadata:
    return tuple((key, value) for key, value in pairs or ())


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)
