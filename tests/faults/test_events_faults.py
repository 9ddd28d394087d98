"""Events under faults: brokers stopped and started under load, the publishing worker killed.

Keyed deposits, withdrawals and transfers keep coming while each fault happens. Afterwards every
committed event is in the NATS stream exactly once (it drops a re-publish by `Nats-Msg-Id`) and
in a RabbitMQ queue at least once, each in sequence order of first appearance; the ledger holds
exactly what the clients were told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import nats
import pytest

from tests.brokers import AMQP_URL, NATS_URL, need_brokers
from tests.faults.checks import assert_ledger_is_what_clients_were_told
from tests.faults.clients import Load, fund_wallets
from tests.faults.test_faults import started, worker_pids
from tests.support import plain_dsn, scrape, value
from wallet_api.events.brokers import EXCHANGE, STREAM, SUBJECT_PREFIX

pytestmark = pytest.mark.faults

WALLETS = 6
NATS_START = [
    "start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/nats-server",
    "--", "-a", "127.0.0.1", "-p", "4222", "-js", "-sd", "/var/lib/nats-server",
    "-l", "/var/log/nats-server.log",
]  # fmt: skip
NATS_STOP = ["start-stop-daemon", "--stop", "--oknodo", "--retry", "10", "--exec",
             "/usr/sbin/nats-server"]  # fmt: skip


@pytest.fixture
def events_env(fault_env: dict[str, str]) -> dict[str, str]:
    need_brokers()
    return {**fault_env, "WALLET_EVENTS_NATS_URL": NATS_URL, "WALLET_EVENTS_AMQP_URL": AMQP_URL}


async def stream_position() -> int:
    client = await nats.connect(NATS_URL)
    try:
        stream = client.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            return (await stream.stream_info(STREAM)).state.last_seq
        await stream.add_stream(name=STREAM, subjects=[SUBJECT_PREFIX + ">"])
        return 0
    finally:
        await client.close()


async def stream_since(position: int) -> list[dict[str, Any]]:
    """Every event the stream stored after `position`, in stream order."""
    client = await nats.connect(NATS_URL)
    try:
        stream = client.jetstream()
        last = (await stream.stream_info(STREAM)).state.last_seq
        return [
            json.loads((await stream.get_msg(STREAM, seq)).data)
            for seq in range(position + 1, last + 1)
        ]
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def durable_queue() -> AsyncIterator[str]:
    """A durable queue bound to every event, which outlives a broker restart; deleted after."""
    name = f"wallet-events-test-{uuid.uuid4()}"
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, routing_key="#")
    try:
        yield name
    finally:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)


async def drain(name: str) -> list[dict[str, Any]]:
    received = []
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, durable=True, passive=True)
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            received.append(json.loads(message.body))
    return received


async def committed_events(database_url: str) -> list[tuple[str, int]]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT id, sequence FROM events ORDER BY sequence")
    finally:
        await connection.close()
    assert all(row["sequence"] is not None for row in rows), "an event was never numbered"
    return [(str(row["id"]), row["sequence"]) for row in rows]


async def caught_up(base_url: str, seconds: float = 90) -> None:
    """Until the service has published everything to both brokers."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        while True:
            samples = await scrape(http)
            backlog = [
                value(samples, "wallet_events_backlog", destination=broker)
                for broker in ("nats", "amqp")
            ]
            published = value(samples, "wallet_events_published_total", destination="amqp")
            if backlog == [0, 0] and published > 0:
                return
            assert time.monotonic() < deadline, f"still behind: {backlog}"
            await asyncio.sleep(0.5)


def assert_each_once_in_order(received: list[dict[str, Any]], told: list[tuple[str, int]]) -> None:
    ours = dict(told)
    mine = [e for e in received if e["id"] in ours]
    ids = [e["id"] for e in mine]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert set(ids) == set(ours), f"{len(set(ours) - set(ids))} events never arrived"
    assert [e["sequence"] for e in mine] == sorted(ours.values())


def assert_each_at_least_once_in_order(
    received: list[dict[str, Any]], told: list[tuple[str, int]]
) -> None:
    ours = dict(told)
    first_seen = list(dict.fromkeys(e["id"] for e in received if e["id"] in ours))
    assert set(first_seen) == set(ours), f"{len(set(ours) - set(first_seen))} never arrived"
    assert [ours[i] for i in first_seen] == sorted(ours.values()), "out of order"


async def run(command: list[str]) -> None:
    completed = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


async def test_brokers_stopped_and_started_under_load_get_every_event_in_order(
    events_env: dict[str, str], fault_database_url: str, tmp_path: Path
) -> None:
    wallets = [uuid.uuid4() for _ in range(WALLETS)]
    position = await stream_position()
    async with durable_queue() as queue:
        with contextlib.ExitStack() as stack:
            base_url, _ = await started(stack, events_env, tmp_path / "service.log")
            funding = await fund_wallets(base_url, wallets)
            try:
                async with Load(base_url, wallets) as load:
                    await load.acknowledged_more(100)
                    await run(NATS_STOP)
                    await run(["rabbitmqctl", "stop_app"])
                    # the service keeps taking money while both are down, and says it is behind
                    await load.acknowledged_more(100)
                    async with httpx.AsyncClient(base_url=base_url) as http:
                        samples = await scrape(http)
                    for broker in ("nats", "amqp"):
                        behind = value(samples, "wallet_events_backlog", destination=broker)
                        assert behind > 0, broker
            finally:
                await run(NATS_START)
                await run(["rabbitmqctl", "start_app"])
            await caught_up(base_url)
        told = await committed_events(fault_database_url)
        assert_each_once_in_order(await stream_since(position), told)
        assert_each_at_least_once_in_order(await drain(queue), told)
    assert load.tally.statuses[500] == 0
    await assert_ledger_is_what_clients_were_told(
        fault_database_url, wallets, funding + load.tally.acknowledged
    )


async def test_the_publishing_worker_killed_under_load_loses_and_doubles_nothing_on_nats(
    events_env: dict[str, str], fault_database_url: str, tmp_path: Path
) -> None:
    wallets = [uuid.uuid4() for _ in range(WALLETS)]
    position = await stream_position()
    async with durable_queue() as queue:
        with contextlib.ExitStack() as stack:
            base_url, service = await started(stack, events_env, tmp_path / "service.log")
            funding = await fund_wallets(base_url, wallets)
            async with Load(base_url, wallets) as load:
                await load.acknowledged_more(100)
                # Each worker in turn: whichever leads is killed while it publishes.
                for _ in range(2):
                    workers = worker_pids(service)
                    victim = min(workers)
                    os.kill(victim, signal.SIGKILL)
                    deadline = time.monotonic() + 30
                    while len(now := worker_pids(service)) < 2 or victim in now:
                        assert time.monotonic() < deadline, "the killed worker was not replaced"
                        await asyncio.sleep(0.1)
                    await load.acknowledged_more(100)
            await caught_up(base_url)
        told = await committed_events(fault_database_url)
        assert_each_once_in_order(await stream_since(position), told)
        assert_each_at_least_once_in_order(await drain(queue), told)
    assert load.tally.statuses[500] == 0
    await assert_ledger_is_what_clients_were_told(
        fault_database_url, wallets, funding + load.tally.acknowledged
    )
