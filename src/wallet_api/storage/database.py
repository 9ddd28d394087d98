"""The async engine and its pool, sized per worker, with timeouts on every connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from wallet_api.settings import Settings
from wallet_api.storage.errors import unavailable_as_storage_error


def async_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


def _server_settings(settings: Settings) -> dict[str, str]:
    return {
        "application_name": "wallet-api",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "timezone": "UTC",
    }


def create_engine(settings: Settings, url: str) -> AsyncEngine:
    server_settings = _server_settings(settings)
    return create_async_engine(
        async_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
        connect_args={"server_settings": server_settings, "timeout": 5},
    )


class Database:
    """Two pools on one database: the driver's own for the single statements of the hot path,
    SQLAlchemy's for everything else, lent out as autocommit connections or as transactions."""

    def __init__(self, settings: Settings, url: str) -> None:
        engine = create_engine(settings, url)
        self.engine = engine
        # A single statement is atomic on its own: no BEGIN/COMMIT round trips around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._settings = settings
        self._hot_pool: asyncpg.Pool | None = None
        self._hot_pool_lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hot(self) -> AsyncIterator[asyncpg.Connection]:
        """A driver connection where each statement commits by itself."""
        with unavailable_as_storage_error():
            pool = self._hot_pool or await self._open_hot_pool()
            async with pool.acquire(timeout=self._settings.db_pool_timeout_seconds) as connection:
                yield connection

    async def _open_hot_pool(self) -> asyncpg.Pool:
        async with self._hot_pool_lock:
            if self._hot_pool is None:
                dsn = self.engine.url.set(drivername="postgresql")
                self._hot_pool = await asyncpg.create_pool(
                    dsn.render_as_string(hide_password=False),
                    min_size=1,
                    max_size=self._settings.db_pool_size,
                    server_settings=_server_settings(self._settings),
                    timeout=5,
                    reset=_keep_session,
                )
            return self._hot_pool

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection where each statement commits by itself."""
        with unavailable_as_storage_error():
            async with self._autocommit.connect() as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        with unavailable_as_storage_error():
            async with self.engine.begin() as connection:
                yield connection

    async def dispose(self) -> None:
        if self._hot_pool is not None:
            await self._hot_pool.close()
        await self.engine.dispose()


async def _keep_session(_: asyncpg.Connection) -> None:
    """Hot connections never change their session (no SET, LISTEN or advisory lock), so the
    driver's reset query on every release is a round trip for nothing; an open transaction is
    still rolled back by the pool itself."""


async def driver_connection(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one: the hot statements can then run inside
    a transaction SQLAlchemy opened."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection
