"""The reference lookup: what carries a reference, in every wallet."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wallet_api.http.auth import ACCESS_STATUSES, ReadAccess
from wallet_api.http.dependencies import LedgerDep, StrictQuery
from wallet_api.http.exact_json import ExactJSONResponse, ExactJSONRoute
from wallet_api.http.problems import described
from wallet_api.http.schemas import ReferenceQuery, SearchResponse, search_body

MAX_MATCHES = 100

router = APIRouter(
    prefix="/api/v1/search",
    tags=["search"],
    route_class=ExactJSONRoute,
    dependencies=[StrictQuery],
)


@router.get(
    "",
    response_model=SearchResponse,
    dependencies=[ReadAccess],
    responses=described(422, 503, *ACCESS_STATUSES),
    summary="Find the operations, transfers and holds that carry a reference",
    description=(
        "In every wallet, newest first, at most `limit` of each. A reference is unique per "
        "wallet for operations and holds, and a transfer's legs carry the transfer's, so one "
        "reference may match a transfer and its two operations, or one deposit in each of "
        "several wallets."
    ),
)
async def search(
    ledger: LedgerDep,
    reference: ReferenceQuery,
    limit: Annotated[int, Query(ge=1, le=MAX_MATCHES)] = 20,
) -> ExactJSONResponse:
    return ExactJSONResponse(search_body(await ledger.reports.with_reference(reference, limit)))
