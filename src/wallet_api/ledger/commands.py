"""What the engine is asked (a command) and what it answers (a decided outcome)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from wallet_api.ledger.errors import LedgerError
from wallet_api.ledger.idempotency import IdempotencyKey
from wallet_api.ledger.records import Record
from wallet_api.ledger.rules import Movement


@dataclass(frozen=True, slots=True)
class Command:
    """A movement as a client asked for it, the wallets it touches, and its key if it has one."""

    movement: Movement
    wallets: tuple[uuid.UUID, ...]
    key: IdempotencyKey | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    """A command's outcome; `replayed` when it is the stored outcome of its key."""

    outcome: Record | LedgerError
    replayed: bool = False
