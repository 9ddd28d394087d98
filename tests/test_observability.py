"""What the service tells its operator: Prometheus metrics, JSON request logs, request ids."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from tests.support import (
    create_wallet,
    deposit,
    operation_url,
    running_service,
    scrape,
    transfer,
    value,
)
from tests.support import service_environment as environment
from wallet_api import __version__
from wallet_api.app import create_app
from wallet_api.logs import JsonFormatter, StderrHandler, TextFormatter, resolve_format
from wallet_api.settings import Settings

OPERATION_ROUTE = "/api/v1/wallets/{wallet_id}/operation"


async def test_metrics_add_up_the_requests_of_every_worker_by_route_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await scrape(client)
    # Two workers share the port: one scrape must count the requests both of them served.
    await asyncio.gather(*(client.get("/health/live") for _ in range(40)))
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, "5.00")).status_code == 200
    body = {"operation_type": "WITHDRAW", "amount": "9.00"}
    assert (await client.post(operation_url(wallet_id), json=body)).status_code == 400
    assert (await client.get(f"/no/such/path/{uuid.uuid4()}")).status_code == 404
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "wallet_http_requests_total"
    assert delta(requests, method="GET", route="/health/live", status="200") == 40
    assert delta(requests, method="POST", route=OPERATION_ROUTE, status="200") == 1
    assert delta(requests, method="POST", route=OPERATION_ROUTE, status="400") == 1
    assert delta(requests, method="GET", route="<unmatched>", status="404") == 1
    latency = "wallet_http_request_duration_seconds_count"
    assert delta(latency, method="POST", route=OPERATION_ROUTE) == 2
    bucket = "wallet_http_request_duration_seconds_bucket"
    assert delta(bucket, method="GET", route="/health/live", le="+Inf") == 40
    # A path never becomes a label of its own.
    assert not any(str(wallet_id) in str(labels) for _, labels in after)


async def test_metrics_count_ledger_decisions_and_the_money_they_moved(
    client: httpx.AsyncClient,
) -> None:
    source = await create_wallet(client, "EUR", funds="100.00")
    target = await create_wallet(client, "EUR")
    before = await scrape(client)
    headers = {"Idempotency-Key": f"metrics-{uuid.uuid4()}"}
    assert (await transfer(client, source, target, "12.34", headers)).status_code == 201
    assert (await transfer(client, source, target, "12.34", headers)).status_code == 201
    assert (await transfer(client, source, target, "1000.00")).status_code == 400
    assert (await deposit(client, target, "0.66")).status_code == 200
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    operations = "wallet_ledger_operations_total"
    assert delta(operations, type="TRANSFER", result="ok") == 1
    assert delta(operations, type="TRANSFER", result="replayed") == 1
    assert delta(operations, type="TRANSFER", result="insufficient_funds") == 1
    assert delta(operations, type="DEPOSIT", result="ok") == 1
    moved = "wallet_ledger_money_moved_major_units_total"
    assert delta(moved, currency="EUR", type="TRANSFER") == pytest.approx(12.34)
    assert delta(moved, currency="EUR", type="DEPOSIT") == pytest.approx(0.66)


async def test_metrics_show_group_commit_batches_and_the_pool(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    await deposit(client, wallet_id, "0.01")
    before = await scrape(client)
    # The wallet's row is held here, so the deposits queue up behind the first of each worker.
    async with db.transaction():
        await db.execute("SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE", wallet_id)
        sending = asyncio.gather(*(deposit(client, wallet_id, "0.01") for _ in range(100)))
        await asyncio.sleep(1)
    responses = await sending
    assert {response.status_code for response in responses} == {200}
    after = await scrape(client)

    batches = "wallet_group_commit_batch_requests_count"
    batched = "wallet_group_commit_batch_requests_sum"
    writes = {"kind": "writes"}
    assert value(after, batches, **writes) > value(before, batches, **writes)
    assert value(after, batched, **writes) - value(before, batched, **writes) > value(
        after, batches, **writes
    ) - value(before, batches, **writes), "some batch held more than one operation"
    # Idle again: nothing lent out, nobody waiting, in any live worker.
    assert value(after, "wallet_db_pool_connections_in_use") == 0
    assert value(after, "wallet_db_pool_requests_waiting") == 0


async def test_metrics_name_the_build_and_the_pool_limit_of_every_worker(
    client: httpx.AsyncClient,
) -> None:
    samples = await scrape(client)
    (build,) = [dict(labels) for name, labels in samples if name == "wallet_build_info"]
    assert build["version"] == __version__
    assert build["revision"]
    # Two workers (the service_url fixture), each with two pools of the default size.
    defaults = Settings.model_fields
    per_worker = 2 * defaults["db_pool_size"].default + defaults["db_pool_overflow"].default
    assert value(samples, "wallet_db_pool_connections_limit") == 2 * per_worker


async def test_metrics_show_the_process_metrics_of_each_worker(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)
    memory = {
        dict(labels)["pid"]: sample
        for (name, labels), sample in samples.items()
        if name == "process_resident_memory_bytes"
    }
    assert len(memory) == 2, "one series per worker"
    assert all(rss > 10 * 2**20 for rss in memory.values())
    cpu = [dict(labels) for name, labels in samples if name == "process_cpu_seconds_total"]
    assert {labels["pid"] for labels in cpu} == set(memory)


async def test_a_valid_request_id_comes_back_and_any_other_is_replaced(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/health/live", headers={"X-Request-ID": "trace-42/a:b"})
    assert kept.headers["x-request-id"] == "trace-42/a:b"

    generated = (await client.get("/health/live")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    for invalid in ("x" * 129, "has space", "é-accent".encode()):
        response = await client.get("/health/live", headers={"X-Request-ID": invalid})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), invalid


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    wallet_url = f"/api/v1/wallets/{uuid.uuid4()}"
    answers = [
        await client.get("/metrics"),
        await client.get(wallet_url),  # 404 wallet_not_found
        await client.delete(wallet_url),  # 405
        await client.get("/api/v1/wallets/not-a-uuid"),  # 422
        await client.post(f"{wallet_url}/operation", content=b"x" * 70_000),  # 413
    ]
    assert [answer.status_code for answer in answers] == [200, 404, 405, 422, 413]
    for answer in answers:
        assert answer.headers["x-request-id"]


async def test_an_unexpected_error_is_a_500_that_keeps_its_request_id() -> None:
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/unused"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/boom", headers={"X-Request-ID": "bug-report-7"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.headers["x-request-id"] == "bug-report-7"


def test_each_request_is_one_json_log_line_without_secrets(
    database_url: str, tmp_path: Path
) -> None:
    env = environment(DATABASE_URL=database_url, WALLET_WORKERS="1", WALLET_LOG_LEVEL="info")
    log = tmp_path / "service.log"
    wallet_id = uuid.uuid4()
    secrets = {
        "Authorization": "Bearer secret-token-1",
        "X-API-Key": "secret-api-key-2",
        "Idempotency-Key": "secret-key-3",
    }
    with running_service(env, log, ("--no-migrate",)) as (base_url, _):
        response = httpx.post(
            f"{base_url}{operation_url(wallet_id)}?note=secret-query-4",
            json={"operation_type": "DEPOSIT", "amount": "8765431.41"},
            headers={**secrets, "X-Request-ID": "log-test-1"},
        )
        # An unknown query parameter is refused (422), and still logged, without the query.
        assert response.status_code == 422
        # uvicorn's own access line would name the raw path: it is off.
        httpx.get(f"{base_url}/health/live")
    text = log.read_text()

    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line.get("request_id") == "log-test-1"]
    assert line["logger"] == "wallet_api.access"
    assert line["level"] == "info"
    assert line["method"] == "POST"
    assert line["route"] == OPERATION_ROUTE
    assert line["status"] == 422
    assert line["wallet_id"] == str(wallet_id)
    assert 0 < line["duration_ms"] < 60_000
    assert any(line.get("route") == "/health/live" for line in lines)
    # An amount no timestamp or duration can hold: it must not be in the log.
    for secret in [*secrets.values(), "secret-query-4", "8765431.41"]:
        assert secret not in text
    assert '"GET /health/live HTTP/1.1"' not in text


class CountedStream(io.StringIO):
    """stderr as the log handler sees it, counting the writes it is given."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def json_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(f"test.{uuid.uuid4()}")
    handler = StderrHandler(batched=(logger.name,))
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)


async def test_the_log_lines_of_one_turn_of_the_event_loop_leave_in_one_write(
    json_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = CountedStream()
    monkeypatch.setattr(sys, "stderr", stream)
    for n in range(3):
        json_logger.info("line %d", n)
    await asyncio.sleep(0)
    assert stream.writes == 1
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["line 0", "line 1", "line 2"]


async def test_log_lines_still_pending_are_written_by_a_flush(
    json_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = CountedStream()
    monkeypatch.setattr(sys, "stderr", stream)
    json_logger.info("before shutdown")
    for handler in json_logger.handlers:
        handler.flush()  # what logging.shutdown does at exit
    assert json.loads(stream.getvalue())["message"] == "before shutdown"


def test_outside_an_event_loop_a_log_line_is_written_at_once(
    json_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = CountedStream()
    monkeypatch.setattr(sys, "stderr", stream)
    json_logger.info("now")
    assert json.loads(stream.getvalue())["message"] == "now"


async def test_a_line_of_another_logger_goes_at_once_after_the_waiting_ones(
    json_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = CountedStream()
    monkeypatch.setattr(sys, "stderr", stream)
    other = logging.getLogger(f"{json_logger.name}.shutdown")  # not batched, same handler
    json_logger.info("request")
    other.info("Finished server process")
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages == ["request", "Finished server process"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_are_for_people_on_a_terminal_and_json_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert resolve_format("auto") == "text"
    assert resolve_format("json") == "json"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert resolve_format("auto") == "json"
    assert resolve_format("text") == "text"

    record = logging.LogRecord("wallet_api.access", logging.INFO, "", 0, "request", None, None)
    record.status = 200
    line = TextFormatter().format(record)
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} INFO +wallet_api\.access: request status=200", line)


def test_log_level_and_format_are_validated_in_any_case() -> None:
    assert Settings(_env_file=None, log_level="DEBUG", log_format="Text").log_level == "debug"
    for bad in ({"log_level": "loud"}, {"log_format": "xml"}):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, **bad)  # type: ignore[arg-type]
