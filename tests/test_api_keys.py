"""API keys: random, stored only as a hash, scoped, expiring, revocable; the CLI that runs them."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.support import create_key, plain_dsn, service_environment
from wallet_api.ledger.api_keys import (
    ApiKey,
    ApiKeys,
    Scope,
    decide_auth,
    decide_rate_limit,
    is_loopback,
    new_key,
)
from wallet_api.ledger.errors import RateLimited
from wallet_api.ledger.rate_limits import RateLimiter
from wallet_api.settings import Settings
from wallet_api.storage.database import Database

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def test_new_keys_are_long_random_and_recognisable() -> None:
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(key.startswith("wk_") and len(key) >= 43 for key in keys)


def api_key(**changes: object) -> ApiKey:
    fields: dict[str, object] = {
        "id": 1,
        "name": "k",
        "scopes": frozenset({Scope.WALLETS_READ}),
        "created_at": NOW,
        "expires_at": None,
        "revoked_at": None,
    }
    return ApiKey(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_key_is_active_until_revoked_or_expired() -> None:
    assert api_key().status(NOW) == "active"
    assert api_key(expires_at=NOW + timedelta(seconds=1)).status(NOW) == "active"
    assert api_key(expires_at=NOW).status(NOW) == "expired"
    assert api_key(revoked_at=NOW).status(NOW) == "revoked"


def test_a_key_allows_its_scopes_and_admin_allows_every_scope() -> None:
    reader = api_key()
    assert reader.allows(Scope.WALLETS_READ)
    assert not reader.allows(Scope.WALLETS_WRITE)
    admin = api_key(scopes=frozenset({Scope.ADMIN}))
    assert admin.allows(Scope.WALLETS_READ) and admin.allows(Scope.WALLETS_WRITE)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def never_asked() -> bool:
    raise AssertionError("whether keys exist does not matter here")


def test_auth_is_required_by_default_unless_on_loopback_without_keys() -> None:
    assert decide_auth(None, "0.0.0.0", never_asked).required
    assert decide_auth(None, "10.1.2.3", never_asked).required
    assert decide_auth(None, "127.0.0.1", lambda: True).required
    open_loopback = decide_auth(None, "127.0.0.1", lambda: False)
    assert not open_loopback.required
    assert open_loopback.warn
    assert "auth disabled" in open_loopback.message


def test_explicit_settings_win_and_disabled_off_loopback_warns_loudly() -> None:
    assert decide_auth("required", "127.0.0.1", never_asked).required
    disabled = decide_auth("disabled", "0.0.0.0", never_asked)
    assert not disabled.required
    assert disabled.warn
    assert "AUTH DISABLED" in disabled.message
    assert not decide_auth("disabled", "127.0.0.1", never_asked).required


def test_rate_limit_is_off_on_loopback_and_on_elsewhere_unless_set() -> None:
    assert decide_rate_limit(None, "127.0.0.1") == 0
    assert decide_rate_limit(None, "0.0.0.0") > 0
    assert decide_rate_limit(5, "127.0.0.1") == 5
    assert decide_rate_limit(0, "0.0.0.0") == 0


def test_token_bucket_allows_the_burst_then_the_rate_and_says_when_to_retry() -> None:
    now = [0.0]
    limiter = RateLimiter(per_second=2, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.take(1)
    with pytest.raises(RateLimited) as refused:
        limiter.take(1)
    assert refused.value.retry_after_seconds == 1
    limiter.take(2)  # another key has its own bucket
    now[0] = 0.5  # one token back
    limiter.take(1)
    with pytest.raises(RateLimited):
        limiter.take(1)
    now[0] = 100.0  # refills up to the burst, no further
    for _ in range(3):
        limiter.take(1)
    with pytest.raises(RateLimited):
        limiter.take(1)


async def test_a_key_is_stored_only_as_its_sha256(
    secured_database_url: str,
) -> None:
    key = await create_key(secured_database_url, "wallets:read", name="hash-check")
    connection = await asyncpg.connect(plain_dsn(secured_database_url))
    try:
        row = await connection.fetchrow("SELECT * FROM api_keys WHERE name = 'hash-check'")
    finally:
        await connection.close()
    assert row["key_hash"] == hashlib.sha256(key.encode()).digest()
    assert key not in repr(dict(row))
    assert key[3:] not in repr(dict(row))


async def test_an_installed_key_is_added_once_and_stays_revoked(
    secured_database_url: str,
) -> None:
    database = Database(Settings(_env_file=None), secured_database_url)
    keys = ApiKeys(database)
    chosen = new_key()
    try:
        assert await keys.install(chosen, "bootstrap", [Scope.WALLETS_READ])
        assert not await keys.install(chosen, "bootstrap", [Scope.WALLETS_READ])
        (installed,) = [k for k in await keys.all() if k.name == "bootstrap"]
        await keys.revoke(installed.id)
        assert not await keys.install(chosen, "bootstrap", [Scope.WALLETS_READ])
        with pytest.raises(ValueError, match="32 to 256"):
            await keys.install("changeme", "weak", [Scope.WALLETS_READ])
    finally:
        await database.dispose()


def wallet_api(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wallet_api", *args],
        env=service_environment(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_creates_lists_and_revokes_keys_and_shows_the_key_only_once(
    secured_database_url: str,
) -> None:
    created = wallet_api(
        secured_database_url,
        *("keys", "create", "--name", "cli-key", "--scope", "wallets:read"),
        *("--scope", "wallets:write", "--expires-in-days", "7"),
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("wk_") and "\n" not in key
    assert "shown this once" in created.stderr

    listed = wallet_api(secured_database_url, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = [line for line in listed.stdout.splitlines() if "'cli-key'" in line]
    assert "active" in line and "wallets:read wallets:write" in line
    assert key not in listed.stdout + listed.stderr
    key_id = line.split()[2].rstrip(":")

    revoked = wallet_api(secured_database_url, "keys", "revoke", key_id)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    listed = wallet_api(secured_database_url, "keys", "list")
    assert f"API key {key_id} 'cli-key': revoked" in listed.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "revoke", "999999999"),
        ("keys", "create", "--name", "x", "--scope", "wallets:delete"),
        ("keys", "create", "--name", "x"),
        ("keys", "create", "--name", "x", "--scope", "admin", "--expires-in-days", "0"),
    ],
)
def test_cli_refuses_unknown_keys_scopes_and_lifetimes(
    secured_database_url: str, args: tuple[str, ...]
) -> None:
    result = wallet_api(secured_database_url, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
