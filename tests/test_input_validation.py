"""Bad input gets a 422 (or 413) problem with a stable code, never a 500 and never a write."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from decimal import Decimal
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from tests.support import balance_of, deposit, operation_url

JSON = {"content-type": "application/json"}
LEAKS = ("select", "insert", "traceback", "postgresql", "asyncpg", "sqlalchemy", 'file "')


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["detail"]
    assert not any(leak in response.text.lower() for leak in LEAKS), response.text


@pytest.mark.parametrize(
    "amount",
    [
        "0",
        "-1",
        "0.00",
        "0.001",
        '"0.001"',
        # Longer than Decimal's 28-digit context: refused, never rounded to a cent.
        "0.0100000000000000000000000000001",
        '"0.00999999999999999999999999999999"',
        "1e-999999999",
        "1000000000000.01",
        '"1000000000000.01"',
        "1e20",
        "1e400",
        "-1e400",
        "NaN",
        "Infinity",
        "-Infinity",
        '"NaN"',
        '"Infinity"',
        '"1e3"',
        '" 5"',
        '"5 "',
        '"+5"',
        '"1,5"',
        '""',
        "true",
        "false",
        "null",
        "{}",
        '{"value": 5}',
        "[5]",
        "1" * 10_000,
        "0." + "0" * 5000 + "1",
    ],
)
async def test_invalid_amount_returns_422_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, amount: str
) -> None:
    wallet_id = uuid.uuid4()
    body = f'{{"operation_type": "DEPOSIT", "amount": {amount}}}'.encode()
    response = await client.post(operation_url(wallet_id), content=body, headers=JSON)
    assert_problem(response, 422, "validation_error")
    assert await balance_of(db, wallet_id) is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"operation_type": "DEPOSIT", "ammount": 5}',
        b'{"operation_type": "DEPOSIT", "amount": 5, "note": "extra"}',
        b'{"operation_type": "DEPOSIT"}',
        b'{"amount": 5}',
        b'{"operation_type": "deposit", "amount": 5}',
        b'{"operation_type": "TRANSFER", "amount": 5}',
        b'{"operation_type": 1, "amount": 5}',
        b'{"operation_type": null, "amount": 5}',
        b'{"operation_type": "DEPOSIT", "amount": 5, "amount": 5000}',
        b"[]",
        b'["DEPOSIT", 5]',
        b'"DEPOSIT"',
        b"5",
        b"null",
        b"not json",
        b'{"operation_type": "DEPOSIT", "amount": 5',
        b'{"operation_type": "DEPOSIT", "amount": 5}}',
        b'{"operation_type": "DEP\xffOSIT", "amount": 5}',
        b"\xff\xfe\x00",
        b"[" * 30_000 + b"]" * 30_000,
        b'{"operation_type": "\'; DROP TABLE wallets; --", "amount": 5}',
    ],
)
async def test_malformed_body_returns_422_and_writes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: bytes
) -> None:
    wallet_id = uuid.uuid4()
    response = await client.post(operation_url(wallet_id), content=body, headers=JSON)
    assert_problem(response, 422, "validation_error")
    assert await balance_of(db, wallet_id) is None


@pytest.mark.parametrize("headers", [{}, {"content-type": "text/plain"}])
async def test_body_without_json_content_type_returns_422(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = b'{"operation_type": "DEPOSIT", "amount": 5}'
    response = await client.post(operation_url(uuid.uuid4()), content=body, headers=headers)
    assert_problem(response, 422, "validation_error")


async def test_empty_body_returns_422(client: httpx.AsyncClient) -> None:
    response = await client.post(operation_url(uuid.uuid4()), content=b"", headers=JSON)
    assert_problem(response, 422, "validation_error")


async def test_validation_error_lists_the_offending_fields_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    secret = "s3cr3t-value-that-must-not-come-back"
    body = f'{{"operation_type": "DEPOSIT", "amount": 5, "{secret}": 1}}'.encode()
    response = await client.post(operation_url(uuid.uuid4()), content=body, headers=JSON)
    assert_problem(response, 422, "validation_error")
    error = response.json()["errors"][0]
    assert error["type"] == "extra_forbidden"
    assert "input" not in error


async def test_body_over_64_kib_returns_413_before_parsing(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    padding = "x" * (64 * 1024)
    body = f'{{"operation_type": "DEPOSIT", "amount": 5, "pad": "{padding}"}}'.encode()
    response = await client.post(operation_url(wallet_id), content=body, headers=JSON)
    assert_problem(response, 413, "payload_too_large")
    assert await balance_of(db, wallet_id) is None


async def test_streamed_body_over_64_kib_without_length_returns_413(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()

    async def chunks():  # no Content-Length: sent chunked
        yield b'{"operation_type": "DEPOSIT", "amount": 5, "pad": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post(operation_url(wallet_id), content=chunks(), headers=JSON)
    assert_problem(response, 413, "payload_too_large")
    assert await balance_of(db, wallet_id) is None


async def test_ten_megabyte_body_is_refused_with_413_before_it_is_sent(service_url: str) -> None:
    # The server answers as soon as it sees the declared length, then closes the connection;
    # a raw socket shows it, where a client that insists on sending it all would see a reset.
    host, port = service_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {operation_url(uuid.uuid4())} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n"
    )
    writer.write(head.encode())  # not one byte of the body: unread bytes would reset the socket
    await writer.drain()
    response = await read_answer(reader)
    writer.close()
    assert response.startswith(b"HTTP/1.1 413 "), response
    assert b'"code":"payload_too_large"' in response


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """The head and the body of an answer, which may arrive in separate reads."""
    response = b""
    with contextlib.suppress(ConnectionResetError):
        while not response.partition(b"\r\n\r\n")[2].endswith(b"}"):
            chunk = await asyncio.wait_for(reader.read(65536), timeout=10)
            if not chunk:
                break
            response += chunk
    return response


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/wallets/1' OR '1'='1",
        "/api/v1/wallets/00000000-0000-0000-0000-00000000000g",
        "/api/v1/wallets/" + "a" * 5000,
    ],
)
async def test_wallet_id_that_is_not_a_uuid_returns_422(
    client: httpx.AsyncClient, path: str
) -> None:
    assert_problem(await client.get(path), 422, "validation_error")
    response = await client.post(
        f"{path}/operation", json={"operation_type": "DEPOSIT", "amount": 1}
    )
    assert_problem(response, 422, "validation_error")


async def test_unknown_route_and_wrong_method_answer_with_problems(
    client: httpx.AsyncClient,
) -> None:
    assert_problem(await client.get("/api/v1/nothing-here"), 404, "not_found")
    response = await client.delete(f"/api/v1/wallets/{uuid.uuid4()}")
    assert_problem(response, 405, "method_not_allowed")


async def test_uppercase_and_braced_uuids_address_the_same_wallet(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, 5)).status_code == 200
    response = await client.get(f"/api/v1/wallets/{str(wallet_id).upper()}")
    assert response.status_code == 200
    assert response.json()["id"] == str(wallet_id)


@pytest.mark.parametrize(
    "query",
    ["operation_typ=DEPOSIT", "limit=5&limt=5", "=x", "cursor=&debug=1"],
)
async def test_unknown_query_parameters_return_422_and_are_named(
    client: httpx.AsyncClient, db: asyncpg.Connection, query: str
) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, 5)).status_code == 200
    body = {"operation_type": "DEPOSIT", "amount": "1.00"}
    for response in (
        await client.get(f"/api/v1/wallets/{wallet_id}/operations?{query}"),
        await client.get(f"/api/v1/wallets/{wallet_id}?{query}"),
        await client.post(f"{operation_url(wallet_id)}?{query}", json=body),
    ):
        assert_problem(response, 422, "validation_error")
        assert response.json()["errors"][-1]["loc"][0] == "query"
    assert await balance_of(db, wallet_id) == Decimal("5.00")


SQL_LOOKING = [
    "' OR '1'='1",
    "'; DROP TABLE wallets; --",
    "1; SELECT pg_sleep(5); --",
    "USD'); DELETE FROM operations; --",
    "$1",
    "%' OR 1=1 --",
    "\u0000",
]


@pytest.mark.parametrize("sql", SQL_LOOKING)
async def test_sql_looking_strings_in_every_field_and_parameter_are_refused_quickly(
    client: httpx.AsyncClient, db: asyncpg.Connection, sql: str
) -> None:
    wallet_id = uuid.uuid4()
    assert (await deposit(client, wallet_id, 5)).status_code == 200
    operations_before = await db.fetchval("SELECT count(*) FROM operations")
    history = f"/api/v1/wallets/{wallet_id}/operations"
    requests = [
        client.post("/api/v1/wallets", json={"id": sql}),
        client.post("/api/v1/wallets", json={"currency": sql}),
        client.post(operation_url(wallet_id), json={"operation_type": sql, "amount": 1}),
        client.post(operation_url(wallet_id), json={"operation_type": "WITHDRAW", "amount": sql}),
        client.get(history, params={"cursor": sql}),
        client.get(history, params={"operation_type": sql}),
        client.get(history, params={"created_after": sql}),
        client.get(history, params={"created_before": sql}),
        client.get(history, params={"limit": sql}),
        client.get(f"/api/v1/wallets/{quote(sql, safe='')}"),
    ]
    started = asyncio.get_running_loop().time()
    for response in await asyncio.gather(*requests):
        assert_problem(response, 422, "validation_error")
    assert asyncio.get_running_loop().time() - started < 4
    assert await db.fetchval("SELECT count(*) FROM operations") >= operations_before
    assert await balance_of(db, wallet_id) == 5


async def test_sql_looking_idempotency_key_is_just_a_key(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    wallet_id = uuid.uuid4()
    headers = {"Idempotency-Key": f"';DROP/**/TABLE/**/idempotency_keys;--{uuid.uuid4()}"}
    body = {"operation_type": "DEPOSIT", "amount": 5}
    first = await client.post(operation_url(wallet_id), json=body, headers=headers)
    again = await client.post(operation_url(wallet_id), json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert await balance_of(db, wallet_id) == 5
    assert await db.fetchval("SELECT count(*) FROM idempotency_keys") >= 1


@pytest.mark.parametrize("body", [b"0.5", b"-2.6e-32", b"5", b'"x"', b"null", b"[]", b"true"])
async def test_a_wallet_body_that_is_not_an_object_returns_422_and_creates_nothing(
    client: httpx.AsyncClient, db: asyncpg.Connection, body: bytes
) -> None:
    wallets_before = await db.fetchval("SELECT count(*) FROM wallets")
    response = await client.post("/api/v1/wallets", content=body, headers=JSON)
    assert_problem(response, 422, "validation_error")
    assert await db.fetchval("SELECT count(*) FROM wallets") == wallets_before
