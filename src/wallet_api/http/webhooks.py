"""The webhook routes: register an endpoint, list, read and delete them, and read deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from wallet_api.events.outbox import EventType
from wallet_api.events.webhooks import MAX_URL_LENGTH, Endpoint
from wallet_api.http.auth import ACCESS_STATUSES, AdminAccess
from wallet_api.http.dependencies import StrictQuery, WebhooksDep
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute
from wallet_api.http.problems import described
from wallet_api.http.schemas import RequestBody

router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery, AdminAccess],
)


class WebhookRequest(RequestBody):
    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http:// or https://; one that resolves to a loopback, link-local or "
        "private address is refused unless WALLET_WEBHOOKS_ALLOW_PRIVATE=true.",
    )
    event_types: list[EventType] = Field(min_length=1, max_length=len(EventType))


class WebhookResponse(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[EventType]
    status: str = Field(description="active, or failing once its retries ran out.")
    created_at: datetime


class CreatedWebhookResponse(WebhookResponse):
    secret: str = Field(description="Signs every delivery. Shown only in this answer.")


class WebhooksResponse(BaseModel):
    items: list[WebhookResponse]


class DeliveryResponse(BaseModel):
    id: int
    event_id: uuid.UUID
    sequence: int
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    succeeded: bool


class DeliveriesResponse(BaseModel):
    items: list[DeliveryResponse]
    next_before: int | None = Field(description="Pass back as `before` for older attempts.")


def _body(endpoint: Endpoint) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "status": endpoint.status,
        "created_at": endpoint.created_at,
    }
    if endpoint.secret is not None:
        body["secret"] = endpoint.secret
    return body


@router.post(
    "",
    status_code=201,
    response_model=CreatedWebhookResponse,
    responses=described(409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Register a webhook endpoint",
    description=(
        "Each event of the chosen types committed from now on is POSTed to the URL, in "
        "sequence order, one at a time, with `Wallet-Event-Id` and `Wallet-Signature: "
        't=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`. Any 2xx within '
        "10 s is success; anything else is retried with exponential backoff and jitter for "
        "24 hours, then the endpoint is marked failing."
    ),
)
async def create_webhook(request: WebhookRequest, webhooks: WebhooksDep) -> ExactJSONResponse:
    types = list(dict.fromkeys(kind.value for kind in request.event_types))
    endpoint = await webhooks.create(request.url, types)
    return ExactJSONResponse(_body(endpoint), status_code=201)


@router.get(
    "",
    response_model=WebhooksResponse,
    responses=described(503, *ACCESS_STATUSES),
    summary="The webhook endpoints",
)
async def list_webhooks(webhooks: WebhooksDep) -> ExactJSONResponse:
    return ExactJSONResponse({"items": [_body(e) for e in await webhooks.all()]})


@router.get(
    "/{webhook_id}",
    response_model=WebhookResponse,
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="A webhook endpoint",
)
async def get_webhook(webhook_id: uuid.UUID, webhooks: WebhooksDep) -> ExactJSONResponse:
    return ExactJSONResponse(_body(await webhooks.get(webhook_id)))


@router.delete(
    "/{webhook_id}",
    status_code=204,
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="Delete a webhook endpoint (and its delivery log)",
)
async def delete_webhook(webhook_id: uuid.UUID, webhooks: WebhooksDep) -> Response:
    await webhooks.delete(webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveriesResponse,
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="An endpoint's delivery attempts, newest first",
)
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    webhooks: WebhooksDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> ExactJSONResponse:
    rows = await webhooks.deliveries(webhook_id, limit, before)
    items = [
        {
            "id": row.id,
            "event_id": row.event_id,
            "sequence": row.sequence,
            "attempt": row.attempt,
            "attempted_at": row.attempted_at,
            "status_code": row.status_code,
            "latency_ms": row.latency_ms,
            "error": row.error,
            "succeeded": row.succeeded,
        }
        for row in rows
    ]
    next_before = rows[-1].id if len(rows) == limit else None
    return ExactJSONResponse({"items": items, "next_before": next_before})
