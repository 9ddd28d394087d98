"""The operation routes: reverse a deposit, a withdrawal or a capture."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from wallet_api.http.answers import answer, idempotency_key
from wallet_api.http.auth import ACCESS_STATUSES, WriteAccess
from wallet_api.http.dependencies import IdempotencyKeyHeader, LedgerDep, StrictQuery
from wallet_api.http.exact_json import ExactJSONRoute
from wallet_api.http.problems import described
from wallet_api.http.schemas import ReversalResponse, ReverseRequest, reversal_body

router = APIRouter(
    prefix="/api/v1/operations",
    tags=["operations"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery],
)


@router.post(
    "/{operation_id}/reverse",
    status_code=201,
    response_model=ReversalResponse,
    dependencies=[WriteAccess],
    responses=described(400, 404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Reverse all or part of an operation",
    description=(
        "A REVERSAL the other way on the operation's wallet, with `reverses_id`. Reversing a "
        "deposit needs the funds (400 `insufficient_funds`). `amount` defaults to what is "
        "left to reverse; all reversals of an operation together never exceed it (409 "
        "`reversal_exceeds_original`). A transfer's leg is reversed through its transfer, and "
        "a reversal is not reversed (409 `not_reversible`). The original never changes."
    ),
)
async def reverse_operation(
    operation_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    body: ReverseRequest,
    ledger: LedgerDep,
    request: Request,
    idempotency_key_header: IdempotencyKeyHeader = None,
) -> Response:
    key = idempotency_key(request, idempotency_key_header)
    decided = await ledger.reversals.reverse_operation(operation_id, body.amount, key)
    return answer(decided, 201, reversal_body)
