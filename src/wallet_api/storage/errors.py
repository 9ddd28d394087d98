"""Storage failures that are the database's state, not the request's fault."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import asyncpg
from sqlalchemy import exc as sa_exc

# Connection lost, server shutting down or starting, too many connections, statement or lock
# timeout: the request did nothing wrong and may be retried once the database is back.
_UNAVAILABLE_SQLSTATES = {"53300", "55P03", "57014", "57P01", "57P02", "57P03"}


class StorageUnavailable(Exception):
    """The database could not be reached, or did not answer in time."""


def sqlstate(error: sa_exc.DBAPIError) -> str:
    return str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", "") or "")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.TimeoutError | OSError | asyncpg.InterfaceError):
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


@contextlib.contextmanager
def unavailable_as_storage_error() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        if is_unavailable(error):
            raise StorageUnavailable(str(type(error).__name__)) from error
        raise
