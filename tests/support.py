"""What the tests share: scratch databases, a running service, ledger checks from the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from wallet_api.ledger.api_keys import ApiKeys, Scope
from wallet_api.settings import Settings
from wallet_api.storage.database import Database
from wallet_api.storage.urls import driver_dsn, parsed


def plain_dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy URL (postgresql+asyncpg://... -> postgresql://...)."""
    return driver_dsn(url)


def with_database(url: str, name: str) -> str:
    return parsed(url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server of `admin_url`, dropped afterwards."""
    name = f"wallet_test_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(plain_dsn(admin_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(admin_url, name)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited early:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the service did not become ready:\n{log.read_text()[-4000:]}")


# The logs of the services running now: a failing test shows their ends (tests/conftest.py).
RUNNING_SERVICE_LOGS: list[Path] = []


@contextlib.contextmanager
def running_service(
    env: dict[str, str],
    log: Path,
    args: tuple[str, ...] = (),
    cwd: Path | None = None,
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`wallet-api serve` in a child process on `port` (default: a free one); stopped with
    SIGTERM afterwards."""
    port = port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "wallet_api", "serve", "--port", str(port), *args]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env={**env, "WALLET_PORT": str(port)}, stdout=output, stderr=output, cwd=cwd
        )
        RUNNING_SERVICE_LOGS.append(log)
        try:
            wait_until_ready(base_url, process, log)
            yield base_url, process
        finally:
            RUNNING_SERVICE_LOGS.remove(log)
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)


def service_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WALLET_DATABASE_URL")}
    env.update({"WALLET_LOG_LEVEL": "warning", **extra})
    return env


async def ledger_problems(db: asyncpg.Connection, wallet_ids: list[uuid.UUID]) -> list[str]:
    """Every wallet whose balance is not the sum of its operations, or is negative, or one of
    whose operations has a balance_after that is not the running sum up to it."""
    rows = await db.fetch(
        """
        SELECT w.id, w.balance_minor, COALESCE(SUM(s.signed), 0) AS total,
               count(*) FILTER (WHERE s.balance_after <> s.running) AS wrong
        FROM wallets w
        LEFT JOIN LATERAL (
            SELECT o.balance_after, x.signed, sum(x.signed) OVER (ORDER BY o.id) AS running
            FROM operations o
            LEFT JOIN operations r ON r.id = o.reverses_id
            CROSS JOIN LATERAL (
                SELECT CASE WHEN o.operation_type IN ('DEPOSIT', 'TRANSFER_IN')
                              OR (o.operation_type = 'REVERSAL'
                                  AND r.operation_type NOT IN ('DEPOSIT', 'TRANSFER_IN'))
                            THEN o.amount_minor ELSE -o.amount_minor END AS signed
            ) x
            WHERE o.wallet_id = w.id
        ) s ON true
        WHERE w.id = ANY($1::uuid[])
        GROUP BY w.id
        """,
        wallet_ids,
    )
    problems = []
    for row in rows:
        if row["balance_minor"] != row["total"]:
            problems.append(f"{row['id']}: balance {row['balance_minor']} != sum {row['total']}")
        if row["balance_minor"] < 0:
            problems.append(f"{row['id']}: negative balance {row['balance_minor']}")
        if row["wrong"]:
            problems.append(f"{row['id']}: {row['wrong']} operations with a wrong balance_after")
    return problems


async def wait_for_blocked_service_statements(db: asyncpg.Connection, count: int = 1) -> None:
    """Until `count` connections of the service (to db's database) wait for a lock."""
    deadline = time.monotonic() + 60
    blocked = 0
    while time.monotonic() < deadline:
        # Inside a transaction the statistics views keep their first answer, unless cleared.
        await db.execute("SELECT pg_stat_clear_snapshot()")
        blocked = await db.fetchval(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'wallet-api'
              AND wait_event_type = 'Lock'
            """
        )
        if blocked >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{blocked} statements of the service waited for a lock, not {count}")


async def balance_of(db: asyncpg.Connection, wallet_id: uuid.UUID) -> Decimal | None:
    minor = await db.fetchval("SELECT balance_minor FROM wallets WHERE id = $1", wallet_id)
    return None if minor is None else Decimal(minor).scaleb(-2)


def operation_url(wallet_id: uuid.UUID) -> str:
    return f"/api/v1/wallets/{wallet_id}/operation"


async def deposit(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, amount: object
) -> httpx.Response:
    body = {"operation_type": "DEPOSIT", "amount": amount}
    return await client.post(operation_url(wallet_id), json=body)


async def withdraw(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, amount: object
) -> httpx.Response:
    body = {"operation_type": "WITHDRAW", "amount": amount}
    return await client.post(operation_url(wallet_id), json=body)


def run_verify(database_url: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """`wallet-api verify` on the given database, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "wallet_api", "verify"],
        env=service_environment(DATABASE_URL=database_url, **environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_books_balance(database_url: str) -> None:
    audit = run_verify(database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "0 problems found" in audit.stdout


async def create_wallet(
    client: httpx.AsyncClient, currency: str = "USD", funds: str | None = None
) -> uuid.UUID:
    response = await client.post("/api/v1/wallets", json={"currency": currency})
    assert response.status_code == 201, response.text
    wallet_id = uuid.UUID(response.json()["id"])
    if funds is not None:
        assert (await deposit(client, wallet_id, funds)).status_code == 200
    return wallet_id


async def transfer(
    client: httpx.AsyncClient,
    source: uuid.UUID,
    target: uuid.UUID,
    amount: object,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"from_wallet_id": str(source), "to_wallet_id": str(target), "amount": amount}
    return await client.post("/api/v1/transfers", json=body, headers=headers)


async def hold(
    client: httpx.AsyncClient, wallet_id: uuid.UUID, amount: object, seconds: int | None = None
) -> httpx.Response:
    body: dict[str, object] = {"amount": amount}
    if seconds is not None:
        body["expires_in_seconds"] = seconds
    return await client.post(f"/api/v1/wallets/{wallet_id}/holds", json=body)


async def wallet_json(client: httpx.AsyncClient, wallet_id: uuid.UUID) -> dict[str, object]:
    response = await client.get(f"/api/v1/wallets/{wallet_id}")
    assert response.status_code == 200
    return response.json()


async def create_key(
    database_url: str, *scopes: str, name: str = "test", expires_in: timedelta | None = None
) -> str:
    """A new API key on the database, made as `wallet-api keys create` makes it."""
    database = Database(Settings(_env_file=None), database_url)
    try:
        _, key = await ApiKeys(database).create(name, [Scope(s) for s in scopes], expires_in)
    finally:
        await database.dispose()
    return key


def log_lines(log: Path) -> list[str]:
    """The service's JSON log lines as `time LEVEL logger message`, without the other text
    (Python's warnings) that reaches stderr."""
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            level = record["level"].upper()
            lines.append(f"{record['time']} {level} {record['logger']} {record['message']}")
    return lines


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample of /metrics by name and labels."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
