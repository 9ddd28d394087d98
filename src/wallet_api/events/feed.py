"""The feed: committed events in sequence order, a page at a time, and a wait for the next.

Every worker listens on the channel the sequencer notifies after each numbering, so a long
poll answers as soon as something new is numbered; it also looks again every second, in case a
notification was lost with its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from wallet_api.storage import events as store
from wallet_api.storage.database import Database
from wallet_api.storage.events import StoredEvent

log = logging.getLogger(__name__)

CHANNEL = "wallet_events"
MAX_PAGE = 1000
MAX_WAIT_SECONDS = 30
_LOOK_AGAIN_SECONDS = 1.0


def event_json(event: StoredEvent) -> bytes:
    """The event as the feed, the brokers and the webhooks carry it."""
    wallet_ids = [event.wallet_id]
    if event.other_wallet_id is not None:
        wallet_ids.append(event.other_wallet_id)
    return orjson.dumps(
        {
            "id": str(event.id),
            "sequence": event.sequence,
            "type": event.type,
            "created_at": event.created_at,
            "wallet_ids": [str(w) for w in wallet_ids],
            "data": orjson.Fragment(event.data),
        }
    )


@dataclass(frozen=True, slots=True)
class FeedQuery:
    after: int = 0
    limit: int = 100
    types: Sequence[str] | None = None
    wallet_id: uuid.UUID | None = None


class Feed:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._news: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def page(self, query: FeedQuery) -> list[StoredEvent]:
        async with self._db.hot() as connection:
            return await store.page(
                connection, query.after, query.limit, query.types, query.wallet_id
            )

    async def wait(self, query: FeedQuery, seconds: float) -> list[StoredEvent]:
        """The page after `query.after`; while it is empty, wait up to `seconds` for news."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            events = await self.page(query)
            remaining = deadline - asyncio.get_running_loop().time()
            if events or remaining <= 0:
                return events
            await self.news(min(remaining, _LOOK_AGAIN_SECONDS))

    async def news(self, at_most: float) -> None:
        """Return when the sequencer numbers new events, or after `at_most` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._news), at_most)

    def _announce(self, *_: object) -> None:
        news, self._news = self._news, asyncio.get_running_loop().create_future()
        news.set_result(None)

    async def _listen_on(self, connection: asyncpg.Connection) -> None:
        """Until the connection is lost."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(CHANNEL, self._announce)
        await lost.wait()

    async def _listen(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await self._db.session()
                await self._listen_on(connection)
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                log.info("the events listener lost its connection: %s", failure)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)
            await asyncio.sleep(_LOOK_AGAIN_SECONDS)
