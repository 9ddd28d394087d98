"""Liveness and readiness probes: cheap, unauthenticated."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wallet_api.http.dependencies import LedgerDep
from wallet_api.http.exact_json import ExactJSONResponse
from wallet_api.http.problems import described, problem

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process answers")
async def health_live() -> ExactJSONResponse:
    return ExactJSONResponse({"status": "ok"})


@router.get(
    "/ready", summary="The database answers and its schema is current", responses=described(503)
)
async def health_ready(ledger: LedgerDep) -> Response:
    if not await ledger.is_ready():
        return problem(503, "service_unavailable", "The database is not ready.")
    return ExactJSONResponse({"status": "ok"})
