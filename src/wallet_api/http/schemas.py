"""Request and response bodies of the wallet API, as the OpenAPI document shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema

from wallet_api.ledger import amounts
from wallet_api.ledger.operations import Operation, OperationType, Wallet

AmountIn = Annotated[
    Decimal,
    PlainValidator(amounts.coerce_decimal),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000000000},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
            ],
            "description": "Greater than 0, at most 1,000,000,000,000.00, at most 2 decimals.",
            "examples": [1000.00, "1000.00"],
        }
    ),
]

AmountOut = Annotated[
    Decimal,
    WithJsonSchema(
        {"type": "number", "description": "Exact, with two decimals.", "examples": [1500.50]}
    ),
]


class OperationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation_type: OperationType
    amount: AmountIn


class WalletResponse(BaseModel):
    id: uuid.UUID
    balance: AmountOut
    created_at: datetime
    updated_at: datetime


class OperationResponse(BaseModel):
    id: int
    wallet_id: uuid.UUID
    operation_type: OperationType
    amount: AmountOut
    created_at: datetime


def wallet_body(wallet: Wallet) -> dict[str, Any]:
    return {
        "id": wallet.id,
        "balance": wallet.balance,
        "created_at": wallet.created_at,
        "updated_at": wallet.updated_at,
    }


def operation_body(operation: Operation) -> dict[str, Any]:
    return {
        "id": operation.id,
        "wallet_id": operation.wallet_id,
        "operation_type": operation.operation_type.value,
        "amount": operation.amount,
        "created_at": operation.created_at,
    }
