"""OpenTelemetry: spans reach a real OTLP/HTTP receiver when the endpoint is set; none otherwise."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import operation_url, running_service, service_environment
from wallet_api.bench.collector import Collector, ReceivedSpan
from wallet_api.tracing import BATCH_REQUESTS, BATCH_SPAN

OPERATION_ROUTE = "/api/v1/wallets/{wallet_id}/operation"


def wait_for(
    collector: Collector, done: Callable[[list[ReceivedSpan]], bool], seconds: float = 30
) -> list[ReceivedSpan]:
    deadline = time.monotonic() + seconds
    while True:
        spans = collector.received.snapshot()
        if done(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.1)


def access_lines(log: Path) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "wallet_api.access"]


def test_a_request_sends_its_span_a_batch_span_and_database_spans_and_logs_its_trace_id(
    database_url: str, tmp_path: Path
) -> None:
    wallet_id = uuid.uuid4()
    with Collector() as collector:
        env = service_environment(
            DATABASE_URL=database_url,
            WALLET_WORKERS="1",
            WALLET_LOG_LEVEL="info",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
            OTEL_SERVICE_NAME="wallet-api-under-test",
            # Export every 100 ms instead of every 5 s.
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        log = tmp_path / "service.log"
        with running_service(env, log, ("--no-migrate",)) as (base_url, _):
            response = httpx.post(
                f"{base_url}{operation_url(wallet_id)}",
                json={"operation_type": "DEPOSIT", "amount": "12.34"},
                headers={"X-Request-ID": "traced-1"},
            )
            assert response.status_code == 200, response.text
            httpx.get(f"{base_url}/metrics")

            def has_batch(spans: list[ReceivedSpan]) -> bool:
                return any(span.name == BATCH_SPAN for span in spans)

            spans = wait_for(collector, has_batch)
        (line,) = [line for line in access_lines(log) if line.get("request_id") == "traced-1"]

    (request,) = [s for s in spans if s.attributes.get("http.route") == OPERATION_ROUTE]
    assert request.service == "wallet-api-under-test"
    assert request.parent_span_id == ""
    assert line["trace_id"] == request.trace_id
    assert line["span_id"] == request.span_id

    in_trace = [s for s in spans if s.trace_id == request.trace_id]
    (batch,) = [s for s in in_trace if s.name == BATCH_SPAN]
    assert batch.attributes[BATCH_REQUESTS] == 1
    assert _ancestors(batch, in_trace)[-1] == request.span_id
    statements = [s for s in in_trace if s.attributes.get("db.system") == "postgresql"]
    assert statements, [s.name for s in in_trace]
    assert all(batch.span_id in _ancestors(s, in_trace) for s in statements)
    # Scrapes and probes are not traced.
    assert not [s for s in spans if s.attributes.get("http.route") == "/metrics"]


def _ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    parent = span.parent_span_id
    while parent:
        chain.append(parent)
        parent = by_id[parent].parent_span_id if parent in by_id else ""
    return chain


def test_without_an_endpoint_log_lines_carry_no_trace_id(database_url: str, tmp_path: Path) -> None:
    env = service_environment(
        DATABASE_URL=database_url, WALLET_WORKERS="1", WALLET_LOG_LEVEL="info"
    )
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        env.pop(name, None)
    log = tmp_path / "service.log"
    with running_service(env, log, ("--no-migrate",)) as (base_url, _):
        response = httpx.post(
            f"{base_url}{operation_url(uuid.uuid4())}",
            json={"operation_type": "DEPOSIT", "amount": "1.00"},
            headers={"X-Request-ID": "untraced-1"},
        )
        assert response.status_code == 200
    (line,) = [line for line in access_lines(log) if line.get("request_id") == "untraced-1"]
    assert "trace_id" not in line
