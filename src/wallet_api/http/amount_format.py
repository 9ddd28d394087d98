"""`Wallet-Amount-Format: string`: every amount and balance of the answer as a JSON string.

JSON numbers with 15 or more significant digits lose cents in JavaScript and in Python's `json`;
a client that asks for strings gets "1500.50" instead of 1500.50. The choice lives for the one
request, in a context variable the JSON encoder reads (`http/exact_json.py`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from wallet_api.http.exact_json import amounts_as_strings
from wallet_api.http.problems import problem

HEADER = "Wallet-Amount-Format"
_HEADER_KEY = HEADER.lower().encode()
FORMATS = ("number", "string")


class AmountFormat:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asked = next((v for k, v in scope["headers"] if k == _HEADER_KEY), b"number")
        chosen = asked.decode("latin-1").strip().lower()
        if chosen not in FORMATS:
            refusal = problem(
                422,
                "validation_error",
                f"{HEADER} must be number or string.",
                [{"loc": ["header", HEADER], "msg": "number or string", "type": "enum"}],
            )
            await refusal(scope, receive, send)
            return
        token = amounts_as_strings.set(chosen == "string")
        try:
            await self.app(scope, receive, send)
        finally:
            amounts_as_strings.reset(token)
