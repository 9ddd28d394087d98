"""The service and the rules agree (issue 12): a seeded random workload from many parallel
clients goes through the HTTP API; then every decision the ledger recorded is replayed through
`ledger/rules.py` alone, in the order the ledger numbered them (migration 0006), from the empty
wallets the test created. The replay must accept each decision, append the same operations and
end with the same books, and every answer a client got must be one the rules give at a point of
the ledger's order, and at a time, within that request's lifetime.

How a request's lifetime is placed in the ledger's order, without comparing the client's clock
with the service's: a decision answered before a request was sent was committed before the
request's transaction began, so it comes first in the numbering of their common wallets, and its
transaction began earlier; a decision sent after a request was answered comes after, likewise.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from tests.support import assert_books_balance, create_wallet
from wallet_api.http.answers import REPLAYED_HEADER
from wallet_api.http.problems import STATUS_OF_CODE
from wallet_api.ledger import amounts, rules
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.idempotency import ANONYMOUS
from wallet_api.ledger.rules import (
    Books,
    CaptureHold,
    Change,
    Deposit,
    HoldState,
    LapseHold,
    Movement,
    PlaceHold,
    TransferFunds,
    VoidHold,
    WalletState,
    Withdrawal,
)
from wallet_api.settings import Settings

SEED = 20261129
CLIENTS = 30
STEPS = 16  # per client; with bursts and the retries of keyed requests, about 630 requests
CURRENCIES = ("USD",) * 6 + ("EUR", "JPY")
FUNDS_MINOR = 5_000  # each wallet's first deposit: 50.00 USD or EUR, 5000 JPY
LARGEST_MINOR = 2_500  # the largest ordinary amount, half a first deposit
BEYOND_ANY_BALANCE_MINOR = 1_000_000  # a withdrawal meant to fail
NO_ID = uuid.UUID(int=0)  # the new id of a movement that creates nothing
MICROSECOND = timedelta(microseconds=1)
# What a request may get that the rules did not decide: the answer stored under its key is
# another request's, or is still being decided.
KEY_REFUSALS = ("idempotency_key_reused", "idempotency_key_in_progress")


# The workload.


@dataclass(frozen=True)
class Request:
    """A request as a client sends it, the movement the rules see in it, and its status when
    accepted."""

    path: str
    body: dict[str, object] | None
    movement: Movement
    success: int


def deposit(wallet_id: uuid.UUID, amount: str) -> Request:
    body = {"operation_type": "DEPOSIT", "amount": amount}
    return Request(
        f"/api/v1/wallets/{wallet_id}/operation", body, Deposit(wallet_id, Decimal(amount)), 200
    )


def withdrawal(wallet_id: uuid.UUID, amount: str) -> Request:
    body = {"operation_type": "WITHDRAW", "amount": amount}
    return Request(
        f"/api/v1/wallets/{wallet_id}/operation", body, Withdrawal(wallet_id, Decimal(amount)), 200
    )


def transfer(source: uuid.UUID, target: uuid.UUID, amount: str) -> Request:
    body = {"from_wallet_id": str(source), "to_wallet_id": str(target), "amount": amount}
    return Request("/api/v1/transfers", body, TransferFunds(source, target, Decimal(amount)), 201)


def placement(wallet_id: uuid.UUID, amount: str, seconds: int) -> Request:
    body = {"amount": amount, "expires_in_seconds": seconds}
    movement = PlaceHold(wallet_id, Decimal(amount), seconds)
    return Request(f"/api/v1/wallets/{wallet_id}/holds", body, movement, 201)


def capture(hold_id: uuid.UUID, amount: str | None) -> Request:
    body = None if amount is None else {"amount": amount}
    movement = CaptureHold(hold_id, None if amount is None else Decimal(amount))
    return Request(f"/api/v1/holds/{hold_id}/capture", body, movement, 200)


def void(hold_id: uuid.UUID) -> Request:
    return Request(f"/api/v1/holds/{hold_id}/void", None, VoidHold(hold_id), 200)


def money(minor: int, currency: str, extra_digits: int = 0) -> str:
    """`minor` units of `currency` as a request writes them; with `extra_digits`, an amount with
    more decimals than the currency has."""
    digits = minor_units(currency) + extra_digits
    return amounts.format_amount(amounts.from_minor_units(minor, digits), digits)


@dataclass(frozen=True)
class Exchange:
    """One request of the workload and the answer it got, timed by the client's clock."""

    request: Request
    key: str | None
    sent_at: float
    answered_at: float
    status: int
    content: bytes
    replayed: bool

    @property
    def answer(self) -> dict[str, Any]:
        return json.loads(self.content, parse_float=Decimal)

    @property
    def code(self) -> str | None:
        """The refusal's code; None when the request was accepted."""
        return None if self.status < 300 else self.answer["code"]


@dataclass(frozen=True)
class PlacedHold:
    id: uuid.UUID
    wallet_id: uuid.UUID
    amount_minor: int


class Workload:
    """Parallel clients sending a seeded random mix of every movement, about half of them with
    an Idempotency-Key. Every draw of a client's generator happens whatever the answers, so a
    seed always plans the same steps; which hold a step captures depends on the timing."""

    def __init__(
        self, http: httpx.AsyncClient, wallets: dict[uuid.UUID, str], default_currency: str
    ) -> None:
        self.http = http
        self.wallets = wallets  # id -> currency
        self.usd = [w for w, currency in wallets.items() if currency == "USD"]
        self.others = [w for w, currency in wallets.items() if currency != "USD"]
        self.default_currency = default_currency
        self.run = uuid.uuid4().hex[:12]  # the prefix of this run's keys
        self.opened_by_deposit = [uuid.uuid4(), uuid.uuid4()]
        self.holds: dict[uuid.UUID, PlacedHold] = {}  # unsettled, for any client to settle
        self.exchanges: list[Exchange] = []

    async def send(self, request: Request, key: str | None = None, share: bool = True) -> Exchange:
        headers = {"Idempotency-Key": key} if key else None
        sent_at = time.monotonic()
        response = await self.http.post(request.path, json=request.body, headers=headers)
        exchange = Exchange(
            request,
            key,
            sent_at,
            time.monotonic(),
            response.status_code,
            response.content,
            response.headers.get(REPLAYED_HEADER) == "true",
        )
        self.exchanges.append(exchange)
        movement = request.movement
        if (
            share
            and isinstance(movement, PlaceHold)
            and exchange.code is None
            and not exchange.replayed
        ):
            currency = self.wallets[movement.wallet_id]
            minor = amounts.to_minor_units(movement.amount, minor_units(currency))
            hold_id = uuid.UUID(exchange.answer["id"])
            self.holds[hold_id] = PlacedHold(hold_id, movement.wallet_id, minor)
        if isinstance(movement, CaptureHold | VoidHold) and exchange.code is None:
            self.holds.pop(movement.hold_id, None)
        return exchange

    async def client(self, index: int) -> None:
        rng = random.Random(SEED * 1000 + index)
        for step in range(STEPS):
            key = f"{self.run}-{index}-{step}"
            roll = rng.random()
            if roll < 0.05:
                await asyncio.sleep(rng.uniform(0.1, 0.5))
            elif roll < 0.10:
                await self.outlive_a_hold(rng, key)
            elif roll < 0.16:
                # A burst: requests that arrive together go in one batch where they meet.
                burst = [self.random_request(rng) for _ in range(4)]
                await asyncio.gather(*(self.send(request) for request in burst))
            elif roll < 0.58:
                await self.send_keyed(rng, self.random_request(rng), key)
            else:
                await self.send(self.random_request(rng))

    async def send_keyed(self, rng: random.Random, request: Request, key: str) -> None:
        """A keyed request, sometimes sent twice at once, or retried after its answer, or its
        key reused for another request once answered."""
        roll = rng.random()
        if roll < 0.08:
            await asyncio.gather(self.send(request, key), self.send(request, key))
            return
        first = await self.send(request, key)
        if roll < 0.33:
            await self.send(request, key)
        elif roll < 0.40 and first.code != "validation_error":
            # (An invalid request is no answer: its key stays free for the next request.)
            await self.send(deposit(self.usd[0], "0.01"), key)

    async def outlive_a_hold(self, rng: random.Random, key: str) -> None:
        """Place a one-second hold, wait past its expiry, then capture or void it: the batch
        lapses the hold first, so the answer is hold_not_active."""
        wallet_id = self.any_wallet(rng)
        amount = money(rng.randint(1, 100), self.wallets[wallet_id])
        pause, captures, keyed = rng.uniform(1.1, 1.4), rng.random() < 0.5, rng.random() < 0.5
        placed = await self.send(placement(wallet_id, amount, 1), share=False)
        if placed.code is not None:
            return
        await asyncio.sleep(pause)
        hold_id = uuid.UUID(placed.answer["id"])
        await self.send(
            capture(hold_id, None) if captures else void(hold_id), key if keyed else None
        )

    def any_wallet(self, rng: random.Random) -> uuid.UUID:
        """A wallet, the first one (a hot wallet) five times as often as any other."""
        return rng.choices(list(self.wallets), weights=[5] + [1] * (len(self.wallets) - 1))[0]

    def random_request(self, rng: random.Random) -> Request:
        roll = rng.random()
        if roll < 0.16:
            return self.random_deposit(rng)
        if roll < 0.34:
            return self.random_withdrawal(rng)
        if roll < 0.54:
            return self.random_transfer(rng)
        if roll < 0.72:
            return self.random_placement(rng)
        return self.random_settlement(rng)

    def random_deposit(self, rng: random.Random) -> Request:
        roll, wallet_id, minor = rng.random(), self.any_wallet(rng), self.minor(rng)
        if roll < 0.06:
            # Into a wallet nobody created: the first deposit opens it, in the default currency,
            # perhaps racing another one in the other worker.
            new = rng.choice(self.opened_by_deposit)
            return deposit(new, money(minor, self.default_currency))
        return deposit(wallet_id, money(minor, self.wallets[wallet_id]))

    def random_withdrawal(self, rng: random.Random) -> Request:
        roll, wallet_id, minor = rng.random(), self.any_wallet(rng), self.minor(rng)
        currency = self.wallets[wallet_id]
        if roll < 0.05:
            return withdrawal(uuid.uuid4(), money(minor, currency))
        if roll < 0.10:
            return withdrawal(wallet_id, money(10 * minor + 5, currency, extra_digits=1))
        if roll < 0.35:
            return withdrawal(wallet_id, money(BEYOND_ANY_BALANCE_MINOR + minor, currency))
        return withdrawal(wallet_id, money(minor, currency))

    def random_transfer(self, rng: random.Random) -> Request:
        roll, minor = rng.random(), self.minor(rng)
        source, target = rng.sample(self.usd, 2)
        other = rng.choice(self.others)
        if roll < 0.08:
            target = uuid.uuid4()
        elif roll < 0.12:
            source = uuid.uuid4()
        elif roll < 0.16:
            target = source
        elif roll < 0.28:
            source, target = (other, source) if roll < 0.22 else (source, other)
        return transfer(source, target, money(minor, self.wallets.get(source, "USD")))

    def random_placement(self, rng: random.Random) -> Request:
        wallet_id, minor = self.any_wallet(rng), self.minor(rng)
        seconds = rng.choice((1, 2, 2, 30, 30))
        return placement(wallet_id, money(minor, self.wallets[wallet_id]), seconds)

    def random_settlement(self, rng: random.Random) -> Request:
        """Capture (all, part, or more than held) or void one of the latest holds not known to
        be settled, or one that does not exist; place one while there is none."""
        roll, pick, part, above = rng.random(), rng.random(), rng.random(), rng.randint(1, 100)
        recent = list(self.holds.values())[-12:]
        if roll < 0.04:
            return capture(uuid.uuid4(), None) if roll < 0.02 else void(uuid.uuid4())
        if not recent:
            wallet_id = list(self.wallets)[int(pick * len(self.wallets))]
            return placement(wallet_id, money(above, self.wallets[wallet_id]), 30)
        held = recent[int(pick * len(recent))]
        currency = self.wallets[held.wallet_id]
        if roll < 0.35:
            return void(held.id)
        if roll < 0.60:
            return capture(held.id, None)
        if roll < 0.85:
            return capture(held.id, money(max(1, math.ceil(part * held.amount_minor)), currency))
        return capture(held.id, money(held.amount_minor + above, currency))

    @staticmethod
    def minor(rng: random.Random) -> int:
        return rng.randint(1, LARGEST_MINOR)


# What the ledger recorded.


@dataclass(frozen=True)
class Ledger:
    """The rows of the test's wallets, and the time each of this run's stored keys was
    answered at."""

    wallets: dict[uuid.UUID, asyncpg.Record]
    operations: dict[int, asyncpg.Record]
    transfers: dict[uuid.UUID, asyncpg.Record]
    holds: dict[uuid.UUID, asyncpg.Record]
    keys: dict[str, datetime]

    def amount(self, minor: int, wallet_id: uuid.UUID) -> Decimal:
        return amounts.from_minor_units(minor, minor_units(self.wallets[wallet_id]["currency"]))

    @property
    def wallet_of_hold(self) -> dict[uuid.UUID, uuid.UUID]:
        return {hold_id: row["wallet_id"] for hold_id, row in self.holds.items()}


async def read_ledger(db: asyncpg.Connection, wallet_ids: list[uuid.UUID], run: str) -> Ledger:
    wallets = await db.fetch(
        "SELECT id, currency, balance_minor, held_minor FROM wallets WHERE id = ANY($1::uuid[])",
        wallet_ids,
    )
    operations = await db.fetch(
        """
        SELECT id, wallet_id, operation_type, amount_minor, transfer_id, hold_id, created_at
        FROM operations WHERE wallet_id = ANY($1::uuid[])
        """,
        wallet_ids,
    )
    transfers = await db.fetch(
        """
        SELECT id, from_wallet_id, to_wallet_id, amount_minor, created_at FROM transfers
        WHERE from_wallet_id = ANY($1::uuid[]) OR to_wallet_id = ANY($1::uuid[])
        """,
        wallet_ids,
    )
    holds = await db.fetch(
        """
        SELECT id, wallet_id, amount_minor, status, captured_minor, expires_at, created_at,
               updated_at, placed_seq, settled_seq
        FROM holds WHERE wallet_id = ANY($1::uuid[])
        """,
        wallet_ids,
    )
    keys = await db.fetch(
        "SELECT key, created_at FROM idempotency_keys WHERE caller = $1 AND key LIKE $2",
        ANONYMOUS,
        f"{run}-%",
    )
    return Ledger(
        {row["id"]: row for row in wallets},
        {row["id"]: row for row in operations},
        {row["id"]: row for row in transfers},
        {row["id"]: row for row in holds},
        {row["key"]: row["created_at"] for row in keys},
    )


@dataclass(frozen=True)
class Decision:
    """A decision the ledger recorded: its number in the ledger's order, the time of its
    transaction, the movement decided, the id the ledger gave what it created, and the ids of
    the operations it appended."""

    number: int
    now: datetime
    movement: Movement
    created: uuid.UUID = NO_ID
    operation_ids: tuple[int, ...] = ()


def recorded_decisions(ledger: Ledger) -> list[Decision]:
    """Every recorded decision, in the ledger's order. Deposits and withdrawals are numbered by
    their operation, transfers by their TRANSFER_OUT leg (the TRANSFER_IN leg has the next id);
    holds by the numbers of the commands that placed and settled them, the capture's operation
    having the next id; the holds that lapsed in a batch share the batch's first number."""
    decisions = []
    out_legs = {
        op["transfer_id"]: op
        for op in ledger.operations.values()
        if op["operation_type"] == "TRANSFER_OUT"
    }
    for op in ledger.operations.values():
        amount = ledger.amount(op["amount_minor"], op["wallet_id"])
        if op["operation_type"] == "DEPOSIT":
            movement: Movement = Deposit(op["wallet_id"], amount)
        elif op["operation_type"] == "WITHDRAW":
            movement = Withdrawal(op["wallet_id"], amount)
        else:
            continue
        decisions.append(Decision(op["id"], op["created_at"], movement, operation_ids=(op["id"],)))
    for transfer_id, row in ledger.transfers.items():
        assert transfer_id in out_legs, f"transfer {transfer_id} has no TRANSFER_OUT"
        out = out_legs[transfer_id]
        assert row["created_at"] == out["created_at"], f"transfer {transfer_id} and its legs"
        amount = ledger.amount(row["amount_minor"], row["from_wallet_id"])
        movement = TransferFunds(row["from_wallet_id"], row["to_wallet_id"], amount)
        legs = (out["id"], out["id"] + 1)
        decisions.append(Decision(out["id"], out["created_at"], movement, transfer_id, legs))
    for hold_id, row in ledger.holds.items():
        lifetime = row["expires_at"] - row["created_at"]
        assert lifetime % timedelta(seconds=1) == timedelta(0), f"hold {hold_id}: {lifetime}"
        assert row["placed_seq"] is not None, f"hold {hold_id} has no number"
        amount = ledger.amount(row["amount_minor"], row["wallet_id"])
        placing = PlaceHold(row["wallet_id"], amount, lifetime // timedelta(seconds=1))
        decisions.append(Decision(row["placed_seq"], row["created_at"], placing, hold_id))
        assert (row["status"] == "ACTIVE") == (row["settled_seq"] is None), dict(row)
        number, now = row["settled_seq"], row["updated_at"]
        match row["status"]:
            case "CAPTURED":
                captured = ledger.amount(row["captured_minor"], row["wallet_id"])
                movement = CaptureHold(hold_id, captured)
                decisions.append(Decision(number, now, movement, operation_ids=(number + 1,)))
            case "VOIDED":
                decisions.append(Decision(number, now, VoidHold(hold_id)))
            case "EXPIRED":
                decisions.append(Decision(number, now, LapseHold(hold_id)))
    return sorted(decisions, key=lambda decision: decision.number)


def assert_numbers_drawn_once(decisions: list[Decision]) -> None:
    """A number is drawn once: for a command, an operation, or the lapses of one batch."""
    drawn = Counter({d.number for d in decisions if isinstance(d.movement, LapseHold)})
    for d in decisions:
        if not isinstance(d.movement, LapseHold):
            drawn.update({d.number, *d.operation_ids})
    assert [number for number, times in drawn.items() if times > 1] == []


def touched(movement: Movement, wallet_of_hold: Mapping[uuid.UUID, uuid.UUID]) -> set[uuid.UUID]:
    """The wallets a movement locks: none for a hold that does not exist."""
    match movement:
        case Deposit() | Withdrawal() | PlaceHold():
            return {movement.wallet_id}
        case TransferFunds():
            return {movement.from_wallet_id, movement.to_wallet_id}
        case CaptureHold() | VoidHold() | LapseHold():
            wallet_id = wallet_of_hold.get(movement.hold_id)
            return set() if wallet_id is None else {wallet_id}
    raise AssertionError(f"unknown movement {movement!r}")


# The replay.


class Replay:
    """The rules alone, deciding the recorded decisions in order from the wallets as they were
    created (empty), keeping every state each wallet and hold went through."""

    def __init__(
        self,
        created: dict[uuid.UUID, str],
        default_currency: str,
        wallet_of_hold: Mapping[uuid.UUID, uuid.UUID],
    ) -> None:
        self.default_currency = default_currency
        self.wallet_of_hold = wallet_of_hold
        self.wallets = {
            wallet_id: WalletState(wallet_id, currency, balance=0, held=0, next_expiry=None)
            for wallet_id, currency in created.items()
        }
        self.holds: dict[uuid.UUID, HoldState] = {}
        # wallet or hold id -> (number of a decision, the state it left), in the ledger's order
        self.states: dict[uuid.UUID, list[tuple[int, WalletState | HoldState]]] = {
            wallet_id: [(0, state)] for wallet_id, state in self.wallets.items()
        }
        self.changes: dict[Decision, Change] = {}
        # operation id -> (wallet, type, amount, transfer, hold, time): what the rules appended
        self.operations: dict[int, tuple[object, ...]] = {}

    def decide(self, decision: Decision) -> None:
        movement, now = decision.movement, decision.now
        if not isinstance(movement, LapseHold):
            # The engine lapses every hold past its expiry on a wallet before deciding on it.
            for wallet_id in touched(movement, self.wallet_of_hold):
                overdue = [
                    h.id for h in self.holds.values() if h.wallet_id == wallet_id and h.lapsed(now)
                ]
                assert overdue == [], f"{decision} decided with holds {overdue} past their expiry"
        change = rules.decide(movement, self.books(now), decision.created)
        assert isinstance(change, Change), f"the rules refuse {decision}: {change.detail}"
        self.changes[decision] = change
        for wallet in change.wallets:
            self.wallets[wallet.id] = wallet
            self.states.setdefault(wallet.id, []).append((decision.number, wallet))
        for hold in change.holds:
            self.holds[hold.id] = hold
            self.states.setdefault(hold.id, []).append((decision.number, hold))
        assert len(change.entries) == len(decision.operation_ids), (decision, change.entries)
        for operation_id, entry in zip(decision.operation_ids, change.entries, strict=True):
            self.operations[operation_id] = (
                entry.wallet_id,
                entry.operation_type.value,
                entry.amount,
                entry.transfer_id,
                entry.hold_id,
                now,
            )

    def books(self, now: datetime) -> Books:
        return Books(self.wallets, self.holds, now, self.default_currency)

    def numbers(self, object_id: uuid.UUID) -> list[int]:
        """The numbers of the decisions that changed a wallet or hold."""
        return [number for number, _ in self.states.get(object_id, [])]

    def books_at(self, number: float, now: datetime, object_ids: set[uuid.UUID]) -> Books:
        """The wallets and holds `object_ids` as every decision up to `number` left them."""
        states = []
        for object_id in object_ids:
            index = bisect.bisect_right(self.numbers(object_id), number)
            if index:
                states.append(self.states[object_id][index - 1][1])
        return Books(
            {s.id: s for s in states if isinstance(s, WalletState)},
            {s.id: s for s in states if isinstance(s, HoldState)},
            now,
            self.default_currency,
        )

    def assert_matches(self, ledger: Ledger) -> None:
        """The rules appended the same operations and left the same wallets and holds."""
        assert self.operations == {
            op_id: (
                op["wallet_id"],
                op["operation_type"],
                op["amount_minor"],
                op["transfer_id"],
                op["hold_id"],
                op["created_at"],
            )
            for op_id, op in ledger.operations.items()
        }
        assert {w.id: (w.currency, w.balance, w.held) for w in self.wallets.values()} == {
            wallet_id: (row["currency"], row["balance_minor"], row["held_minor"])
            for wallet_id, row in ledger.wallets.items()
        }
        assert {
            h.id: (h.wallet_id, h.amount, h.status.value, h.captured, h.expires_at, h.created_at)
            for h in self.holds.values()
        } == {
            hold_id: (
                row["wallet_id"],
                row["amount_minor"],
                row["status"],
                row["captured_minor"],
                row["expires_at"],
                row["created_at"],
            )
            for hold_id, row in ledger.holds.items()
        }


# The answers.


def assert_keys_answer_once(exchanges: list[Exchange], ledger: Ledger) -> dict[str, Exchange]:
    """Each key's answer is decided once and stored: the same request with the key again gets
    it back, byte for byte and marked as a replay, another request with it is refused. An
    invalid request is no answer: its key stays free. Returns each key's stored answer."""
    sent: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in exchanges:
        assert exchange.key or not exchange.replayed
        if exchange.key:
            sent[exchange.key].append(exchange)
    stored = {}
    for key, group in sent.items():
        decided = [
            x for x in group if not x.replayed and x.code not in (*KEY_REFUSALS, "validation_error")
        ]
        assert len(decided) <= 1, f"key {key} was decided {len(decided)} times"
        if not decided:
            answers = {(x.code, x.replayed) for x in group}
            assert ("validation_error", False) in answers, key
            in_progress = ("idempotency_key_in_progress", False)
            assert answers <= {("validation_error", False), in_progress}, key
            continue
        first = stored[key] = decided[0]
        for x in group:
            if x is first:
                continue
            if x.request != first.request:
                assert (x.code, x.replayed) == ("idempotency_key_reused", False), (key, x.content)
            elif x.replayed:
                assert (x.status, x.content) == (first.status, first.content), key
            else:
                # Not a replay: only while the stored answer was being decided.
                assert x.sent_at < first.answered_at, f"{key}: a retry got {x.content!r}"
                assert x.code in ("idempotency_key_in_progress", "validation_error"), key
    assert set(ledger.keys) == set(stored), "a key is stored exactly when it holds an answer"
    return stored


def answer_key(movement: Movement, created: object) -> tuple[str, object]:
    """How an answer names the decision it reports: the operation, transfer or hold."""
    match movement:
        case Deposit() | Withdrawal():
            return ("operation", created)
        case TransferFunds():
            return ("transfer", uuid.UUID(str(created)))
        case PlaceHold():
            return ("placed", uuid.UUID(str(created)))
        case CaptureHold() | VoidHold():
            return ("settled", movement.hold_id)
    raise AssertionError(f"no answer reports {movement!r}")


def decision_key(decision: Decision) -> tuple[str, object]:
    movement = decision.movement
    operation = isinstance(movement, Deposit | Withdrawal)
    return answer_key(movement, decision.number if operation else decision.created)


def rules_answer(decision: Decision, replay: Replay) -> dict[str, object]:
    """The body a client is answered with, from what the rules decided."""
    change = replay.changes[decision]

    def decimal(minor: int, wallet_id: uuid.UUID) -> Decimal:
        return amounts.from_minor_units(minor, minor_units(replay.wallets[wallet_id].currency))

    movement = decision.movement
    labels = {"reference": None, "metadata": {}}
    if isinstance(movement, Deposit | Withdrawal):
        (entry,) = change.entries
        (wallet,) = change.wallets
        return {
            "id": decision.number,
            "wallet_id": str(entry.wallet_id),
            "operation_type": entry.operation_type.value,
            "amount": decimal(entry.amount, entry.wallet_id),
            "balance_after": decimal(wallet.balance, wallet.id),
            "created_at": decision.now,
            "transfer_id": None,
            "hold_id": None,
            "reverses_id": None,
            **labels,
        }
    if isinstance(movement, TransferFunds):
        out = change.entries[0]
        return {
            "id": str(decision.created),
            "from_wallet_id": str(movement.from_wallet_id),
            "to_wallet_id": str(movement.to_wallet_id),
            "amount": decimal(out.amount, out.wallet_id),
            "created_at": decision.now,
            **labels,
        }
    (hold,) = change.holds
    captured = None if hold.captured is None else decimal(hold.captured, hold.wallet_id)
    return {
        "id": str(hold.id),
        "wallet_id": str(hold.wallet_id),
        "amount": decimal(hold.amount, hold.wallet_id),
        "status": hold.status.value,
        "captured_amount": captured,
        "expires_at": hold.expires_at,
        "created_at": hold.created_at,
        **labels,
    }


def with_times(body: dict[str, Any]) -> dict[str, Any]:
    return {
        name: datetime.fromisoformat(value) if name in ("created_at", "expires_at") else value
        for name, value in body.items()
    }


def asked(exchange: Exchange, ledger: Ledger) -> Movement:
    """The movement a request asked for, with the amount of a capture of all of a hold."""
    movement = exchange.request.movement
    if isinstance(movement, CaptureHold) and movement.amount is None:
        row = ledger.holds[movement.hold_id]
        return CaptureHold(movement.hold_id, ledger.amount(row["amount_minor"], row["wallet_id"]))
    return movement


@dataclass(frozen=True)
class Window:
    """Where a request was decided: between two numbers of the ledger's order of its wallets,
    in a transaction that began between two times."""

    after: float
    before: float
    earliest: datetime
    latest: datetime


class Lifetimes:
    """The accepted decisions as the clients saw them, to place a request between them."""

    def __init__(
        self,
        seen: list[tuple[Exchange, Decision]],
        wallet_of_hold: Mapping[uuid.UUID, uuid.UUID],
        started: datetime,
        finished: datetime,
    ) -> None:
        self.wallet_of_hold = wallet_of_hold
        self.seen = [
            (x.sent_at, x.answered_at, touched(x.request.movement, wallet_of_hold), d)
            for x, d in seen
        ]
        self.started, self.finished = started, finished

    def window(self, exchange: Exchange) -> Window:
        mine = touched(exchange.request.movement, self.wallet_of_hold)
        before = [(w, d) for _, answered, w, d in self.seen if answered < exchange.sent_at]
        after = [(w, d) for sent, _, w, d in self.seen if sent > exchange.answered_at]
        return Window(
            max((d.number for w, d in before if w & mine), default=0),
            min((d.number for w, d in after if w & mine), default=math.inf),
            max((d.now for _, d in before), default=self.started),
            min((d.now for _, d in after), default=self.finished),
        )


def possible_answers(
    exchange: Exchange, window: Window, now: datetime | None, replay: Replay
) -> set[tuple[str, str]]:
    """What the rules answer the request at each point of its window: (code, detail), or
    ("accepted", "")."""
    movement = exchange.request.movement
    objects = touched(movement, replay.wallet_of_hold)
    if isinstance(movement, CaptureHold | VoidHold):
        objects.add(movement.hold_id)
    points = {window.after} | {
        number
        for object_id in objects
        for number in replay.numbers(object_id)
        if window.after < number < window.before
    }
    # Only a capture's or a void's answer depends on the time (has the hold lapsed?), and
    # monotonically: the first and the last moment of the window are enough.
    times = [now] if now else [window.earliest + MICROSECOND, window.latest - MICROSECOND]
    answers = set()
    for point in points:
        for moment in times:
            decision = rules.decide(movement, replay.books_at(point, moment, objects), NO_ID)
            answers.add(
                ("accepted", "")
                if isinstance(decision, Change)
                else (decision.code, decision.detail)
            )
    return answers


def assert_answers_agree(
    exchanges: list[Exchange],
    ledger: Ledger,
    decisions: list[Decision],
    replay: Replay,
    started: datetime,
    finished: datetime,
) -> Counter[str]:
    """Every answer is one the rules give within its request's lifetime; how many of each."""
    for x in exchanges:
        assert x.status < 500, (x.request, x.content)
        if x.code is None:
            assert x.status == x.request.success, (x.request, x.status)
        else:
            assert x.status == STATUS_OF_CODE[x.code], (x.request, x.status, x.content)
    stored = assert_keys_answer_once(exchanges, ledger)
    fresh = [x for x in exchanges if not x.replayed and x.code not in KEY_REFUSALS]

    # Each accepted answer reports one recorded decision, as the rules made it, and each
    # decision a client asked for was answered once.
    accepted = [x for x in fresh if x.code is None]
    asked_for = [d for d in decisions if not isinstance(d.movement, LapseHold)]
    reported = [answer_key(x.request.movement, x.answer["id"]) for x in accepted]
    assert Counter(reported) == Counter(decision_key(d) for d in asked_for)
    by_key = {decision_key(d): d for d in asked_for}
    seen = []
    for x, key in zip(accepted, reported, strict=True):
        decision = by_key[key]
        assert decision.movement == asked(x, ledger), (x.request, decision)
        assert with_times(x.answer) == rules_answer(decision, replay), x.request
        seen.append((x, decision))

    lifetimes = Lifetimes(seen, ledger.wallet_of_hold, started, finished)
    for x, decision in seen:
        window = lifetimes.window(x)
        assert window.after < decision.number < window.before, (x.request, decision, window)
        assert window.earliest < decision.now < window.latest, (x.request, decision, window)
        if x.key:
            assert ledger.keys[x.key] == decision.now, x.request

    # A refusal writes nothing: the number its command drew is recorded nowhere, nor, unless
    # its key stored the refusal, the time of its transaction. So it is only known to lie
    # within its request's lifetime. Where the rules give one answer all along it (an unknown
    # wallet, a currency mismatch, a capture above the hold, a hold settled or lapsed before
    # the request was sent), that answer is required; where the answer depends on the point
    # (insufficient_funds while other requests moved the same wallet), the refusal must be
    # one the rules give at some point of it.
    for x in fresh:
        if x.code is not None:
            now = ledger.keys[x.key] if x.key and stored.get(x.key) is x else None
            possible = possible_answers(x, lifetimes.window(x), now, replay)
            assert (x.code, x.answer["detail"]) in possible, (x.request, x.content, possible)
    return Counter(x.code or "accepted" for x in fresh)


async def test_the_service_and_the_rules_agree_on_a_random_parallel_workload(
    client: httpx.AsyncClient, db: asyncpg.Connection, database_url: str
) -> None:
    default_currency = Settings(_env_file=None).default_currency
    started = await db.fetchval("SELECT now()")
    wallets = {await create_wallet(client, currency): currency for currency in CURRENCIES}
    workload = Workload(client, wallets, default_currency)
    for wallet_id, currency in wallets.items():
        funded = await workload.send(deposit(wallet_id, money(FUNDS_MINOR, currency)))
        assert funded.status == 200, funded.content

    await asyncio.gather(*(workload.client(index) for index in range(CLIENTS)))

    finished = await db.fetchval("SELECT now()")
    ledger = await read_ledger(db, [*wallets, *workload.opened_by_deposit], workload.run)
    decisions = recorded_decisions(ledger)
    assert_numbers_drawn_once(decisions)
    replay = Replay(wallets, default_currency, ledger.wallet_of_hold)
    for decision in decisions:
        replay.decide(decision)
    replay.assert_matches(ledger)
    answers = assert_answers_agree(workload.exchanges, ledger, decisions, replay, started, finished)
    # The workload reaches every answer it is meant to.
    assert set(answers) >= {
        "accepted",
        "insufficient_funds",
        "wallet_not_found",
        "currency_mismatch",
        "validation_error",
        "hold_not_active",
        "hold_not_found",
    }, answers
    assert any(isinstance(d.movement, LapseHold) for d in decisions), "no hold lapsed"
    assert any(x.replayed for x in workload.exchanges), "no keyed request was retried"
    assert_books_balance(database_url)
