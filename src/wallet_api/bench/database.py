"""The database of a run: a scratch one on the configured server, or a throwaway embedded one."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wallet_api.storage import primary
from wallet_api.storage.embedded import embedded_database
from wallet_api.storage.urls import driver_dsn, hosts, parsed

SERVER_SETTINGS = ("fsync", "synchronous_commit", "shared_buffers", "max_connections")


@dataclass(frozen=True, slots=True)
class BenchDatabase:
    url: str
    description: str
    embedded: bool

    @property
    def dsn(self) -> str:
        """The libpq/asyncpg form of the URL, password included."""
        return driver_dsn(self.url)

    def dsn_without_password(self) -> tuple[str, str | None]:
        """The DSN to put on a command line, and its password to pass in the environment."""
        url = parsed(self.url)
        return driver_dsn(url.set(password=None)), url.password


@dataclass(frozen=True, slots=True)
class BenchServer:
    """The server a run measures on: the configured one, or an embedded one of its own."""

    admin_url: str
    embedded: bool

    def scratch(self) -> contextlib.AbstractContextManager[BenchDatabase]:
        """A new empty database on this server, dropped afterwards."""
        return _scratch(self.admin_url, embedded=self.embedded)


@contextlib.contextmanager
def bench_server(configured_url: str | None) -> Iterator[BenchServer]:
    """The configured server, whose other databases stay untouched, or a throwaway embedded one."""
    if configured_url is not None:
        yield BenchServer(configured_url, embedded=False)
        return
    with (
        tempfile.TemporaryDirectory(prefix="wallet-bench-") as directory,
        embedded_database(Path(directory) / "pgdata") as admin_url,
    ):
        yield BenchServer(admin_url, embedded=True)


async def server_facts(dsn: str) -> dict[str, str]:
    """The server's version and the settings that weigh most on a write benchmark."""
    connection = await primary.connect(dsn)
    try:
        facts = {"server_version": await connection.fetchval("SHOW server_version")}
        for name in SERVER_SETTINGS:
            facts[name] = await connection.fetchval(f"SHOW {name}")
    finally:
        await connection.close()
    return facts


@contextlib.contextmanager
def _scratch(admin_url: str, *, embedded: bool) -> Iterator[BenchDatabase]:
    name = f"wallet_bench_{uuid.uuid4().hex[:12]}"
    admin = parsed(admin_url)
    admin_dsn = driver_dsn(admin)
    # Identifiers cannot be bound parameters; the name is generated right above.
    asyncio.run(_execute(admin_dsn, f'CREATE DATABASE "{name}"'))
    where = "an embedded PostgreSQL in a throwaway data directory"
    if not embedded:
        where = ", ".join(hosts(admin))
    database = BenchDatabase(
        url=admin.set(database=name).render_as_string(hide_password=False),
        description=f"scratch database {name} on {where}",
        embedded=embedded,
    )
    try:
        yield database
    finally:
        asyncio.run(_execute(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(dsn: str, sql: str) -> None:
    connection = await primary.connect(dsn)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()
