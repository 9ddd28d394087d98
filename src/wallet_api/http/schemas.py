"""Request and response bodies of the wallet API, as the OpenAPI document shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from wallet_api.ledger import amounts, records
from wallet_api.ledger.currencies import MINOR_UNITS
from wallet_api.ledger.history import OperationsPage
from wallet_api.ledger.holds import DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS
from wallet_api.ledger.rules import HoldStatus, OperationType

AmountIn = Annotated[
    Decimal,
    PlainValidator(amounts.coerce_decimal),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000000000},
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
            ],
            "description": (
                "Greater than 0 and at most 1,000,000,000,000, with no more decimals than the "
                "wallet's currency has (JPY 0, USD 2, KWD 3). Never rounded."
            ),
            "examples": [1000.00, "1000.00"],
        }
    ),
]

AmountOut = Annotated[
    Decimal,
    WithJsonSchema(
        {
            "type": "number",
            "description": "Exact, written with the currency's number of decimals.",
            "examples": [1500.50],
        }
    ),
]

# The document lists the codes the ledger knows, so a code it refuses is invalid by the schema too.
CurrencyCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$"),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(MINOR_UNITS),
            "description": "ISO 4217 code",
            "examples": ["EUR"],
        }
    ),
]


class RequestBody(BaseModel):
    """A JSON object with the model's fields and no others."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _is_an_object(cls, value: object) -> object:
        # FastAPI validates bodies with from_attributes: without this, a JSON number (a Decimal)
        # would pass as an object whose fields all took their defaults.
        if not isinstance(value, dict):
            raise PydanticCustomError("dict_type", "Input should be a JSON object")
        return value


class OperationRequest(RequestBody):
    operation_type: Literal[OperationType.DEPOSIT, OperationType.WITHDRAW]
    amount: AmountIn


class TransferRequest(RequestBody):
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: AmountIn


class HoldRequest(RequestBody):
    amount: AmountIn
    expires_in_seconds: int = Field(
        default=DEFAULT_HOLD_SECONDS, ge=1, le=MAX_HOLD_SECONDS, strict=True
    )


class CaptureRequest(RequestBody):
    amount: AmountIn | None = Field(default=None, description="Default: all of the hold.")


class CreateWalletRequest(RequestBody):
    id: uuid.UUID | None = Field(default=None, description="Generated when absent.")
    currency: CurrencyCode | None = Field(default=None, description="Default from the settings.")


class WalletResponse(BaseModel):
    id: uuid.UUID
    currency: str
    balance: AmountOut
    available_balance: AmountOut = Field(description="The balance less its ACTIVE holds.")
    created_at: datetime
    updated_at: datetime


class OperationResponse(BaseModel):
    id: int
    wallet_id: uuid.UUID
    operation_type: OperationType
    amount: AmountOut
    created_at: datetime
    transfer_id: uuid.UUID | None = Field(description="Set on TRANSFER_IN and TRANSFER_OUT.")
    hold_id: uuid.UUID | None = Field(description="Set on HOLD_CAPTURE.")


class TransferResponse(BaseModel):
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: AmountOut
    created_at: datetime


class HoldResponse(BaseModel):
    id: uuid.UUID
    wallet_id: uuid.UUID
    amount: AmountOut
    status: HoldStatus
    captured_amount: AmountOut | None
    expires_at: datetime
    created_at: datetime


class OperationsPageResponse(BaseModel):
    items: list[OperationResponse]
    next_cursor: str | None


wallet_body = records.wallet_document
operation_body = records.operation_document
transfer_body = records.transfer_document
hold_body = records.hold_document


def operations_page_body(page: OperationsPage) -> dict[str, Any]:
    return {"items": [operation_body(op) for op in page.items], "next_cursor": page.next_cursor}
