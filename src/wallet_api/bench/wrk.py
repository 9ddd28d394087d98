"""Runs wrk over loopback with a generated Lua script and reads its summary line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from wallet_api.bench.results import Load

# Appended to every script: wrk aggregates the latency of all its threads before done(), so
# one line carries the percentiles and every kind of error of the whole run.
SUMMARY_LUA = """
function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      "wrk-summary requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d "
         .. "non_2xx=%d connect=%d read=%d write=%d timeout=%d\\n",
      summary.requests, summary.duration,
      math.floor(latency:percentile(50)), math.floor(latency:percentile(99)),
      math.floor(latency:percentile(99.9)),
      errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
"""

TIMEOUT_SECONDS = 5
_SUMMARY = re.compile(r"^wrk-summary (.+)$", re.MULTILINE)


class WrkFailed(Exception):
    """wrk did not run to the end or printed no summary."""


def find() -> str | None:
    return shutil.which("wrk")


def version(wrk: str) -> str:
    # wrk has no version flag: -v prints the banner with the version, then the usage.
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    banner = (completed.stdout + completed.stderr).strip().splitlines()
    return banner[0] if banner else "unknown"


def threads_for(connections: int) -> int:
    return max(1, min(connections, os.cpu_count() or 1))


def run(wrk: str, url: str, script: Path, connections: int, seconds: int) -> tuple[Load, str]:
    """Drive `url` for `seconds`; the Load seen and wrk's own output."""
    command = [
        wrk,
        f"--threads={threads_for(connections)}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        f"--timeout={TIMEOUT_SECONDS}s",
        "--latency",
        f"--script={script}",
        url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise WrkFailed(f"wrk exited with {completed.returncode}:\n{output}")
    return parse(output), output


def parse(output: str) -> Load:
    """The Load in wrk's output, from the line the script's done() prints."""
    match = _SUMMARY.search(output)
    if match is None:
        raise WrkFailed(f"no wrk-summary line in wrk's output:\n{output}")
    fields = {key: int(value) for key, value in (p.split("=") for p in match.group(1).split())}
    return Load(
        requests=fields["requests"],
        seconds=fields["duration_us"] / 1e6,
        p50_ms=fields["p50_us"] / 1e3,
        p99_ms=fields["p99_us"] / 1e3,
        p999_ms=fields["p999_us"] / 1e3,
        non_2xx=fields["non_2xx"],
        socket_errors=sum(fields[kind] for kind in ("connect", "read", "write", "timeout")),
    )
