"""Group commit for hot wallets: operations that arrive while their wallet is busy go together.

While a transaction for a wallet is in flight in this worker, further deposits and withdrawals
for that wallet wait in a queue; when it ends, the whole queue goes into the next transaction.
The first operation on an idle wallet runs at once, so no timer ever adds latency. Other workers
and replicas stay correct because the database's row lock still serializes their batches.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, TypeVar

from wallet_api import metrics

Result = TypeVar("Result")


@dataclass(slots=True)
class Pending(Generic[Result]):
    operation_type: str
    amount: Decimal
    future: asyncio.Future[Result] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    operations: int = 0
    largest: int = 0

    def record(self, size: int) -> None:
        self.batches += 1
        self.operations += size
        self.largest = max(self.largest, size)


RunOne = Callable[[uuid.UUID, str, Decimal], Awaitable[Result]]
RunBatch = Callable[[uuid.UUID, list[Pending[Result]]], Awaitable[None]]


class GroupCommit(Generic[Result]):
    """Per-wallet queues inside one worker process.

    `run_one` serves an operation on an idle wallet; `run_batch` serves a queue and settles the
    future of every pending operation in it, with its own result or its own refusal.
    """

    def __init__(self, run_one: RunOne[Result], run_batch: RunBatch[Result]) -> None:
        self._run_one = run_one
        self._run_batch = run_batch
        self._queues: dict[uuid.UUID, list[Pending[Result]]] = {}
        self._serving: set[asyncio.Task[None]] = set()
        self.stats = BatchStats()

    async def submit(self, wallet_id: uuid.UUID, operation_type: str, amount: Decimal) -> Result:
        queue = self._queues.get(wallet_id)
        if queue is not None:
            pending: Pending[Result] = Pending(operation_type, amount)
            queue.append(pending)
            return await pending.future
        self._queues[wallet_id] = []
        try:
            return await self._run_one(wallet_id, operation_type, amount)
        finally:
            self._next(wallet_id)

    def _next(self, wallet_id: uuid.UUID) -> None:
        """The wallet's transaction ended: start the queued batch, or mark the wallet idle."""
        queue = self._queues.get(wallet_id)
        if not queue:
            self._queues.pop(wallet_id, None)
            return
        self._queues[wallet_id] = []
        task = asyncio.get_running_loop().create_task(self._serve(wallet_id, queue))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(self, wallet_id: uuid.UUID, batch: list[Pending[Result]]) -> None:
        self.stats.record(len(batch))
        metrics.GROUP_COMMIT_BATCH.observe(len(batch))
        try:
            await self._run_batch(wallet_id, batch)
        except Exception as error:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
        finally:
            for pending in batch:
                if not pending.future.done():
                    pending.future.cancel()
            self._next(wallet_id)
