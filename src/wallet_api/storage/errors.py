"""Storage failures that are the database's state, not the request's fault."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

# Connection lost, server shutting down or starting, too many connections, statement or lock
# timeout: the request did nothing wrong and may be retried once the database is back.
# Read-only: the server is a standby now, demoted by a failover; the new primary takes the retry.
LOCK_NOT_AVAILABLE = "55P03"
READ_ONLY = "25006"
_UNAVAILABLE_SQLSTATES = {"25006", "53300", "55P03", "57014", "57P01", "57P02", "57P03"}
# The database rolled the whole transaction back to break a tie with another one: running it
# again from the start is safe, and usually succeeds.
_CONFLICT_SQLSTATES = {"40001": "serialization_failure", "40P01": "deadlock"}


class StorageUnavailable(Exception):
    """The database could not be reached, or did not answer in time."""


class StorageConflict(StorageUnavailable):
    """A serialization failure or a deadlock rolled the transaction back; it may run again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sqlstate(error: sa_exc.DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", "") or "")


def is_unavailable(error: BaseException) -> bool:
    # The driver raises InternalClientError, not a connection error, when the server ends a
    # session in the middle of an operation (seen during a PostgreSQL restart under load).
    lost = sa_exc.TimeoutError | OSError | asyncpg.InterfaceError | asyncpg.InternalClientError
    if isinstance(error, lost):
        return True
    if isinstance(error, asyncpg.PostgresError):
        state = str(error.sqlstate or "")
        return state.startswith("08") or state in _UNAVAILABLE_SQLSTATES
    if isinstance(error, sa_exc.DBAPIError):
        state = sqlstate(error)
        return (
            error.connection_invalidated
            or state.startswith("08")
            or state in _UNAVAILABLE_SQLSTATES
        )
    return False


def conflict_reason(error: BaseException) -> str | None:
    """serialization_failure or deadlock when that is what ended the transaction, else None;
    from the driver's own error too, for statements sent on the driver's connection."""
    if isinstance(error, asyncpg.PostgresError):
        return _CONFLICT_SQLSTATES.get(str(error.sqlstate or ""))
    if isinstance(error, sa_exc.DBAPIError):
        return _CONFLICT_SQLSTATES.get(sqlstate(error))
    return None


@contextlib.contextmanager
def unavailable_as_storage_error() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if is_unavailable(error):
            raise StorageUnavailable(_described(error)) from error
        if reason := conflict_reason(error):
            raise StorageConflict(reason) from error
        raise


def _described(error: BaseException) -> str:
    """What the operator needs in the log: the driver's error, never SQLAlchemy's rendering of
    the statement and its parameters."""
    if isinstance(error, sa_exc.DBAPIError) and error.orig is not None:
        return f"{type(error.orig).__name__} {sqlstate(error)}: {error.orig}".strip()
    return f"{type(error).__name__}: {error}"
