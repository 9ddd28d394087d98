"""Runs the service: the database (embedded or configured), its migrations, the uvicorn workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import uvicorn

from wallet_api.ledger.audit import audit
from wallet_api.logs import logging_config
from wallet_api.settings import Settings, export_database_url, export_metrics_dir
from wallet_api.storage import migrations
from wallet_api.storage.database import Database, create_engine
from wallet_api.storage.embedded import running_database

log = logging.getLogger(__name__)


class Stopped(Exception):
    """SIGTERM or SIGINT arrived: the server has drained, now the database stops."""


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise Stopped(signal.Signals(signum).name)


def serve(settings: Settings, *, migrate: bool = True) -> None:
    # uvicorn drains its workers on a signal, then raises the signal again in this process: the
    # handler turns it into an exception so the embedded database is stopped on the way out.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stop)
    try:
        _serve(settings, migrate=migrate)
    except Stopped as stopped:
        log.info("stopped by %s", stopped)


def _serve(settings: Settings, *, migrate: bool) -> None:
    with (
        running_database(settings.database_url, settings.data_dir) as url,
        _shared_metrics(settings.workers),
    ):
        if migrate:
            migrations.upgrade(url)
        export_database_url(url)
        uvicorn.run(
            "wallet_api.app:create_app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="httptools",
            log_level=settings.log_level,
            log_config=logging_config(settings.log_level),
            # The app logs each request itself, as JSON with its request id.
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=30,
        )


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Several workers keep their metrics in files of one fresh directory, removed at the end;
    a single worker keeps them in memory."""
    if workers == 1:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="wallet-api-metrics-") as path:
        export_metrics_dir(Path(path))
        yield


def migrate(settings: Settings) -> None:
    with running_database(settings.database_url, settings.data_dir) as url:
        migrations.upgrade(url)
        log.info("schema at revision %s", migrations.head_revision())


def verify(settings: Settings) -> bool:
    """Print the audit of every wallet; True when the books balance."""
    with running_database(settings.database_url, settings.data_dir) as url:
        return asyncio.run(_verify(settings, url))


async def _verify(settings: Settings, url: str) -> bool:
    database = Database(create_engine(settings, url))
    try:
        report = await audit(database, on_problem=lambda problem: print(f"PROBLEM {problem}"))
    finally:
        await database.dispose()
    verdict = "the books balance" if report.books_balance else "the books do NOT balance"
    print(
        f"wallet-api verify: {report.wallets} wallets and {report.operations} operations "
        f"checked, {len(report.problems)} problems found: {verdict}"
    )
    return report.books_balance
