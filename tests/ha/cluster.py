"""The cluster of deploy/ha, driven from the tests: started, its primary lost, brought back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "ha"
# Beside the one `make ha-up` starts (.ha-data, ports 6300-6302), so that both may run.
TEST_ENVIRONMENT = {
    "HA_DIR": str(ROOT / ".ha-data-test"),
    "HA_MONITOR_PORT": "6310",
    "HA_NODE_PORTS": "6311 6312",
}


class Cluster:
    def __init__(self, environment: dict[str, str]) -> None:
        self._environment = environment
        self.url = ""

    def up(self) -> str:
        """Started, or every lost node started again; returns the service's DATABASE_URL once
        there is a primary with a synchronous standby."""
        self.url = self._run("up.sh", timeout=300).strip().splitlines()[-1]
        return self.url

    def fail_primary(self) -> tuple[str, float]:
        """The primary's machine lost; the node that was primary, and time.monotonic() then."""
        output = self._run("failover.sh", timeout=30)
        killed_at = time.monotonic()
        found = re.search(r"killed (node\d+)", output)
        assert found, output
        return found.group(1), killed_at

    def status(self) -> str:
        return self._run("status.sh", timeout=60)

    def role_of(self, node: str) -> str:
        """The state the monitor assigned `node`, as `make ha-status` shows it."""
        for line in self.status().splitlines():
            cells = [cell.strip() for cell in line.split("|")]
            if cells and cells[0] == node:
                return cells[-1]
        raise AssertionError(f"{node} is not in the cluster's state:\n{self.status()}")

    def down(self) -> None:
        self._run("down.sh", timeout=120)

    def _run(self, script: str, timeout: float) -> str:
        finished = subprocess.run(
            ["bash", str(SCRIPTS / script)],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **self._environment},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert finished.returncode == 0, f"{script}: {finished.stdout}{finished.stderr}"
        return finished.stdout


def skip_unless_possible() -> None:
    if shutil.which("pg_autoctl") is None:
        pytest.skip("pg_auto_failover is not installed: `make test-ha` installs it")
    if os.geteuid() != 0:
        pytest.skip("the cluster scripts run as root (they create the user wallet-ha)")
