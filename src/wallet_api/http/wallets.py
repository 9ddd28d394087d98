"""The wallet routes: create a wallet, read its balance and history, deposit or withdraw."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from wallet_api.http.answers import answer, idempotency_key
from wallet_api.http.auth import (
    ACCESS_STATUSES,
    BEARER_SECURITY,
    AdminAccess,
    ReadAccess,
    WriteAccess,
    admit,
    bearer_key,
)
from wallet_api.http.dependencies import (
    IDEMPOTENCY_KEY_PARAMETER,
    LedgerDep,
    StrictQuery,
    get_ledger,
    idempotency_key_header,
    path_uuid,
    refuse_unknown_query_parameters,
    uuid_path_parameter,
)
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute, body_schema, exact_body
from wallet_api.http.problems import described
from wallet_api.http.schemas import (
    MAX_LIST_PAGE,
    CreateWalletRequest,
    HoldsPageResponse,
    OperationRequest,
    OperationResponse,
    OperationsPageResponse,
    ReferenceQuery,
    StatementResponse,
    WalletResponse,
    WalletsPageResponse,
    hold_body,
    operation_body,
    operations_page_body,
    page_body,
    statement_csv,
    statement_json,
    wallet_body,
)
from wallet_api.ledger.api_keys import Scope
from wallet_api.ledger.history import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, HistoryQuery
from wallet_api.ledger.rules import HoldStatus, OperationType

router = APIRouter(
    prefix="/api/v1/wallets",
    tags=["wallets"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery],
)

# The hot route: no dependencies at all, it reads its request by hand (see `post_operation`).
hot_router = APIRouter(prefix="/api/v1/wallets", tags=["wallets"], route_class=ExactJSONRoute)


@router.post(
    "",
    status_code=201,
    response_model=WalletResponse,
    dependencies=[WriteAccess],
    responses=described(409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Create a wallet in a currency",
)
async def create_wallet(request: CreateWalletRequest, ledger: LedgerDep) -> ExactJSONResponse:
    wallet = await ledger.wallets.create(request.id, request.currency)
    return ExactJSONResponse(wallet_body(wallet), status_code=201)


@router.get(
    "",
    response_model=WalletsPageResponse,
    dependencies=[AdminAccess],
    responses=described(422, 503, *ACCESS_STATUSES),
    summary="Every wallet, by id (scope admin)",
)
async def list_wallets(
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_PAGE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExactJSONResponse:
    page = await ledger.reports.wallets(limit, cursor)
    return ExactJSONResponse(page_body(page, wallet_body))


@router.get(
    "/{wallet_id}",
    response_model=WalletResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="Read a wallet's balance, now or as of an instant",
    description=(
        "With `as_of` (RFC 3339, not in the future): the balance right after the last "
        "operation at or before that instant, and the available balance less the holds "
        "active then; before the wallet existed it is 404 `wallet_not_found`."
    ),
)
async def get_wallet(
    wallet_id: uuid.UUID, ledger: LedgerDep, as_of: AwareDatetime | None = None
) -> ExactJSONResponse:
    if as_of is not None:
        return ExactJSONResponse(wallet_body(await ledger.reports.as_of(wallet_id, as_of)))
    wallet = await ledger.wallets.get(wallet_id)
    return ExactJSONResponse(wallet_body(wallet))


@hot_router.post(
    "/{wallet_id}/operation",
    response_model=OperationResponse,
    responses=described(400, 404, 409, 413, 422, 503, *ACCESS_STATUSES),
    summary="Deposit into or withdraw from a wallet",
    openapi_extra={
        **body_schema(OperationRequest),
        "security": BEARER_SECURITY,
        "parameters": [uuid_path_parameter("wallet_id"), IDEMPOTENCY_KEY_PARAMETER],
    },
    description=(
        "A DEPOSIT into an unknown wallet creates it in the default currency. A WITHDRAW from "
        "an unknown wallet is 404 `wallet_not_found`; above the balance it is 400 "
        "`insufficient_funds`. A deposit that would take the balance above 1,000,000,000,000,000 "
        "is 400 `balance_limit_exceeded`. A refused operation changes nothing. With an "
        "`Idempotency-Key`, a retry of the same request replays the first answer; the same key "
        "with another request is 409 `idempotency_key_reused`, and while the first request is "
        "still running it may be 409 `idempotency_key_in_progress`."
    ),
)
async def post_operation(request: Request) -> Response:
    # The hot route reads its whole request by hand, checks in the order FastAPI's dependencies
    # and parameters would run: the benchmark showed that machinery costing a fifth of its CPU.
    await refuse_unknown_query_parameters(request)
    await admit(request, bearer_key(request), Scope.WALLETS_WRITE)
    wallet_id = path_uuid(request, "wallet_id")
    body = await exact_body(request, OperationRequest)
    key = idempotency_key(request, idempotency_key_header(request))
    wallets = get_ledger(request).wallets
    decided = await wallets.move(
        wallet_id, body.operation_type, body.amount, key, body.reference, body.metadata_pairs()
    )
    return answer(decided, 200, operation_body)


@router.get(
    "/{wallet_id}/operations",
    response_model=OperationsPageResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="A wallet's operations, newest first",
    description=(
        "Keyset pagination: pass `next_cursor` back as `cursor` until it is null. Each item "
        "carries `balance_after`, the wallet's balance right after it."
    ),
)
async def list_operations(
    wallet_id: uuid.UUID,
    ledger: LedgerDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    operation_type: OperationType | None = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    reference: ReferenceQuery | None = None,
) -> ExactJSONResponse:
    query = HistoryQuery(limit, cursor, operation_type, created_after, created_before, reference)
    page = await ledger.history.page(wallet_id, query)
    return ExactJSONResponse(operations_page_body(page))


@router.get(
    "/{wallet_id}/holds",
    response_model=HoldsPageResponse,
    dependencies=[ReadAccess],
    responses=described(404, 422, 503, *ACCESS_STATUSES),
    summary="A wallet's holds, newest first",
)
async def list_wallet_holds(
    wallet_id: uuid.UUID,
    ledger: LedgerDep,
    status: HoldStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_PAGE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ExactJSONResponse:
    page = await ledger.reports.holds(wallet_id, status.value if status else None, limit, cursor)
    return ExactJSONResponse(page_body(page, hold_body))


@router.get(
    "/{wallet_id}/statement",
    response_model=StatementResponse,
    dependencies=[ReadAccess],
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with Accept: text/csv"},
        **described(404, 422, 503, *ACCESS_STATUSES),
    },
    summary="A wallet's statement between two instants",
    description=(
        "Opening and closing balance, money in and out, and every operation in [`from`, `to`) "
        "oldest first with its running `balance_after`. `to` after `from`, at most 366 days "
        "apart. `Accept: text/csv` gives the same as CSV, one line per operation."
    ),
)
async def get_statement(
    wallet_id: uuid.UUID,
    ledger: LedgerDep,
    request: Request,
    start: Annotated[AwareDatetime, Query(alias="from")],
    end: Annotated[AwareDatetime, Query(alias="to")],
) -> Response:
    statement = await ledger.reports.statement(wallet_id, start, end)
    if "text/csv" in request.headers.get("accept", ""):
        return StreamingResponse(
            statement_csv(statement),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="statement-{wallet_id}.csv"'},
        )
    return StreamingResponse(statement_json(statement), media_type="application/json")
