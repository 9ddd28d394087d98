"""The transfer routes: move money between two wallets, read a transfer back."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from wallet_api.http.answers import answer, idempotency_key
from wallet_api.http.auth import (
    ACCESS_STATUSES,
    BEARER_SECURITY,
    ReadAccess,
    WriteAccess,
    admit,
    bearer_key,
)
from wallet_api.http.dependencies import (
    IDEMPOTENCY_KEY_PARAMETER,
    IdempotencyKeyHeader,
    LedgerDep,
    StrictQuery,
    get_ledger,
    idempotency_key_header,
    refuse_unknown_query_parameters,
)
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute, body_schema, exact_body
from wallet_api.http.problems import described
from wallet_api.http.schemas import (
    MAX_LIST_PAGE,
    ReversalResponse,
    ReverseRequest,
    TransferRequest,
    TransferResponse,
    TransfersPageResponse,
    page_body,
    reversal_body,
    transfer_body,
)
from wallet_api.ledger.api_keys import Scope
from wallet_api.ledger.history import DEFAULT_PAGE_SIZE

router = APIRouter(
    prefix="/api/v1/transfers",
    tags=["transfers"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery],
)

# A hot route like the deposit's: no dependencies, it reads its request by hand.
hot_router = APIRouter(prefix="/api/v1/transfers", tags=["transfers"], route_class=ExactJSONRoute)


@hot_router.post(
    "",
    status_code=201,
    response_model=TransferResponse,
    responses=described(400, 404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Transfer money between two wallets",
    openapi_extra={
        **body_schema(TransferRequest),
        "security": BEARER_SECURITY,
        "parameters": [IDEMPOTENCY_KEY_PARAMETER],
    },
    description=(
        "Both wallets change or neither does. An unknown wallet on either side is 404 "
        "`wallet_not_found` (a transfer never creates one); the same wallet on both sides is "
        "422 `validation_error`; wallets in different currencies are 422 `currency_mismatch`; "
        "not enough available funds is 400 `insufficient_funds`. Writes a TRANSFER_OUT "
        "operation on the source and a TRANSFER_IN on the destination."
    ),
)
async def create_transfer(request: Request) -> Response:
    # Read by hand, in the order FastAPI's dependencies and parameters would run, as the deposit
    # route does: that machinery cost a fifth of a transfer's throughput in the benchmark.
    await refuse_unknown_query_parameters(request)
    await admit(request, bearer_key(request), Scope.WALLETS_WRITE)
    body = await exact_body(request, TransferRequest)
    key = idempotency_key(request, idempotency_key_header(request))
    transfers = get_ledger(request).transfers
    decided = await transfers.create(
        body.from_wallet_id,
        body.to_wallet_id,
        body.amount,
        key,
        body.reference,
        body.metadata_pairs(),
    )
    return answer(decided, 201, transfer_body)


@router.get(
    "",
    response_model=TransfersPageResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="A wallet's transfers, either way, newest first",
)
async def list_transfers(
    ledger: LedgerDep,
    wallet_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_PAGE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExactJSONResponse:
    page = await ledger.reports.transfers(wallet_id, limit, cursor)
    return ExactJSONResponse(page_body(page, transfer_body))


@router.post(
    "/{transfer_id}/reverse",
    status_code=201,
    response_model=ReversalResponse,
    dependencies=[WriteAccess],
    responses=described(400, 404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Move all or part of a transfer back",
    description=(
        "A REVERSAL on the receiving wallet (it needs the funds: else 400 "
        "`insufficient_funds`) and one on the sending wallet, each with `reverses_id` the leg "
        "it undoes. `amount` defaults to what is left to reverse; all reversals of a transfer "
        "together never exceed it (409 `reversal_exceeds_original`). The transfer itself never "
        "changes."
    ),
)
async def reverse_transfer(
    transfer_id: uuid.UUID,
    body: ReverseRequest,
    ledger: LedgerDep,
    request: Request,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency_key(request, idempotency_key_header)
    decided = await ledger.transfers.reverse(transfer_id, body.amount, key)
    return answer(decided, 201, reversal_body)


@router.get(
    "/{transfer_id}",
    response_model=TransferResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="Read a transfer",
)
async def get_transfer(transfer_id: uuid.UUID, ledger: LedgerDep) -> ExactJSONResponse:
    return ExactJSONResponse(transfer_body(await ledger.transfers.get(transfer_id)))
