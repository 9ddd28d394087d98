"""Webhook endpoints and the log of their deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class EndpointRow:
    id: uuid.UUID
    url: str
    event_types: list[str]
    secret: str
    status: str
    delivered: int
    failing_since: datetime | None
    next_attempt_at: datetime | None
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    event_id: uuid.UUID
    sequence: int
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    succeeded: bool


# A new endpoint receives the events numbered after it was made.
_CREATE = """
    INSERT INTO webhook_endpoints (id, url, event_types, secret, delivered)
    SELECT $1, $2, $3, $4, COALESCE(max(sequence), 0) FROM events
    RETURNING id, url, event_types, secret, status, delivered, failing_since, next_attempt_at,
              attempts, created_at
    """

_GET = """
    SELECT id, url, event_types, secret, status, delivered, failing_since, next_attempt_at,
           attempts, created_at
    FROM webhook_endpoints WHERE id = $1
    """

_LIST = """
    SELECT id, url, event_types, secret, status, delivered, failing_since, next_attempt_at,
           attempts, created_at
    FROM webhook_endpoints ORDER BY created_at, id
    """

_DELETE = "DELETE FROM webhook_endpoints WHERE id = $1"

_ACTIVE = "SELECT id FROM webhook_endpoints WHERE status = 'active'"

_COUNT = "SELECT count(*) FROM webhook_endpoints"

_RECORD_DELIVERY = """
    INSERT INTO webhook_deliveries (endpoint_id, event_id, sequence, attempt, attempted_at,
                                    status_code, latency_ms, error, succeeded)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    """

_DELIVERED = """
    UPDATE webhook_endpoints
    SET delivered = $2, attempts = 0, failing_since = NULL, next_attempt_at = NULL
    WHERE id = $1 AND delivered < $2
    """

_FAILED = """
    UPDATE webhook_endpoints
    SET attempts = $2, failing_since = COALESCE(failing_since, $3), next_attempt_at = $4,
        status = $5
    WHERE id = $1
    """

_DELIVERIES = """
    SELECT id, event_id, sequence, attempt, attempted_at, status_code, latency_ms, error,
           succeeded
    FROM webhook_deliveries
    WHERE endpoint_id = $1 AND id < $2
    ORDER BY id DESC
    LIMIT $3
    """


async def create(
    connection: asyncpg.Connection,
    endpoint_id: uuid.UUID,
    url: str,
    event_types: Sequence[str],
    secret: str,
) -> EndpointRow:
    return EndpointRow(
        *await connection.fetchrow(_CREATE, endpoint_id, url, list(event_types), secret)
    )


async def get(connection: asyncpg.Connection, endpoint_id: uuid.UUID) -> EndpointRow | None:
    row = await connection.fetchrow(_GET, endpoint_id)
    return None if row is None else EndpointRow(*row)


async def all_endpoints(connection: asyncpg.Connection) -> list[EndpointRow]:
    return [EndpointRow(*row) for row in await connection.fetch(_LIST)]


async def count(connection: asyncpg.Connection) -> int:
    endpoints: int = await connection.fetchval(_COUNT)
    return endpoints


async def delete(connection: asyncpg.Connection, endpoint_id: uuid.UUID) -> bool:
    status: str = await connection.execute(_DELETE, endpoint_id)
    return status == "DELETE 1"


async def active(connection: asyncpg.Connection) -> list[uuid.UUID]:
    return [row[0] for row in await connection.fetch(_ACTIVE)]


async def record_delivery(
    connection: asyncpg.Connection, endpoint_id: uuid.UUID, delivery: DeliveryRow
) -> None:
    await connection.execute(
        _RECORD_DELIVERY,
        endpoint_id,
        delivery.event_id,
        delivery.sequence,
        delivery.attempt,
        delivery.attempted_at,
        delivery.status_code,
        delivery.latency_ms,
        delivery.error,
        delivery.succeeded,
    )


async def delivered(connection: asyncpg.Connection, endpoint_id: uuid.UUID, sequence: int) -> None:
    await connection.execute(_DELIVERED, endpoint_id, sequence)


async def failed(
    connection: asyncpg.Connection,
    endpoint_id: uuid.UUID,
    attempts: int,
    now: datetime,
    next_attempt_at: datetime | None,
    status: str,
) -> None:
    await connection.execute(_FAILED, endpoint_id, attempts, now, next_attempt_at, status)


async def deliveries(
    connection: asyncpg.Connection, endpoint_id: uuid.UUID, before_id: int, limit: int
) -> list[DeliveryRow]:
    rows = await connection.fetch(_DELIVERIES, endpoint_id, before_id, limit)
    return [DeliveryRow(*row) for row in rows]
