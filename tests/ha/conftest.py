"""Fixtures of the high-availability tests: a fresh cluster of deploy/ha for each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ha.cluster import TEST_ENVIRONMENT, Cluster, skip_unless_possible


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    skip_unless_possible()
    cluster = Cluster(TEST_ENVIRONMENT)
    cluster.down()  # what an interrupted run may have left
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()
