"""The async engine and its pool, sized per worker, with timeouts on every connection."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from wallet_api import metrics
from wallet_api.settings import Settings
from wallet_api.storage.errors import READ_ONLY, StorageUnavailable, unavailable_as_storage_error
from wallet_api.storage.primary import PrimaryConnector, primary_connector
from wallet_api.storage.urls import async_url, driver_dsn

Lent = TypeVar("Lent")

CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_MARGIN_SECONDS = 5.0

# A connection that failed so is no use any more: its server went away, or it is a standby now
# (a failover promoted another node; a new connection finds the new primary).
_CONNECTION_UNUSABLE = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.ReadOnlySQLTransactionError,
)


def _server_settings(settings: Settings) -> dict[str, str]:
    return {
        "application_name": "wallet-api",
        "statement_timeout": str(settings.db_statement_timeout_ms),
        "lock_timeout": str(settings.db_lock_timeout_ms),
        "timezone": "UTC",
    }


def _command_timeout(settings: Settings) -> float | None:
    """How long the driver waits for any answer of the server. The server ends a statement
    itself at statement_timeout; past that and a margin, it is gone without a trace (a machine
    lost, a network cut), and without this the connection would wait for TCP to give up, many
    minutes."""
    if settings.db_statement_timeout_ms == 0:
        return None
    return settings.db_statement_timeout_ms / 1000 + COMMAND_TIMEOUT_MARGIN_SECONDS


def create_engine(
    settings: Settings, url: str, connector: PrimaryConnector | None = None, **options: Any
) -> AsyncEngine:
    connect_args: dict[str, Any] = {
        "server_settings": _server_settings(settings),
        "timeout": CONNECT_TIMEOUT_SECONDS,
        "command_timeout": _command_timeout(settings),
    }
    if connector is not None:
        connect_args.pop("timeout")
        options["async_creator"] = functools.partial(connector, **connect_args)
    engine = create_async_engine(
        async_url(url),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_pre_ping=False,
        connect_args=connect_args,
        **options,
    )
    event.listen(engine.sync_engine, "handle_error", _unusable_is_a_disconnect)
    return engine


def _unusable_is_a_disconnect(context: ExceptionContext) -> None:
    """A read-only refusal means the connection reached a standby (its server was demoted), and
    a timeout that the server is gone: like a lost connection, it is dropped with every other
    pooled one, so new ones find the primary."""
    error = context.original_exception
    if getattr(error, "sqlstate", None) == READ_ONLY or isinstance(error, TimeoutError):
        context.is_disconnect = True


class Database:
    """Two pools on one database: the driver's own for the engine's batches and the balance
    read, SQLAlchemy's for everything else, lent out as autocommit connections."""

    def __init__(self, settings: Settings, url: str, **engine_options: Any) -> None:
        self._connector = primary_connector(url)
        engine = create_engine(settings, url, self._connector, **engine_options)
        self.engine = engine
        # A single statement is atomic on its own: no BEGIN/COMMIT round trips around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._settings = settings
        # The engine's transactions run on the driver's pool, at the isolation level asked for.
        isolation = engine_options.get("isolation_level", "READ COMMITTED")
        self._isolation = isolation.lower().replace(" ", "_")
        self._pool = engine.pool if isinstance(engine.pool, QueuePool) else None
        self._hot_pool: asyncpg.Pool | None = None
        self._hot_pool_lock = asyncio.Lock()
        # The driver's pool (db_pool_size) and SQLAlchemy's (db_pool_size + db_pool_overflow).
        self._limit = 2 * settings.db_pool_size + settings.db_pool_overflow
        metrics.POOL_LIMIT.inc(self._limit)

    @property
    def hot_pool_size(self) -> int:
        return self._settings.db_pool_size

    @contextlib.asynccontextmanager
    async def hot(self) -> AsyncIterator[asyncpg.Connection]:
        """A driver connection where each statement commits by itself."""
        with unavailable_as_storage_error():
            pool = self._hot_pool or await self._open_hot_pool()
            lending = pool.acquire(timeout=self._settings.db_pool_timeout_seconds)
            try:
                async with self._counted(lending) as connection:
                    _unreplicated.discard(id(connection))
                    connection.add_log_listener(_note_unreplicated)
                    try:
                        yield connection
                        _confirm_replicated(connection)
                    except TimeoutError:
                        # The driver gave up on a server that no longer answers: closed at
                        # once, without the cancel request and the goodbye it would otherwise
                        # wait for (each as long as TCP takes to give up).
                        connection.terminate()
                        raise
                    finally:
                        # Before the pool takes it back, which would warn about a listener.
                        with contextlib.suppress(asyncpg.InterfaceError):
                            connection.remove_log_listener(_note_unreplicated)
            except _CONNECTION_UNUSABLE:
                # The server went away (a restart, a failover): every pooled connection is
                # suspect, so all are replaced, as SQLAlchemy's pool does, and one 503 is the
                # whole cost.
                await pool.expire_connections()
                raise

    @contextlib.asynccontextmanager
    async def hot_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A driver connection inside one transaction: committed on success, rolled back on
        any error."""
        async with self.hot() as connection:
            # Not `connection.transaction()`: after a timeout its rollback would wait for a
            # server that is gone, where the connection must be dropped at once.
            transaction = connection.transaction(isolation=self._isolation)
            await transaction.start()
            try:
                yield connection
            except TimeoutError:
                raise
            except BaseException:
                if not connection.is_closed():
                    await transaction.rollback()
                raise
            await transaction.commit()

    async def _open_hot_pool(self) -> asyncpg.Pool:
        async with self._hot_pool_lock:
            if self._hot_pool is None:
                self._hot_pool = await asyncpg.create_pool(
                    driver_dsn(self.engine.url),
                    min_size=1,
                    max_size=self._settings.db_pool_size,
                    server_settings={
                        **_server_settings(self._settings),
                        # The engine's statements are long and prepared once; planned afresh
                        # on each run (PostgreSQL's custom plans), a batch of one paid more
                        # for planning than for running: +30% deposits at one connection.
                        "plan_cache_mode": "force_generic_plan",
                    },
                    timeout=CONNECT_TIMEOUT_SECONDS,
                    command_timeout=_command_timeout(self._settings),
                    connect=self._connector,
                    reset=_keep_session,
                )
            return self._hot_pool

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection where each statement commits by itself."""
        with unavailable_as_storage_error():
            async with self._counted(self._autocommit.connect()) as connection:
                yield connection

    @contextlib.asynccontextmanager
    async def _counted(self, lending: AbstractAsyncContextManager[Lent]) -> AsyncIterator[Lent]:
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
        in_use = self._pool.checkedout() if self._pool is not None else 0
        if self._hot_pool is not None:
            in_use += self._hot_pool.get_size() - self._hot_pool.get_idle_size()
        metrics.POOL_IN_USE.set(in_use)

    async def session(self) -> asyncpg.Connection:
        """A connection of its own, outside the pools, for a session that holds something (a
        LISTEN, an advisory lock); the caller closes it."""
        settings = _server_settings(self._settings)
        with unavailable_as_storage_error():
            # On a cluster, the primary, found as the pools find it.
            if self._connector is not None:
                return await self._connector(server_settings=settings)
            return await asyncpg.connect(
                driver_dsn(self.engine.url),
                server_settings=settings,
                timeout=CONNECT_TIMEOUT_SECONDS,
            )

    async def dispose(self) -> None:
        metrics.POOL_LIMIT.dec(self._limit)
        if self._hot_pool is not None:
            await self._hot_pool.close()
        await self.engine.dispose()


async def _keep_session(_: asyncpg.Connection) -> None:
    """Hot connections never change their session (no SET, LISTEN or advisory lock), so the
    driver's reset query on every release is a round trip for nothing; an open transaction is
    still rolled back by the pool itself."""


# A COMMIT that waited for a synchronous standby and was cancelled (our statement_timeout, or a
# cancel) has committed on this server only: PostgreSQL answers success with this WARNING. The
# standby that takes over after a failover would not have it, so the outcome is unknown, like a
# lost connection's: the request gets a 503, and its retry with the same Idempotency-Key finds the
# answer where it landed or decides it once.
_REPLICATION_CANCELLED = "canceling wait for synchronous replication"
# The connections (as lent by the pool) that were told so since they were last checked.
_unreplicated: set[int] = set()


def _note_unreplicated(connection: object, message: asyncpg.PostgresLogMessage) -> None:
    if str(getattr(message, "message", "")).startswith(_REPLICATION_CANCELLED):
        _unreplicated.add(id(connection))


def _confirm_replicated(connection: asyncpg.Connection) -> None:
    """Raise StorageUnavailable if a commit on this connection was not confirmed by the
    synchronous standby."""
    if id(connection) in _unreplicated:
        _unreplicated.discard(id(connection))
        raise StorageUnavailable("the commit was not confirmed by the synchronous standby")
