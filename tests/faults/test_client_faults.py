"""The Python client through a PostgreSQL restart: it retries 503s and lost connections with the
same Idempotency-Key by itself, and every movement it reports done is in the ledger once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.faults.checks import assert_ledger_is_what_clients_were_told
from tests.faults.clients import Movement
from tests.faults.postgres import RestartablePostgres
from tests.faults.test_faults import started
from tests.support import scrape
from wallet_api.client import AsyncWalletClient, InsufficientFunds, Operation, Transfer

pytestmark = pytest.mark.faults

WALLETS = 4
CLIENTS = 6


class ClientLoad:
    """Clients of wallet_api.client moving money among `wallets` until told to stop."""

    def __init__(self, client: AsyncWalletClient, wallets: list[uuid.UUID]) -> None:
        self.client = client
        self.wallets = wallets
        self.done: list[Movement] = []
        self.refused = 0
        self.stop = asyncio.Event()

    async def run(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            await self.move(rng)

    async def move(self, rng: random.Random) -> None:
        minor = rng.randint(1, 500)
        amount = Decimal(minor).scaleb(-2)
        source, target = rng.sample(self.wallets, 2)
        kind = rng.choice(("DEPOSIT", "WITHDRAW", "TRANSFER"))
        key = f"client-{uuid.uuid4()}"
        made: Operation | Transfer
        try:
            if kind == "TRANSFER":
                made = await self.client.transfer(source, target, amount, idempotency_key=key)
            elif kind == "DEPOSIT":
                made = await self.client.deposit(target, amount, idempotency_key=key)
            else:
                made = await self.client.withdraw(source, amount, idempotency_key=key)
        except InsufficientFunds:
            self.refused += 1
            return
        self.done.append(
            Movement(
                kind=kind,
                key=key,
                source=None if kind == "DEPOSIT" else source,
                target=None if kind == "WITHDRAW" else target,
                amount_minor=minor,
                id=made.id if isinstance(made, Operation) else str(made.id),
            )
        )

    async def until(self, count: int) -> None:
        target = len(self.done) + count
        for _ in range(1200):
            if len(self.done) >= target:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the client load stalled at {len(self.done)} movements")


async def test_the_client_rides_out_a_postgres_restart_with_nothing_lost_or_doubled(
    postgres: RestartablePostgres,
    fault_env: dict[str, str],
    fault_database_url: str,
    tmp_path: Path,
) -> None:
    wallets = [uuid.uuid4() for _ in range(WALLETS)]
    with contextlib.ExitStack() as stack:
        base_url, _ = await started(stack, fault_env, tmp_path / "service.log")
        async with AsyncWalletClient(base_url, retry_deadline=90) as client:
            funding = []
            for wallet_id in wallets:
                made = await client.deposit(wallet_id, "1000.00", idempotency_key=str(wallet_id))
                funding.append(
                    Movement("DEPOSIT", str(wallet_id), None, wallet_id, 100_000, made.id)
                )
            load = ClientLoad(client, wallets)
            runners = [asyncio.create_task(load.run(seed)) for seed in range(CLIENTS)]
            try:
                await load.until(60)
                await asyncio.to_thread(postgres.stop, "fast")
                await asyncio.sleep(2)  # the clients keep retrying meanwhile
                await asyncio.to_thread(postgres.start)
                await load.until(120)
            finally:
                load.stop.set()
                await asyncio.gather(*runners)
            async with httpx.AsyncClient(base_url=base_url) as http:
                samples = await scrape(http)
    unavailable = sum(
        v
        for (name, labels), v in samples.items()
        if name == "wallet_http_requests_total" and ("status", "503") in labels
    )
    assert unavailable > 0, "the clients never met the outage: nothing was proven"
    await assert_ledger_is_what_clients_were_told(fault_database_url, wallets, funding + load.done)
