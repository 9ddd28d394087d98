"""What the ledger answers: wallets, operations, transfers and holds, amounts as exact decimals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from wallet_api.ledger.rules import HoldStatus, OperationType


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
