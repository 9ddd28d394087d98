"""The Prometheus scrape, unauthenticated like the health probes and as cheap; and the health
summary of the last 15 minutes that the console shows (scope admin)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from wallet_api import metrics
from wallet_api.health_history import WINDOW_SECONDS, HealthHistory
from wallet_api.http.auth import ACCESS_STATUSES, AdminAccess
from wallet_api.http.dependencies import LedgerDep
from wallet_api.http.exact_json import ExactJSONResponse
from wallet_api.http.problems import described
from wallet_api.http.schemas import HealthSummaryResponse
from wallet_api.ledger.audit import VerifyRun

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Metrics in the Prometheus text format, of all workers",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def get_metrics(request: Request) -> Response:
    # A plain def: FastAPI runs it in a thread, so reading the workers' files never blocks the
    # event loop of this worker.
    body, content_type = metrics.scrape(request.app.state.metrics_dir)
    return Response(body, media_type=content_type)


@router.get(
    "/api/v1/health/summary",
    response_model=HealthSummaryResponse,
    dependencies=[AdminAccess],
    responses=described(503, *ACCESS_STATUSES),
    summary="Requests, errors, p99, pool and event backlog over 15 minutes (scope admin)",
    description=(
        "One point per sampling interval (WALLET_HEALTH_SAMPLE_SECONDS, 10 s by default), "
        "oldest first, computed from the metrics of all workers as the answering worker read "
        "them; a worker started less than 15 minutes ago has fewer. With the outcome of the "
        "last `wallet-api verify` on this database."
    ),
)
async def get_health_summary(request: Request, ledger: LedgerDep) -> ExactJSONResponse:
    history: HealthHistory = request.app.state.health_history
    return ExactJSONResponse(
        {
            "window_seconds": WINDOW_SECONDS,
            "interval_seconds": history.interval_seconds,
            "points": [dataclasses.asdict(point) for point in history.points()],
            "last_verify": _verify_body(await ledger.last_verify()),
        }
    )


def _verify_body(run: VerifyRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {**dataclasses.asdict(run), "books_balance": run.problems == 0}
