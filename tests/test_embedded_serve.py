"""`wallet-api serve` with no DATABASE_URL runs on its own embedded PostgreSQL, and stops it."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
import psutil

from tests.support import running_service, service_environment


def postgres_processes_on(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and any(str(data_dir) in arg for arg in cmdline):
            found.append(process)
    return found


def test_serve_without_database_url_starts_embedded_postgres_and_stops_it_on_sigterm(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "wallet-data"
    env = service_environment(WALLET_DATA_DIR=str(data_dir), WALLET_WORKERS="1")
    log = tmp_path / "serve.log"
    with running_service(env, log, cwd=tmp_path) as (base_url, process):
        wallet_id = uuid.uuid4()
        body = {"operation_type": "DEPOSIT", "amount": "7.25"}
        response = httpx.post(f"{base_url}/api/v1/wallets/{wallet_id}/operation", json=body)
        assert response.status_code == 200
        assert '"balance":7.25' in httpx.get(f"{base_url}/api/v1/wallets/{wallet_id}").text
        assert postgres_processes_on(data_dir.resolve())

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0

    assert (data_dir / "PG_VERSION").exists()
    assert postgres_processes_on(data_dir.resolve()) == []
