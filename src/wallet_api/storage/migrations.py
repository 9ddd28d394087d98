"""Runs the Alembic versions shipped in `wallet_api.migrations` against a database."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from wallet_api.storage.urls import async_url


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "wallet_api:migrations")
    # Alembic's config is an INI file: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`; safe to run from several processes at once."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


@functools.cache
def head_revision() -> str:
    """The newest revision shipped with this code: read once, as every readiness probe asks."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://localhost/")).get_current_head()
    assert head is not None
    return head
