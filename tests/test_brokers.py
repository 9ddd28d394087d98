"""Every event published to NATS JetStream and to RabbitMQ, once, in order, confirmed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.brokers import (
    AMQP_URL,
    NATS_URL,
    amqp_consumer,
    nats_consumer,
    need_brokers,
    of_wallets,
    wait_for,
)
from tests.receivers import receiver
from tests.support import (
    deposit,
    running_service,
    scrape,
    scratch_database,
    service_environment,
    value,
)
from wallet_api.storage import migrations


@pytest.fixture(scope="module")
def broker_service(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service publishing to both brokers, on a database of its own (the relay of another
    service on a shared database could lead, and it publishes nowhere)."""
    need_brokers()
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        env = service_environment(
            DATABASE_URL=url,
            WALLET_WORKERS="2",
            WALLET_EVENTS_NATS_URL=NATS_URL,
            WALLET_EVENTS_AMQP_URL=AMQP_URL,
            WALLET_WEBHOOKS_ALLOW_PRIVATE="true",
            WALLET_WEBHOOK_BACKOFF_SECONDS="0.2",
            WALLET_WEBHOOK_RETRY_HOURS="0.0005",  # 1.8 s of retries, then failing
        )
        log: Path = tmp_path_factory.mktemp("brokers") / "service.log"
        with running_service(env, log, ("--no-migrate",)) as (base_url, _):
            yield base_url


@pytest.fixture
async def http(broker_service: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(base_url=broker_service, timeout=60, limits=limits) as client:
        yield client


async def test_a_thousand_concurrent_deposits_reach_both_brokers_each_once_in_order(
    http: httpx.AsyncClient,
) -> None:
    wallets = [uuid.uuid4() for _ in range(10)]
    ours = {str(w) for w in wallets}
    async with nats_consumer() as on_nats, amqp_consumer() as on_amqp:
        answers = await asyncio.gather(
            *(deposit(http, wallets[i % 10], "0.01") for i in range(1000))
        )
        assert all(a.status_code == 200 for a in answers)
        acknowledged = {a.json()["id"] for a in answers}
        await wait_for(on_nats, ours, 1000)
        await wait_for(on_amqp, ours, 1000)
        await asyncio.sleep(0.5)  # a duplicate would come right behind
    for received in (of_wallets(on_nats, ours), of_wallets(on_amqp, ours)):
        assert len(received) == 1000
        assert len({e["id"] for e in received}) == 1000
        assert {e["data"]["id"] for e in received} == acknowledged
        sequences = [e["sequence"] for e in received]
        assert sequences == sorted(sequences), "published out of sequence order"

    samples = await scrape(http)
    assert value(samples, "wallet_events_published_total", destination="nats") >= 1000
    assert value(samples, "wallet_events_published_total", destination="amqp") >= 1000
    assert value(samples, "wallet_events_publish_lag_seconds_count", destination="nats") >= 1000
    assert ("wallet_events_backlog", frozenset({("destination", "nats")})) in samples


async def test_an_endpoint_that_fails_past_its_retry_window_is_marked_failing(
    http: httpx.AsyncClient,
) -> None:
    with receiver() as hook:
        hook.fail_first = 10**6
        response = await http.post(
            "/api/v1/webhooks", json={"url": hook.url, "event_types": ["wallet.created"]}
        )
        assert response.status_code == 201
        endpoint = response.json()
        hook.secret = endpoint["secret"]
        assert (await http.post("/api/v1/wallets", json={})).status_code == 201
        for _ in range(200):
            status = (await http.get(f"/api/v1/webhooks/{endpoint['id']}")).json()["status"]
            if status == "failing":
                break
            await asyncio.sleep(0.05)
    assert status == "failing"
    attempts = (await http.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert len(attempts) >= 2 and not any(a["succeeded"] for a in attempts)
    samples = await scrape(http)
    assert value(samples, "wallet_webhook_deliveries_total", outcome="abandoned") >= 1
    assert value(samples, "wallet_webhook_deliveries_total", outcome="failed") >= 2
