"""The event routes: the feed (polled or long-polled) and the same as Server-Sent Events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from wallet_api.events.feed import MAX_PAGE, MAX_WAIT_SECONDS, FeedQuery, event_json
from wallet_api.events.outbox import EventType
from wallet_api.http.auth import ACCESS_STATUSES, EventsAccess
from wallet_api.http.dependencies import FeedDep, StrictQuery
from wallet_api.http.problems import described

router = APIRouter(prefix="/api/v1/events", tags=["events"], dependencies=[StrictQuery])

# A comment line this often keeps proxies from closing a quiet stream.
_HEARTBEAT_SECONDS = 15.0


class EventResponse(BaseModel):
    id: uuid.UUID
    sequence: int
    type: EventType
    created_at: str
    wallet_ids: list[uuid.UUID]
    data: dict[str, object] = Field(
        description="Exactly what the matching GET answers for the object, amounts as strings."
    )


class EventsPageResponse(BaseModel):
    items: list[EventResponse]
    next_after: int = Field(description="Pass back as `after` for the next page.")


After = Annotated[int, Query(ge=0, le=2**63 - 1, description="The last sequence seen.")]
Types = Annotated[list[EventType] | None, Query(alias="type", description="Repeat for several.")]
WalletFilter = Annotated[uuid.UUID | None, Query(description="Events that involve this wallet.")]


@router.get(
    "",
    response_model=EventsPageResponse,
    dependencies=[EventsAccess],
    responses=described(422, 503, *ACCESS_STATUSES),
    summary="Committed events in sequence order",
    description=(
        "Poll with `after` = the last `next_after`: no committed event is ever skipped, "
        "including one whose transaction committed after later-numbered ones began (events "
        "are numbered in commit order). With `wait`, an empty answer waits up to that many "
        "seconds for something to commit."
    ),
)
async def list_events(
    feed: FeedDep,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    types: Types = None,
    wallet_id: WalletFilter = None,
    wait: Annotated[int, Query(ge=0, le=MAX_WAIT_SECONDS)] = 0,
) -> Response:
    query = FeedQuery(after, limit, _values(types), wallet_id)
    events = await feed.wait(query, wait) if wait else await feed.page(query)
    next_after = events[-1].sequence if events else after
    items = b",".join(event_json(event) for event in events)
    body = b'{"items":[' + items + b'],"next_after":' + str(next_after).encode() + b"}"
    return Response(body, media_type="application/json")


@router.get(
    "/stream",
    dependencies=[EventsAccess],
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "One SSE event per event."},
        **described(422, 503, *ACCESS_STATUSES),
    },
    summary="Committed events as Server-Sent Events",
    description=(
        "Each event is sent with `id:` its sequence, `event:` its type and `data:` its JSON. A "
        "client that reconnects with `Last-Event-ID` resumes right after it; `after` does the "
        "same for a first connection."
    ),
)
async def stream_events(
    request: Request,
    feed: FeedDep,
    after: After = 0,
    types: Types = None,
    wallet_id: WalletFilter = None,
    last_event_id: Annotated[int | None, Header(ge=0, le=2**63 - 1)] = None,
) -> StreamingResponse:
    start = last_event_id if last_event_id is not None else after
    query = FeedQuery(start, MAX_PAGE, _values(types), wallet_id)
    return StreamingResponse(
        _sse(request, feed, query),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _sse(request: Request, feed: FeedDep, query: FeedQuery) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    after = query.after
    quiet_since = asyncio.get_running_loop().time()
    while not await request.is_disconnected():
        page = FeedQuery(after, query.limit, query.types, query.wallet_id)
        events = await feed.page(page)
        for event in events:
            yield b"id: %d\nevent: %s\ndata: %s\n\n" % (
                event.sequence,
                event.type.encode(),
                event_json(event),
            )
            after = event.sequence
        now = asyncio.get_running_loop().time()
        if events:
            quiet_since = now
            continue
        if now - quiet_since >= _HEARTBEAT_SECONDS:
            quiet_since = now
            yield b": keep-alive\n\n"
        await feed.news(1.0)


def _values(types: list[EventType] | None) -> list[str] | None:
    return None if not types else [kind.value for kind in types]
