"""What a run measured: each scenario's load figures and audit, and the run around them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Load:
    """What a load generator saw during one bounded run."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass(frozen=True, slots=True)
class Audit:
    """The outcome of `wallet-api verify` after a scenario."""

    passed: bool
    summary: str
    seconds: float


@dataclass(slots=True)
class ScenarioResult:
    name: str
    summary: str
    tool: str
    connections: int
    load: Load | None = None  # of several rounds, the one of median throughput
    audit: Audit | None = None
    note: str = ""
    output: str = ""
    rounds: list[Load] = field(default_factory=list)
    round_outputs: list[str] = field(default_factory=list, repr=False)

    def add_round(self, load: Load, output: str) -> None:
        """One more run of the scenario; `load` becomes the median round's (the lower middle
        one of an even number), a run that happened, with its own percentiles and output."""
        self.rounds.append(load)
        self.round_outputs.append(output)
        by_throughput = sorted(range(len(self.rounds)), key=lambda n: self.rounds[n].per_second)
        median = by_throughput[(len(by_throughput) - 1) // 2]
        self.load, self.output = self.rounds[median], self.round_outputs[median]

    @property
    def measured(self) -> bool:
        return self.load is not None


@dataclass(slots=True)
class Run:
    """A whole benchmark run: its context, the scenario results, the targets checked."""

    mode: str
    started_at: str
    options: dict[str, Any]
    machine: dict[str, Any]
    database: dict[str, Any]
    service: dict[str, Any]
    tools: dict[str, str]
    scenarios: list[ScenarioResult] = field(default_factory=list)
    # --scale mode: the standard scenarios on a small ledger, interleaved with `scenarios`.
    small_ledger: list[ScenarioResult] = field(default_factory=list)
    fill: dict[str, Any] | None = None
    finished_at: str = ""
    failure: str = ""
