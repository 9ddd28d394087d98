"""Transactions that lost a serialization race or a deadlock run again, a bounded number of times.

Only a conflict is retried: PostgreSQL rolled the whole transaction back, so nothing of it
landed. A lost connection is not: whether its COMMIT landed is unknown, so the client decides
(with its Idempotency-Key) and the service answers 503.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from wallet_api import metrics
from wallet_api.storage.errors import StorageConflict

T = TypeVar("T")

ATTEMPTS = 3
FIRST_BACKOFF_SECONDS = 0.01


async def retry_conflicts(transaction: Callable[[], Awaitable[T]]) -> T:
    """Run `transaction` (a whole one, from its first statement) until it ends without a
    conflict, at most ATTEMPTS times; the last conflict propagates (a 503 for the client)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await transaction()
        except StorageConflict as conflict:
            if attempt == ATTEMPTS:
                raise
            metrics.TRANSACTION_RETRIES.labels(conflict.reason).inc()
            # Full jitter: two transactions that collided do not collide again in step.
            ceiling = FIRST_BACKOFF_SECONDS * 2**attempt
            await asyncio.sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable: the last attempt returns or raises")
