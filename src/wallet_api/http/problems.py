"""Error responses as RFC 9457 problem details, each with a stable machine-readable `code`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from wallet_api.http.exact_json import dumps_exact
from wallet_api.ledger.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    HoldNotActive,
    HoldNotFound,
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    InvalidCursor,
    LedgerError,
    SameWallet,
    TransferNotFound,
    UnknownCurrency,
    WalletExists,
    WalletNotFound,
)

# Every refusal of the ledger, its status and its stable code.
LEDGER_ERRORS: dict[type[LedgerError], tuple[int, str]] = {
    InvalidAmount: (422, "validation_error"),
    UnknownCurrency: (422, "validation_error"),
    InvalidCursor: (422, "validation_error"),
    WalletNotFound: (404, "wallet_not_found"),
    WalletExists: (409, "wallet_exists"),
    InsufficientFunds: (400, "insufficient_funds"),
    BalanceLimitExceeded: (400, "balance_limit_exceeded"),
    IdempotencyKeyReused: (409, "idempotency_key_reused"),
    IdempotencyKeyInProgress: (409, "idempotency_key_in_progress"),
    SameWallet: (422, "validation_error"),
    CurrencyMismatch: (422, "currency_mismatch"),
    TransferNotFound: (404, "transfer_not_found"),
    HoldNotFound: (404, "hold_not_found"),
    HoldNotActive: (409, "hold_not_active"),
}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] | None = None


class ProblemResponse(Response):
    media_type = "application/problem+json"

    def render(self, content: object) -> bytes:
        return dumps_exact(content)


def problem(
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=headers)


def ledger_problem(error: LedgerError) -> ProblemResponse:
    status, code = LEDGER_ERRORS[type(error)]
    return problem(status, code, error.detail)


def described(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route may answer with."""
    return {
        status: {"model": Problem, "content": {"application/problem+json": {}}}
        for status in statuses
    }
