"""What an idempotent replay returns: the first answer to a key, for the same request only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7E]{1,255}$"


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    key: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as the client sees it, stored under its key and replayed byte for byte."""

    status_code: int
    body: bytes
    replayed: bool = False


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    """What makes two requests 'the same request' for a key: method, path and body."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()
