"""The async engine and its pool, sized per worker, with timeouts on every connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from wallet_api import metrics
from wallet_api.settings import Settings
from wallet_api.storage.errors import unavailable_as_storage_error


def async_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    server_settings = {
        "application_name": "wallet-api",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "timezone": "UTC",
    }
    return create_async_engine(
        async_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
        connect_args={"server_settings": server_settings, "timeout": 5},
    )


class Database:
    """The pool, lent out as single-statement (autocommit) connections or as transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # A single statement is atomic on its own: no BEGIN/COMMIT round trips around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._pool = engine.pool if isinstance(engine.pool, QueuePool) else None

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection where each statement commits by itself."""
        with unavailable_as_storage_error():
            async with self._counted(self._autocommit.connect()) as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        with unavailable_as_storage_error():
            async with self._counted(self.engine.begin()) as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def _counted(
        self, lending: AbstractAsyncContextManager[AsyncConnection]
    ) -> AsyncIterator[AsyncConnection]:
        """Lend a connection, keeping the pool gauges: waiting until it is lent, then in use."""
        metrics.POOL_WAITING.inc()
        waiting = True
        try:
            async with lending as connection:
                metrics.POOL_WAITING.dec()
                waiting = False
                self._gauge_in_use()
                yield connection
        finally:
            if waiting:
                metrics.POOL_WAITING.dec()
            self._gauge_in_use()

    def _gauge_in_use(self) -> None:
        if self._pool is not None:
            metrics.POOL_IN_USE.set(self._pool.checkedout())

    async def dispose(self) -> None:
        await self.engine.dispose()
