"""Ratios to the two reference scenarios, and the targets of issue 7: passed, missed or unknown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wallet_api.bench.results import ScenarioResult

CEILING = "ceiling"
DB_CEILING = "db-ceiling"

# (scenario, reference, at least this many times the reference's requests per second)
THROUGHPUT_TARGETS: tuple[tuple[str, str, float], ...] = (
    ("hot", DB_CEILING, 2.0),
    ("hot", CEILING, 0.35),
    ("hot-mixed", DB_CEILING, 2.0),
    ("hot-mixed", CEILING, 0.35),
    ("spread", CEILING, 0.25),
    ("read", CEILING, 0.5),
)
HOT_P99_LIMIT_MS = 50.0
# In --scale mode: a throughput at least this share of the same scenario on the small ledger.
SCALE_KEEPS = 0.8


@dataclass(frozen=True, slots=True)
class Target:
    """`passed` is None when the run did not measure what the target needs."""

    name: str
    measured: str
    passed: bool | None


def ratio(results: list[ScenarioResult], name: str, reference: str) -> float | None:
    """`name`'s requests per second over `reference`'s, when both were measured."""
    scenario = measured_result(results, name)
    base = measured_result(results, reference)
    if scenario is None or base is None or scenario.load is None or base.load is None:
        return None
    if base.load.per_second == 0:
        return None
    return scenario.load.per_second / base.load.per_second


def check(results: list[ScenarioResult], elsewhere: Sequence[ScenarioResult] = ()) -> list[Target]:
    """Every target of issue 7 against the scenarios of one run; the errors and the audits of
    the scenarios `elsewhere` (a --scale run's small ledger) count too."""
    targets = [
        _at_least(f"{name} >= {times} x {reference}", ratio(results, name, reference), times)
        for name, reference, times in THROUGHPUT_TARGETS
    ]
    hot = measured_result(results, "hot")
    if hot is None or hot.load is None:
        targets.append(Target(f"hot p99 < {HOT_P99_LIMIT_MS:g} ms", "not measured", None))
    else:
        p99 = hot.load.p99_ms
        targets.append(
            Target(f"hot p99 < {HOT_P99_LIMIT_MS:g} ms", f"{p99:.1f} ms", p99 < HOT_P99_LIMIT_MS)
        )
    measured = [s for s in (*results, *elsewhere) if s.load is not None]
    # Every round counts, not only the median one a result shows.
    errors = sum(load.errors for s in measured for load in s.rounds or [s.load] if load)
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
        if result.load is None or "@" in result.name or result.name.startswith("history"):
            continue
        reference = measured_result(small, result.name)
        name = f"{result.name} >= {SCALE_KEEPS} x small ledger"
        if reference is None or reference.load is None or reference.load.per_second == 0:
            targets.append(Target(name, "no small-ledger result", None))
            continue
        targets.append(
            _at_least(name, result.load.per_second / reference.load.per_second, SCALE_KEEPS)
        )
    targets.append(
        _at_least(
            f"history-deep >= {SCALE_KEEPS} x history-first",
            ratio(scale, "history-deep", "history-first"),
            SCALE_KEEPS,
        )
    )
    return targets


def _at_least(name: str, value: float | None, threshold: float) -> Target:
    if value is None:
        return Target(name, "not measured", None)
    return Target(name, f"{value:.2f} x", value >= threshold)


def measured_result(results: list[ScenarioResult], name: str) -> ScenarioResult | None:
    """The result of the scenario called `name`, when it was measured."""
    return next((s for s in results if s.name == name and s.load is not None), None)
