"""The wallet routes: read a balance, deposit or withdraw."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from wallet_api.http.dependencies import LedgerDep
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute
from wallet_api.http.problems import described
from wallet_api.http.schemas import (
    OperationRequest,
    OperationResponse,
    WalletResponse,
    operation_body,
    wallet_body,
)

router = APIRouter(prefix="/api/v1/wallets", tags=["wallets"], route_class=ExactJSONRoute)


@router.get(
    "/{wallet_id}",
    response_model=WalletResponse,
    responses=described(404, 422, 503),
    summary="Read a wallet's balance",
)
async def get_wallet(wallet_id: uuid.UUID, ledger: LedgerDep) -> ExactJSONResponse:
    wallet = await ledger.get_wallet(wallet_id)
    return ExactJSONResponse(wallet_body(wallet))


@router.post(
    "/{wallet_id}/operation",
    response_model=OperationResponse,
    responses=described(400, 404, 413, 422, 503),
    summary="Deposit into or withdraw from a wallet",
    description=(
        "A DEPOSIT into an unknown wallet creates it. A WITHDRAW from an unknown wallet is "
        "404 `wallet_not_found`; above the balance it is 400 `insufficient_funds`. A deposit "
        "that would take the balance above 1,000,000,000,000,000.00 is 400 "
        "`balance_limit_exceeded`. A refused operation changes nothing."
    ),
)
async def post_operation(
    wallet_id: uuid.UUID, request: OperationRequest, ledger: LedgerDep
) -> ExactJSONResponse:
    operation = await ledger.apply(wallet_id, request.operation_type, request.amount)
    return ExactJSONResponse(operation_body(operation))
