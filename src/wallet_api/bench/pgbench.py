"""Runs pgbench on the service's own server: what the database alone does on one hot row."""

from __future__ import annotations

import glob
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

from wallet_api.bench.results import Load
from wallet_api.settings import child_environment
from wallet_api.storage.embedded import EmbeddedPostgresMissing, embedded_postgres

# The balance update of a deposit and nothing else: no operation row, no HTTP, no Python.
SCRIPT = (
    "UPDATE wallets SET balance_minor = balance_minor + 1 WHERE id = '{wallet_id}'"
    " RETURNING balance_minor;\n"
)

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


class PgbenchFailed(Exception):
    """pgbench did not run to the end."""


def find(embedded: bool) -> str | None:
    """The embedded server's own pgbench for the embedded server, else the machine's newest."""
    bundled_list = _bundled()
    machine = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), key=_major, reverse=True)
    preferred = bundled_list + machine if embedded else machine + bundled_list
    return next(iter(preferred), None) or shutil.which("pgbench")


def _bundled() -> list[str]:
    try:
        package = Path(str(embedded_postgres().__file__)).parent
    except EmbeddedPostgresMissing:
        return []
    bundled = package / "pginstall" / "bin" / "pgbench"
    return [str(bundled)] if bundled.exists() else []


def version(pgbench: str) -> str:
    completed = subprocess.run([pgbench, "--version"], capture_output=True, text=True, check=False)
    return completed.stdout.strip() or "unknown"


def run(
    pgbench: str,
    dsn: str,
    password: str | None,
    script: Path,
    clients: int,
    seconds: int,
    log_dir: Path,
) -> tuple[Load, str]:
    """`clients` connections running `script` for `seconds`; the Load seen and pgbench's output.

    The per-transaction log (-l) gives the latency percentiles pgbench does not print.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    # An earlier run's logs in the directory would mix their latencies with this run's.
    for earlier in log_dir.glob("pgbench.*"):
        earlier.unlink()
    prefix = log_dir / "pgbench"
    command = [
        pgbench,
        "--no-vacuum",
        f"--client={clients}",
        f"--jobs={max(1, min(clients, os.cpu_count() or 1))}",
        f"--time={seconds}",
        "--protocol=prepared",
        f"--file={script}",
        "--log",
        f"--log-prefix={prefix}",
        dsn,
    ]
    env = child_environment(**({"PGPASSWORD": password} if password else {}))
    completed = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise PgbenchFailed(f"pgbench exited with {completed.returncode}:\n{output}")
    latencies = latencies_us(sorted(log_dir.glob("pgbench.*")))
    return parse(output, latencies), output


def parse(output: str, latencies: list[int]) -> Load:
    """The Load from pgbench's summary and the latencies (microseconds) of its log."""
    tps, processed = _TPS.search(output), _PROCESSED.search(output)
    if tps is None or processed is None:
        raise PgbenchFailed(f"no tps in pgbench's output:\n{output}")
    failed = _FAILED.search(output)
    requests = int(processed.group(1))
    rate = float(tps.group(1))
    ordered = sorted(latencies)
    return Load(
        requests=requests,
        seconds=requests / rate if rate else 0.0,
        p50_ms=percentile(ordered, 50) / 1e3,
        p99_ms=percentile(ordered, 99) / 1e3,
        p999_ms=percentile(ordered, 99.9) / 1e3,
        non_2xx=int(failed.group(1)) if failed else 0,
        socket_errors=0,
    )


def latencies_us(logs: list[Path]) -> list[int]:
    """The latency of each committed transaction: the third field of pgbench's log lines."""
    latencies = []
    for log in logs:
        with log.open() as lines:
            for line in lines:
                fields = line.split()
                if len(fields) > 2 and fields[2].isdigit():
                    latencies.append(int(fields[2]))
    return latencies


def percentile(ordered: list[int], percent: float) -> float:
    """Nearest-rank percentile of an ascending list; 0 for an empty one."""
    if not ordered:
        return 0.0
    rank = math.ceil(percent / 100 * len(ordered))
    return float(ordered[min(len(ordered), max(1, rank)) - 1])


def _major(path: str) -> int:
    parts = Path(path).parts
    return int(parts[-3]) if parts[-3].isdigit() else 0
