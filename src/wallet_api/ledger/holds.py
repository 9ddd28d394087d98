"""Holds as the HTTP layer asks for them: reserve funds, capture or void the reservation, and
the sweep that lapses holds past their expiry on wallets nobody touches."""

from __future__ import annotations

import uuid
from decimal import Decimal

from wallet_api.ledger import amounts
from wallet_api.ledger.commands import Command, Decided
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.engine import Engine
from wallet_api.ledger.errors import HoldNotFound
from wallet_api.ledger.idempotency import IdempotencyKey
from wallet_api.ledger.records import Hold, metadata_pairs
from wallet_api.ledger.rules import CaptureHold, HoldStatus, Metadata, PlaceHold, VoidHold
from wallet_api.storage import holds as store
from wallet_api.storage.database import Database

DEFAULT_HOLD_SECONDS = 7 * 24 * 3600
MAX_HOLD_SECONDS = 30 * 24 * 3600
SWEEP_BATCH = 100
# How many hold -> wallet facts a worker remembers before it starts afresh.
_CACHE_SIZE = 100_000


class Holds:
    def __init__(self, database: Database, engine: Engine) -> None:
        self._db = database
        self._engine = engine
        # A hold's wallet never changes: a remembered one is never stale.
        self._wallets: dict[uuid.UUID, uuid.UUID] = {}

    async def place(
        self,
        wallet_id: uuid.UUID,
        amount: Decimal,
        expires_in_seconds: int,
        key: IdempotencyKey | None = None,
        reference: str | None = None,
        metadata: Metadata = (),
    ) -> Decided:
        movement = PlaceHold(wallet_id, amount, expires_in_seconds, reference, metadata)
        decided = await self._engine.submit(Command(movement, (wallet_id,), key))
        if isinstance(decided.outcome, Hold):
            self._remember(decided.outcome)
        return decided

    async def capture(
        self, hold_id: uuid.UUID, amount: Decimal | None, key: IdempotencyKey | None = None
    ) -> Decided:
        """Take `amount` (all of the hold when None) and release the rest."""
        wallets = await self._wallets_of(hold_id)
        return await self._engine.submit(Command(CaptureHold(hold_id, amount), wallets, key))

    async def void(self, hold_id: uuid.UUID, key: IdempotencyKey | None = None) -> Decided:
        wallets = await self._wallets_of(hold_id)
        return await self._engine.submit(Command(VoidHold(hold_id), wallets, key))

    async def get(self, hold_id: uuid.UUID) -> Hold:
        async with self._db.connect() as connection:
            row = await store.get_hold(connection, hold_id)
        if row is None:
            raise HoldNotFound(hold_id)
        hold = hold_from_row(row)
        self._remember(hold)
        return hold

    async def sweep(self) -> int:
        """Lapse the holds past their expiry of up to SWEEP_BATCH wallets; how many lapsed."""
        async with self._db.connect() as connection:
            wallet_ids = await store.wallets_with_lapsed_holds(connection, SWEEP_BATCH)
        lapsed = 0
        for wallet_id in wallet_ids:
            lapsed += await self._engine.lapse_due_holds([wallet_id])
        return lapsed

    async def _wallets_of(self, hold_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
        """The hold's wallet, to queue and lock on; none for a hold that does not exist."""
        wallet_id = self._wallets.get(hold_id)
        if wallet_id is None:
            async with self._db.hot() as connection:
                wallet_id = await store.wallet_of_hold(connection, hold_id)
            if wallet_id is None:
                return ()
            self._remember_wallet(hold_id, wallet_id)
        return (wallet_id,)

    def _remember(self, hold: Hold) -> None:
        self._remember_wallet(hold.id, hold.wallet_id)

    def _remember_wallet(self, hold_id: uuid.UUID, wallet_id: uuid.UUID) -> None:
        if len(self._wallets) >= _CACHE_SIZE:
            self._wallets.clear()
        self._wallets[hold_id] = wallet_id


def hold_from_row(row: store.HoldRow) -> Hold:
    digits = minor_units(row.currency)
    status = HoldStatus.EXPIRED if row.lapsed else HoldStatus(row.status)
    captured = row.captured_minor
    return Hold(
        id=row.id,
        wallet_id=row.wallet_id,
        amount=amounts.from_minor_units(row.amount_minor, digits),
        currency=row.currency,
        status=status,
        captured_amount=None if captured is None else amounts.from_minor_units(captured, digits),
        expires_at=row.expires_at,
        created_at=row.created_at,
        reference=row.reference,
        metadata=metadata_pairs(row.metadata),
    )
