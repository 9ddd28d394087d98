"""The service's Prometheus metrics: their definitions and the scrape, across worker processes.

`wallet-api serve` with several workers gives them one fresh PROMETHEUS_MULTIPROC_DIR before they
start (prometheus-client decides at import whether values live in memory or in files there), and
a scrape served by any worker adds up the files of all of them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    write_to_textfile,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

BUILD_INFO = Gauge(
    "wallet_build_info",
    "Always 1; the labels say which version and commit the workers run.",
    ["version", "revision"],
    multiprocess_mode="livemax",
)

REQUESTS = Counter(
    "wallet_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "wallet_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPERATIONS = Counter(
    "wallet_ledger_operations",
    "Money-moving requests the ledger decided, by type and result: ok, replayed (an "
    "Idempotency-Key answered before), the refusal (insufficient_funds, ...) or unavailable.",
    ["type", "result"],
)
MONEY_MOVED = Counter(
    "wallet_ledger_money_moved_major_units",
    "Sum of the amounts of landed operations, in the currency's major unit (for monitoring only: "
    "a float, so never a source of truth).",
    ["currency", "type"],
)
GROUP_COMMIT_BATCH = Histogram(
    "wallet_group_commit_batch_requests",
    "Requests served together on a busy wallet, per batch: writes (group commit) or reads.",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
GUARDED_BATCHES = Counter(
    "wallet_guarded_batches",
    "Batches tried as one guarded statement, by result: landed, or missed (a wallet outside "
    "the bounds it was decided for, or a conflict) and then decided under the lock.",
    ["result"],
)
TRANSACTION_RETRIES = Counter(
    "wallet_db_transaction_retries",
    "Transactions run again after a serialization failure or a deadlock, by reason.",
    ["reason"],
)
# A gauge's value is per process: `livesum` adds up the workers that are alive.
POOL_IN_USE = Gauge(
    "wallet_db_pool_connections_in_use",
    "Database connections lent out by the pools of the live workers.",
    multiprocess_mode="livesum",
)
POOL_LIMIT = Gauge(
    "wallet_db_pool_connections_limit",
    "Database connections the pools of the live workers may lend out at most.",
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "wallet_db_pool_requests_waiting",
    "Requests waiting for a database connection in the live workers.",
    multiprocess_mode="livesum",
)

EVENTS_BACKLOG = Gauge(
    "wallet_events_backlog",
    "Events numbered but not yet delivered, by destination (nats, amqp, webhook:<id>), as the "
    "worker that delivers them sees it.",
    ["destination"],
    multiprocess_mode="livemax",
)
EVENTS_PUBLISHED = Counter(
    "wallet_events_published",
    "Events a destination confirmed (a broker's ack, a webhook's 2xx), by destination.",
    ["destination"],
)
EVENTS_PUBLISH_LAG = Histogram(
    "wallet_events_publish_lag_seconds",
    "Time from an event's commit to its broker's confirmation, by destination.",
    ["destination"],
    buckets=(
        0.002,
        0.005,
        0.01,
        0.02,
        0.03,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.5,
        0.75,
        1.0,
        2.0,
        5.0,
        10.0,
        30.0,
        60.0,
    ),
)
WEBHOOK_DELIVERIES = Counter(
    "wallet_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered, failed (retried later) or abandoned "
    "(the endpoint marked failing).",
    ["outcome"],
)

_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")
_PROCESS_FILE = re.compile(r"_(\d+)\.db$")


def record_build(version: str, revision: str) -> None:
    BUILD_INFO.labels(version, revision).set(1)


def write_audit(path: Path, wallets: int, operations: int, problems: int) -> None:
    """The outcome of `wallet-api verify` as a file for node_exporter's textfile collector, so
    that an alert knows when the books last balanced and when the audit last ran."""
    registry = CollectorRegistry()
    gauges = {
        "wallet_audit_problems": ("Problems the last audit found; 0: the books balance.", problems),
        "wallet_audit_wallets": ("Wallets the last audit checked.", wallets),
        "wallet_audit_operations": ("Operations the last audit checked.", operations),
        "wallet_audit_last_run_timestamp_seconds": ("When the last audit ended.", time.time()),
    }
    for name, (documentation, value) in gauges.items():
        Gauge(name, documentation, registry=registry).set(value)
    write_to_textfile(str(path), registry)


def record_money(currency: str, operation_type: str, amount: Decimal) -> None:
    MONEY_MOVED.labels(currency, operation_type).inc(float(amount))


def scrape(multiprocess_dir: Path | None) -> tuple[bytes, str]:
    """The exposition of every metric and its content type: all workers' when they share a
    directory, else this process's own."""
    return generate_latest(_registry(multiprocess_dir, with_processes=True)), CONTENT_TYPE_LATEST


def families(multiprocess_dir: Path | None) -> list[Metric]:
    """The metric families `scrape` exposes, all workers' added up, without reading every
    worker's /proc for the process_* ones."""
    return list(_registry(multiprocess_dir, with_processes=False).collect())


def _registry(multiprocess_dir: Path | None, with_processes: bool) -> CollectorRegistry:
    if multiprocess_dir is None:
        return REGISTRY
    _forget_dead_workers(multiprocess_dir)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiprocess_dir))
    if with_processes:
        registry.register(WorkerProcesses(multiprocess_dir))
    return registry


class WorkerProcesses(Collector):
    """The process_* metrics (CPU, memory, file descriptors) of every live worker, each series
    labelled with its pid: prometheus-client's own collector sees only the scraped process."""

    def __init__(self, multiprocess_dir: Path) -> None:
        self._dir = multiprocess_dir

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in _live_workers(self._dir):
            reader = ProcessCollector(pid=functools.partial(str, pid), registry=None)
            for family in reader.collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    labels = {**sample.labels, "pid": str(pid)}
                    merged.add_sample(sample.name, labels, sample.value)
        return list(families.values())


def _live_workers(multiprocess_dir: Path) -> list[int]:
    """Each worker writes its files, named after its pid, into the shared directory."""
    pids = {
        int(m.group(1))
        for name in os.listdir(multiprocess_dir)
        if (m := _PROCESS_FILE.search(name))
    }
    return sorted(pid for pid in pids if _alive(pid))


def _forget_dead_workers(multiprocess_dir: Path) -> None:
    """A worker killed and replaced leaves its gauge files behind: drop them, or the live sums
    would keep counting its last connections forever."""
    for name in os.listdir(multiprocess_dir):
        match = _LIVE_GAUGE_FILE.match(name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                mark_process_dead(int(match.group(1)), str(multiprocess_dir))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user
    return True
