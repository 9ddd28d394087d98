"""A steady, bounded load of keyed deposits, withdrawals and transfers, as careful clients send it.

Each movement gets a new Idempotency-Key and is sent until it gets an answer that decides it: a
2xx, or a 4xx other than `idempotency_key_in_progress`. A 5xx, a lost or refused connection or a
timeout only means "send the same request with the same key again", at most for SETTLE_SECONDS.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx

from tests.support import operation_url

FUNDS_MINOR = 100_000
SETTLE_SECONDS = 90.0
STALL_SECONDS = 60.0
PAUSE_SECONDS = 0.01
MAX_MOVEMENTS_PER_CLIENT = 5000


@dataclass(frozen=True)
class Movement:
    """A movement a client was told about with a 2xx: the id is the operation's or transfer's."""

    kind: str  # DEPOSIT, WITHDRAW or TRANSFER
    key: str | None
    source: uuid.UUID | None  # the debited wallet
    target: uuid.UUID | None  # the credited wallet
    amount_minor: int
    id: int | str


@dataclass
class Tally:
    acknowledged: list[Movement] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)  # time.monotonic() of each
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    transport_errors: int = 0
    resent: int = 0  # movements that needed more than one attempt
    replayed: int = 0  # answers that came from the stored first answer of their key


class Load:
    """`clients` concurrent clients, each sending one movement at a time among `wallets`."""

    def __init__(
        self, base_url: str, wallets: list[uuid.UUID], clients: int = 6, seed: int = 20261127
    ) -> None:
        self.tally = Tally()
        self._wallets = wallets
        self._clients = clients
        self._seed = seed
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=10, limits=limits)

    async def __aenter__(self) -> Load:
        self._tasks = [
            asyncio.create_task(self._client(random.Random(self._seed + n)))
            for n in range(self._clients)
        ]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Every client settles the movement it is sending before it stops.
        self._stop.set()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self._http.aclose()

    async def acknowledged_more(self, count: int) -> None:
        """Wait until `count` more movements were acknowledged: the load goes on."""
        target = len(self.tally.acknowledged) + count
        deadline = time.monotonic() + STALL_SECONDS
        while len(self.tally.acknowledged) < target:
            assert time.monotonic() < deadline, f"the load stalled: {self.tally}"
            self._raise_client_failure()
            await asyncio.sleep(0.05)

    def _raise_client_failure(self) -> None:
        for task in self._tasks:
            if task.done() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def _client(self, rng: random.Random) -> None:
        for _ in range(MAX_MOVEMENTS_PER_CLIENT):
            if self._stop.is_set():
                return
            await self._move(rng)
            await asyncio.sleep(PAUSE_SECONDS)

    async def _move(self, rng: random.Random) -> None:
        amount_minor = rng.randint(1, 2000)
        amount = str(Decimal(amount_minor).scaleb(-2))
        source, target = rng.sample(self._wallets, 2)
        kind = rng.choice(("DEPOSIT", "WITHDRAW", "TRANSFER"))
        key = f"load-{uuid.uuid4()}"
        if kind == "TRANSFER":
            url = "/api/v1/transfers"
            body = {"from_wallet_id": str(source), "to_wallet_id": str(target), "amount": amount}
        else:
            url = operation_url(target if kind == "DEPOSIT" else source)
            body = {"operation_type": kind, "amount": amount}
        response = await self._settle(url, body, key, rng)
        if response.status_code >= 400:
            self.tally.refused[response.json()["code"]] += 1
            return
        answer = response.json()
        self.tally.acknowledged_at.append(time.monotonic())
        self.tally.acknowledged.append(
            Movement(
                kind=kind,
                key=key,
                source=None if kind == "DEPOSIT" else source,
                target=None if kind == "WITHDRAW" else target,
                amount_minor=amount_minor,
                id=answer["id"],
            )
        )

    async def _settle(
        self, url: str, body: dict[str, Any], key: str, rng: random.Random
    ) -> httpx.Response:
        deadline = time.monotonic() + SETTLE_SECONDS
        for attempt in itertools.count():
            if attempt:
                assert time.monotonic() < deadline, f"{key} never settled: {self.tally}"
                await asyncio.sleep(rng.uniform(0.05, 0.2))
            try:
                response = await self._http.post(url, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError:
                self.tally.transport_errors += 1
                continue
            self.tally.statuses[response.status_code] += 1
            if response.status_code >= 500 or _in_progress(response):
                continue
            self.tally.resent += attempt > 0
            self.tally.replayed += response.headers.get("idempotent-replayed") == "true"
            return response
        raise AssertionError("unreachable")


def _in_progress(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    with contextlib.suppress(ValueError):
        return response.json().get("code") == "idempotency_key_in_progress"
    return False


async def fund_wallets(base_url: str, wallets: list[uuid.UUID]) -> list[Movement]:
    """A first deposit into each wallet, without a key: what the later movements draw on."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    operation_url(wallet_id),
                    json={"operation_type": "DEPOSIT", "amount": str(FUNDS_MINOR // 100)},
                )
                for wallet_id in wallets
            )
        )
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return [
        Movement("DEPOSIT", None, None, wallet_id, FUNDS_MINOR, answer.json()["id"])
        for wallet_id, answer in zip(wallets, answers, strict=True)
    ]
