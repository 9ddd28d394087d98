"""/problems/<code>: a short page per error code, the `type` every problem points to."""

from __future__ import annotations

import html

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from wallet_api.http.problems import MEANINGS, STATUS_OF_CODE

# Pages for people, linked from every problem's `type`: not part of the API's document.
router = APIRouter(prefix="/problems", tags=["problems"], include_in_schema=False)

_OTHER_STATUSES = {
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "internal_error": 500,
    "service_unavailable": 503,
}


@router.get("/{code}", response_class=HTMLResponse, summary="What an error code means")
async def problem_page(code: str) -> HTMLResponse:
    meaning = MEANINGS.get(code)
    if meaning is None:
        raise HTTPException(404, f"No error code {code!r}.")
    status = STATUS_OF_CODE.get(code) or _OTHER_STATUSES.get(code)
    shown = html.escape(code)
    body = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{shown}</title></head>"
        f"<body><h1><code>{shown}</code></h1><p>HTTP {status or 'varies'}</p>"
        f"<p>{html.escape(meaning)}</p></body></html>"
    )
    return HTMLResponse(body)
