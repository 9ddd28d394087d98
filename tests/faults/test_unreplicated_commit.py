"""A commit the synchronous standby never confirmed is not acknowledged.

When a COMMIT waiting for its synchronous standby is cancelled (an operator's pg_cancel_backend,
a pooler's cancel), PostgreSQL answers success with a WARNING although only the primary has the
commit: after a failover to that standby it would be gone. Here the standby never comes
(synchronous_standby_names names one that does not exist), so the commit waits until the test
cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.faults.postgres import RestartablePostgres
from tests.faults.test_faults import started
from tests.support import balance_of, operation_url, plain_dsn, service_environment

pytestmark = pytest.mark.faults


async def set_standby_names(url: str, names: str | None) -> None:
    admin = await asyncpg.connect(plain_dsn(url))
    try:
        if names is None:
            await admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        else:
            await admin.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()


async def cancel_the_wait_for_the_standby(url: str) -> None:
    """Cancel the service's commit once it waits for the synchronous standby."""
    db = await asyncpg.connect(plain_dsn(url))
    try:
        for _ in range(200):
            cancelled = await db.fetchval(
                """
                SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity
                WHERE wait_event = 'SyncRep' AND application_name = 'wallet-api'
                """
            )
            if cancelled:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no commit of the service waited for the standby")
    finally:
        await db.close()


async def test_a_commit_no_standby_confirmed_is_a_503_and_its_retry_answers_it_once(
    postgres: RestartablePostgres, fault_database_url: str, tmp_path: Path
) -> None:
    env = service_environment(DATABASE_URL=fault_database_url, WALLET_WORKERS="1")
    wallet_id = uuid.uuid4()
    body = {"operation_type": "DEPOSIT", "amount": "7.00"}
    headers = {"Idempotency-Key": f"unreplicated-{wallet_id}"}
    with contextlib.ExitStack() as stack:
        base_url, _ = await started(stack, env, tmp_path / "service.log")
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await set_standby_names(postgres.url, "a_standby_that_never_comes")
            try:
                sent = asyncio.create_task(
                    http.post(operation_url(wallet_id), json=body, headers=headers)
                )
                await cancel_the_wait_for_the_standby(fault_database_url)
                unconfirmed = await sent
            finally:
                await set_standby_names(postgres.url, None)
            assert unconfirmed.status_code == 503, unconfirmed.text
            assert unconfirmed.json()["code"] == "service_unavailable"
            assert unconfirmed.headers["retry-after"]
            # It committed here: the retry with its key answers it, and moves nothing again.
            retried = await http.post(operation_url(wallet_id), json=body, headers=headers)
            assert retried.status_code == 200, retried.text
            assert retried.headers.get("idempotent-replayed") == "true"
    db = await asyncpg.connect(plain_dsn(fault_database_url))
    try:
        assert await balance_of(db, wallet_id) == 7
    finally:
        await db.close()
