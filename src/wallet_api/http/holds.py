"""The hold routes: reserve funds on a wallet, then capture or void the reservation."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from wallet_api.http.answers import answer, idempotency_key
from wallet_api.http.auth import ACCESS_STATUSES, ReadAccess, WriteAccess
from wallet_api.http.dependencies import IdempotencyKeyHeader, LedgerDep, StrictQuery
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute
from wallet_api.http.problems import described
from wallet_api.http.schemas import CaptureRequest, HoldRequest, HoldResponse, hold_body

router = APIRouter(
    prefix="/api/v1",
    tags=["holds"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery],
)

NOT_ACTIVE = "A hold that is no longer ACTIVE is 409 `hold_not_active`."


@router.post(
    "/wallets/{wallet_id}/holds",
    status_code=201,
    response_model=HoldResponse,
    dependencies=[WriteAccess],
    responses=described(400, 404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Reserve funds on a wallet",
    description=(
        "The wallet's `available_balance` drops by the amount; its `balance` does not. Not "
        "enough available funds is 400 `insufficient_funds`. `expires_in_seconds` defaults to "
        "7 days, at most 30 days; a hold past its `expires_at` is EXPIRED and frees its funds."
    ),
)
async def create_hold(
    wallet_id: uuid.UUID,
    body: HoldRequest,
    ledger: LedgerDep,
    request: Request,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency_key(request, idempotency_key_header)
    decided = await ledger.holds.place(
        wallet_id,
        body.amount,
        body.expires_in_seconds,
        key,
        body.reference,
        body.metadata_pairs(),
    )
    return answer(decided, 201, hold_body)


@router.post(
    "/holds/{hold_id}/capture",
    response_model=HoldResponse,
    dependencies=[WriteAccess],
    responses=described(404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Capture a hold, all of it or part",
    description=(
        "Writes a HOLD_CAPTURE operation for the captured amount (at most the held amount, "
        f"by default all of it) and releases the rest. {NOT_ACTIVE}"
    ),
)
async def capture_hold(
    hold_id: uuid.UUID,
    ledger: LedgerDep,
    request: Request,
    body: CaptureRequest | None = None,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency_key(request, idempotency_key_header)
    decided = await ledger.holds.capture(hold_id, body.amount if body else None, key)
    return answer(decided, 200, hold_body)


@router.post(
    "/holds/{hold_id}/void",
    response_model=HoldResponse,
    dependencies=[WriteAccess],
    responses=described(404, 409, 422, 503, *ACCESS_STATUSES),
    summary="Void a hold and release its funds",
    description=NOT_ACTIVE,
)
async def void_hold(
    hold_id: uuid.UUID,
    ledger: LedgerDep,
    request: Request,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency_key(request, idempotency_key_header)
    return answer(await ledger.holds.void(hold_id, key), 200, hold_body)


@router.get(
    "/holds/{hold_id}",
    response_model=HoldResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="Read a hold",
)
async def get_hold(hold_id: uuid.UUID, ledger: LedgerDep) -> ExactJSONResponse:
    return ExactJSONResponse(hold_body(await ledger.holds.get(hold_id)))
