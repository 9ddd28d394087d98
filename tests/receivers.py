"""A real webhook receiver on loopback: an HTTP server in a thread that checks each delivery's
signature as a careful receiver would, and answers as a test scripts it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A receiver refuses a signature older than this: a replay.
TOLERANCE_SECONDS = 300


def signature_is_valid(secret: str, header: str, body: bytes, now: float) -> bool:
    """Stripe's check: t and v1 from the header, the HMAC of "<t>.<body>", and a fresh t."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(now - timestamp) <= TOLERANCE_SECONDS
    return fresh and hmac.compare_digest(expected.hexdigest(), parts["v1"])


@dataclass
class Delivery:
    event: dict[str, Any]
    headers: dict[str, str]
    signed: bool
    answered: int


@dataclass
class Receiver:
    url: str
    secret: str = ""
    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            return [d.event for d in self.deliveries if 200 <= d.answered < 300]

    def wait_for(self, count: int, seconds: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.accepted()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.accepted()


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            signed = bool(state.secret) and signature_is_valid(
                state.secret, self.headers["Wallet-Signature"], body, time.time()
            )
            with state.lock:
                answered = 500 if len(state.deliveries) < state.fail_first else 200
                if not signed:
                    answered = 400
                state.deliveries.append(
                    Delivery(json.loads(body), dict(self.headers), signed, answered)
                )
            self.send_response(answered)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
