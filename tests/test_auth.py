"""Every API route needs a valid key with its scope; health and docs stay open."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import create_key, plain_dsn

OPEN_PATHS = ["/health/live", "/health/ready", "/docs", "/redoc", "/openapi.json"]
READ_METHODS = {"get", "head"}


def api_operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) under /api/v1 in the OpenAPI document, with ids filled in."""
    found = []
    for path, methods in document["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        concrete = path.format_map(_AnyId())
        found.extend((method, concrete) for method in methods)
    assert found
    return found


class _AnyId(dict[str, str]):
    def __missing__(self, _: str) -> str:
        return str(uuid.uuid4())


async def call(base_url: str, method: str, path: str, key: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    body = None if method in READ_METHODS else {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        return await http.request(method, path, json=body, headers=headers)


def needed_scope(method: str, path: str) -> str:
    if path.startswith("/api/v1/events"):
        return "events:read"
    admin_only = ("/api/v1/health/summary", "/api/v1/wallets" if method == "get" else None)
    if path.startswith("/api/v1/webhooks") or path in admin_only:
        return "admin"
    return "wallets:read" if method in READ_METHODS else "wallets:write"


@pytest.fixture(scope="module")
def keys(secured_database_url: str) -> dict[str, str]:
    """Keys in every state, on the secured service's database."""

    async def make() -> dict[str, str]:
        url = secured_database_url
        made = {
            "read": await create_key(url, "wallets:read", name="reader"),
            "write": await create_key(url, "wallets:write", name="writer"),
            "revoked": await create_key(url, "wallets:read", "wallets:write", name="revoked"),
            "expired": await create_key(
                url, "wallets:read", "wallets:write", name="expired", expires_in=timedelta(1)
            ),
        }
        connection = await asyncpg.connect(plain_dsn(url))
        try:
            await connection.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE name = 'revoked'"
            )
            await connection.execute(
                "UPDATE api_keys SET expires_at = now() - interval '1 second'"
                " WHERE name = 'expired'"
            )
        finally:
            await connection.close()
        return made

    return asyncio.run(make())


@pytest.fixture(scope="module")
def operations(secured_service: tuple[str, Path]) -> list[tuple[str, str]]:
    return api_operations(httpx.get(f"{secured_service[0]}/openapi.json").json())


def assert_unauthorized(response: httpx.Response, challenge: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == challenge


async def test_every_api_route_without_a_key_is_401_with_a_bearer_challenge(
    secured_service: tuple[str, Path], operations: list[tuple[str, str]]
) -> None:
    for method, path in operations:
        assert_unauthorized(await call(secured_service[0], method, path, None), "Bearer")


@pytest.mark.parametrize("which", ["wrong", "revoked", "expired"])
async def test_every_api_route_with_a_wrong_revoked_or_expired_key_is_401(
    secured_service: tuple[str, Path],
    operations: list[tuple[str, str]],
    keys: dict[str, str],
    which: str,
) -> None:
    key = keys.get(which, "wk_" + "x" * 43)
    for method, path in operations:
        response = await call(secured_service[0], method, path, key)
        assert_unauthorized(response, 'Bearer error="invalid_token"')


async def test_every_api_route_with_a_key_without_its_scope_is_403(
    secured_service: tuple[str, Path], operations: list[tuple[str, str]], keys: dict[str, str]
) -> None:
    for method, path in operations:
        needed = needed_scope(method, path)
        other = "write" if needed != "wallets:write" else "read"
        response = await call(secured_service[0], method, path, keys[other])
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"
        assert needed in response.json()["detail"]


@pytest.mark.parametrize(
    "authorization",
    [
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Token wk_abc",
        "bearer",
        "Bearer a b",
        "Bearer ' OR '1'='1",
        "Bearer wk_'; DROP TABLE api_keys; --",
        "Bearer " + "k" * 5000,
    ],
)
async def test_malformed_authorization_headers_are_401(
    secured_service: tuple[str, Path], authorization: str
) -> None:
    async with httpx.AsyncClient(base_url=secured_service[0]) as http:
        response = await http.get(
            f"/api/v1/wallets/{uuid.uuid4()}", headers={"Authorization": authorization}
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_key_with_the_scopes_moves_and_reads_money(
    secured_client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    body = {"operation_type": "DEPOSIT", "amount": "10.00"}
    response = await secured_client.post(f"/api/v1/wallets/{wallet_id}/operation", json=body)
    assert response.status_code == 200, response.text
    response = await secured_client.get(f"/api/v1/wallets/{wallet_id}")
    assert response.json()["balance"] == 10
    response = await secured_client.post("/api/v1/wallets", json={"currency": "EUR"})
    assert response.status_code == 201


async def test_a_read_key_reads_and_a_write_key_writes(
    secured_service: tuple[str, Path], keys: dict[str, str]
) -> None:
    wallet_id = uuid.uuid4()
    path = f"/api/v1/wallets/{wallet_id}"
    async with httpx.AsyncClient(base_url=secured_service[0]) as http:
        write = {"Authorization": f"Bearer {keys['write']}"}
        body = {"operation_type": "DEPOSIT", "amount": 3}
        assert (await http.post(f"{path}/operation", json=body, headers=write)).status_code == 200
        read = {"Authorization": f"Bearer {keys['read']}"}
        assert (await http.get(path, headers=read)).status_code == 200
        assert (await http.get(f"{path}/operations", headers=read)).status_code == 200


@pytest.mark.parametrize("path", OPEN_PATHS)
async def test_health_and_docs_need_no_key(secured_service: tuple[str, Path], path: str) -> None:
    async with httpx.AsyncClient(base_url=secured_service[0]) as http:
        assert (await http.get(path)).status_code == 200


async def test_refused_requests_are_logged_without_the_key(
    secured_service: tuple[str, Path], keys: dict[str, str]
) -> None:
    base_url, log = secured_service
    wrong = "wk_" + uuid.uuid4().hex + uuid.uuid4().hex
    for key in (wrong, keys["revoked"], keys["read"]):
        await call(base_url, "post", f"/api/v1/wallets/{uuid.uuid4()}/operation", key)
    await asyncio.sleep(0.2)
    text = log.read_text()
    assert "refused POST" in text
    assert "an unknown API key" in text
    assert "is revoked" in text
    assert "lacks the scope wallets:write" in text
    for key in (wrong, keys["revoked"], keys["read"]):
        assert key not in text
        assert key[3:20] not in text


def test_openapi_declares_the_bearer_scheme_on_every_api_route(
    secured_service: tuple[str, Path],
) -> None:
    document = httpx.get(f"{secured_service[0]}/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if path.startswith("/api/v1/"):
                assert operation["security"] == [{"ApiKey": []}], (method, path)
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
            else:
                assert "security" not in operation, (method, path)
