"""Pages of a wallet's operations, newest first, behind opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import InvalidCursor
from wallet_api.ledger.records import Operation, metadata_pairs
from wallet_api.ledger.rules import OperationType
from wallet_api.ledger.wallets import Wallets
from wallet_api.storage import wallets as store
from wallet_api.storage.database import Database

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
_PREFIX = "op1:"
_AFTER_EVERY_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    operation_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    reference: str | None = None


def keyset_cursor(prefix: str, *parts: str) -> str:
    """An opaque cursor holding `parts`, marked by `prefix` (each list has its own)."""
    text = prefix + "|".join(parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def keyset_parts(prefix: str, cursor: str) -> list[str]:
    """The parts `keyset_cursor` put in a cursor of this prefix; InvalidCursor otherwise."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    if not text.startswith(prefix):
        raise InvalidCursor()
    return text.removeprefix(prefix).split("|")


def encode_cursor(last_id: int) -> str:
    return keyset_cursor(_PREFIX, str(last_id))


def decode_cursor(cursor: str | None) -> int:
    """The id below which the next page starts; every id when there is no cursor."""
    if cursor is None:
        return _AFTER_EVERY_ID
    parts = keyset_parts(_PREFIX, cursor)
    if len(parts) != 1 or not parts[0].isdigit() or len(parts[0]) > 19:
        raise InvalidCursor()
    return int(parts[0])


@dataclass(frozen=True, slots=True)
class OperationsPage:
    items: list[Operation]
    next_cursor: str | None


class History:
    """A wallet's operations, newest first, a page at a time."""

    def __init__(self, database: Database, wallets: Wallets) -> None:
        self._db = database
        self._wallets = wallets

    async def page(self, wallet_id: uuid.UUID, query: HistoryQuery) -> OperationsPage:
        before_id = decode_cursor(query.cursor)
        wallet = await self._wallets.get(wallet_id)
        types = [query.operation_type] if query.operation_type else [str(t) for t in OperationType]
        async with self._db.connect() as connection:
            rows = await store.operations_page(
                connection,
                wallet_id,
                before_id=before_id,
                operation_types=types,
                created_after=query.created_after,
                created_before=query.created_before,
                limit=query.limit + 1,
                reference=query.reference,
            )
        items = [operation_from_row(row, wallet.currency) for row in rows[: query.limit]]
        has_more = len(rows) > query.limit
        return OperationsPage(items, encode_cursor(items[-1].id) if has_more else None)


def operation_from_row(row: store.OperationRow, currency: str) -> Operation:
    digits = minor_units(currency)
    return Operation(
        id=row.id,
        wallet_id=row.wallet_id,
        operation_type=OperationType(row.operation_type),
        amount=amounts.from_minor_units(row.amount_minor, digits),
        currency=currency,
        created_at=row.created_at,
        transfer_id=row.transfer_id,
        hold_id=row.hold_id,
        balance_after=amounts.from_minor_units(row.balance_after, digits),
        reverses_id=row.reverses_id,
        reference=row.reference,
        metadata=metadata_pairs(row.metadata),
    )
