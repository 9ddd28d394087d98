"""The relay: one worker across all replicas numbers committed events and delivers them.

Whichever worker holds the relay's advisory lock (on a connection of its own) leads: it runs
the sequencer on that connection, publishes to each configured broker, and delivers webhooks.
The others try for the lock every second, so when the leader dies (its connection closes and
PostgreSQL releases the lock) another takes over within about a second. Each destination keeps
the last sequence it confirmed in `event_destinations`; a new leader resumes from there and may
publish again what the old one sent but did not record: at least once, with the event id for
the receiver (or a deduplicating broker) to drop the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from wallet_api import metrics
from wallet_api.events.brokers import Broker
from wallet_api.events.feed import CHANNEL, Feed
from wallet_api.events.webhooks import Deliveries
from wallet_api.storage import events as store
from wallet_api.storage.database import Database

log = logging.getLogger(__name__)

# pg_advisory_lock's key for the relay: any number no other part of the service uses.
RELAY_LOCK = 7_406_417_725_212_817
_TRY_EVERY_SECONDS = 1.0
# The most events one numbering or one publication takes.
BATCH = 1000
_IDLE_SECONDS = 0.05
# While events keep coming, the sequencer and each publisher take what gathered in this long:
# bigger batches, fewer statements and broker flushes per event on a busy ledger, for at most
# this much more lag.
_BUSY_SECONDS = 0.02


class Relay:
    def __init__(
        self,
        database: Database,
        feed: Feed,
        brokers: Sequence[Broker],
        deliveries: Deliveries | None,
    ) -> None:
        self._db = database
        self._feed = feed
        self._brokers = list(brokers)
        self._deliveries = deliveries
        self.leading = False
        self._head = 0  # the last sequence the sequencer gave, while this worker leads

    async def run(self) -> None:
        """Lead whenever this worker can take the lock, until cancelled."""
        connection: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if connection is None or connection.is_closed():
                        connection = await self._db.session()
                    if await connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                        log.info("this worker now numbers and delivers the events")
                        await self._lead(connection)
                except asyncio.CancelledError:
                    raise
                except Exception as failure:
                    log.warning("the events relay stopped: %r", failure)
                    await _closed(connection)
                    connection = None
                await asyncio.sleep(_TRY_EVERY_SECONDS)
        finally:
            await _closed(connection)

    async def _lead(self, connection: asyncpg.Connection) -> None:
        self.leading = True
        duties = [asyncio.create_task(self._sequence(connection))]
        duties += [asyncio.create_task(self._publish(broker)) for broker in self._brokers]
        if self._deliveries is not None:
            duties.append(asyncio.create_task(self._deliveries.run()))
        try:
            done, _ = await asyncio.wait(duties, return_when=asyncio.FIRST_COMPLETED)
            for duty in done:
                duty.result()
        finally:
            self.leading = False
            for duty in duties:
                duty.cancel()
            await asyncio.gather(*duties, return_exceptions=True)
            for broker in self._brokers:
                metrics.EVENTS_BACKLOG.labels(broker.name).set(0)
                await broker.close()

    async def _sequence(self, connection: asyncpg.Connection) -> None:
        """Number committed events as they come, and tell every worker's feed."""
        while True:
            numbered, head = await store.sequence_committed(connection, BATCH)
            self._head = head
            if numbered:
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(head))
            await asyncio.sleep(_BUSY_SECONDS if numbered else _IDLE_SECONDS)

    async def _publish(self, broker: Broker) -> None:
        """Publish every event to `broker` in sequence order, from where it got to."""
        pause = 0.5
        while True:
            try:
                await broker.open()
                async with self._db.hot() as connection:
                    delivered = await store.delivered(connection, broker.name, 0)
                while True:
                    delivered = await self._publish_next(broker, delivered)
                    pause = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                log.warning(
                    "publishing to %s failed: %r; retrying in %.1fs", broker.name, failure, pause
                )
                await broker.close()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 10.0)

    async def _publish_next(self, broker: Broker, delivered: int) -> int:
        async with self._db.hot() as connection:
            events = await store.page(connection, delivered, BATCH)
        head = max(self._head, events[-1].sequence if events else delivered)
        metrics.EVENTS_BACKLOG.labels(broker.name).set(head - delivered)
        if not events:
            await self._feed.news(1.0)
            return delivered
        await broker.publish(events)
        confirmed = datetime.now(UTC)
        last = events[-1].sequence
        async with self._db.hot() as connection:
            await store.advance(connection, broker.name, last)
        metrics.EVENTS_PUBLISHED.labels(broker.name).inc(len(events))
        lag = metrics.EVENTS_PUBLISH_LAG.labels(broker.name)
        for event in events:
            lag.observe((confirmed - event.created_at).total_seconds())
        metrics.EVENTS_BACKLOG.labels(broker.name).set(max(head - last, 0))
        if len(events) < BATCH:
            await asyncio.sleep(_BUSY_SECONDS)
        return last


async def _closed(connection: asyncpg.Connection | None) -> None:
    """Close the connection (releasing the lock if it held it)."""
    if connection is not None:
        with contextlib.suppress(Exception):
            await connection.close(timeout=1)
