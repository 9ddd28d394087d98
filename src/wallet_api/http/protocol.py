"""The HTTP/1.1 protocol the server runs: uvicorn's httptools one, with two changes.

- A bound on the head: httptools keeps a request line and headers of any size in memory until
  they end, so a client could send megabytes of header; this protocol answers 431 and closes
  the connection instead.
- One write per response: uvicorn writes a response's head and its body separately, two
  system calls and two TCP segments for every small JSON answer; here the head waits for the
  first body bytes and leaves with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 40\r\n"
    b"connection: close\r\n\r\n"
    b"The request line or headers are too long"
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_began_in_chunk = False
        self._head_bytes = 0
        self._head_too_large = False

    def data_received(self, data: bytes) -> None:
        self._head_began_in_chunk = False
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # A head that began in this chunk is not counted yet: the chunk may also hold the
            # end of earlier pipelined requests. The head is refused one chunk late at worst.
            self._head_bytes += 0 if self._head_began_in_chunk else len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_began_in_chunk = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._head_too_large = True
            # Stops the parser; uvicorn then answers through send_400_response, below.
            raise ValueError("request head too large")
        super().on_headers_complete()
        cycle = self.cycle
        held = HeadWithBody(cycle.transport, cycle.on_response)
        cycle.transport = held  # type: ignore[assignment]  # stands in for the transport
        cycle.on_response = held.response_sent

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
            return
        super().send_400_response(msg)

    def _refuse_head(self) -> None:
        self._head_too_large = True
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()


_CONTINUE = b"HTTP/1.1 100 Continue"


class HeadWithBody:
    """The transport as one response cycle sees it: the response's head is held back until the
    first body bytes follow it, or the response ends without any (HEAD, 204), or the
    connection closes."""

    __slots__ = ("_head", "_head_seen", "_on_response", "_transport")

    def __init__(self, transport: Any, on_response: Callable[[], None]) -> None:
        self._transport = transport
        self._on_response = on_response
        self._head: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        # An interim 100 Continue goes at once: the client waits for it to send the body.
        if not self._head_seen and not data.startswith(_CONTINUE):
            self._head_seen = True
            self._head = data
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def response_sent(self) -> None:
        self._flush()
        self._on_response()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return bool(self._transport.is_closing())

    def _flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)
