"""Runs the service: the database (embedded or configured), its migrations, the uvicorn workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TypeVar

import uvicorn

from wallet_api.events import backlog
from wallet_api.events.backlog import EventsStatus
from wallet_api.ledger.api_keys import (
    ApiKey,
    ApiKeys,
    AuthDecision,
    Scope,
    decide_auth,
    decide_rate_limit,
)
from wallet_api.ledger.audit import AuditReport, audit, record_run
from wallet_api.logs import logging_config
from wallet_api.metrics import write_audit
from wallet_api.progress import Progress
from wallet_api.settings import (
    Settings,
    export_access,
    export_build_revision,
    export_database_url,
    export_metrics_dir,
)
from wallet_api.storage import migrations
from wallet_api.storage.database import Database
from wallet_api.storage.embedded import running_database

log = logging.getLogger(__name__)

T = TypeVar("T")


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
    if settings.build_revision is None:
        export_build_revision(_git_revision() or "unknown")
    with (
        _logs_held_back() as release,
        running_database(settings.database_url, settings.data_dir) as url,
        _shared_metrics(settings.workers),
    ):
        if migrate:
            migrations.upgrade(url)
        decision = asyncio.run(_decide_access(settings, url))
        release(first=decision)
        export_database_url(url)
        per_second = decide_rate_limit(settings.rate_limit_per_second, settings.host)
        export_access("required" if decision.required else "disabled", per_second)
        uvicorn.run(
            "wallet_api.app:create_app_from_environment",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            http="wallet_api.http.protocol:BoundedHttpToolsProtocol",
            log_level=settings.log_level,
            log_config=logging_config(settings.log_level, settings.log_format),
            # The app logs each request itself, as JSON with its request id.
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=30,
        )


async def _record_verify_run(database: Database, report: AuditReport) -> None:
    """The service shows the last run (GET /api/v1/health/summary); a database that cannot keep
    it (a read-only standby, an older schema) changes nothing about the verdict."""
    try:
        await record_run(database, report)
    except Exception as failure:
        reason = (str(failure).splitlines() or [type(failure).__name__])[0]
        print(f"wallet-api verify: the outcome was not recorded in the database: {reason}")


def _git_revision() -> str | None:
    """The commit of a checkout the package runs from (`make run`); None anywhere else."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    if found.returncode != 0:
        return None
    return found.stdout.strip() or None


class _HeldRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _logs_held_back() -> Iterator[Callable[..., None]]:
    """Hold the start's log lines (the database's are many) until `release(first=decision)`,
    so that whether the API needs a key is the first line an operator reads."""
    root = logging.getLogger()
    held = _HeldRecords()
    outputs, root.handlers = root.handlers, [held]
    released = False

    def release(first: AuthDecision | None = None) -> None:
        nonlocal released
        if released:
            return
        released = True
        root.handlers = outputs
        if first is not None:
            log.log(logging.WARNING if first.warn else logging.INFO, "%s", first.message)
        for record in held.records:
            root.handle(record)

    try:
        yield release
    finally:
        release()


async def _decide_access(settings: Settings, url: str) -> AuthDecision:
    """Store the bootstrap key if one is set, then decide whether requests need a key."""
    database = Database(settings, url)
    keys = ApiKeys(database)
    try:
        if settings.bootstrap_api_key is not None:
            await _install_bootstrap_key(keys, settings.bootstrap_api_key.get_secret_value())
        keys_exist = await keys.any_exist()
    finally:
        await database.dispose()
    return decide_auth(settings.auth, settings.host, lambda: keys_exist)


BOOTSTRAP_KEY_NAME = "bootstrap"


async def _install_bootstrap_key(keys: ApiKeys, key: str) -> None:
    try:
        added = await keys.install(
            key, BOOTSTRAP_KEY_NAME, [Scope.WALLETS_READ, Scope.WALLETS_WRITE]
        )
    except ValueError as error:
        raise SystemExit(f"WALLET_BOOTSTRAP_API_KEY is not usable: {error}") from None
    if added:
        log.info("bootstrap API key from WALLET_BOOTSTRAP_API_KEY stored")


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


def migrate(settings: Settings, revision: str = "head", *, sql: bool = False) -> None:
    """Upgrade the schema to `revision`, or print the SQL that would (no database needed)."""
    if sql:
        migrations.upgrade(settings.database_url or migrations.OFFLINE_URL, revision, sql=True)
        return
    with running_database(settings.database_url, settings.data_dir) as url:
        migrations.upgrade(url, revision)
        log.info("schema at revision %s", migrations.current_revision(url))


def downgrade(settings: Settings, revision: str, *, sql: bool = False) -> None:
    """Take the schema down to `revision`, or print the SQL that would."""
    if sql:
        migrations.downgrade(settings.database_url or migrations.OFFLINE_URL, revision, sql=True)
        return
    with running_database(settings.database_url, settings.data_dir) as url:
        migrations.downgrade(url, revision)
        log.info("schema at revision %s", migrations.current_revision(url))


def schema_revisions(settings: Settings) -> tuple[str | None, str]:
    """The database's schema revision (None: never migrated) and the newest this code ships."""
    with running_database(settings.database_url, settings.data_dir) as url:
        return migrations.current_revision(url), migrations.head_revision()


def verify(settings: Settings, metrics_file: Path | None = None) -> bool:
    """Print the audit of every wallet, and write its outcome to `metrics_file` if given; True
    when the books balance."""
    with running_database(settings.database_url, settings.data_dir) as url:
        return asyncio.run(_verify(settings, url, metrics_file))


async def _verify(settings: Settings, url: str, metrics_file: Path | None) -> bool:
    # The statement timeout bounds a request's statements. The audit's grow with the ledger
    # (one wallet's million operations, the scan for orphans of all of them): none applies.
    database = Database(settings.model_copy(update={"db_statement_timeout_ms": 0}), url)
    progress: Progress | None = None

    def start(total: int) -> None:
        nonlocal progress
        progress = Progress("wallet-api verify", total, "wallets")

    def advance(done: int) -> None:
        if progress is not None:
            progress.advance(done)

    try:
        report = await audit(
            database,
            on_problem=lambda problem: print(f"PROBLEM {problem}"),
            on_start=start,
            on_progress=advance,
        )
        await _record_verify_run(database, report)
    finally:
        await database.dispose()
    if progress is not None:
        progress.finish()
    if metrics_file is not None:
        problems = len(report.problems)
        write_audit(metrics_file, report.wallets, report.operations, problems)
    verdict = "the books balance" if report.books_balance else "the books do NOT balance"
    print(
        f"wallet-api verify: {report.wallets} wallets and {report.operations} operations "
        f"checked, {len(report.problems)} problems found: {verdict}"
    )
    return report.books_balance


def events_status(settings: Settings) -> EventsStatus:
    """The sequencer's head and each destination's backlog; the schema must be migrated."""
    with running_database(settings.database_url, settings.data_dir) as url:
        return asyncio.run(_events_status(settings, url))


async def _events_status(settings: Settings, url: str) -> EventsStatus:
    database = Database(settings, url)
    try:
        return await backlog.events_status(database)
    finally:
        await database.dispose()


def create_key(
    settings: Settings, name: str, scopes: Iterable[Scope], expires_in: timedelta | None
) -> tuple[ApiKey, str]:
    """A new API key: its record and the key itself."""
    return _with_keys(settings, lambda keys: keys.create(name, scopes, expires_in))


def list_keys(settings: Settings) -> list[ApiKey]:
    return _with_keys(settings, lambda keys: keys.all())


def revoke_key(settings: Settings, key_id: int) -> ApiKey:
    return _with_keys(settings, lambda keys: keys.revoke(key_id))


def _with_keys(settings: Settings, use: Callable[[ApiKeys], Awaitable[T]]) -> T:
    """Run `use` on the keys of a migrated database; SchemaNotCurrent on any other: changing a
    schema is the operator's step (`wallet-api migrate`), never a side effect of a key command."""
    with running_database(settings.database_url, settings.data_dir) as url:
        migrations.require_current(url)
        return asyncio.run(_use_keys(settings, url, use))


async def _use_keys(settings: Settings, url: str, use: Callable[[ApiKeys], Awaitable[T]]) -> T:
    database = Database(settings, url)
    try:
        return await use(ApiKeys(database))
    finally:
        await database.dispose()
