"""How far behind each destination is: what `wallet-api events status` prints."""

from __future__ import annotations

from dataclasses import dataclass

from wallet_api.storage import events as store
from wallet_api.storage import webhooks as webhook_store
from wallet_api.storage.database import Database


@dataclass(frozen=True, slots=True)
class Backlog:
    destination: str
    delivered: int  # the last sequence it confirmed
    behind: int  # events numbered after that
    status: str = "active"


@dataclass(frozen=True, slots=True)
class EventsStatus:
    head: int  # the last sequence given
    unsequenced: int  # committed events the sequencer has not numbered yet
    backlogs: list[Backlog]


async def events_status(database: Database) -> EventsStatus:
    async with database.hot() as connection:
        head = await store.head(connection)
        unsequenced = await store.unsequenced(connection)
        backlogs = [
            Backlog(name, delivered, head - delivered)
            for name, delivered in await store.destinations(connection)
        ]
        backlogs += [
            Backlog(f"webhook:{e.id}", e.delivered, head - e.delivered, e.status)
            for e in await webhook_store.all_endpoints(connection)
        ]
    return EventsStatus(head, unsequenced, backlogs)
