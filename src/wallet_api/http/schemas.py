"""Request and response bodies of the wallet API, as the OpenAPI document shows them."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from wallet_api.http.exact_json import dumps_exact
from wallet_api.ledger import amounts, records
from wallet_api.ledger.currencies import MINOR_UNITS
from wallet_api.ledger.history import OperationsPage
from wallet_api.ledger.holds import DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS
from wallet_api.ledger.reports import Page, ReferenceMatches, Statement
from wallet_api.ledger.rules import HoldStatus, Metadata, OperationType

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


# Printable ASCII: what a reference may hold, written or looked for (PostgreSQL's text refuses
# a NUL byte, so a filter must refuse it before it gets there).
REFERENCE_PATTERN = r"^[\x20-\x7E]+$"
Reference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=REFERENCE_PATTERN,
        description="Your own id for the write, 1 to 128 printable ASCII characters; a second "
        "write with a reference in use is 409 `reference_exists`, with the existing id.",
    ),
]
ReferenceQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=128,
        pattern=REFERENCE_PATTERN,
        description="A reference, 1 to 128 printable ASCII characters, matched exactly.",
    ),
]
MetadataIn = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=40)],
        Annotated[str, StringConstraints(max_length=500)],
    ],
    Field(
        max_length=20,
        description="At most 20 string keys (1 to 40 characters) with string values (at most "
        "500 characters); given back on every read.",
    ),
]


class Labelled(RequestBody):
    reference: Reference | None = None
    metadata: MetadataIn | None = None

    def metadata_pairs(self) -> Metadata:
        return tuple(sorted((self.metadata or {}).items()))


class OperationRequest(Labelled):
    operation_type: Literal[OperationType.DEPOSIT, OperationType.WITHDRAW]
    amount: AmountIn


class TransferRequest(Labelled):
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: AmountIn


class HoldRequest(Labelled):
    amount: AmountIn
    expires_in_seconds: int = Field(
        default=DEFAULT_HOLD_SECONDS, ge=1, le=MAX_HOLD_SECONDS, strict=True
    )


class ReverseRequest(RequestBody):
    amount: AmountIn | None = Field(default=None, description="Default: all that is left.")


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
    balance_after: AmountOut = Field(description="The wallet's balance right after it.")
    created_at: datetime
    transfer_id: uuid.UUID | None = Field(
        description="Set on TRANSFER_IN and TRANSFER_OUT, and on a transfer's REVERSALs."
    )
    hold_id: uuid.UUID | None = Field(description="Set on HOLD_CAPTURE.")
    reverses_id: int | None = Field(
        description="Set on REVERSAL: the operation it reverses (it goes the other way)."
    )
    reference: str | None
    metadata: dict[str, str]


class TransferResponse(BaseModel):
    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: AmountOut
    created_at: datetime
    reference: str | None
    metadata: dict[str, str]


class ReversalResponse(BaseModel):
    entries: list[OperationResponse] = Field(description="The REVERSAL on each wallet.")


class HoldResponse(BaseModel):
    id: uuid.UUID
    wallet_id: uuid.UUID
    amount: AmountOut
    status: HoldStatus
    captured_amount: AmountOut | None
    expires_at: datetime
    created_at: datetime
    reference: str | None
    metadata: dict[str, str]


class OperationsPageResponse(BaseModel):
    items: list[OperationResponse]
    next_cursor: str | None


class TransfersPageResponse(BaseModel):
    items: list[TransferResponse]
    next_cursor: str | None


class HoldsPageResponse(BaseModel):
    items: list[HoldResponse]
    next_cursor: str | None


class WalletsPageResponse(BaseModel):
    items: list[WalletResponse]
    next_cursor: str | None


class StatementResponse(BaseModel):
    wallet_id: uuid.UUID
    currency: str
    from_: datetime = Field(alias="from")
    to: datetime
    opening_balance: AmountOut
    closing_balance: AmountOut
    total_in: AmountOut
    total_out: AmountOut
    lines: list[OperationResponse] = Field(description="Oldest first.")


class SearchResponse(BaseModel):
    reference: str
    operations: list[OperationResponse]
    transfers: list[TransferResponse]
    holds: list[HoldResponse]


class HealthPointResponse(BaseModel):
    at: datetime = Field(description="The end of the interval the point describes.")
    requests_per_second: float
    error_rate: float = Field(description="The share of answers with a 5xx status, 0 to 1.")
    p99_seconds: float | None = Field(description="None when no request ended in the interval.")
    pool_connections_in_use: int
    pool_connections_limit: int
    events_backlog: int | None = Field(
        description="Events the furthest-behind destination has yet to get; None without any."
    )


class VerifyRunResponse(BaseModel):
    started_at: datetime
    finished_at: datetime
    wallets: int
    operations: int
    problems: int
    books_balance: bool
    first_problems: list[str] = Field(description="The first problems found, at most 20.")


class HealthSummaryResponse(BaseModel):
    window_seconds: int
    interval_seconds: float
    points: list[HealthPointResponse] = Field(description="Oldest first.")
    last_verify: VerifyRunResponse | None = Field(
        description="The last `wallet-api verify` on this database; None if none ran."
    )


wallet_body = records.wallet_document
operation_body = records.operation_document
transfer_body = records.transfer_document
hold_body = records.hold_document
reversal_body = records.reversal_document


def operations_page_body(page: OperationsPage) -> dict[str, Any]:
    return {"items": [operation_body(op) for op in page.items], "next_cursor": page.next_cursor}


def search_body(matches: ReferenceMatches) -> dict[str, Any]:
    return {
        "reference": matches.reference,
        "operations": [operation_body(item) for item in matches.operations],
        "transfers": [transfer_body(item) for item in matches.transfers],
        "holds": [hold_body(item) for item in matches.holds],
    }


MAX_LIST_PAGE = 500


def page_body(page: Page[Any], body: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    return {"items": [body(item) for item in page.items], "next_cursor": page.next_cursor}


async def statement_json(statement: Statement) -> AsyncIterator[bytes]:
    """The statement as JSON, its lines streamed as they are read."""
    head = {
        "wallet_id": statement.wallet_id,
        "currency": statement.currency,
        "from": statement.start,
        "to": statement.end,
        "opening_balance": statement.opening_balance,
        "closing_balance": statement.closing_balance,
        "total_in": statement.total_in,
        "total_out": statement.total_out,
    }
    yield dumps_exact(head)[:-1] + b',"lines":['
    first = True
    async for line in statement.lines:
        yield (b"" if first else b",") + dumps_exact(operation_body(line))
        first = False
    yield b"]}"


CSV_COLUMNS = (
    "id",
    "created_at",
    "operation_type",
    "amount",
    "balance_after",
    "currency",
    "transfer_id",
    "hold_id",
    "reverses_id",
    "reference",
)


async def statement_csv(statement: Statement) -> AsyncIterator[bytes]:
    """The statement's lines as CSV, one per operation; each line's balance_after is the
    running balance (the first line's less its signed amount is the opening balance)."""
    yield _csv_row(CSV_COLUMNS)
    async for line in statement.lines:
        yield _csv_row(
            (
                line.id,
                line.created_at.isoformat(),
                line.operation_type.value,
                format(line.amount, "f"),
                format(line.balance_after, "f") if line.balance_after is not None else "",
                line.currency,
                line.transfer_id or "",
                line.hold_id or "",
                line.reverses_id or "",
                line.reference or "",
            )
        )


def _csv_row(values: tuple[object, ...]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode()
