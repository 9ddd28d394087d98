"""Answers to money-moving POSTs: the ledger's outcome rendered, a replay marked as one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response

from wallet_api.http.exact_json import ExactJSONResponse
from wallet_api.http.problems import ledger_problem
from wallet_api.ledger.commands import Decided
from wallet_api.ledger.errors import LedgerError
from wallet_api.ledger.idempotency import ANONYMOUS, IdempotencyKey

REPLAYED_HEADER = "Idempotent-Replayed"


def answer(decided: Decided, status_code: int, body: Callable[[Any], dict[str, Any]]) -> Response:
    """`body` of the outcome with `status_code`, or the refusal's problem; the same bytes for
    the first answer and for every replay of it."""
    headers = {REPLAYED_HEADER: "true"} if decided.replayed else None
    if isinstance(decided.outcome, LedgerError):
        return ledger_problem(decided.outcome, headers)
    return ExactJSONResponse(body(decided.outcome), status_code, headers=headers)


def idempotency_key(request: Request, key: str | None) -> IdempotencyKey | None:
    """The key as its caller's: two API keys that send the same text hold two keys."""
    if key is None:
        return None
    return IdempotencyKey(getattr(request.state, "caller", ANONYMOUS), key)
