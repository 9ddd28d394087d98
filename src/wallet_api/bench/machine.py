"""The machine a run took place on: cores, CPU model, memory, how busy it was."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from wallet_api import __version__


def describe() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu_model": _proc_field(Path("/proc/cpuinfo"), "model name") or platform.processor(),
        "memory": _proc_field(Path("/proc/meminfo"), "MemTotal"),
        "load_average_at_start": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wallet_api": __version__,
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: a busy machine makes every number lower."""
    return [round(value, 2) for value in os.getloadavg()]


def _proc_field(path: Path, name: str) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None
