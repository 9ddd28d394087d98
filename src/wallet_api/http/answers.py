"""Answers to money-moving POSTs: rendered once, stored under an idempotency key, replayed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from wallet_api.http.exact_json import dumps_exact
from wallet_api.http.problems import ledger_problem
from wallet_api.ledger.errors import LedgerError
from wallet_api.ledger.idempotency import Answer, IdempotentRequest, fingerprint

T = TypeVar("T")

REPLAYED_HEADER = "Idempotent-Replayed"


def renderer(
    status_code: int, body: Callable[[T], dict[str, Any]]
) -> Callable[[T | LedgerError], Answer]:
    """How the ledger's outcome becomes the client's answer: `body` on success, a problem else."""

    def render(outcome: T | LedgerError) -> Answer:
        if isinstance(outcome, LedgerError):
            refusal = ledger_problem(outcome)
            return Answer(refusal.status_code, bytes(refusal.body))
        return Answer(status_code, dumps_exact(body(outcome)))

    return render


async def idempotent_request(request: Request, key: str | None) -> IdempotentRequest | None:
    if key is None:
        return None
    body = await request.body()
    return IdempotentRequest(key, fingerprint(request.method, request.url.path, body))


def answer_response(answer: Answer) -> Response:
    media_type = "application/json" if answer.status_code < 400 else "application/problem+json"
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return Response(answer.body, answer.status_code, headers=headers, media_type=media_type)
