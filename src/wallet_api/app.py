"""The FastAPI application: its lifespan, middleware and the one table of error responses."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from wallet_api import __version__, metrics, tracing
from wallet_api.events.brokers import AmqpBroker, Broker, NatsBroker
from wallet_api.events.feed import Feed
from wallet_api.events.relay import Relay
from wallet_api.events.webhooks import Deliveries, Webhooks
from wallet_api.health_history import HealthHistory
from wallet_api.http import (
    events,
    health,
    holds,
    monitoring,
    operations,
    problem_pages,
    search,
    transfers,
    wallets,
    webhooks,
)
from wallet_api.http.access import REQUEST_ID_HEADER, RequestObserver
from wallet_api.http.amount_format import AmountFormat
from wallet_api.http.body_limit import BodySizeLimit
from wallet_api.http.console import mount_console
from wallet_api.http.exact_json import ExactJSONResponse
from wallet_api.http.problems import (
    file_problems_under_their_media_type,
    ledger_problem,
    problem,
)
from wallet_api.http.security_headers import SecurityHeaders
from wallet_api.ledger.api_keys import Access, ApiKeys, decide_rate_limit
from wallet_api.ledger.errors import LedgerError
from wallet_api.ledger.ledger import Ledger
from wallet_api.ledger.rate_limits import RateLimiter
from wallet_api.logs import skip_unused_record_fields
from wallet_api.settings import Settings
from wallet_api.storage.database import Database
from wallet_api.storage.errors import StorageUnavailable

log = logging.getLogger(__name__)

HTTP_ERROR_CODES: dict[int, str] = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}

RETRY_AFTER_SECONDS = "1"


async def _ledger_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, LedgerError)
    return ledger_problem(error)


async def _validation_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors = [_field_error(item) for item in error.errors()]
    summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(422, "validation_error", summary or "The request is not valid.", errors)


def _field_error(item: dict[str, Any]) -> dict[str, Any]:
    """Location, message and type only: the rejected input is never echoed back."""
    message = item.get("msg", "")
    if item.get("type") == "json_invalid":
        message = f"{message}: {item.get('ctx', {}).get('error', 'invalid JSON')}"
        return {"loc": ["body"], "msg": message, "type": "json_invalid"}
    return {"loc": list(item.get("loc", ())), "msg": message, "type": item.get("type", "")}


async def _http_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
    headers = dict(error.headers) if error.headers is not None else None
    return problem(error.status_code, code, str(error.detail), headers=headers)


async def _storage_unavailable(_: Request, error: Exception) -> Response:
    log.warning("database unavailable: %s", error)
    detail = "The database is unavailable right now; retry shortly."
    return problem(503, "service_unavailable", detail, headers={"Retry-After": RETRY_AFTER_SECONDS})


async def _internal_error(request: Request, error: Exception) -> Response:
    # Sent from outside every middleware, so the request id is added here.
    request_id = getattr(request.state, "request_id", None)
    log.error("unhandled error", exc_info=error, extra={"request_id": request_id})
    headers = {REQUEST_ID_HEADER: request_id} if request_id else None
    return problem(500, "internal_error", "An internal error occurred.", headers=headers)


async def _every(interval_seconds: float, chore: Callable[[], Awaitable[int]]) -> None:
    """Run `chore` every interval, repeating at once while it still finds work to do."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            while await chore():
                pass
        except Exception:
            log.exception("%s failed; trying again later", chore.__name__)


def _access(settings: Settings, database: Database) -> Access:
    """The access check; an undecided WALLET_AUTH (no `serve` before this) means required."""
    per_second = decide_rate_limit(settings.rate_limit_per_second, settings.host)
    limiter = RateLimiter(per_second, settings.rate_limit_burst) if per_second > 0 else None
    required = settings.auth != "disabled"
    return Access(ApiKeys(database), required=required, limiter=limiter)


def _brokers(settings: Settings) -> list[Broker]:
    brokers: list[Broker] = []
    if settings.events_nats_url:
        brokers.append(NatsBroker(settings.events_nats_url))
    if settings.events_amqp_url:
        brokers.append(AmqpBroker(settings.events_amqp_url))
    return brokers


def _relay(settings: Settings, database: Database, feed: Feed) -> Relay:
    deliveries = Deliveries(
        database,
        feed,
        allow_private=settings.webhooks_allow_private,
        retry_for=timedelta(hours=settings.webhook_retry_hours),
        first_backoff_seconds=settings.webhook_backoff_seconds,
    )
    return Relay(database, feed, _brokers(settings), deliveries)


def create_app(settings: Settings) -> FastAPI:
    if settings.database_url is None:
        raise ValueError("create_app needs settings.database_url; `wallet-api serve` provides it")
    database_url = settings.database_url

    tracer_provider = tracing.start(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings, database_url)
        ledger = Ledger(
            database,
            default_currency=settings.default_currency,
            idempotency_ttl=timedelta(hours=settings.idempotency_key_ttl_hours),
            group_commit=settings.group_commit,
        )
        app.state.ledger = ledger
        app.state.access = _access(settings, database)
        feed = Feed(database)
        feed.start()
        app.state.feed = feed
        app.state.webhooks = Webhooks(database, settings.webhooks_allow_private)
        chores = [
            asyncio.create_task(
                _every(
                    settings.idempotency_purge_interval_seconds,
                    ledger.purge_expired_idempotency_keys,
                )
            ),
            asyncio.create_task(_every(settings.hold_sweep_interval_seconds, ledger.holds.sweep)),
        ]
        health_history = HealthHistory(settings.metrics_dir, settings.health_sample_seconds)
        app.state.health_history = health_history
        chores.append(asyncio.create_task(health_history.run()))
        if settings.events_relay:
            chores.append(asyncio.create_task(_relay(settings, database, feed).run()))
        # Everything alive now lives as long as the worker: out of the collector's sight, the
        # full collections that scanned it (about 50 ms each, every second or so under load,
        # the benchmark's worst latencies) shrink to the objects requests leave behind.
        gc.freeze()
        try:
            yield
        finally:
            for chore in chores:
                chore.cancel()
            await asyncio.gather(*chores, return_exceptions=True)
            await feed.stop()
            await database.dispose()
            tracing.stop(tracer_provider)

    app = FastAPI(
        title="wallet-api",
        version=__version__,
        description="Wallets and their operations: exact money, safe under any concurrency.",
        lifespan=lifespan,
        default_response_class=ExactJSONResponse,
        # Operation ids are the route functions' names (get_wallet, post_operation, ...): the
        # names generated clients give their methods.
        generate_unique_id_function=lambda route: route.name,
        telemetry=tracing.fastapi_telemetry(tracer_provider),
    )
    app.include_router(wallets.router)
    app.include_router(wallets.hot_router)
    app.include_router(transfers.hot_router)
    app.include_router(transfers.router)
    app.include_router(holds.router)
    app.include_router(operations.router)
    app.include_router(search.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    app.include_router(problem_pages.router)
    mount_console(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = file_problems_under_their_media_type(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.include_router(monitoring.router)
    app.state.metrics_dir = settings.metrics_dir
    metrics.record_build(__version__, settings.build_revision or "unknown")
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StorageUnavailable, _storage_unavailable)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AmountFormat)
    app.add_middleware(SecurityHeaders)  # the outermost: on the 413s of the limit too
    # Added last, so outermost: it sees, counts and logs every answer, refusals included.
    app.add_middleware(RequestObserver, log_requests=settings.access_log)
    skip_unused_record_fields()
    return app


def create_app_from_environment() -> FastAPI:
    """The factory uvicorn workers call: settings come from the environment."""
    return create_app(Settings())
