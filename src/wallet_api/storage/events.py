"""The events' statements: write outbox rows, number the committed ones, read the feed, and
keep where each destination has got to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from wallet_api.events.outbox import EventRow


@dataclass(frozen=True, slots=True)
class StoredEvent:
    sequence: int
    id: uuid.UUID
    type: str
    created_at: datetime
    wallet_id: uuid.UUID
    other_wallet_id: uuid.UUID | None
    data: str  # the JSON text of the document


_INSERT = """
    INSERT INTO events (recorded, position, id, type, wallet_id, other_wallet_id, data,
                        created_at)
    SELECT e.recorded, e.position, e.id, e.type, e.wallet_id, e.other_wallet_id,
           e.data::jsonb, e.created_at
    FROM unnest($1::bigint[], $2::smallint[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[],
                $7::text[], $8::timestamptz[])
         AS e(recorded, position, id, type, wallet_id, other_wallet_id, data, created_at)
    """

# Numbers the committed events no one has numbered yet, in the order of their decisions, after
# the last number given. Only the sequencer runs it, one at a time (it holds the events lock), so
# numbers become visible in increasing order: a poller that has seen n has seen all below n.
_SEQUENCE = """
    WITH head AS (
        SELECT COALESCE(max(sequence), 0) AS n FROM events
    ), waiting AS (
        SELECT recorded, position, row_number() OVER (ORDER BY recorded, position) AS k
        FROM (
            SELECT recorded, position FROM events WHERE sequence IS NULL
            ORDER BY recorded, position LIMIT $1
        ) AS oldest
    ), numbered AS (
        UPDATE events e SET sequence = head.n + waiting.k
        FROM waiting, head
        WHERE e.recorded = waiting.recorded AND e.position = waiting.position
        RETURNING e.sequence
    )
    SELECT count(*), COALESCE(max(sequence), (SELECT n FROM head)) FROM numbered
    """

# An absent filter takes a value that matches everything, so one plan serves every page.
_PAGE = """
    SELECT sequence, id, type, created_at, wallet_id, other_wallet_id, data::text
    FROM events
    WHERE sequence > $1
      AND ($3::text[] IS NULL OR type = ANY($3::text[]))
    ORDER BY sequence
    LIMIT $2
    """

# A wallet's events: from both indexes (as the wallet, and as a transfer's other wallet), each
# filtered by type before its limit, or a page could end before an event of the type.
_WALLET_PAGE = """
    SELECT sequence, id, type, created_at, wallet_id, other_wallet_id, data::text
    FROM (
        (SELECT * FROM events
         WHERE wallet_id = $4 AND sequence > $1
           AND ($3::text[] IS NULL OR type = ANY($3::text[]))
         ORDER BY sequence LIMIT $2)
        UNION ALL
        (SELECT * FROM events
         WHERE other_wallet_id = $4 AND sequence > $1
           AND ($3::text[] IS NULL OR type = ANY($3::text[]))
         ORDER BY sequence LIMIT $2)
    ) AS mine
    ORDER BY sequence
    LIMIT $2
    """

_HEAD = "SELECT COALESCE(max(sequence), 0) FROM events"

_UNSEQUENCED = "SELECT count(*) FROM events WHERE sequence IS NULL"

_DELIVERED = """
    INSERT INTO event_destinations (name, delivered) VALUES ($1, $2)
    ON CONFLICT (name) DO NOTHING
    """

_DELIVERED_UP_TO = "SELECT delivered FROM event_destinations WHERE name = $1"

_ADVANCE = """
    UPDATE event_destinations SET delivered = $2, updated_at = now()
    WHERE name = $1 AND delivered < $2
    """

_DESTINATIONS = "SELECT name, delivered FROM event_destinations ORDER BY name"


def event_columns(event: EventRow) -> tuple[object, ...]:
    """An event row as the columns the outbox's INSERTs unnest."""
    return (
        event.recorded,
        event.position,
        event.id,
        event.type.value,
        event.wallet_id,
        event.other_wallet_id,
        event.data,
        event.created_at,
    )


async def insert(connection: asyncpg.Connection, events: Sequence[EventRow]) -> None:
    columns = [list(column) for column in zip(*map(event_columns, events), strict=True)]
    await connection.execute(_INSERT, *columns)


async def sequence_committed(connection: asyncpg.Connection, most: int) -> tuple[int, int]:
    """Number up to `most` committed events: how many it numbered, and the last number given."""
    row = await connection.fetchrow(_SEQUENCE, most)
    return row[0], row[1]


async def page(
    connection: asyncpg.Connection,
    after: int,
    limit: int,
    types: Sequence[str] | None = None,
    wallet_id: uuid.UUID | None = None,
) -> list[StoredEvent]:
    kinds = None if types is None else list(types)
    if wallet_id is None:
        rows = await connection.fetch(_PAGE, after, limit, kinds)
    else:
        rows = await connection.fetch(_WALLET_PAGE, after, limit, kinds, wallet_id)
    return [StoredEvent(*row) for row in rows]


async def head(connection: asyncpg.Connection) -> int:
    """The last number given to an event (0 before the first)."""
    number: int = await connection.fetchval(_HEAD)
    return number


async def unsequenced(connection: asyncpg.Connection) -> int:
    events: int = await connection.fetchval(_UNSEQUENCED)
    return events


async def delivered(connection: asyncpg.Connection, destination: str, start: int) -> int:
    """Where `destination` has got to; a new destination starts at `start`."""
    await connection.execute(_DELIVERED, destination, start)
    up_to: int = await connection.fetchval(_DELIVERED_UP_TO, destination)
    return up_to


async def advance(connection: asyncpg.Connection, destination: str, sequence: int) -> None:
    await connection.execute(_ADVANCE, destination, sequence)


async def destinations(connection: asyncpg.Connection) -> list[tuple[str, int]]:
    return [(row[0], row[1]) for row in await connection.fetch(_DESTINATIONS)]
