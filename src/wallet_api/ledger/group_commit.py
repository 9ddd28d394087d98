"""Per-wallet queues inside one worker: work that arrives while its wallet is busy goes together.

While a database round trip for a wallet is in flight in this worker, further requests for that
wallet wait in a queue; when it ends, the whole queue is served by the next round trip. The
first request on an idle wallet runs at once, so no timer ever adds latency, and a queued
request is always served by a round trip that starts after it arrived: it sees every write
acknowledged before it. Writes use it as group commit (one transaction for the queued deposits
and withdrawals, another for the queued transfers and holds), reads to share one query among
concurrent reads of a balance. Other workers and replicas stay correct because the database's
row lock still serializes their batches.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from wallet_api import metrics

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(slots=True)
class Pending(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    async def settle_with(self, run: Callable[[Item], Awaitable[Result]]) -> None:
        """Serve this request alone: its future gets `run`'s result or its failure."""
        try:
            self.future.set_result(await run(self.item))
        except Exception as failure:
            self.future.set_exception(failure)


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    requests: int = 0
    largest: int = 0

    def record(self, size: int) -> None:
        self.batches += 1
        self.requests += size
        self.largest = max(self.largest, size)


RunOne = Callable[[uuid.UUID, Item], Awaitable[Result]]
RunBatch = Callable[[uuid.UUID, list[Pending[Item, Result]]], Awaitable[None]]
RunMany = Callable[[list[Pending[Item, Result]]], Awaitable[None]]
RunAlone = Callable[[Item], Awaitable[Result]]


class _Batches(Generic[Item, Result]):
    """What every kind of queue shares: its batch metrics, and serving a batch in a task of its
    own, after which no request of the batch is left waiting."""

    def __init__(self, kind: str) -> None:
        self._batch_sizes = metrics.GROUP_COMMIT_BATCH.labels(kind)
        self._serving: set[asyncio.Task[None]] = set()
        self.stats = BatchStats()

    def _start(
        self,
        batch: list[Pending[Item, Result]],
        run: RunMany[Item, Result],
        then: Callable[[], None],
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(batch, run, then))
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)

    async def _serve(
        self,
        batch: list[Pending[Item, Result]],
        run: RunMany[Item, Result],
        then: Callable[[], None],
    ) -> None:
        self.stats.record(len(batch))
        self._batch_sizes.observe(len(batch))
        try:
            await run(batch)
        except Exception as error:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
        finally:
            for pending in batch:
                if not pending.future.done():
                    pending.future.cancel()
            then()


class WalletQueues(_Batches[Item, Result]):
    """`run_one` serves a request on an idle wallet; `run_batch` serves a queue and settles the
    future of every pending request in it, with its own result or its own refusal."""

    def __init__(
        self, kind: str, run_one: RunOne[Item, Result], run_batch: RunBatch[Item, Result]
    ) -> None:
        super().__init__(kind)
        self._run_one = run_one
        self._run_batch = run_batch
        self._queues: dict[uuid.UUID, list[Pending[Item, Result]]] = {}

    async def submit(self, wallet_id: uuid.UUID, item: Item, *others: uuid.UUID) -> Result:
        """Serve `item`, which touches `wallet_id` and `others`: in the queue of the first of
        them with a round trip in flight, else at once, with all of them marked busy."""
        wallets = tuple(dict.fromkeys((wallet_id, *others)))
        for wallet in wallets:
            queue = self._queues.get(wallet)
            if queue is not None:
                pending: Pending[Item, Result] = Pending(item)
                queue.append(pending)
                return await pending.future
        for wallet in wallets:
            self._queues[wallet] = []
        try:
            return await self._run_one(wallet_id, item)
        finally:
            for wallet in wallets:
                self._next(wallet)

    def _next(self, wallet_id: uuid.UUID) -> None:
        """The wallet's round trip ended: serve the queue, or mark the wallet idle."""
        queue = self._queues.get(wallet_id)
        if not queue:
            self._queues.pop(wallet_id, None)
            return
        self._queues[wallet_id] = []
        run = functools.partial(self._run_batch, wallet_id)
        self._start(queue, run, functools.partial(self._next, wallet_id))


class SharedRoundTrips(_Batches[Item, Result]):
    """Work on different wallets shares round trips once `limit` of them are in flight.

    Below the limit an item runs at once, alone; above it, items wait, and the first round trip
    to end starts one that serves them all (`run_many`, which settles every future). So a
    worker with many idle wallets in use at once (a spread load) pays one statement and one
    commit for many requests, and a quiet one pays nothing extra."""

    def __init__(
        self,
        kind: str,
        limit: int,
        run_alone: RunAlone[Item, Result],
        run_many: RunMany[Item, Result],
    ) -> None:
        super().__init__(kind)
        self._limit = limit
        self._run_alone = run_alone
        self._run_many = run_many
        self._in_flight = 0
        self._waiting: list[Pending[Item, Result]] = []

    async def submit(self, item: Item) -> Result:
        if self._in_flight >= self._limit:
            pending: Pending[Item, Result] = Pending(item)
            self._waiting.append(pending)
            return await pending.future
        self._in_flight += 1
        try:
            return await self._run_alone(item)
        finally:
            self._ended()

    def _ended(self) -> None:
        """A round trip ended: serve whatever waits."""
        self._in_flight -= 1
        if not self._waiting or self._in_flight >= self._limit:
            return
        batch, self._waiting = self._waiting, []
        self._in_flight += 1
        self._start(batch, self._run_many, self._ended)
