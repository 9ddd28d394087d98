"""Database URLs: one host or several (a failover cluster), and the refusal of a risky one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import service_environment
from wallet_api.storage.urls import async_url, checked, driver_dsn, hosts, parsed

CLUSTER = "postgresql://wallet:s%40cret@127.0.0.1:6301,127.0.0.1:6302/wallet"


def test_a_libpq_multi_host_url_keeps_every_host_for_both_pools() -> None:
    url = f"{CLUSTER}?target_session_attrs=read-write"
    assert hosts(parsed(url)) == ("127.0.0.1:6301", "127.0.0.1:6302")
    assert async_url(url) == (
        "postgresql+asyncpg://wallet:s%40cret@/wallet"
        "?host=127.0.0.1%3A6301&host=127.0.0.1%3A6302&target_session_attrs=read-write"
    )
    # The driver's own pool takes the libpq form, from either form.
    assert driver_dsn(url) == url
    assert driver_dsn(async_url(url)) == url
    assert parsed(url).password == "s@cret"


def test_a_single_host_or_socket_url_is_unchanged_but_for_the_driver_name() -> None:
    assert async_url("postgres://u:p@db:5433/w") == "postgresql+asyncpg://u:p@db:5433/w"
    assert driver_dsn("postgresql+asyncpg://u:p@db:5433/w") == "postgresql://u:p@db:5433/w"
    socket = "postgresql://postgres:@/postgres?host=/run/wallet-pg"
    assert hosts(parsed(socket)) == ("/run/wallet-pg",)
    assert driver_dsn(socket) == "postgresql://postgres:@/postgres?host=%2Frun%2Fwallet-pg"


@pytest.mark.parametrize("attrs", ["read-write", "primary"])
def test_several_hosts_with_a_writable_session_target_are_accepted(attrs: str) -> None:
    url = f"{CLUSTER}?target_session_attrs={attrs}"
    assert checked(url) == url
    assert checked("postgresql://u@db:5432/w") == "postgresql://u@db:5432/w"


@pytest.mark.parametrize("query", ["", "?target_session_attrs=any", "?sslmode=disable"])
def test_several_hosts_without_target_session_attrs_read_write_are_refused(query: str) -> None:
    with pytest.raises(ValueError, match="target_session_attrs=read-write"):
        checked(CLUSTER + query)
    with pytest.raises(ValueError, match="2 hosts"):
        checked(async_url(CLUSTER + query))


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme"):
        checked("mysql://u@db/w")


def test_serve_refuses_a_cluster_url_without_read_write_at_start_and_hides_the_password() -> None:
    started = subprocess.run(
        [sys.executable, "-m", "wallet_api", "serve", "--no-migrate"],
        env=service_environment(DATABASE_URL=CLUSTER),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 2
    assert "DATABASE_URL" in started.stderr
    assert "target_session_attrs=read-write" in started.stderr
    assert "Traceback" not in started.stderr
    assert "cret" not in started.stderr
