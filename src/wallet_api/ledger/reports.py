"""What a wallet looked like and what it did: the balance as of an instant, statements, the
lists of transfers, holds and wallets, a keyset page at a time, and what carries a reference."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from wallet_api.ledger.errors import InvalidCursor, InvalidRequest, WalletNotFound
from wallet_api.ledger.history import keyset_cursor, keyset_parts, operation_from_row
from wallet_api.ledger.holds import hold_from_row
from wallet_api.ledger.records import Hold, Operation, Transfer, Wallet, minor_to_decimal
from wallet_api.ledger.rules import CREDIT_TYPES
from wallet_api.ledger.transfers import transfer_from_row
from wallet_api.ledger.wallets import Wallets, wallet_from_row
from wallet_api.storage import reports as store
from wallet_api.storage.database import Database

LONGEST_STATEMENT = timedelta(days=366)
MAX_PAGE_SIZE = 500
_LINES_AT_ONCE = 1000
_NEWEST = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=2**128 - 1))

Item = TypeVar("Item")


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    items: list[Item]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Statement:
    wallet_id: uuid.UUID
    currency: str
    start: datetime
    end: datetime
    opening_balance: Decimal
    closing_balance: Decimal
    total_in: Decimal
    total_out: Decimal
    lines: AsyncIterator[Operation]  # oldest first, read as they are sent


@dataclass(frozen=True, slots=True)
class ReferenceMatches:
    """Everything that carries one reference, in any wallet, newest first."""

    reference: str
    operations: list[Operation]
    transfers: list[Transfer]
    holds: list[Hold]


def _time_and_id(prefix: str, cursor: str | None) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a keyset page continues below; the newest when no cursor."""
    if cursor is None:
        return _NEWEST
    try:
        created_at, item_id = keyset_parts(prefix, cursor)
        return datetime.fromisoformat(created_at), uuid.UUID(item_id)
    except ValueError:
        raise InvalidCursor() from None


class Reports:
    def __init__(self, database: Database, wallets: Wallets) -> None:
        self._db = database
        self._wallets = wallets

    async def as_of(self, wallet_id: uuid.UUID, at: datetime) -> Wallet:
        """The wallet as it stood at `at`: its balance after the last operation by then."""
        now = datetime.now(UTC)
        if at > now:
            raise InvalidRequest("as_of must not be in the future.")
        wallet = await self._wallets.get(wallet_id)
        if at < wallet.created_at:
            raise WalletNotFound(wallet_id)
        async with self._db.hot() as connection:
            found = await store.balance_at(connection, wallet_id, at)
            held = await store.held_at(connection, wallet_id, at)
        balance_minor, last_change = found if found is not None else (0, wallet.created_at)
        return replace(
            wallet,
            balance=minor_to_decimal(balance_minor, wallet.currency),
            available_balance=minor_to_decimal(balance_minor - held, wallet.currency),
            updated_at=last_change,
        )

    async def statement(self, wallet_id: uuid.UUID, start: datetime, end: datetime) -> Statement:
        if end <= start:
            raise InvalidRequest("`to` must be after `from`.")
        if end - start > LONGEST_STATEMENT:
            raise InvalidRequest("A statement spans at most 366 days.")
        wallet = await self._wallets.get(wallet_id)
        credit_types = [str(kind) for kind in CREDIT_TYPES]
        async with self._db.hot() as connection:
            opening = await store.balance_at(connection, wallet_id, start - _INSTANT)
            closing = await store.balance_at(connection, wallet_id, end - _INSTANT)
            money_in, money_out = await store.totals(
                connection, wallet_id, start, end, credit_types
            )
        currency = wallet.currency
        return Statement(
            wallet_id,
            currency,
            start,
            end,
            minor_to_decimal(opening[0] if opening else 0, currency),
            minor_to_decimal(closing[0] if closing else 0, currency),
            minor_to_decimal(money_in, currency),
            minor_to_decimal(money_out, currency),
            self._lines(wallet_id, currency, start, end),
        )

    async def _lines(
        self, wallet_id: uuid.UUID, currency: str, start: datetime, end: datetime
    ) -> AsyncIterator[Operation]:
        after: tuple[datetime, int] = (start - _INSTANT, 2**63 - 1)
        while True:
            async with self._db.hot() as connection:
                rows = await store.lines(connection, wallet_id, after, end, _LINES_AT_ONCE)
            for row in rows:
                yield operation_from_row(row, currency)
            if len(rows) < _LINES_AT_ONCE:
                return
            after = (rows[-1].created_at, rows[-1].id)

    async def transfers(
        self, wallet_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[Transfer]:
        before = _time_and_id("tr1:", cursor)
        await self._wallets.get(wallet_id)
        async with self._db.hot() as connection:
            rows = await store.transfers(connection, wallet_id, before, limit + 1)
        items = [transfer_from_row(row) for row in rows[:limit]]
        return Page(items, _next("tr1:", items, len(rows) > limit))

    async def holds(
        self, wallet_id: uuid.UUID, status: str | None, limit: int, cursor: str | None
    ) -> Page[Hold]:
        before = _time_and_id("ho1:", cursor)
        await self._wallets.get(wallet_id)
        async with self._db.hot() as connection:
            rows = await store.holds(connection, wallet_id, before, status, limit + 1)
        items = [hold_from_row(row) for row in rows[:limit]]
        return Page(items, _next("ho1:", items, len(rows) > limit))

    async def with_reference(self, reference: str, limit: int) -> ReferenceMatches:
        """At most `limit` operations, transfers and holds each that carry `reference`."""
        async with self._db.hot() as connection:
            operations = await store.operations_with_reference(connection, reference, limit)
            transfers = await store.transfers_with_reference(connection, reference, limit)
            holds = await store.holds_with_reference(connection, reference, limit)
        return ReferenceMatches(
            reference,
            [operation_from_row(row, currency) for row, currency in operations],
            [transfer_from_row(row) for row in transfers],
            [hold_from_row(row) for row in holds],
        )

    async def wallets(self, limit: int, cursor: str | None) -> Page[Wallet]:
        after = uuid.UUID(int=0)
        if cursor is not None:
            try:
                (text,) = keyset_parts("wa1:", cursor)
                after = uuid.UUID(text)
            except ValueError:
                raise InvalidCursor() from None
        async with self._db.hot() as connection:
            rows = await store.wallets(connection, after, limit + 1)
        items = [wallet_from_row(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, keyset_cursor("wa1:", str(items[-1].id)) if more else None)


# One microsecond, PostgreSQL's resolution: `before t` is `at or before t - 1 us`.
_INSTANT = timedelta(microseconds=1)


def _next(prefix: str, items: list[Transfer] | list[Hold], more: bool) -> str | None:
    if not more:
        return None
    last = items[-1]
    return keyset_cursor(prefix, last.created_at.isoformat(), str(last.id))
