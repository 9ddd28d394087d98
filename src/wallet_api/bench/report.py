"""The report of a run: JSON for machines, Markdown for people, a PNG of throughput and p99."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wallet_api.bench.results import Audit, Load, Run, ScenarioResult
from wallet_api.bench.targets import CEILING, DB_CEILING, Target, measured_result, ratio


def write(run: Run, targets: list[Target], directory: Path, stem: str) -> list[Path]:
    """`stem`.json, `stem`.md and, when matplotlib is installed, `stem`.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / f"{stem}.json", directory / f"{stem}.md"]
    written[0].write_text(json.dumps(to_dict(run, targets), indent=2) + "\n")
    written[1].write_text(to_markdown(run, targets))
    png = directory / f"{stem}.png"
    if write_png(run, png):
        written.append(png)
    return written


def to_dict(run: Run, targets: list[Target]) -> dict[str, Any]:
    return {
        "mode": run.mode,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "failure": run.failure,
        "options": run.options,
        "machine": run.machine,
        "database": run.database,
        "service": run.service,
        "tools": run.tools,
        "fill": run.fill,
        "scenarios": [_scenario_dict(s, run.scenarios) for s in run.scenarios],
        "small_ledger_scenarios": [_scenario_dict(s, run.small_ledger) for s in run.small_ledger],
        "targets": [asdict(t) for t in targets],
    }


def to_markdown(run: Run, targets: list[Target]) -> str:
    title = "Scale benchmark" if run.mode == "scale" else "Benchmark"
    lines = [
        f"# {title} of wallet-api",
        "",
        f"Run from {run.started_at} to {run.finished_at}.",
        "",
    ]
    if run.failure:
        lines += [f"**The run failed:** {run.failure}", ""]
    heading = "## Results on the big ledger" if run.small_ledger else "## Results"
    lines += [heading, "", *_results_table(run.scenarios), *_notes(run.scenarios)]
    if run.small_ledger:
        lines += [
            "## The same scenarios on a small ledger",
            "",
            "Each standard scenario ran on a second database of the same server, holding only the",
            "scenarios' own wallets, against a second service with the same settings, in rounds",
            "alternating with its runs on the big ledger (small, big, big, small, ...). Each table",
            "shows, of a scenario's rounds on its ledger, the one of median throughput.",
            "",
            *_results_table(run.small_ledger),
            *_notes(run.small_ledger),
            "## Rounds",
            "",
            *_rounds_table(run.scenarios, run.small_ledger),
            "",
        ]
    lines += [
        "Requests per second count every response; errors are non-2xx responses (failed",
        "transactions for pgbench) plus socket errors and timeouts. The ratios divide a",
        f"scenario's requests per second by those of `{CEILING}` and `{DB_CEILING}` in this run"
        + (", on the same ledger." if run.small_ledger else "."),
        "",
        "## Targets",
        "",
        "| Target | Measured | Result |",
        "| --- | --- | --- |",
        *(f"| {t.name} | {t.measured} | {_verdict(t.passed)} |" for t in targets),
        "",
        "## Scenarios",
        "",
        *(f"- `{s.name}` ({s.tool}): {s.summary}" for s in run.scenarios),
        "",
    ]
    if run.fill:
        lines += ["## The ledger before the run", "", *_mapping_lines(run.fill), ""]
    lines += [
        "## Context",
        "",
        "Machine:",
        "",
        *_mapping_lines(run.machine),
        "",
        "Database:",
        "",
        *_mapping_lines(run.database),
        "",
        "Service settings:",
        "",
        *_mapping_lines(run.service),
        "",
        "Tools and options:",
        "",
        *_mapping_lines({**run.tools, **run.options}),
        "",
    ]
    return "\n".join(lines)


def write_png(run: Run, path: Path) -> bool:
    """Throughput and p99 per scenario side by side; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    bars = _bars(run)
    if not bars:
        return False
    names = [name for name, _, _ in bars]
    rates = [load.per_second for _, load, _ in bars]
    p99s = [load.p99_ms for _, load, _ in bars]
    colors = [color for _, _, color in bars]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 0.5 * len(names) + 2))
    left.bar_label(left.barh(names, rates, color=colors), fmt="{:,.0f}", padding=3)
    left.set_xlabel("requests per second")
    left.set_title(
        "Throughput (gray: references; light: small ledger)"
        if run.small_ledger
        else "Throughput (gray: the references)"
    )
    right.bar_label(right.barh(names, p99s, color=colors), fmt="{:,.1f}", padding=3)
    right.set_xlabel("p99 latency, ms")
    right.set_title("p99 latency")
    for axes in (left, right):
        axes.invert_yaxis()
        axes.grid(axis="x", alpha=0.3)
        axes.margins(x=0.15)
    cores = run.machine.get("cores")
    figure.suptitle(f"wallet-api {run.mode} benchmark, {run.started_at}, {cores} cores")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _rounds_table(big: list[ScenarioResult], small: list[ScenarioResult]) -> list[str]:
    """Requests per second of every round on each ledger, and the ratio of the medians."""
    rows = [
        "| Scenario | Small ledger, req/s per round | Big ledger, req/s per round | Big / small |",
        "| --- | --- | --- | ---: |",
    ]
    for result in small:
        on_big = measured_result(big, result.name)
        if on_big is None or result.load is None or on_big.load is None:
            continue
        times = on_big.load.per_second / result.load.per_second if result.load.per_second else 0
        rows.append(
            f"| {result.name} | {_per_round(result)} | {_per_round(on_big)} | {times:.2f} |"
        )
    return rows


def _per_round(result: ScenarioResult) -> str:
    return ", ".join(f"{load.per_second:,.0f}" for load in result.rounds)


def _bars(run: Run) -> list[tuple[str, Load, str]]:
    """Each measured scenario's label, load and color; in --scale mode, each followed by the
    same scenario on the small ledger."""
    bars = []
    for s in run.scenarios:
        if s.load is None:
            continue
        reference = s.name in (CEILING, DB_CEILING)
        bars.append((s.name, s.load, "tab:gray" if reference else "tab:blue"))
        small = measured_result(run.small_ledger, s.name)
        if small is not None and small.load is not None:
            color = "silver" if reference else "lightskyblue"
            bars.append((f"{s.name} (small ledger)", small.load, color))
    return bars


def _results_table(scenarios: list[ScenarioResult]) -> list[str]:
    rows = [
        "| Scenario | Connections | Requests/s | p50 ms | p99 ms | p99.9 ms | Errors "
        f"| x {CEILING} | x {DB_CEILING} | Audit |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in scenarios:
        if s.load is None:
            rows.append(f"| {s.name} | {s.connections} | skipped | | | | | | | |")
            continue
        load = s.load
        rows.append(
            f"| {s.name} | {s.connections} | {load.per_second:,.0f} | {load.p50_ms:.1f} "
            f"| {load.p99_ms:.1f} | {load.p999_ms:.1f} | {load.errors} "
            f"| {_times(ratio(scenarios, s.name, CEILING))} "
            f"| {_times(ratio(scenarios, s.name, DB_CEILING))} | {_audit(s.audit)} |"
        )
    return rows


def _notes(scenarios: list[ScenarioResult]) -> list[str]:
    """A blank line, then a line for each scenario with a note and a blank line after them."""
    noted = [f"- `{s.name}`: {s.note}" for s in scenarios if s.note]
    return ["", *noted, ""] if noted else [""]


def _scenario_dict(s: ScenarioResult, all_results: list[ScenarioResult]) -> dict[str, Any]:
    load = s.load
    return {
        "name": s.name,
        "summary": s.summary,
        "tool": s.tool,
        "connections": s.connections,
        "note": s.note,
        "requests_per_second": round(load.per_second, 1) if load else None,
        "p50_ms": load.p50_ms if load else None,
        "p99_ms": load.p99_ms if load else None,
        "p99_9_ms": load.p999_ms if load else None,
        "errors": load.errors if load else None,
        "rounds_per_second": [round(r.per_second, 1) for r in s.rounds],
        "vs_ceiling": _rounded(ratio(all_results, s.name, CEILING)),
        "vs_db_ceiling": _rounded(ratio(all_results, s.name, DB_CEILING)),
        "load": asdict(load) if load else None,
        "audit": asdict(s.audit) if s.audit else None,
        "output": s.output,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _times(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _audit(audit: Audit | None) -> str:
    if audit is None:
        return ""
    return "passes" if audit.passed else "**FAILS**"


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "**MISS**", None: "not measured"}[passed]


def _mapping_lines(mapping: dict[str, Any]) -> list[str]:
    return [f"- {key}: {value}" for key, value in mapping.items()]
