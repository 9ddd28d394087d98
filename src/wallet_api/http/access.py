"""Every request's id, its metrics and its one JSON log line: a pure ASGI middleware.

A request keeps the `X-Request-ID` it came with when that is short visible ASCII, else it gets a
new one; either way the id goes back on the answer and into the log line. The line names the
route template and the ids in the path; never a query string, a header or a body, so no key or
secret is ever logged.
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wallet_api import metrics

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.lower().encode()
_VALID_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")
# Path parameters worth a field of their own in the log line; their values are trimmed.
_LOGGED_IDS = ("wallet_id", "transfer_id", "hold_id")
_MAX_ID_LENGTH = 64
# Paths that match no route are counted together: a scanner must not create a series per path.
UNMATCHED = "<unmatched>"

access_log = logging.getLogger("wallet_api.access")


class RequestObserver:
    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        # The error handlers read it from request.state, for the answers they send themselves.
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (_REQUEST_ID_HEADER, request_id.encode())
        # An exception that escapes the app becomes a 500 further out.
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._observe(scope, request_id, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        method = scope["method"]
        route = getattr(scope.get("route"), "path", UNMATCHED)
        metrics.REQUESTS.labels(method, route, status).inc()
        metrics.REQUEST_SECONDS.labels(method, route).observe(seconds)
        if not self.log_requests or not access_log.isEnabledFor(logging.INFO):
            return
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }
        path_params = scope.get("path_params") or {}
        for name in _LOGGED_IDS:
            if name in path_params:
                fields[name] = str(path_params[name])[:_MAX_ID_LENGTH]
        access_log.info("request", extra=fields)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_HEADER:
            if _VALID_REQUEST_ID.fullmatch(value):
                return str(value.decode())
            break
    # Unique, not secret: no system call per request, unlike uuid4 (os.urandom).
    return f"{random.getrandbits(128):032x}"
