"""Error responses as RFC 9457 problem details, each with a stable machine-readable `code`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Response
from pydantic import BaseModel, Field

from wallet_api.http.exact_json import dumps_exact
from wallet_api.ledger.errors import LedgerError, RateLimited, Unauthenticated

# The status of every refusal, by its code (the class of each refusal carries the code).
STATUS_OF_CODE: dict[str, int] = {
    "validation_error": 422,
    "wallet_not_found": 404,
    "wallet_exists": 409,
    "insufficient_funds": 400,
    "balance_limit_exceeded": 400,
    "idempotency_key_reused": 409,
    "idempotency_key_in_progress": 409,
    "currency_mismatch": 422,
    "transfer_not_found": 404,
    "hold_not_found": 404,
    "hold_not_active": 409,
    "unauthorized": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "webhook_not_found": 404,
    "webhook_url_not_allowed": 422,
    "webhook_limit_reached": 409,
    "operation_not_found": 404,
    "not_reversible": 409,
    "reversal_exceeds_original": 409,
    "reference_exists": 409,
}


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    type: str = Field(description="/problems/<code>: a page that says what the code means.")
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldError] | None = None
    existing_id: str | None = Field(
        default=None, description="reference_exists: the id of what holds the reference."
    )


PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: object) -> bytes:
        return dumps_exact(content)


def problem(
    status: int,
    code: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    if errors is not None:
        body["errors"] = errors
    return ProblemResponse(body, status_code=status, headers=headers)


def ledger_problem(error: LedgerError, headers: dict[str, str] | None = None) -> ProblemResponse:
    headers = {**(_headers(error) or {}), **(headers or {})} or None
    extra: dict[str, Any] = {}
    existing = getattr(error, "existing_id", None)
    if existing is not None:
        extra["existing_id"] = str(existing)
    return problem(STATUS_OF_CODE[error.code], error.code, error.detail, headers=headers, **extra)


def _headers(error: LedgerError) -> dict[str, str] | None:
    if isinstance(error, Unauthenticated):
        # RFC 6750: a plain challenge when no key came, invalid_token when a bad one did.
        challenge = 'Bearer error="invalid_token"' if error.presented else "Bearer"
        return {"WWW-Authenticate": challenge}
    if isinstance(error, RateLimited):
        return {"Retry-After": str(error.retry_after_seconds)}
    return None


def described(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route may answer with."""
    return {
        status: {"model": Problem, "content": {"application/problem+json": {}}}
        for status in statuses
    }


def file_problems_under_their_media_type(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI puts the `model` of `described` under the route's own media type,
    application/json; move it to application/problem+json, the type problems are sent as. And
    document the headers answers carry."""
    for path in document["paths"].values():
        for method, operation in path.items():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
                headers = response.setdefault("headers", {})
                for name in (*_HEADERS_OF_STATUS.get(str(status), ()), "X-Request-ID"):
                    headers[name] = RESPONSE_HEADERS[name]
                if method == "post" and str(status).startswith("2"):
                    headers["Idempotent-Replayed"] = RESPONSE_HEADERS["Idempotent-Replayed"]
    return document


RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the one it came with, or a new one. In the logs too.",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "true when this is the stored answer of an earlier request with the "
        "same Idempotency-Key: nothing moved this time.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    },
    "WWW-Authenticate": {
        "description": 'Bearer, or Bearer error="invalid_token" for a key that is not valid.',
        "schema": {"type": "string"},
    },
}
_HEADERS_OF_STATUS = {
    "401": ("WWW-Authenticate",),
    "429": ("Retry-After",),
    "503": ("Retry-After",),
}

# What each code means, served at /problems/<code>: the `type` of every problem.
MEANINGS: dict[str, str] = {
    "validation_error": "The request is malformed: see `errors` for each field at fault.",
    "wallet_not_found": "No such wallet (or, with as_of, it did not exist yet then).",
    "wallet_exists": "A wallet with this id exists already.",
    "insufficient_funds": "The wallet's available balance is short of the amount.",
    "balance_limit_exceeded": "The balance would go above 1,000,000,000,000,000.",
    "idempotency_key_reused": "This Idempotency-Key was used with a different request.",
    "idempotency_key_in_progress": "The first request with this key is still running; retry.",
    "currency_mismatch": "The wallets are in different currencies.",
    "transfer_not_found": "No such transfer.",
    "hold_not_found": "No such hold.",
    "hold_not_active": "The hold was captured, voided or expired already.",
    "unauthorized": "No API key, or one that is unknown, revoked or expired.",
    "forbidden": "The API key lacks the scope this request needs.",
    "rate_limited": "Too many requests for this API key; wait for Retry-After.",
    "webhook_not_found": "No such webhook endpoint.",
    "webhook_url_not_allowed": "The webhook URL is not http(s), too long, or not public.",
    "webhook_limit_reached": "There are 100 webhook endpoints already.",
    "operation_not_found": "No such operation.",
    "not_reversible": "A reversal, or a transfer's leg (reverse the transfer), is not reversed.",
    "reversal_exceeds_original": "All reversals together would exceed the original.",
    "reference_exists": "The reference is in use: `existing_id` names what holds it.",
    "not_found": "No such path.",
    "method_not_allowed": "The path exists, but not with this method.",
    "payload_too_large": "The request body is over the limit.",
    "internal_error": "An unexpected error; the details are in the log, by X-Request-ID.",
    "service_unavailable": "The database is unreachable or slow; retry after Retry-After.",
    "http_error": "An HTTP error without a more precise code.",
}
