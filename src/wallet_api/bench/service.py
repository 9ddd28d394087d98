"""The service under benchmark: `wallet-api serve` in a child process, and `wallet-api verify`."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from wallet_api.bench.results import Audit
from wallet_api.settings import Settings, child_environment

READY_SECONDS = 120
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
AUDIT_SECONDS = 3600


class ServiceFailed(Exception):
    """The service did not start, or stopped while it was under load."""


@dataclass(frozen=True, slots=True)
class Service:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:]

    def paths(self) -> set[str]:
        """The paths the API documents in /openapi.json."""
        with urllib.request.urlopen(f"{self.base_url}/openapi.json", timeout=10) as response:  # noqa: S310
            return set(json.load(response)["paths"])


def listening(url: str) -> bool:
    """Something accepts connections at the URL's host and port."""
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 0)) == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(
    settings: Settings, database_url: str, trace_to: str | None = None, **extra: str
) -> dict[str, str]:
    """What the child reads its settings from: ours, with the bench's own choices on top, and
    `extra` (WALLET_EVENTS_NATS_URL=...).

    Authentication is disabled explicitly: the service listens on loopback only, for wrk.
    Tracing is on only with `trace_to`, a collector's endpoint, whatever the bench inherited."""
    env = child_environment(
        DATABASE_URL=database_url,
        WALLET_HOST=settings.host,
        WALLET_PORT=str(settings.port),
        WALLET_WORKERS=str(settings.workers),
        WALLET_LOG_LEVEL=settings.log_level,
        WALLET_AUTH="disabled",
        **extra,
    )
    # Unset, not empty: the exporter takes an empty endpoint as the address to send to.
    for name in (TRACES_ENDPOINT_ENV, ENDPOINT_ENV):
        env.pop(name, None)
    if trace_to is not None:
        env[ENDPOINT_ENV] = trace_to
    return env


@contextlib.contextmanager
def running(
    settings: Settings,
    database_url: str,
    log: Path,
    trace_to: str | None = None,
    **extra: str,
) -> Iterator[Service]:
    """The service on `database_url` (already migrated), ready; stopped with SIGTERM afterwards.
    `trace_to` and `extra`: as for `environment`."""
    command = [sys.executable, "-m", "wallet_api", "serve", "--no-migrate"]
    env = environment(settings, database_url, trace_to, **extra)
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        service = Service(f"http://{settings.host}:{settings.port}", process, log)
        try:
            _wait_until_ready(service)
            yield service
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def audit(database_url: str) -> Audit:
    """`wallet-api verify` on the database, as an operator runs it."""
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "wallet_api", "verify"],
        env=child_environment(DATABASE_URL=database_url, WALLET_LOG_LEVEL="warning"),
        capture_output=True,
        text=True,
        timeout=AUDIT_SECONDS,
        check=False,
    )
    lines = (completed.stdout + completed.stderr).strip().splitlines()
    verdict = next((line for line in lines if line.startswith("wallet-api verify:")), None)
    summary = verdict or "\n".join(lines[-5:]) or f"exit status {completed.returncode}"
    return Audit(completed.returncode == 0, summary, time.monotonic() - started)


def _wait_until_ready(service: Service) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if not service.alive():
            raise ServiceFailed(f"the service exited early:\n{service.log_tail()}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            url = f"{service.base_url}/health/ready"
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise ServiceFailed(f"the service did not become ready:\n{service.log_tail()}")


@dataclass(frozen=True, slots=True)
class Publishing:
    """What the service's publisher to one broker did, from its metrics."""

    published: int
    backlog: int
    p99_lag_ms: float | None  # from commit to the broker's confirmation


def publishing(base_url: str, broker: str) -> Publishing:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    buckets: list[tuple[float, float]] = []
    published = backlog = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("destination") != broker:
                continue
            if sample.name == "wallet_events_publish_lag_seconds_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == "wallet_events_published_total":
                published = sample.value
            elif sample.name == "wallet_events_backlog":
                backlog = sample.value
    return Publishing(int(published), int(backlog), _quantile(0.99, sorted(buckets)))


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile: linear within the bucket the rank falls in, in ms."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound * 1000
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1
            return (lower_bound + (bound - lower_bound) * share) * 1000
        lower_bound, lower_count = bound, count
    return None
