"""Webhooks: endpoints that receive every event of the types they chose, signed, in sequence
order, one in flight at a time, retried with backoff until they answer 2xx.

The signature is the scheme Stripe documents: `Wallet-Signature: t=<unix>,v1=<hex>` where the
hex is the HMAC-SHA256 of `<t>.<body>` under the endpoint's secret, so a receiver can check it
and refuse a replay older than it tolerates.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
import httpx

from wallet_api import metrics
from wallet_api.events.feed import Feed, FeedQuery, event_json
from wallet_api.ledger.errors import WebhookLimitReached, WebhookNotFound, WebhookUrlNotAllowed
from wallet_api.storage import events as event_store
from wallet_api.storage import webhooks as store
from wallet_api.storage.database import Database
from wallet_api.storage.webhooks import DeliveryRow, EndpointRow

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
MAX_ENDPOINTS = 100
ANSWER_WITHIN_SECONDS = 10.0
_LONGEST_BACKOFF_SECONDS = 3600.0
SECRET_PREFIX = "whsec_"  # noqa: S105 - the mark of a secret, not one
_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: uuid.UUID
    url: str
    event_types: list[str]
    status: str
    created_at: datetime
    secret: str | None = None  # shown once, when the endpoint is made


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The Wallet-Signature header of a delivery of `body` at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(attempt: int, first_seconds: float) -> float:
    """The delay before the next try after `attempt` failed ones: doubling, capped, and with
    full jitter so that many failing endpoints do not retry in step."""
    ceiling = min(first_seconds * 2 ** (attempt - 1), _LONGEST_BACKOFF_SECONDS)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading, not secrecy


def _refused_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s), too long, or (unless allowed) resolves to an address
    that is not public: loopback, link-local, private, reserved."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlNotAllowed("A webhook URL must be http:// or https:// with a host.")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlNotAllowed(f"A webhook URL is at most {MAX_URL_LENGTH} characters.")
    if parts.username or parts.password:
        raise WebhookUrlNotAllowed("A webhook URL must not carry credentials.")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port)
    except OSError as error:
        raise WebhookUrlNotAllowed(f"The webhook host does not resolve: {error}") from None
    if any(_refused_address(str(info[4][0])) for info in found):
        raise WebhookUrlNotAllowed(
            "The webhook URL resolves to a loopback, link-local or private address."
        )


def _endpoint(row: EndpointRow, secret: str | None = None) -> Endpoint:
    return Endpoint(row.id, row.url, list(row.event_types), row.status, row.created_at, secret)


class Webhooks:
    """The endpoints as the HTTP layer asks for them."""

    def __init__(self, database: Database, allow_private: bool) -> None:
        self._db = database
        self._allow_private = allow_private

    async def create(self, url: str, event_types: Sequence[str]) -> Endpoint:
        await check_url(url, self._allow_private)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        async with self._db.hot() as connection:
            if await store.count(connection) >= MAX_ENDPOINTS:
                raise WebhookLimitReached(MAX_ENDPOINTS)
            row = await store.create(connection, uuid.uuid4(), url, sorted(event_types), secret)
        return _endpoint(row, secret)

    async def all(self) -> list[Endpoint]:
        async with self._db.hot() as connection:
            return [_endpoint(row) for row in await store.all_endpoints(connection)]

    async def get(self, endpoint_id: uuid.UUID) -> Endpoint:
        async with self._db.hot() as connection:
            row = await store.get(connection, endpoint_id)
        if row is None:
            raise WebhookNotFound(endpoint_id)
        return _endpoint(row)

    async def delete(self, endpoint_id: uuid.UUID) -> None:
        async with self._db.hot() as connection:
            if not await store.delete(connection, endpoint_id):
                raise WebhookNotFound(endpoint_id)

    async def deliveries(
        self, endpoint_id: uuid.UUID, limit: int, before_id: int | None
    ) -> list[DeliveryRow]:
        """The endpoint's delivery attempts, newest first."""
        async with self._db.hot() as connection:
            if await store.get(connection, endpoint_id) is None:
                raise WebhookNotFound(endpoint_id)
            before = before_id if before_id is not None else 2**63 - 1
            return await store.deliveries(connection, endpoint_id, before, limit)


@dataclass(frozen=True, slots=True)
class _Answer:
    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deliveries:
    """Delivers to every active endpoint, each in its own task; run by the relay's leader."""

    def __init__(
        self,
        database: Database,
        feed: Feed,
        allow_private: bool,
        retry_for: timedelta,
        first_backoff_seconds: float,
    ) -> None:
        self._db = database
        self._feed = feed
        self._allow_private = allow_private
        self._retry_for = retry_for
        self._first_backoff = first_backoff_seconds
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Start a delivery task for every active endpoint, every second, until cancelled."""
        async with httpx.AsyncClient(timeout=ANSWER_WITHIN_SECONDS) as client:
            try:
                while True:
                    try:
                        await self._supervise(client)
                    except Exception as failure:
                        log.warning("webhook endpoints could not be read: %s", failure)
                    await asyncio.sleep(1.0)
            finally:
                for task in self._tasks.values():
                    task.cancel()
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _supervise(self, client: httpx.AsyncClient) -> None:
        self._tasks = {i: t for i, t in self._tasks.items() if not t.done()}
        async with self._db.hot() as connection:
            active = await store.active(connection)
        for endpoint_id in active:
            if endpoint_id not in self._tasks:
                self._tasks[endpoint_id] = asyncio.create_task(self._serve(client, endpoint_id))

    async def _serve(self, client: httpx.AsyncClient, endpoint_id: uuid.UUID) -> None:
        """Deliver to one endpoint until it is deleted or marked failing."""
        while True:
            try:
                if not await self._deliver_next(client, endpoint_id):
                    return
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                log.warning("webhook %s: %s", endpoint_id, failure)
                await asyncio.sleep(1.0)

    async def _deliver_next(self, client: httpx.AsyncClient, endpoint_id: uuid.UUID) -> bool:
        """Deliver (or try) the endpoint's next event, or wait for one; False once the endpoint
        is gone or failing."""
        async with self._db.hot() as connection:
            endpoint = await store.get(connection, endpoint_id)
            if endpoint is None or endpoint.status != "active":
                return False
            head = await event_store.head(connection)
            query = FeedQuery(endpoint.delivered, 1, endpoint.event_types)
            found = await event_store.page(connection, query.after, query.limit, query.types)
        metrics.EVENTS_BACKLOG.labels(f"webhook:{endpoint_id}").set(head - endpoint.delivered)
        now = datetime.now(UTC)
        if endpoint.next_attempt_at is not None and endpoint.next_attempt_at > now:
            await asyncio.sleep(min((endpoint.next_attempt_at - now).total_seconds(), 1.0))
            return True
        if not found:
            if endpoint.delivered < head:
                # Nothing of its types up to the head: skip past the others at once.
                async with self._db.hot() as connection:
                    await store.delivered(connection, endpoint_id, head)
            await self._feed.news(1.0)
            return True
        (event,) = found
        attempt = endpoint.attempts + 1
        started = time.perf_counter()
        answer = await self._post(client, endpoint, event_json(event), event.id)
        latency_ms = round((time.perf_counter() - started) * 1000)
        delivery = DeliveryRow(
            0,
            event.id,
            event.sequence,
            attempt,
            now,
            answer.status_code,
            latency_ms,
            answer.error,
            answer.succeeded,
        )
        async with self._db.hot() as connection:
            await store.record_delivery(connection, endpoint_id, delivery)
            if answer.succeeded:
                await store.delivered(connection, endpoint_id, event.sequence)
            else:
                await self._failed(connection, endpoint, attempt, now)
        metrics.WEBHOOK_DELIVERIES.labels("delivered" if answer.succeeded else "failed").inc()
        return True

    async def _failed(
        self, connection: asyncpg.Connection, endpoint: EndpointRow, attempt: int, now: datetime
    ) -> None:
        failing_since = endpoint.failing_since or now
        if now - failing_since >= self._retry_for:
            log.warning("webhook %s failing since %s: marked failing", endpoint.id, failing_since)
            metrics.WEBHOOK_DELIVERIES.labels("abandoned").inc()
            await store.failed(connection, endpoint.id, attempt, now, None, "failing")
            return
        delay = timedelta(seconds=backoff(attempt, self._first_backoff))
        await store.failed(connection, endpoint.id, attempt, now, now + delay, "active")

    async def _post(
        self, client: httpx.AsyncClient, endpoint: EndpointRow, body: bytes, event_id: uuid.UUID
    ) -> _Answer:
        try:
            await check_url(endpoint.url, self._allow_private)
        except WebhookUrlNotAllowed as refused:
            return _Answer(None, refused.detail)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "wallet-api-webhooks",
            "Wallet-Event-Id": str(event_id),
            "Wallet-Signature": signature(endpoint.secret, int(time.time()), body),
        }
        try:
            response = await client.post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return _Answer(None, f"{type(error).__name__}: {error}"[:_ERROR_LENGTH])
        refusal = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return _Answer(response.status_code, refusal)
