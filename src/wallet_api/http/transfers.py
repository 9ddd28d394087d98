"""The transfer routes: move money between two wallets, read a transfer back."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from wallet_api.http.answers import answer, idempotency_key
from wallet_api.http.auth import ACCESS_STATUSES, BEARER_SECURITY, ReadAccess, admit, bearer_key
from wallet_api.http.dependencies import (
    IDEMPOTENCY_KEY_PARAMETER,
    LedgerDep,
    StrictQuery,
    get_ledger,
    idempotency_key_header,
    refuse_unknown_query_parameters,
)
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute, body_schema, exact_body
from wallet_api.http.problems import described
from wallet_api.http.schemas import TransferRequest, TransferResponse, transfer_body
from wallet_api.ledger.api_keys import Scope

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
    decided = await transfers.create(body.from_wallet_id, body.to_wallet_id, body.amount, key)
    return answer(decided, 201, transfer_body)


@router.get(
    "/{transfer_id}",
    response_model=TransferResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="Read a transfer",
)
async def get_transfer(transfer_id: uuid.UUID, ledger: LedgerDep) -> ExactJSONResponse:
    return ExactJSONResponse(transfer_body(await ledger.transfers.get(transfer_id)))
