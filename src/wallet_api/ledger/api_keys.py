"""API keys: how one is made and checked, what it may do, and when a request needs none."""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wallet_api.ledger.errors import MissingScope, Unauthenticated
from wallet_api.ledger.rate_limits import DEFAULT_PER_SECOND, RateLimiter
from wallet_api.storage import api_keys as store
from wallet_api.storage.api_keys import ApiKeyRow
from wallet_api.storage.database import Database

KEY_PREFIX = "wk_"
# An operator's own key (the bootstrap key) must be at least this long: guessable is not a key.
MIN_KEY_LENGTH = 32
MAX_KEY_LENGTH = 256
MAX_NAME_LENGTH = 100


class Scope(enum.StrEnum):
    WALLETS_READ = "wallets:read"
    WALLETS_WRITE = "wallets:write"
    EVENTS_READ = "events:read"
    ADMIN = "admin"  # every other scope too


class ApiKeyNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def new_key() -> str:
    """A fresh key: 256 random bits, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> bytes:
    # A plain sha256 is enough for a key of 256 random bits: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).digest()


def is_valid_key_text(key: str) -> bool:
    return MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


class ApiKeys:
    """Create, list, revoke and check the keys stored in the database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self, name: str, scopes: Iterable[Scope], expires_in: timedelta | None = None
    ) -> tuple[ApiKey, str]:
        """The new key's record and the key itself, which exists nowhere else afterwards."""
        scopes = sorted(set(scopes))
        if not scopes:
            raise ValueError("an API key needs at least one scope")
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise ValueError(f"an API key's name is 1 to {MAX_NAME_LENGTH} characters")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("an API key's lifetime must be positive")
        expires_at = None if expires_in is None else datetime.now(UTC) + expires_in
        key = new_key()
        async with self._db.connect() as connection:
            row = await store.insert(connection, name, key_hash(key), list(scopes), expires_at)
        return _api_key(row), key

    async def install(self, key: str, name: str, scopes: Iterable[Scope]) -> bool:
        """Store a key chosen by the operator unless it exists (even revoked); True if added."""
        if not is_valid_key_text(key):
            raise ValueError(
                f"an API key is {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH} visible ASCII characters"
            )
        async with self._db.connect() as connection:
            return await store.insert_if_absent(
                connection, name, key_hash(key), sorted(set(scopes))
            )

    async def all(self) -> list[ApiKey]:
        async with self._db.connect() as connection:
            return [_api_key(row) for row in await store.all_keys(connection)]

    async def revoke(self, key_id: int) -> ApiKey:
        async with self._db.connect() as connection:
            row = await store.revoke(connection, key_id)
        if row is None:
            raise ApiKeyNotFound(f"no API key with id {key_id}")
        return _api_key(row)

    async def any_exist(self) -> bool:
        async with self._db.connect() as connection:
            return await store.any_exist(connection)

    async def authenticate(self, key: str | None) -> ApiKey:
        """The active key `key` is, or Unauthenticated."""
        if not key:
            raise Unauthenticated("no API key", presented=False)
        if len(key) > MAX_KEY_LENGTH:
            raise Unauthenticated("an API key of absurd length", presented=True)
        # The secret is never compared: the key is found by its sha256, and the lookup's timing
        # can tell an attacker at most something about a hash, never about a key.
        async with self._db.connect() as connection:
            row = await store.by_hash(connection, key_hash(key))
        if row is None:
            raise Unauthenticated("an unknown API key", presented=True)
        api_key = _api_key(row)
        status = api_key.status(datetime.now(UTC))
        if status != "active":
            raise Unauthenticated(f"API key {api_key.id} is {status}", presented=True)
        return api_key


class Access:
    """The check every API request passes: a valid key, within its rate, with the scope."""

    def __init__(self, keys: ApiKeys, *, required: bool, limiter: RateLimiter | None) -> None:
        self.keys = keys
        self.required = required
        self._limiter = limiter

    async def admit(self, key: str | None, scope: Scope) -> ApiKey | None:
        """The caller's key; None when auth is disabled. Raises when the request may not pass."""
        if not self.required:
            return None
        api_key = await self.keys.authenticate(key)
        if self._limiter is not None:
            self._limiter.take(api_key.id)
        if not api_key.allows(scope):
            raise MissingScope(api_key.id, scope)
        return api_key


@dataclass(frozen=True, slots=True)
class AuthDecision:
    required: bool
    message: str
    warn: bool


def is_loopback(host: str) -> bool:
    """Only this machine can connect: 127.0.0.0/8, ::1 or the name localhost."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def decide_auth(configured: str | None, host: str, keys_exist: Callable[[], bool]) -> AuthDecision:
    """Whether requests need a key. Unset means required, except on a loopback address while no
    key was ever created; off on any other address only when the operator said so in words."""
    if configured == "required":
        return AuthDecision(True, "auth required (WALLET_AUTH=required)", warn=False)
    if configured == "disabled" and is_loopback(host):
        message = f"auth DISABLED (WALLET_AUTH=disabled) on {host}: no request needs a key"
        return AuthDecision(False, message, warn=True)
    if configured == "disabled":
        message = (
            f"AUTH DISABLED ON {host} (WALLET_AUTH=disabled): ANYONE WHO CAN REACH THIS "
            "ADDRESS CAN READ AND MOVE THE MONEY OF EVERY WALLET"
        )
        return AuthDecision(False, message, warn=True)
    assert configured is None, configured
    if not is_loopback(host):
        return AuthDecision(True, f"auth required: {host} is not a loopback address", warn=False)
    if keys_exist():
        return AuthDecision(True, "auth required: API keys exist", warn=False)
    message = (
        f"auth disabled: bound to the loopback address {host} and no API key exists, so "
        "anyone on this machine may call the API; `wallet-api keys create` or "
        "WALLET_AUTH=required turns auth on"
    )
    return AuthDecision(False, message, warn=True)


def _api_key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        scopes=frozenset(Scope(scope) for scope in row.scopes),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def decide_rate_limit(configured: float | None, host: str) -> float:
    """Requests per second per key in each worker, 0 for none; unset is none on loopback."""
    if configured is not None:
        return configured
    return 0.0 if is_loopback(host) else DEFAULT_PER_SECOND
