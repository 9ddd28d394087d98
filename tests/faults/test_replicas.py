"""Two instances of the service on one database, behind HAProxy on loopback: still exact.

The service keeps no state of its own between requests, so any instance may answer any request;
the database's row locks serialize what the instances' group commits do on one wallet.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import (
    assert_books_balance,
    balance_of,
    create_wallet,
    deposit,
    free_port,
    ledger_problems,
    running_service,
    service_environment,
    transfer,
    withdraw,
)

pytestmark = pytest.mark.faults

OPERATION_ROUTE = "/api/v1/wallets/{wallet_id}/operation"

HAPROXY_CONFIG = """
global
    maxconn 2000

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend wallet
    bind 127.0.0.1:{port}
    default_backend api

backend api
    balance roundrobin
    option httpchk GET /health/ready
{servers}
"""


@contextlib.contextmanager
def haproxy(backends: list[str], directory: Path) -> Iterator[str]:
    """HAProxy in the foreground on a free loopback port, round robin over `backends`."""
    executable = shutil.which("haproxy")
    if executable is None:
        pytest.skip("haproxy is not installed: `make test-faults` installs the Debian package")
    port = free_port()
    servers = "\n".join(
        f"    server api{n} {urlsplit(url).netloc} check inter 1s" for n, url in enumerate(backends)
    )
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    base_url = f"http://127.0.0.1:{port}"
    with (directory / "haproxy.log").open("wb") as log:
        process = subprocess.Popen([executable, "-db", "-f", str(config)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while not _answers(f"{base_url}/health/ready"):
                assert process.poll() is None, (directory / "haproxy.log").read_text()
                assert time.monotonic() < deadline, "HAProxy did not come up"
                time.sleep(0.2)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(url, timeout=2).status_code == 200
    return False


@pytest.fixture(scope="module")
def replicas(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str]]]:
    """The proxy's URL and the two instances' own URLs."""
    directory = tmp_path_factory.mktemp("replicas")
    env = service_environment(DATABASE_URL=database_url, WALLET_WORKERS="2")
    args = ("--no-migrate",)
    with (
        running_service(env, directory / "first.log", args) as (first, _),
        running_service(env, directory / "second.log", args) as (second, _),
        haproxy([first, second], directory) as front,
    ):
        yield front, [first, second]


@pytest.fixture
async def front(replicas: tuple[str, list[str]]) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=replicas[0], timeout=60, limits=limits) as http:
        yield http


def money_requests(instance: str) -> float:
    """Deposits and withdrawals this instance (all its workers) has answered."""
    text = httpx.get(f"{instance}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "wallet_http_requests_total" and sample.labels["route"] == OPERATION_ROUTE
    )


async def test_a_hot_wallet_hammered_through_both_instances_stays_exact(
    front: httpx.AsyncClient,
    replicas: tuple[str, list[str]],
    db: asyncpg.Connection,
    database_url: str,
) -> None:
    _, instances = replicas
    served_before = [money_requests(instance) for instance in instances]
    wallet_id = uuid.uuid4()
    assert (await deposit(front, wallet_id, "100.00")).status_code == 200

    withdrawals = await asyncio.gather(*(withdraw(front, wallet_id, "1.00") for _ in range(300)))
    statuses = [response.status_code for response in withdrawals]
    assert statuses.count(200) == 100
    assert statuses.count(400) == 200
    assert await balance_of(db, wallet_id) == Decimal("0.00")

    rng = random.Random(6)
    plan = [(rng.choice((deposit, withdraw)), rng.randint(1, 500)) for _ in range(400)]
    answers = await asyncio.gather(
        *(move(front, wallet_id, str(Decimal(cents).scaleb(-2))) for move, cents in plan)
    )
    assert {answer.status_code for answer in answers} <= {200, 400}
    expected = sum(
        (cents if move is deposit else -cents)
        for (move, cents), answer in zip(plan, answers, strict=True)
        if answer.status_code == 200
    )
    assert await balance_of(db, wallet_id) == Decimal(expected).scaleb(-2)
    assert await ledger_problems(db, [wallet_id]) == []
    served = [
        money_requests(i) - before for i, before in zip(instances, served_before, strict=True)
    ]
    assert all(count > 50 for count in served), f"both instances must serve: {served}"
    assert_books_balance(database_url)


async def test_random_transfers_through_both_instances_conserve_money(
    front: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    wallets = [await create_wallet(front, "USD", funds="100.00") for _ in range(10)]
    rng = random.Random(7)
    plan = [(*rng.sample(wallets, 2), f"{rng.randint(1, 3000) / 100:.2f}") for _ in range(400)]
    answers = await asyncio.gather(*(transfer(front, a, b, amount) for a, b, amount in plan))

    assert {answer.status_code for answer in answers} <= {201, 400}
    balances = [await balance_of(db, wallet_id) for wallet_id in wallets]
    assert sum(balances) == Decimal("1000.00")
    assert all(balance >= 0 for balance in balances)
    landed = sum(answer.status_code == 201 for answer in answers)
    count = await db.fetchval(
        "SELECT count(*) FROM transfers WHERE from_wallet_id = ANY($1::uuid[])", wallets
    )
    assert count == landed
    assert await ledger_problems(db, wallets) == []
    assert_books_balance(database_url)
