"""Runs the Alembic versions shipped in `wallet_api.migrations` against a database."""

from __future__ import annotations

import asyncio
import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from wallet_api.storage.urls import async_url

# What --sql renders against when no database is named: the SQL depends on the dialect only.
OFFLINE_URL = "postgresql+asyncpg://localhost/wallet"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "wallet_api:migrations")
    # Alembic's config is an INI file: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", *, sql: bool = False) -> None:
    """Bring the schema up to `revision`; safe to run from several processes at once. With
    `sql`, print the SQL instead (`FROM:TO` revisions; from the empty schema by default)."""
    command.upgrade(alembic_config(url), revision, sql=sql)


def downgrade(url: str, revision: str = "base", *, sql: bool = False) -> None:
    """Take the schema down to `revision`. With `sql`, print the SQL instead, from the
    newest revision unless `revision` is `FROM:TO`."""
    if sql and ":" not in revision:
        revision = f"{head_revision()}:{revision}"
    command.downgrade(alembic_config(url), revision, sql=sql)


def current_revision(url: str) -> str | None:
    """The revision the database's schema is at; None for a database never migrated."""
    return asyncio.run(_current_revision(url))


async def _current_revision(url: str) -> str | None:
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this code needs; `wallet-api migrate` brings it."""

    def __init__(self, current: str | None, head: str) -> None:
        state = "has no schema yet" if current is None else f"is at revision {current}"
        super().__init__(
            f"the database {state}, and this wallet-api needs revision {head}: "
            "run `wallet-api migrate` first"
        )


def require_current(url: str) -> None:
    """Raise SchemaNotCurrent unless the schema is at the newest revision."""
    current, head = current_revision(url), head_revision()
    if current != head:
        raise SchemaNotCurrent(current, head)


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this code: read once, as every readiness probe asks."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://localhost/")).get_current_head()
    assert head is not None
    return head
