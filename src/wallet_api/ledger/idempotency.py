"""What an idempotent replay returns: the first answer to a key, for the same request only."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from wallet_api.ledger.errors import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    LedgerError,
)
from wallet_api.ledger.retry import retry_conflicts
from wallet_api.storage import idempotency as idempotency_store
from wallet_api.storage.database import Database

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7E]{1,255}$"


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the client sees it, stored under its key and replayed byte for byte."""

    status_code: int
    body: bytes
    replayed: bool = False


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests 'the same request' for a key: method, path and body."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


async def run_once(
    database: Database,
    request: IdempotentRequest,
    ttl: timedelta,
    action: Callable[[AsyncConnection], Awaitable[Any]],
    render: Callable[[Any], Answer],
) -> Answer:
    """Run `action` under an idempotency key: the first answer is stored with the money movement
    in one transaction, and the same request with the same key gets that answer again. A
    refusal is an answer too; a request that fails validation is not, and leaves no trace.
    A transaction that lost to a conflict is run again whole, claim included."""
    return await retry_conflicts(lambda: _answer_once(database, request, ttl, action, render))


async def _answer_once(
    database: Database,
    request: IdempotentRequest,
    ttl: timedelta,
    action: Callable[[AsyncConnection], Awaitable[Any]],
    render: Callable[[Any], Answer],
) -> Answer:
    async with database.transaction() as connection:
        try:
            stored = await idempotency_store.claim(
                connection, request.key, request.fingerprint, ttl
            )
        except idempotency_store.KeyBusy:
            raise IdempotencyKeyInProgress() from None
        if stored is not None:
            if stored.fingerprint != request.fingerprint:
                raise IdempotencyKeyReused()
            return Answer(stored.status_code, stored.response_body, replayed=True)
        try:
            outcome = await action(connection)
        except InvalidRequest:
            raise
        except LedgerError as refusal:
            outcome = refusal
        answer = render(outcome)
        await idempotency_store.answer(connection, request.key, answer.status_code, answer.body)
        return answer
