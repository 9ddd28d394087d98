"""Connecting to a cluster's primary: a host that has gone silent costs one timeout, once."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from wallet_api.storage.primary import PrimaryConnector
from wallet_api.storage.urls import hosts, parsed

TIMEOUT = 1.0


@contextlib.contextmanager
def silent_host() -> Iterator[str]:
    """A port where the kernel accepts connections and nobody ever answers: what a server looks
    like after its machine froze, or from behind a cut that lets the handshake through."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def connector(admin_url: str) -> Iterator[PrimaryConnector]:
    with silent_host() as silent:
        server = parsed(admin_url)
        both = server.update_query_dict(
            {"host": (silent, *hosts(server)), "target_session_attrs": "read-write"}
        )
        yield PrimaryConnector(both, timeout_per_host=TIMEOUT)


async def test_a_silent_first_host_costs_one_timeout_then_the_primary_is_tried_first(
    connector: PrimaryConnector,
) -> None:
    started = time.monotonic()
    first = await connector()
    took = time.monotonic() - started
    try:
        assert await first.fetchval("SELECT NOT pg_is_in_recovery()")
    finally:
        await first.close()
    # The driver alone spends its one timeout on the silent host and never tries the next.
    assert TIMEOUT <= took < TIMEOUT + 3

    started = time.monotonic()
    second = await connector()
    took = time.monotonic() - started
    await second.close()
    assert took < TIMEOUT / 2, "the host that answered last is tried first"
