"""Connecting to the primary among the hosts of a failover cluster, each host within a timeout of
its own, the last primary found first."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from wallet_api.storage.urls import driver_dsn, each_host, hosts, parsed

# Each host of a cluster: a connection on a network takes milliseconds, and every second spent on
# a lost host delays the service's return after a failover.
CONNECT_TIMEOUT_PER_HOST_SECONDS = 2.0

# A host that cannot serve: refused, silent (a lost machine drops packets: the connect times
# out), starting, shutting down, or a standby when a writable server is wanted.
_NOT_THIS_HOST = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresError,
)


class PrimaryConnector:
    """What both pools call for a new connection when the URL names several hosts.

    The driver, given every host, spends one timeout on them all, so a first host that is gone
    without a trace (a machine lost, a network cut: no refusal, only silence) uses it up and the
    others are never tried. Here each host gets the whole timeout, and the host that answered
    last is tried first: after a failover, one connection pays for the lost host, the next ones
    go straight to the new primary."""

    def __init__(self, url: URL, timeout_per_host: float) -> None:
        self._dsns = [driver_dsn(one) for one in each_host(url)]
        self._timeout = timeout_per_host
        self._first = 0

    async def __call__(self, *_: object, **options: Any) -> asyncpg.Connection:
        options.pop("timeout", None)
        error: BaseException | None = None
        count = len(self._dsns)
        for index in [(self._first + n) % count for n in range(count)]:
            try:
                connection = await asyncpg.connect(
                    self._dsns[index], timeout=self._timeout, **options
                )
            except _NOT_THIS_HOST as failure:
                error = failure
                continue
            self._first = index
            return connection
        assert error is not None
        raise error


def primary_connector(url: str | URL) -> PrimaryConnector | None:
    """The connector for a URL with several hosts; None for one host."""
    database = url if isinstance(url, URL) else parsed(url)
    if len(hosts(database)) < 2:
        return None
    return PrimaryConnector(database, timeout_per_host=CONNECT_TIMEOUT_PER_HOST_SECONDS)


async def connect(url: str, **options: Any) -> asyncpg.Connection:
    """One connection of its own: on a cluster to the primary, found host by host (the driver
    would stop at a standby that lacks a database the primary just created)."""
    connector = primary_connector(url)
    if connector is None:
        return await asyncpg.connect(driver_dsn(url), **options)
    return await connector(**options)
