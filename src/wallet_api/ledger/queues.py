"""Inside one worker: work that arrives while its wallet is busy goes together.

Writes: while a transaction on a wallet is in flight in this worker, further requests touching
that wallet wait in its queue; when it ends, everything that waited goes in the next batch,
together with requests on other wallets that waited for a free connection. A request on idle
wallets runs at once while a connection is free, so no timer ever adds latency, and a queued
request is always served by a transaction that starts after it arrived. Other workers and
replicas stay correct because the batch locks its wallets in the database.

Reads: concurrent reads of one balance share one query that starts after they all arrived.
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from wallet_api import metrics, tracing

Item = TypeVar("Item")
Result = TypeVar("Result")


class Touches(Protocol):
    @property
    def wallets(self) -> tuple[uuid.UUID, ...]: ...


Request = TypeVar("Request", bound=Touches)


@dataclass(slots=True)
class Pending(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # Where the request came from (its trace), while tracing is on.
    context: contextvars.Context | None = None


@dataclass(slots=True)
class BatchStats:
    batches: int = 0
    requests: int = 0
    largest: int = 0

    def record(self, size: int) -> None:
        self.batches += 1
        self.requests += size
        self.largest = max(self.largest, size)


class Batches(Generic[Request, Result]):
    """`serve` decides a batch of requests in one transaction and returns one result for each,
    in order; at most `in_flight_limit` batches run at once, each of at most `largest`."""

    def __init__(
        self,
        serve: Callable[[list[Request]], Awaitable[Sequence[Result]]],
        in_flight_limit: int,
        largest: int,
    ) -> None:
        self._serve = serve
        self._limit = in_flight_limit
        self._largest = largest
        self._in_flight = 0
        self._queues: dict[uuid.UUID, list[Pending[Request, Result]]] = {}
        self._waiting: list[Pending[Request, Result]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._sizes = metrics.GROUP_COMMIT_BATCH.labels("writes")
        self.stats = BatchStats()

    async def submit(self, request: Request) -> Result:
        pending: Pending[Request, Result] = Pending(request, context=tracing.request_context())
        if not self._queued(pending):
            if self._in_flight < self._limit:
                self._start([pending])
            else:
                self._waiting.append(pending)
        return await pending.future

    def _queued(self, pending: Pending[Request, Result]) -> bool:
        """Put the request in the queue of the first of its wallets that is busy, if any."""
        for wallet in pending.item.wallets:
            queue = self._queues.get(wallet)
            if queue is not None:
                queue.append(pending)
                return True
        return False

    def _start(self, batch: list[Pending[Request, Result]]) -> None:
        wallets = {wallet for pending in batch for wallet in pending.item.wallets}
        for wallet in wallets:
            self._queues[wallet] = []
        self._in_flight += 1
        self.stats.record(len(batch))
        self._sizes.observe(len(batch))
        # In the context of the batch's first request: a batch started when another one ended
        # would otherwise run in that one's, and its span would join the wrong trace.
        task = asyncio.get_running_loop().create_task(
            self._run(batch, wallets), context=batch[0].context
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[Pending[Request, Result]], wallets: set[uuid.UUID]) -> None:
        try:
            results = await self._serve([pending.item for pending in batch])
        except Exception as failure:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(failure)
        else:
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
        finally:
            self._in_flight -= 1
            self._next(wallets)

    def _next(self, freed: set[uuid.UUID]) -> None:
        """A batch ended: what waited for its wallets, and for a connection, goes next."""
        ready: list[Pending[Request, Result]] = []
        for wallet in freed:
            ready += self._queues.pop(wallet, [])
        ready += self._waiting
        self._waiting = []
        batch: list[Pending[Request, Result]] = []
        for pending in ready:
            if pending.future.done():  # cancelled by its client
                continue
            if self._queued(pending):  # a wallet of it is busy in another batch
                continue
            if len(batch) < self._largest:
                batch.append(pending)
            else:
                self._waiting.append(pending)
        if batch:
            self._start(batch)


class SharedReads(Generic[Item]):
    """Concurrent reads of one key share one query; a read that arrives while a query for its
    key is in flight waits for the next one, which starts after it arrived."""

    def __init__(self, read: Callable[[Hashable], Awaitable[Item]]) -> None:
        self._read = read
        self._queues: dict[Hashable, list[asyncio.Future[Item]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sizes = metrics.GROUP_COMMIT_BATCH.labels("reads")

    async def submit(self, key: Hashable) -> Item:
        queue = self._queues.get(key)
        if queue is not None:
            future: asyncio.Future[Item] = asyncio.get_running_loop().create_future()
            queue.append(future)
            return await future
        self._queues[key] = []
        try:
            return await self._read(key)
        finally:
            self._serve_queue(key)

    def _serve_queue(self, key: Hashable) -> None:
        queue = self._queues.pop(key, [])
        if not queue:
            return
        self._queues[key] = []
        self._sizes.observe(len(queue))
        task = asyncio.get_running_loop().create_task(self._read_for(key, queue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_for(self, key: Hashable, queue: list[asyncio.Future[Item]]) -> None:
        try:
            result = await self._read(key)
        except Exception as failure:
            for future in queue:
                if not future.done():
                    future.set_exception(failure)
        else:
            for future in queue:
                if not future.done():
                    future.set_result(result)
        finally:
            self._serve_queue(key)
