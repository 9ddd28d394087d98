"""The last 15 minutes of the service's health, as the console's health panel shows it.

Each worker reads the service's own metrics (all workers' added up) every few seconds and keeps
the readings of the last window. Between two readings it computes a point: requests per second,
the share of 5xx answers, the 99th percentile of the request duration (interpolated inside its
histogram bucket, as Prometheus' histogram_quantile does), and the gauges at the later reading.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.metrics_core import Metric

from wallet_api import metrics

WINDOW_SECONDS = 900

log = logging.getLogger(__name__)

Buckets = tuple[tuple[float, float], ...]  # (upper bound, requests at most that long), by bound


@dataclass(frozen=True, slots=True)
class Reading:
    """The service's counters and gauges at one instant."""

    at: datetime
    requests: float
    errors: float
    durations: Buckets
    pool_in_use: float
    pool_limit: float
    events_backlog: float | None


@dataclass(frozen=True, slots=True)
class HealthPoint:
    at: datetime
    requests_per_second: float
    error_rate: float
    p99_seconds: float | None
    pool_connections_in_use: int
    pool_connections_limit: int
    events_backlog: int | None


def reading_of(families: Iterable[Metric], at: datetime) -> Reading:
    requests = errors = pool_in_use = pool_limit = 0.0
    backlog: float | None = None
    durations: dict[float, float] = {}
    for family in families:
        for sample in family.samples:
            if sample.name == "wallet_http_requests_total":
                requests += sample.value
                if sample.labels.get("status", "").startswith("5"):
                    errors += sample.value
            elif sample.name == "wallet_http_request_duration_seconds_bucket":
                bound = float(sample.labels["le"])
                durations[bound] = durations.get(bound, 0.0) + sample.value
            elif sample.name == "wallet_db_pool_connections_in_use":
                pool_in_use += sample.value
            elif sample.name == "wallet_db_pool_connections_limit":
                pool_limit += sample.value
            elif sample.name == "wallet_events_backlog":
                # The worst destination: the one furthest behind.
                backlog = max(backlog or 0.0, sample.value)
    return Reading(
        at, requests, errors, tuple(sorted(durations.items())), pool_in_use, pool_limit, backlog
    )


def point_between(before: Reading, after: Reading) -> HealthPoint:
    seconds = (after.at - before.at).total_seconds()
    # A counter that went down (a worker's files removed) counts as no requests, not negative.
    requests = max(after.requests - before.requests, 0.0)
    errors = max(after.errors - before.errors, 0.0)
    earlier = dict(before.durations)
    in_between = tuple((bound, count - earlier.get(bound, 0.0)) for bound, count in after.durations)
    return HealthPoint(
        at=after.at,
        requests_per_second=round(requests / seconds, 3) if seconds > 0 else 0.0,
        error_rate=round(errors / requests, 6) if requests > 0 else 0.0,
        p99_seconds=quantile(0.99, in_between),
        pool_connections_in_use=round(after.pool_in_use),
        pool_connections_limit=round(after.pool_limit),
        events_backlog=None if after.events_backlog is None else round(after.events_backlog),
    )


def quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile of a cumulative histogram, linear inside the bucket it falls in; None
    without observations. In the last (+Inf) bucket it is the highest finite bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > lower_count:
            if math.isinf(bound):
                return lower_bound
            share = (rank - lower_count) / (count - lower_count)
            return round(lower_bound + (bound - lower_bound) * share, 6)
        lower_bound, lower_count = bound, count
    return lower_bound


class HealthHistory:
    """This worker's readings of the last WINDOW_SECONDS, one every `interval_seconds`."""

    def __init__(self, multiprocess_dir: Path | None, interval_seconds: float) -> None:
        self.interval_seconds = interval_seconds
        self._dir = multiprocess_dir
        self._readings: deque[Reading] = deque(maxlen=int(WINDOW_SECONDS / interval_seconds) + 1)

    def read(self) -> None:
        self._readings.append(reading_of(metrics.families(self._dir), datetime.now(UTC)))

    def points(self) -> list[HealthPoint]:
        return [point_between(a, b) for a, b in itertools.pairwise(self._readings)]

    async def run(self) -> None:
        while True:
            try:
                # Reading every worker's files is file IO: off the event loop.
                await asyncio.to_thread(self.read)
            except Exception:
                log.exception("reading the metrics for the health summary failed")
            await asyncio.sleep(self.interval_seconds)
