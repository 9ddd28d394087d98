"""The brokers of this machine (NATS with JetStream, RabbitMQ), and consumers that collect what
the service publishes to them."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from wallet_api.events.brokers import EXCHANGE, STREAM, SUBJECT_PREFIX

NATS_URL = "nats://127.0.0.1:4222"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def need_brokers() -> None:
    """Skip, saying why, where the brokers do not run (CI's machine runs both)."""
    for name, port in (("NATS", 4222), ("RabbitMQ", 5672)):
        if not listening(port):
            pytest.skip(f"{name} is not listening on 127.0.0.1:{port}: broker tests skipped")


@asynccontextmanager
async def nats_consumer() -> AsyncIterator[list[dict[str, Any]]]:
    """Every event the stream stores from now on, in stream order."""
    received: list[dict[str, Any]] = []
    client = await nats.connect(NATS_URL)
    stream = client.jetstream()
    try:
        await stream.stream_info(STREAM)
    except NotFoundError:
        await stream.add_stream(name=STREAM, subjects=[SUBJECT_PREFIX + ">"])

    async def take(message: Any) -> None:
        received.append(json.loads(message.data))

    subscription = await stream.subscribe(
        SUBJECT_PREFIX + ">",
        cb=take,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    try:
        yield received
    finally:
        await subscription.unsubscribe()
        await client.close()


@asynccontextmanager
async def amqp_consumer() -> AsyncIterator[list[dict[str, Any]]]:
    """Every event the exchange routes from now on, in arrival order."""
    received: list[dict[str, Any]] = []
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key="#")

    async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            event = json.loads(message.body)
            assert message.message_id == event["id"]
            assert message.routing_key == event["type"]
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            received.append(event)

    await queue.consume(take)
    try:
        yield received
    finally:
        await connection.close()


async def wait_for(received: list[dict[str, Any]], wallets: set[str], count: int) -> None:
    """Until `count` operation.created events of `wallets` arrived (at most a minute)."""
    for _ in range(1200):
        if len(of_wallets(received, wallets)) >= count:
            return
        await asyncio.sleep(0.05)


def of_wallets(received: list[dict[str, Any]], wallets: set[str]) -> list[dict[str, Any]]:
    return [
        e for e in received if e["type"] == "operation.created" and wallets & set(e["wallet_ids"])
    ]
