"""Security headers on every response, no server banner, and request heads of absurd size refused
by the server without harm to it."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support import operation_url
from wallet_api.http.protocol import HeadWithBody

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


def assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    assert "server" not in response.headers


async def test_every_kind_of_response_carries_the_security_headers_and_no_server_header(
    client: httpx.AsyncClient,
) -> None:
    wallet_id = uuid.uuid4()
    responses = [
        await client.get("/health/live"),
        await client.get("/health/ready"),
        await client.get("/docs"),
        await client.get("/redoc"),
        await client.get("/openapi.json"),
        await client.post(
            operation_url(wallet_id), json={"operation_type": "DEPOSIT", "amount": 1}
        ),
        await client.get(f"/api/v1/wallets/{wallet_id}"),
        await client.get(f"/api/v1/wallets/{uuid.uuid4()}"),  # 404
        await client.get("/api/v1/wallets/not-a-uuid"),  # 422
        await client.delete(f"/api/v1/wallets/{wallet_id}"),  # 405
        await client.get("/nothing-here"),  # 404 of the router
        await client.post(
            operation_url(wallet_id),
            content=b"x" * (65 * 1024),
            headers={"content-type": "application/json"},
        ),  # 413 of the body limit
    ]
    assert [r.status_code for r in responses] == [
        200,
        200,
        200,
        200,
        200,
        200,
        200,
        404,
        422,
        405,
        404,
        413,
    ]
    for response in responses:
        assert_hardened(response)


async def test_api_responses_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/wallets/{uuid.uuid4()}")
    assert response.headers["cache-control"] == "no-store"


async def test_refusals_of_the_secured_service_carry_the_headers_too(
    secured_service: tuple[str, Path],
) -> None:
    async with httpx.AsyncClient(base_url=secured_service[0]) as http:
        response = await http.get(f"/api/v1/wallets/{uuid.uuid4()}")
    assert response.status_code == 401
    assert_hardened(response)


async def exchange(service_url: str, raw: bytes) -> bytes:
    """Send raw bytes, return what the server answers before it closes (or b"" on a reset)."""
    host, port = service_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = b""
    try:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            writer.write(raw)
            await writer.drain()
            while chunk := await asyncio.wait_for(reader.read(65536), timeout=10):
                answer += chunk
    finally:
        writer.close()
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200


@pytest.mark.parametrize("size", [100 * 1024, 10 * 1024 * 1024])
async def test_a_header_of_absurd_length_is_refused_and_the_server_goes_on(
    service_url: str, client: httpx.AsyncClient, size: int
) -> None:
    raw = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * size + b"\r\n\r\n"
    answer = await exchange(service_url, raw)
    # 431 as soon as the limit is passed; a client still sending then may see a reset instead.
    assert status_of(answer) in (0, 431), answer[:200]
    assert b"200 OK" not in answer
    await assert_still_serving(client)


async def test_many_headers_adding_up_to_an_absurd_head_are_refused(
    service_url: str, client: httpx.AsyncClient
) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 100) for n in range(1000))
    answer = await exchange(
        service_url, b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    )
    assert status_of(answer) in (0, 431), answer[:200]
    await assert_still_serving(client)


@pytest.mark.parametrize("size", [100 * 1024, 10 * 1024 * 1024])
async def test_a_path_of_absurd_length_is_refused_and_the_server_goes_on(
    service_url: str, client: httpx.AsyncClient, size: int
) -> None:
    raw = b"GET /api/v1/wallets/" + b"a" * size + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = await exchange(service_url, raw)
    assert status_of(answer) == 0 or 400 <= status_of(answer) < 500, answer[:200]
    await assert_still_serving(client)


async def test_an_ordinary_large_header_is_still_accepted(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Trace": "t" * 8000})
    assert response.status_code == 200


async def test_pipelined_requests_larger_than_the_head_limit_together_are_all_answered(
    service_url: str,
) -> None:
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n"
    count = 300  # about 75 KB in one write, far above the 16 KiB limit of one head
    last = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await exchange(service_url, request * count + last)
    assert answer.count(b"HTTP/1.1 200 OK") == count + 1


class RecordingTransport:
    """What HeadWithBody passes on to the socket, one entry per write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_response_head_leaves_with_its_body_in_one_write() -> None:
    transport, sent = RecordingTransport(), []
    held = HeadWithBody(transport, lambda: sent.append(True))
    held.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert transport.writes == []
    held.write(b"{}")
    held.response_sent()
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert sent == [True]


def test_a_response_without_body_bytes_still_sends_its_head() -> None:
    for finish in ("response_sent", "close"):
        transport = RecordingTransport()
        held = HeadWithBody(transport, lambda: None)
        held.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        getattr(held, finish)()
        assert transport.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"], finish


def test_an_interim_100_continue_is_not_held_back() -> None:
    transport = RecordingTransport()
    held = HeadWithBody(transport, lambda: None)
    held.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.write(b"ok")
    assert transport.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\nok"]


async def test_a_client_expecting_100_continue_gets_it_before_it_sends_the_body(
    service_url: str,
) -> None:
    host, port = service_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"operation_type":"DEPOSIT","amount":"1.00"}'
    try:
        writer.write(
            f"POST {operation_url(uuid.uuid4())} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n\r\n".encode()
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    assert status_of(answer) == 200
    assert answer.endswith(b"}")


async def test_head_and_bodiless_answers_on_a_kept_alive_connection_all_arrive(
    service_url: str,
) -> None:
    head = b"HEAD /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
    get = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = await exchange(service_url, head + get)
    first, second = answer.split(b"\r\n\r\n", 1)
    assert first.startswith(b"HTTP/1.1 405 ")  # a GET route answers HEAD with 405, no body
    assert status_of(second) == 200
    assert second.endswith(b'{"status":"ok"}')
