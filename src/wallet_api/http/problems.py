"""Error responses as RFC 9457 problem details, each with a stable machine-readable `code`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Response
from pydantic import BaseModel

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


def ledger_problem(error: LedgerError, headers: dict[str, str] | None = None) -> ProblemResponse:
    headers = {**(_headers(error) or {}), **(headers or {})} or None
    return problem(STATUS_OF_CODE[error.code], error.code, error.detail, headers=headers)


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
    application/json; move it to application/problem+json, the type problems are sent as."""
    for path in document["paths"].values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_MEDIA_TYPE in content and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return document
