"""Ratios to the reference scenarios, and the targets of issues 12 and 13: met, missed, unknown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wallet_api.bench.results import Load, ScenarioResult

CEILING = "ceiling"
DB_CEILING = "db-ceiling"

# Every target is a ratio within one run: absolute figures on this machine drift threefold
# between hours, the ratios of scenarios measured minutes apart much less.
# (scenario, reference, at least this many times the reference's requests per second)
THROUGHPUT_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("hot", DB_CEILING, 2.0),
    ("hot", CEILING, 0.35),
    ("hot-mixed", DB_CEILING, 2.0),
    ("hot-mixed", CEILING, 0.35),
    ("read", CEILING, 0.5),
    ("spread", CEILING, 0.3),
    ("hot-keyed", "hot", 0.7),
    ("spread-keyed", "spread", 0.7),
    ("transfer", "spread", 0.5),
    ("hot-transfer", "hot", 0.7),
    ("hot-hold", "hot", 0.5),
    # issue 13: the NATS publisher on costs at most a fifth of the hot wallet's throughput
    ("hot-events", "hot", 0.8),
)
# (scenario, reference, a p99 latency at most this many times the reference's)
P99_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("hot", DB_CEILING, 0.5),
    ("hot-keyed", DB_CEILING, 0.5),
    ("transfer", DB_CEILING, 0.5),
)
# In --scale mode: a throughput at least this share of the same scenario on the small ledger.
SCALE_KEEPS = 0.8
# The --scale probes of the deep wallet, measured against its first history page.
PROBES = ("history-first", "history-deep", "history-with-balance", "as-of")


@dataclass(frozen=True, slots=True)
class Target:
    """`passed` is None when the run did not measure what the target needs."""

    name: str
    measured: str
    passed: bool | None


def ratio(results: list[ScenarioResult], name: str, reference: str) -> float | None:
    """`name`'s requests per second over `reference`'s, when both were measured."""
    loads = _loads(results, name, reference)
    if loads is None or loads[1].per_second == 0:
        return None
    return loads[0].per_second / loads[1].per_second


def p99_ratio(results: list[ScenarioResult], name: str, reference: str) -> float | None:
    """`name`'s p99 latency over `reference`'s, when both were measured."""
    loads = _loads(results, name, reference)
    if loads is None or loads[1].p99_ms == 0:
        return None
    return loads[0].p99_ms / loads[1].p99_ms


def check(results: list[ScenarioResult], elsewhere: Sequence[ScenarioResult] = ()) -> list[Target]:
    """Every target of issue 12 against the scenarios of one run; the errors and the audits of
    the scenarios `elsewhere` (a --scale run's small ledger) count too."""
    targets = [
        _at_least(f"{name} >= {times} x {reference}", ratio(results, name, reference), times)
        for name, reference, times in THROUGHPUT_TARGETS
    ]
    targets += [
        _at_most(
            f"{name} p99 <= {times} x {reference} p99",
            p99_ratio(results, name, reference),
            times,
        )
        for name, reference, times in P99_TARGETS
    ]
    measured = [s for s in (*results, *elsewhere) if s.load is not None]
    # Every round counts, not only the median one a result shows.
    rounds = [load for s in measured for load in s.rounds or ([s.load] if s.load else [])]
    errors = sum(load.errors for load in rounds)
    targets.append(Target("zero errors", f"{errors} errors", errors == 0 if measured else None))
    audited = [s for s in measured if s.audit is not None]
    failed = [s.name for s in audited if s.audit is not None and not s.audit.passed]
    summary = f"{len(audited) - len(failed)} of {len(audited)} audits pass"
    targets.append(
        Target("the audit passes after every scenario", summary, not failed if audited else None)
    )
    return targets


def check_scale(scale: list[ScenarioResult], small: list[ScenarioResult]) -> list[Target]:
    """Throughputs on the big ledger against the same scenarios on the small ledger of the same
    run, and the deepest history page against the first."""
    targets = []
    for result in scale:
        if result.load is None or "@" in result.name or result.name in PROBES:
            continue
        reference = measured_result(small, result.name)
        name = f"{result.name} >= {SCALE_KEEPS} x small ledger"
        if reference is None or reference.load is None or reference.load.per_second == 0:
            targets.append(Target(name, "no small-ledger result", None))
            continue
        targets.append(
            _at_least(name, result.load.per_second / reference.load.per_second, SCALE_KEEPS)
        )
    # issue 14: pages from anywhere in a deep history, and the balance as of any instant of it,
    # cost what its first page does
    for probe in PROBES[1:]:
        targets.append(
            _at_least(
                f"{probe} >= {SCALE_KEEPS} x history-first",
                ratio(scale, probe, "history-first"),
                SCALE_KEEPS,
            )
        )
    return targets


def _loads(results: list[ScenarioResult], name: str, reference: str) -> tuple[Load, Load] | None:
    scenario = measured_result(results, name)
    base = measured_result(results, reference)
    if scenario is None or base is None or scenario.load is None or base.load is None:
        return None
    return scenario.load, base.load


def _at_least(name: str, value: float | None, threshold: float) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, f"{value:.2f} x", value >= threshold)


def _at_most(name: str, value: float | None, threshold: float) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, f"{value:.2f} x", value <= threshold)


def measured_result(results: list[ScenarioResult], name: str) -> ScenarioResult | None:
    """The result of the scenario called `name`, when it was measured."""
    return next((s for s in results if s.name == name and s.load is not None), None)
