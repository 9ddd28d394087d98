"""OpenTelemetry tracing: on in a worker when OTEL_EXPORTER_OTLP_ENDPOINT is set, off otherwise.

On, each worker sends its spans over OTLP/HTTP (the SDK reads the standard OTEL_* variables):
FastAPI's span per request, a child span per batch the ledger commits, asyncpg's span per
statement, and the trace id in every log line written while a span is current. Off, nothing is
instrumented, and the ledger's two calls into this module return at once.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from starlette.types import Scope

from wallet_api import __version__, logs
from wallet_api.settings import Settings

BATCH_SPAN = "ledger.batch"
BATCH_REQUESTS = "wallet.batch.requests"
# Probes and scrapes arrive every few seconds from machines, not clients: no trace of them.
UNTRACED_PATHS = frozenset({"/metrics", "/health/live", "/health/ready"})

_tracer: trace.Tracer | None = None


def start(settings: Settings) -> TracerProvider | None:
    """The tracer provider of this worker, exporting to the collector; None when tracing is off."""
    global _tracer
    if settings.otel_exporter_otlp_endpoint is None:
        return None
    resource = Resource.create(
        {"service.name": settings.otel_service_name, "service.version": __version__}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    _tracer = provider.get_tracer("wallet_api", __version__)
    logs.include_trace_ids()
    return provider


def stop(provider: TracerProvider | None) -> None:
    """Send the spans still waiting and stop exporting."""
    global _tracer
    if provider is None:
        return
    _tracer = None
    AsyncPGInstrumentor().uninstrument()
    provider.shutdown()


def fastapi_telemetry(provider: TracerProvider | None) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry support: its span per request when tracing is on, and not
    even a look for a provider on each request when it is off."""
    return {
        "tracing": provider is not None,
        "tracer_provider": provider,
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "exclude": _untraced,
    }


def _untraced(scope: Scope) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def request_context() -> contextvars.Context | None:
    """The context a queued request's batch should run in, so that the batch span is a child
    of the request span of the first request in it; None (no copy) when tracing is off."""
    return contextvars.copy_context() if _tracer is not None else None


@contextlib.contextmanager
def batch_span(requests: int) -> Iterator[None]:
    """A span around one batch's decision and commit, saying how many requests it carried."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(BATCH_SPAN, attributes={BATCH_REQUESTS: requests}):
        yield
