"""The transfer routes: move money between two wallets, read a transfer back."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from wallet_api.http.answers import answer, idempotency_key
from wallet_api.http.auth import ACCESS_STATUSES, ReadAccess, WriteAccess
from wallet_api.http.dependencies import IdempotencyKeyHeader, LedgerDep, StrictQuery
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute
from wallet_api.http.problems import described
from wallet_api.http.schemas import TransferRequest, TransferResponse, transfer_body

router = APIRouter(
    prefix="/api/v1/transfers",
    tags=["transfers"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery],
)


@router.post(
    "",
    status_code=201,
    response_model=TransferResponse,
    dependencies=[WriteAccess],
    responses=described(400, 404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Transfer money between two wallets",
    description=(
        "Both wallets change or neither does. An unknown wallet on either side is 404 "
        "`wallet_not_found` (a transfer never creates one); the same wallet on both sides is "
        "422 `validation_error`; wallets in different currencies are 422 `currency_mismatch`; "
        "not enough available funds is 400 `insufficient_funds`. Writes a TRANSFER_OUT "
        "operation on the source and a TRANSFER_IN on the destination."
    ),
)
async def create_transfer(
    body: TransferRequest,
    ledger: LedgerDep,
    request: Request,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency_key(request, idempotency_key_header)
    decided = await ledger.transfers.create(
        body.from_wallet_id, body.to_wallet_id, body.amount, key
    )
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
