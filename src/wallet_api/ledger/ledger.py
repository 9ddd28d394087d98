"""The ledger as the HTTP layer sees it: one facade per resource, over one engine."""

from __future__ import annotations

import logging
from datetime import timedelta

from wallet_api.ledger import audit
from wallet_api.ledger.engine import Engine
from wallet_api.ledger.history import History
from wallet_api.ledger.holds import Holds
from wallet_api.ledger.reports import Reports
from wallet_api.ledger.reversals import Reversals
from wallet_api.ledger.transfers import Transfers
from wallet_api.ledger.wallets import Wallets
from wallet_api.storage import idempotency as idempotency_store
from wallet_api.storage import migrations
from wallet_api.storage import wallets as wallet_store
from wallet_api.storage.database import Database

log = logging.getLogger(__name__)


class Ledger:
    def __init__(
        self,
        database: Database,
        default_currency: str,
        idempotency_ttl: timedelta,
        group_commit: bool = True,
    ) -> None:
        self._db = database
        self.engine = Engine(database, default_currency, idempotency_ttl, batching=group_commit)
        self.wallets = Wallets(database, self.engine, default_currency)
        self.transfers = Transfers(database, self.engine)
        self.holds = Holds(database, self.engine)
        self.history = History(database, self.wallets)
        self.reversals = Reversals(database, self.engine)
        self.reports = Reports(database, self.wallets)

    async def is_ready(self) -> bool:
        """The database answers, takes writes, and its schema is at the newest migration."""
        # Twice: after a database restart the first use of a pooled connection fails and makes
        # the pool connect afresh, and readiness should not lag behind the requests that healed.
        for _ in range(2):
            try:
                async with self._db.connect() as connection:
                    revision = await wallet_store.schema_revision_if_writable(connection)
            except Exception as failure:
                log.info("readiness check failed: %s", type(failure).__name__)
                continue
            return revision == migrations.head_revision()
        return False

    async def last_verify(self) -> audit.VerifyRun | None:
        """The outcome of the last `wallet-api verify` on this database, if one ran."""
        return await audit.last_run(self._db)

    async def purge_expired_idempotency_keys(self) -> int:
        async with self._db.connect() as connection:
            return await idempotency_store.purge_expired(connection)
