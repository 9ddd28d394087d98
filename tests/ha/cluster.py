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


PRIMARY_STATES = ("primary", "wait_primary")


class Cluster:
    def __init__(self, environment: dict[str, str]) -> None:
        self._environment = environment
        self.url = ""

    def up(self) -> str:
        """Started, or every lost node started again; returns the service's DATABASE_URL once
        there is a primary with a synchronous standby."""
        self.url = self._run("up.sh", timeout=300).strip().splitlines()[-1]
        return self.url

    def lose_primary(self, how: str) -> tuple[str, float]:
        """The primary's machine lost (`kill`) or cut off the network (`cut`); the node that was
        primary, and time.monotonic() then."""
        command = ("failover.sh",) if how == "kill" else ("partition.sh", "cut")
        output = self._run(*command, timeout=30)
        lost_at = time.monotonic()
        found = re.search(r"(?:killed|cut) (node\d+)", output)
        assert found, output
        return found.group(1), lost_at

    def wait_for_primary_other_than(self, lost: str, timeout: float = 60) -> str:
        """Until the monitor made another node the primary; that node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.status().splitlines():
                cells = [cell.strip() for cell in line.split("|")]
                if len(cells) > 2 and cells[0] != lost and cells[-1] in PRIMARY_STATES:
                    return cells[0]
            time.sleep(0.5)
        raise AssertionError(f"no node took over from {lost}:\n{self.status()}")

    def heal(self) -> None:
        """Every network cut removed."""
        self._run("partition.sh", "heal", timeout=30)

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

    def _run(self, script: str, *args: str, timeout: float) -> str:
        finished = subprocess.run(
            ["bash", str(SCRIPTS / script), *args],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **self._environment},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert finished.returncode == 0, f"{script}: {finished.stdout}{finished.stderr}"
        return finished.stdout


def skip_unless_possible(how: str = "kill") -> None:
    if shutil.which("pg_autoctl") is None:
        pytest.skip("pg_auto_failover is not installed: `make test-ha` installs it")
    if how == "cut" and shutil.which("iptables") is None:
        pytest.skip("iptables is not installed: `make test-ha` installs it")
    if os.geteuid() != 0:
        pytest.skip("the cluster scripts run as root (they create the user wallet-ha)")
