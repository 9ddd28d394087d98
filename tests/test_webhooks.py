"""Webhooks: registered by an admin, delivered signed, in order, retried until they answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.receivers import Receiver, receiver
from tests.support import create_key, deposit
from wallet_api.events.webhooks import check_url
from wallet_api.ledger.errors import WebhookUrlNotAllowed


@pytest.fixture
async def endpoint_of(client: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Ids of the endpoints a test registers, deleted after it."""
    made: list[str] = []
    yield made
    for endpoint_id in made:
        await client.delete(f"/api/v1/webhooks/{endpoint_id}")


async def register(
    client: httpx.AsyncClient, made: list[str], url: str, *types: str
) -> dict[str, object]:
    response = await client.post("/api/v1/webhooks", json={"url": url, "event_types": list(types)})
    assert response.status_code == 201, response.text
    made.append(response.json()["id"])
    return response.json()


async def test_an_endpoint_shows_its_secret_once_and_can_be_deleted(
    client: httpx.AsyncClient, endpoint_of: list[str]
) -> None:
    created = await register(client, endpoint_of, "https://example.com/hooks", "hold.created")
    assert str(created["secret"]).startswith("whsec_")
    assert created["status"] == "active"
    read = (await client.get(f"/api/v1/webhooks/{created['id']}")).json()
    assert "secret" not in read
    assert read == {k: v for k, v in created.items() if k != "secret"}
    listed = (await client.get("/api/v1/webhooks")).json()["items"]
    assert read in listed and all("secret" not in e for e in listed)
    assert (await client.delete(f"/api/v1/webhooks/{created['id']}")).status_code == 204
    gone = await client.get(f"/api/v1/webhooks/{created['id']}")
    assert gone.status_code == 404 and gone.json()["code"] == "webhook_not_found"
    missing = await client.delete(f"/api/v1/webhooks/{uuid.uuid4()}")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "event_types": ["hold.created"]},
        {"url": "javascript:alert(1)", "event_types": ["hold.created"]},
        {"url": "https:///nohost", "event_types": ["hold.created"]},
        {"url": "https://user:pw@example.com/", "event_types": ["hold.created"]},
        {"url": "https://example.com/" + "a" * 2040, "event_types": ["hold.created"]},
        {"url": "https://example.com/", "event_types": ["wallet.deleted"]},
        {"url": "https://example.com/", "event_types": []},
        {"url": "https://example.com/", "event_types": "hold.created"},
        {"url": "https://example.com/", "event_types": ["hold.created"], "secret": "mine"},
        {"url": 5, "event_types": ["hold.created"]},
        {"event_types": ["hold.created"]},
    ],
)
async def test_a_bad_endpoint_is_422(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/api/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("validation_error", "webhook_url_not_allowed")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hooks",
        "http://localhost:8080/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_a_private_address_is_refused_unless_allowed(url: str) -> None:
    with pytest.raises(WebhookUrlNotAllowed) as refused:
        await check_url(url, allow_private=False)
    assert refused.value.code == "webhook_url_not_allowed"
    await check_url(url, allow_private=True)


async def test_a_public_address_is_accepted() -> None:
    await check_url("https://93.184.216.34/hooks", allow_private=False)


async def deliveries_to(client: httpx.AsyncClient, wallet_id: uuid.UUID, hook: Receiver) -> list:
    return [e for e in hook.accepted() if str(wallet_id) in e["wallet_ids"]]


async def test_deliveries_are_signed_in_order_and_each_carries_its_event_id(
    client: httpx.AsyncClient, endpoint_of: list[str]
) -> None:
    with receiver() as hook:
        created = await register(client, endpoint_of, hook.url, "operation.created")
        hook.secret = str(created["secret"])
        wallet_id = uuid.uuid4()
        for amount in ("1.00", "2.00", "3.00"):
            assert (await deposit(client, wallet_id, amount)).status_code == 200
        events = await asyncio.to_thread(hook.wait_for, 3)
    assert all(d.signed for d in hook.deliveries), "a delivery's signature did not check"
    assert [e["data"]["amount"] for e in events] == ["1.00", "2.00", "3.00"]
    assert [e["type"] for e in events] == ["operation.created"] * 3
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences)
    for delivery in hook.deliveries:
        assert delivery.headers["Wallet-Event-Id"] == delivery.event["id"]
        assert delivery.headers["Content-Type"] == "application/json"


async def test_a_replayed_or_forged_delivery_fails_the_receivers_check() -> None:
    from tests.receivers import signature_is_valid
    from wallet_api.events.webhooks import signature

    body = b'{"id":"x"}'
    header = signature("whsec_s", 1_700_000_000, body)
    assert signature_is_valid("whsec_s", header, body, now=1_700_000_100)
    assert not signature_is_valid("whsec_s", header, body, now=1_700_000_000 + 301)
    assert not signature_is_valid("whsec_other", header, body, now=1_700_000_100)
    assert not signature_is_valid("whsec_s", header, body + b" ", now=1_700_000_100)


async def test_a_receiver_that_fails_three_times_gets_every_event_in_order(
    client: httpx.AsyncClient, endpoint_of: list[str]
) -> None:
    with receiver() as hook:
        hook.fail_first = 3
        created = await register(client, endpoint_of, hook.url, "operation.created")
        hook.secret = str(created["secret"])
        wallet_id = uuid.uuid4()
        for amount in ("1.00", "2.00", "3.00"):
            assert (await deposit(client, wallet_id, amount)).status_code == 200
        events = await asyncio.to_thread(hook.wait_for, 3)
    assert [e["data"]["amount"] for e in events] == ["1.00", "2.00", "3.00"]
    # the first event was tried three times and failed, then everything went in order
    first_id = events[0]["id"]
    attempts = [(d.event["id"], d.answered) for d in hook.deliveries]
    assert attempts[:4] == [(first_id, 500)] * 3 + [(first_id, 200)]
    assert [event_id for event_id, _ in attempts[4:]] == [e["id"] for e in events[1:]]

    response = await client.get(f"/api/v1/webhooks/{created['id']}/deliveries")
    assert response.status_code == 200
    log = list(reversed(response.json()["items"]))
    assert [(d["attempt"], d["status_code"], d["succeeded"]) for d in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
        (4, 200, True),
        (1, 200, True),
        (1, 200, True),
    ]
    assert all(d["latency_ms"] >= 0 and d["attempted_at"] for d in log)
    assert log[0]["error"] == "HTTP 500" and log[-1]["error"] is None
    # the delays between the failed attempts grow
    times = [d["attempted_at"] for d in log[:4]]
    assert times == sorted(times)


async def test_webhooks_need_the_admin_scope_and_events_the_events_scope(
    secured_service: tuple[str, object], full_key: str, secured_database_url: str
) -> None:
    reader = await create_key(secured_database_url, "events:read")
    async with httpx.AsyncClient(base_url=secured_service[0]) as http:
        anonymous = await http.get("/api/v1/webhooks")
        assert anonymous.status_code == 401
        headers = {"Authorization": f"Bearer {full_key}"}
        forbidden = await http.get("/api/v1/webhooks", headers=headers)
        assert forbidden.status_code == 403
        events = await http.get("/api/v1/events", headers=headers)
        assert events.status_code == 403
        allowed = {"Authorization": f"Bearer {reader}"}
        assert (await http.get("/api/v1/events", headers=allowed)).status_code == 200
        assert (await http.get("/api/v1/webhooks", headers=allowed)).status_code == 403
