"""When to send a request again, and after how long: the same for the sync and async clients."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import httpx

from wallet_api.client.calls import error_for, problem_of
from wallet_api.client.errors import TransportFailed

# The two answers that say "this was not decided, send the same request again".
RETRIED_STATUS = 503
IN_PROGRESS_STATUS, IN_PROGRESS_CODE = 409, "idempotency_key_in_progress"


def worth_retrying(response: httpx.Response, code: str | None) -> bool:
    """A 503, or a 409 for a key whose first request is still running. Any other refusal is the
    service's decision: sending it again would only get the same answer (or move money twice)."""
    if response.status_code == RETRIED_STATUS:
        return True
    return response.status_code == IN_PROGRESS_STATUS and code == IN_PROGRESS_CODE


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds; the HTTP-date form is not sent by the service."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass
class Backoff:
    """Exponential backoff with full jitter, floored by Retry-After, until a deadline."""

    deadline_seconds: float
    first_delay: float = 0.05
    max_delay: float = 2.0
    _rng: random.Random = field(default_factory=random.Random, init=False)
    _attempt: int = field(default=0, init=False)
    _started: float = field(default_factory=time.monotonic, init=False)

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """How long to wait before the next attempt, or None when it would end past the deadline."""
        ceiling = min(self.max_delay, self.first_delay * 2**self._attempt)
        self._attempt += 1
        # Jitter spreads the retries of many clients hit by the same outage: not a secret.
        delay = self._rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        elapsed = time.monotonic() - self._started
        if elapsed + delay > self.deadline_seconds:
            return None
        return delay


def retry_delay(backoff: Backoff, response: httpx.Response) -> float | None:
    """The wait before sending the request again, or None when this answer is the final one:
    a success, a refusal, or a retryable answer past the deadline."""
    if response.status_code < 400:
        return None
    problem = problem_of(response)
    code = problem.get("code") if problem else None
    if not worth_retrying(response, code if isinstance(code, str) else None):
        return None
    return backoff.next_delay(retry_after_seconds(response))


def transport_failed(error: httpx.TransportError) -> TransportFailed:
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return TransportFailed(0, TransportFailed.code, detail)


def final(response: httpx.Response) -> httpx.Response:
    """The answer itself if it is a success; else its error raised."""
    if response.status_code >= 400:
        raise error_for(response)
    return response
