"""Pages of a wallet's operations, newest first, behind opaque keyset cursors."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from wallet_api.ledger.errors import InvalidCursor

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
_PREFIX = "op1:"
_AFTER_EVERY_ID = 2**63 - 1
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    operation_type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id below which the next page starts; every id when there is no cursor."""
    if cursor is None:
        return _AFTER_EVERY_ID
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit() or len(number) > 19:
        raise InvalidCursor()
    return int(number)
