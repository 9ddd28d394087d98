"""Dependency aliases the routers ask for."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from wallet_api.events.feed import Feed
from wallet_api.events.webhooks import Webhooks
from wallet_api.ledger.idempotency import IDEMPOTENCY_KEY_PATTERN
from wallet_api.ledger.ledger import Ledger


def get_ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


async def _ledger(request: Request) -> Ledger:
    # async: a plain def dependency would be run in a thread pool, a hop on every request.
    return get_ledger(request)


LedgerDep = Annotated[Ledger, Depends(_ledger)]


async def _feed(request: Request) -> Feed:
    feed: Feed = request.app.state.feed
    return feed


async def _webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


FeedDep = Annotated[Feed, Depends(_feed)]
WebhooksDep = Annotated[Webhooks, Depends(_webhooks)]

IDEMPOTENCY_KEY_DESCRIPTION = (
    "1 to 255 visible ASCII characters. A retry with the same key and the same request "
    "gets the first answer again (with `Idempotent-Replayed: true`) and moves no money."
)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=IDEMPOTENCY_KEY_DESCRIPTION,
    ),
]

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)

IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": IDEMPOTENCY_KEY_DESCRIPTION,
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}


_UUID = TypeAdapter(uuid.UUID)


def path_uuid(request: Request, name: str) -> uuid.UUID:
    """A UUID path parameter of a route that reads it by hand, with FastAPI's own 422."""
    try:
        return _UUID.validate_python(request.path_params[name])
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("path", name)} for item in error.errors()]
        ) from None


def uuid_path_parameter(name: str) -> dict[str, object]:
    """The OpenAPI description FastAPI gives a `uuid.UUID` path parameter."""
    title = name.replace("_", " ").title()
    schema = {"type": "string", "format": "uuid", "title": title}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def idempotency_key_header(request: Request) -> str | None:
    """The Idempotency-Key header of a route that reads it by hand (see `exact_body`)."""
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        error = {
            "type": "string_pattern_mismatch",
            "loc": ("header", "Idempotency-Key"),
            "msg": "Idempotency-Key must be 1 to 255 visible ASCII characters",
        }
        raise RequestValidationError([error])
    return key


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A misspelt filter (`?operation_typ=DEPOSIT`) is a 422, not a silently wider answer."""
    # async, and nothing to do without a query string: a plain def dependency runs in the thread
    # pool, and the benchmark showed that hop costing a quarter of a read's CPU.
    if not request.scope["query_string"]:
        return
    known = _query_parameter_names(request.scope["route"].dependant)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown parameter"}
                for name in dict.fromkeys(unknown)
            ]
        )


def _query_parameter_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_parameter_names(dependency)
    return names


StrictQuery = Depends(refuse_unknown_query_parameters)
