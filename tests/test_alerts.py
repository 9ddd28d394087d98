"""The dashboard and the alert rules: valid for Prometheus, firing when they should, and naming
only metrics the service (or `wallet-api verify`) exposes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from tests.test_docker_files import compose, service
from wallet_api import metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "wallet-api.json"
# `make test` unpacks Debian's prometheus package there when the machine has no promtool.
UNPACKED_PROMTOOL = ROOT / ".venv" / "prometheus" / "usr" / "bin" / "promtool"
# What `wallet-api verify --metrics-file` writes (metrics.write_audit).
AUDIT_METRICS = {
    "wallet_audit_problems",
    "wallet_audit_wallets",
    "wallet_audit_operations",
    "wallet_audit_last_run_timestamp_seconds",
}
_METRIC = re.compile(r"\b(?:wallet|process)_[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool") or (
        str(UNPACKED_PROMTOOL) if UNPACKED_PROMTOOL.exists() else None
    )
    if tool is None:
        pytest.skip(
            "promtool not found: `make test` unpacks Debian's prometheus package into .venv, "
            "and apt-get could not fetch it on this machine"
        )
    return subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )


def test_alert_rules_are_valid_for_prometheus() -> None:
    checked = promtool("check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout


def test_each_alert_fires_on_its_trouble_and_none_on_a_healthy_service() -> None:
    tested = promtool("test", "rules", "alerts.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_prometheus_config_scrapes_every_replica_and_loads_the_alerts() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "wallet-api"
    (discovery,) = job["dns_sd_configs"]
    assert discovery["names"] == ["api"] and discovery["port"] == 8000
    assert config["rule_files"] == ["alerts.yml"]


def alert_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_alerts_cover_errors_latency_pool_audit_and_events_each_with_a_runbook() -> None:
    rules = {str(rule["alert"]): rule for rule in alert_rules()}
    for wanted in ("wallet_http_requests_total", "wallet_http_request_duration_seconds_bucket"):
        assert any(wanted in str(rule["expr"]) for rule in rules.values())
    for name in ("WalletApiDbPoolSaturated", "WalletApiAuditFailed", "WalletApiEventBacklog"):
        assert name in rules
    assert "wallet_events_backlog" in str(rules["WalletApiEventBacklog"]["expr"])
    operations = (ROOT / "docs" / "operations.md").read_text().lower()
    for name, rule in rules.items():
        runbook = rule["annotations"]["runbook"]  # type: ignore[index]
        assert runbook == f"docs/operations.md#{name.lower()}"
        assert f"### {name.lower()}" in operations, f"no runbook for {name}"


def exposed_metrics() -> set[str]:
    """Every sample name the service's registry can expose, suffixes included."""
    assert metrics.REQUESTS is not None
    names = set(AUDIT_METRICS)
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(family.name + s for s in ("_total", "_bucket", "_count", "_sum", "_created"))
    return names


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def test_dashboard_and_alerts_name_only_metrics_the_service_exposes() -> None:
    known = exposed_metrics()
    used = {
        name
        for expr in [*dashboard_expressions(), *(str(r["expr"]) for r in alert_rules())]
        for name in _METRIC.findall(expr)
    }
    assert used, "no metric found in the expressions"
    assert not used - known, sorted(used - known)


def test_dashboard_shows_each_metric_the_alerts_watch() -> None:
    shown = " ".join(dashboard_expressions())
    for rule in alert_rules():
        for name in _METRIC.findall(str(rule["expr"])):
            assert name.removesuffix("_bucket") in shown, (rule["alert"], name)


def test_observability_profile_wires_prometheus_and_grafana_to_the_api() -> None:
    prometheus, grafana = service("prometheus"), service("grafana")
    assert prometheus["profiles"] == grafana["profiles"] == ["observability"]
    assert prometheus["depends_on"]["api"]["condition"] == "service_healthy"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if ":" in v}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"
    grafana_mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provisioning = ROOT / grafana_mounts["/etc/grafana/provisioning"]
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "wallet-api.yml").read_text())
    dashboards = providers["providers"][0]["options"]["path"]
    assert (ROOT / grafana_mounts[dashboards] / "wallet-api.json").exists()
    for published in (*prometheus["ports"], *grafana["ports"]):
        assert str(published).startswith("127.0.0.1:")
    assert "prometheus-data" in compose()["volumes"]
