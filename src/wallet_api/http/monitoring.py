"""The Prometheus scrape: unauthenticated like the health probes, and as cheap."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from wallet_api import metrics

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
