"""Whether `serve` asks for keys: off only on loopback without keys, or when told in words."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    log_lines,
    running_service,
    scratch_database,
    service_environment,
)
from wallet_api.ledger.api_keys import new_key
from wallet_api.storage import migrations


@pytest.fixture(scope="module")
def keyless_database_url(admin_url: str) -> Iterator[str]:
    """A database on which no key is ever created."""
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        yield url


def wallet_status(base_url: str, headers: dict[str, str] | None = None) -> int:
    return httpx.get(f"{base_url}/api/v1/wallets/{uuid.uuid4()}", headers=headers).status_code


def test_loopback_without_keys_is_open_and_says_so_in_its_first_log_line(
    keyless_database_url: str, tmp_path: Path
) -> None:
    env = service_environment(
        DATABASE_URL=keyless_database_url, WALLET_WORKERS="1", WALLET_LOG_LEVEL="info"
    )
    with running_service(env, tmp_path / "serve.log") as (base_url, _):
        assert wallet_status(base_url) == 404
        lines = log_lines(tmp_path / "serve.log")
    assert "WARNING" in lines[0] and "auth disabled" in lines[0], lines[:3]
    assert "loopback" in lines[0]
    assert any("alembic" in line for line in lines[1:])


def test_all_interfaces_without_keys_requires_a_key_unless_told_otherwise(
    keyless_database_url: str, tmp_path: Path
) -> None:
    env = service_environment(
        DATABASE_URL=keyless_database_url,
        WALLET_WORKERS="1",
        WALLET_HOST="0.0.0.0",
        WALLET_LOG_LEVEL="info",
    )
    with running_service(env, tmp_path / "serve.log", ("--no-migrate",)) as (base_url, _):
        assert wallet_status(base_url) == 401
        assert wallet_status(base_url, {"Authorization": f"Bearer {new_key()}"}) == 401
    first = log_lines(tmp_path / "serve.log")[0]
    assert "auth required: 0.0.0.0 is not a loopback address" in first


def test_all_interfaces_with_auth_disabled_explicitly_is_open_with_a_loud_warning(
    keyless_database_url: str, tmp_path: Path
) -> None:
    env = service_environment(
        DATABASE_URL=keyless_database_url,
        WALLET_WORKERS="1",
        WALLET_HOST="0.0.0.0",
        WALLET_AUTH="disabled",
    )
    with running_service(env, tmp_path / "serve.log", ("--no-migrate",)) as (base_url, _):
        assert wallet_status(base_url) == 404
    first = log_lines(tmp_path / "serve.log")[0]
    assert "WARNING" in first and "AUTH DISABLED ON 0.0.0.0" in first


def test_loopback_with_keys_requires_them_and_limits_each_key_rate(
    secured_database_url: str, full_key: str, tmp_path: Path
) -> None:
    env = service_environment(
        DATABASE_URL=secured_database_url,
        WALLET_WORKERS="1",
        WALLET_RATE_LIMIT_PER_SECOND="0.5",
        WALLET_RATE_LIMIT_BURST="3",
    )
    with running_service(env, tmp_path / "serve.log", ("--no-migrate",)) as (base_url, _):
        assert wallet_status(base_url) == 401
        authorized = {"Authorization": f"Bearer {full_key}"}
        statuses = [wallet_status(base_url, authorized) for _ in range(3)]
        assert statuses == [404, 404, 404]
        response = httpx.get(f"{base_url}/api/v1/wallets/{uuid.uuid4()}", headers=authorized)
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 2


def test_a_bootstrap_key_from_the_environment_opens_the_api_to_its_holder(
    admin_url: str, tmp_path: Path
) -> None:
    key = new_key()
    with scratch_database(admin_url) as url:
        env = service_environment(
            DATABASE_URL=url,
            WALLET_WORKERS="1",
            WALLET_HOST="0.0.0.0",
            WALLET_BOOTSTRAP_API_KEY=key,
        )
        for _ in range(2):  # a restart finds the key stored and leaves it as it is
            with running_service(env, tmp_path / "serve.log") as (base_url, _):
                assert wallet_status(base_url) == 401
                assert wallet_status(base_url, {"Authorization": f"Bearer {key}"}) == 404
                body = {"operation_type": "DEPOSIT", "amount": 1}
                response = httpx.post(
                    f"{base_url}/api/v1/wallets/{uuid.uuid4()}/operation",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert response.status_code == 200
        assert key not in (tmp_path / "serve.log").read_text()


def test_a_bootstrap_key_too_short_to_be_a_secret_stops_the_start(
    keyless_database_url: str, tmp_path: Path
) -> None:
    env = service_environment(
        DATABASE_URL=keyless_database_url, WALLET_WORKERS="1", WALLET_BOOTSTRAP_API_KEY="changeme"
    )
    log = tmp_path / "serve.log"
    with (
        pytest.raises(RuntimeError, match="WALLET_BOOTSTRAP_API_KEY is not usable"),
        running_service(env, log, ("--no-migrate",)),
    ):
        pass
