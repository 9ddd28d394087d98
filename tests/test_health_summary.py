"""The health summary the console shows: points read from every worker's metrics, and the last
`wallet-api verify`."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.support import create_key, deposit, run_verify
from wallet_api.health_history import quantile

SUMMARY = "/api/v1/health/summary"


def test_quantile_interpolates_inside_its_bucket_as_prometheus_does() -> None:
    # 100 requests: 50 took at most 10 ms, 90 at most 20 ms, all at most 40 ms.
    buckets = ((0.01, 50.0), (0.02, 90.0), (0.04, 100.0), (float("inf"), 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.01)
    assert quantile(0.99, buckets) == pytest.approx(0.02 + 0.02 * 9 / 10)
    assert quantile(0.99, ((0.01, 0.0), (float("inf"), 0.0))) is None
    # Beyond the last finite bound the quantile is that bound: nothing says how far beyond.
    assert quantile(0.99, ((0.01, 1.0), (float("inf"), 100.0))) == 0.01


def seconds_between(earlier: dict[str, str], later: dict[str, str]) -> float:
    interval = datetime.fromisoformat(later["at"]) - datetime.fromisoformat(earlier["at"])
    return interval.total_seconds()


async def summary_after(client: httpx.AsyncClient, moment: datetime) -> dict[str, object]:
    """The summary once it holds a point that ends after `moment` and one after that."""
    for _ in range(100):
        answer = await client.get(SUMMARY)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        later = [p for p in body["points"] if datetime.fromisoformat(p["at"]) > moment]
        if len(later) >= 2:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"no points after {moment}: {body}")


async def test_summary_counts_the_requests_every_worker_answered(client: httpx.AsyncClient) -> None:
    await summary_after(client, datetime.now(UTC))  # a reading before the requests below
    before = datetime.now(UTC)
    wallet_id = uuid.uuid4()
    answers = await asyncio.gather(*(deposit(client, wallet_id, "1.00") for _ in range(200)))
    assert {answer.status_code for answer in answers} == {200}
    body = await summary_after(client, datetime.now(UTC))

    assert body["window_seconds"] == 900 and body["interval_seconds"] == 1
    points = [p for p in body["points"] if datetime.fromisoformat(p["at"]) > before]
    counted = sum(
        later["requests_per_second"] * seconds_between(earlier, later)
        for earlier, later in itertools.pairwise(body["points"])
        if later in points
    )
    # The 200 deposits, and the summary's own reads, whichever worker answered them.
    assert counted >= 199.5
    busiest = max(points, key=lambda p: p["requests_per_second"])
    assert busiest["p99_seconds"] is not None and 0 < busiest["p99_seconds"] < 10
    assert busiest["error_rate"] == 0
    assert all(0 <= p["pool_connections_in_use"] <= p["pool_connections_limit"] for p in points)
    assert points[-1]["pool_connections_limit"] > 0


async def test_summary_shows_the_last_verify(client: httpx.AsyncClient, database_url: str) -> None:
    started = datetime.now(UTC)
    audit = await asyncio.to_thread(run_verify, database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    last = (await client.get(SUMMARY)).json()["last_verify"]
    assert datetime.fromisoformat(last["started_at"]) >= started
    assert last["books_balance"] is True and last["problems"] == 0
    assert last["first_problems"] == []
    assert f"{last['wallets']} wallets and {last['operations']} operations" in audit.stdout


async def test_summary_needs_an_admin_key(
    secured_service: tuple[str, object], secured_database_url: str
) -> None:
    reader = await create_key(secured_database_url, "wallets:read", name="summary-reader")
    admin = await create_key(secured_database_url, "admin", name="summary-admin")
    async with httpx.AsyncClient(base_url=secured_service[0], timeout=30) as http:
        refused = await http.get(SUMMARY, headers={"Authorization": f"Bearer {reader}"})
        allowed = await http.get(SUMMARY, headers={"Authorization": f"Bearer {admin}"})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert allowed.status_code == 200 and "points" in allowed.json()
