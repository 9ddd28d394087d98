"""Headers on every response that keep browsers from sniffing, framing or leaking referrers."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
# Balances and keys must not stay in a shared cache; the docs may.
NO_STORE = {"Cache-Control": "no-store"}
# The console's page and files (http/console.py): its own scripts, styles and API only, nothing
# inline and nothing from elsewhere. Every other answer keeps the API's policy above.
CONSOLE_POLICY = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}


def headers_for(path: str) -> dict[str, str]:
    """The security headers of an answer to `path`."""
    if path.startswith("/api/"):
        return SECURITY_HEADERS | NO_STORE
    if path == "/console" or path.startswith("/console/"):
        return SECURITY_HEADERS | CONSOLE_POLICY
    return SECURITY_HEADERS


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
