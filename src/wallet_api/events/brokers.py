"""The brokers events are published to: NATS JetStream and RabbitMQ, each with its own client.

An event counts as published only once the broker confirmed it: JetStream's ack (after the
stream stored it; `Nats-Msg-Id` = the event id, so the stream drops a re-publish within its
duplicate window), RabbitMQ's publisher confirm (persistent messages, `message_id` = the event
id, for consumers to drop a re-publish). A batch is sent in sequence order and its
confirmations awaited together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import aio_pika
import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from wallet_api.events.feed import event_json
from wallet_api.storage.events import StoredEvent

STREAM = "WALLET_EVENTS"
SUBJECT_PREFIX = "wallet.events."
EXCHANGE = "wallet.events"
CONFIRM_WITHIN_SECONDS = 10.0


class Broker(Protocol):
    name: str

    async def open(self) -> None: ...

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Return once the broker confirmed every event; raise if it did not."""

    async def close(self) -> None: ...


class NatsBroker:
    name = "nats"

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: NatsClient | None = None
        self._stream: JetStreamContext | None = None

    async def open(self) -> None:
        if self._client is not None and self._client.is_connected:
            return
        await self.close()
        self._client = await nats.connect(
            self._url, connect_timeout=5, max_reconnect_attempts=0, allow_reconnect=False
        )
        self._stream = self._client.jetstream(timeout=CONFIRM_WITHIN_SECONDS)
        try:
            await self._stream.stream_info(STREAM)
        except NotFoundError:
            await self._stream.add_stream(name=STREAM, subjects=[SUBJECT_PREFIX + ">"])

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        assert self._stream is not None
        confirmations = [
            await self._stream.publish_async(
                SUBJECT_PREFIX + event.type,
                event_json(event),
                headers={"Nats-Msg-Id": str(event.id)},
            )
            for event in events
        ]
        async with asyncio.timeout(CONFIRM_WITHIN_SECONDS):
            await asyncio.gather(*confirmations)

    async def close(self) -> None:
        client, self._client, self._stream = self._client, None, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


class AmqpBroker:
    name = "amqp"

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def open(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            return
        await self.close()
        self._connection = await aio_pika.connect(self._url, timeout=5)
        channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        assert self._exchange is not None
        exchange = self._exchange
        # Tasks start in the order they were made, and each sends its frames before it first
        # waits: the broker receives the batch in sequence order.
        confirmations = [
            asyncio.create_task(
                exchange.publish(
                    aio_pika.Message(
                        event_json(event),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=str(event.id),
                        type=event.type,
                    ),
                    routing_key=event.type,
                )
            )
            for event in events
        ]
        try:
            async with asyncio.timeout(CONFIRM_WITHIN_SECONDS):
                await asyncio.gather(*confirmations)
        finally:
            for confirmation in confirmations:
                confirmation.cancel()

    async def close(self) -> None:
        connection, self._connection, self._exchange = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
