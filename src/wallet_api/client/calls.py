"""Every endpoint as a Call: the request to send and how to read its answer, without any I/O.

The sync and async clients differ only in how they send a Call; what a method sends and what
it returns is decided here, once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import httpx

from wallet_api.client.amounts import Amount, amount_text
from wallet_api.client.errors import WalletApiError, error_of
from wallet_api.client.models import (
    EventsPage,
    Hold,
    Operation,
    Page,
    ReferenceMatches,
    Statement,
    Transfer,
    Wallet,
)

T = TypeVar("T")
Item = TypeVar("Item")

API = "/api/v1"
REPLAYED_HEADER = "Idempotent-Replayed"
REQUEST_ID_HEADER = "X-Request-ID"
# Asks the service for every amount of the answer as a JSON string, so no JSON parser on the
# way can round it.
AMOUNT_FORMAT_HEADERS = {"Wallet-Amount-Format": "string"}
# httpx keeps an idle connection 5 s, as long as the server does (uvicorn's keep-alive): a
# request sent on one just as the server closes it fails. The client lets go first.
CONNECTION_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0
)


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    accept: str = "application/json"
    long_poll_seconds: float = 0.0

    @property
    def is_write(self) -> bool:
        return self.method == "POST"


def build_request(
    http: httpx.Client | httpx.AsyncClient,
    base_url: str,
    call: Call[Any],
    idempotency_key: str | None,
    headers: Mapping[str, str],
    timeout: float,
) -> httpx.Request:
    request_headers = {**headers, **AMOUNT_FORMAT_HEADERS, "Accept": call.accept}
    if idempotency_key is not None:
        request_headers["Idempotency-Key"] = idempotency_key
    content = None
    if call.body is not None:
        content = json.dumps(call.body).encode()
        request_headers["Content-Type"] = "application/json"
    return http.build_request(
        call.method,
        base_url.rstrip("/") + API + call.path,
        params=call.params,
        headers=request_headers,
        content=content,
        timeout=timeout + call.long_poll_seconds,
    )


def decode(response: httpx.Response) -> Any:
    """The JSON of an answer with every number that has a fraction as a Decimal, never a float."""
    return json.loads(response.content, parse_float=Decimal)


def problem_of(response: httpx.Response) -> Mapping[str, Any] | None:
    """The problem document of an error answer, or None when it is not JSON (a proxy's page)."""
    try:
        body = decode(response)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def error_for(response: httpx.Response) -> WalletApiError:
    return error_of(
        response.status_code,
        problem_of(response),
        response.text,
        response.headers.get(REQUEST_ID_HEADER),
    )


def _replayed(response: httpx.Response) -> bool:
    value: str = response.headers.get(REPLAYED_HEADER, "")
    return value.lower() == "true"


def _wallet(response: httpx.Response) -> Wallet:
    return Wallet.from_json(decode(response))


def _operation(response: httpx.Response) -> Operation:
    return Operation.from_json(decode(response), _replayed(response))


def _transfer(response: httpx.Response) -> Transfer:
    return Transfer.from_json(decode(response), _replayed(response))


def _hold(response: httpx.Response) -> Hold:
    return Hold.from_json(decode(response), _replayed(response))


def _entries(response: httpx.Response) -> tuple[Operation, ...]:
    replayed = _replayed(response)
    return tuple(Operation.from_json(item, replayed) for item in decode(response)["entries"])


def _statement(response: httpx.Response) -> Statement:
    return Statement.from_json(decode(response))


def _reference_matches(response: httpx.Response) -> ReferenceMatches:
    return ReferenceMatches.from_json(decode(response))


def _text(response: httpx.Response) -> str:
    return response.text


def _events_page(response: httpx.Response) -> EventsPage:
    return EventsPage.from_json(decode(response))


def _page_of(read: Callable[[Mapping[str, Any]], Item]) -> Callable[[httpx.Response], Page[Item]]:
    def read_page(response: httpx.Response) -> Page[Item]:
        data = decode(response)
        return Page(tuple(read(item) for item in data["items"]), data.get("next_cursor"))

    return read_page


def _writing(
    body: dict[str, Any], reference: str | None, metadata: Mapping[str, str] | None
) -> dict[str, Any]:
    """The body with the optional reference and metadata, sent only when given, so that a
    server without them still takes the request."""
    if reference is not None:
        body["reference"] = reference
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def _query(**values: object) -> tuple[tuple[str, str], ...]:
    params: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        params.extend((name, _query_text(item)) for item in items)
    return tuple(params)


def _query_text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def create_wallet(wallet_id: uuid.UUID, currency: str | None, key: str | None) -> Call[Wallet]:
    body: dict[str, Any] = {"id": str(wallet_id)}
    if currency is not None:
        body["currency"] = currency
    return Call("POST", "/wallets", _wallet, body=body, idempotency_key=key)


def get_wallet(wallet_id: uuid.UUID, as_of: datetime | None) -> Call[Wallet]:
    return Call("GET", f"/wallets/{wallet_id}", _wallet, params=_query(as_of=as_of))


def wallets_page(limit: int | None, cursor: str | None) -> Call[Page[Wallet]]:
    params = _query(limit=limit, cursor=cursor)
    return Call("GET", "/wallets", _page_of(Wallet.from_json), params=params)


def operation(
    wallet_id: uuid.UUID,
    operation_type: str,
    amount: Amount,
    reference: str | None,
    metadata: Mapping[str, str] | None,
    key: str | None,
) -> Call[Operation]:
    body = _writing(
        {"operation_type": operation_type, "amount": amount_text(amount)}, reference, metadata
    )
    return Call(
        "POST", f"/wallets/{wallet_id}/operation", _operation, body=body, idempotency_key=key
    )


def operations_page(
    wallet_id: uuid.UUID,
    limit: int | None,
    cursor: str | None,
    operation_type: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    reference: str | None,
) -> Call[Page[Operation]]:
    params = _query(
        limit=limit,
        cursor=cursor,
        operation_type=operation_type,
        created_after=created_after,
        created_before=created_before,
        reference=reference,
    )
    read = _page_of(Operation.from_json)
    return Call("GET", f"/wallets/{wallet_id}/operations", read, params=params)


def transfer(
    from_wallet_id: uuid.UUID,
    to_wallet_id: uuid.UUID,
    amount: Amount,
    reference: str | None,
    metadata: Mapping[str, str] | None,
    key: str | None,
) -> Call[Transfer]:
    body = {
        "from_wallet_id": str(from_wallet_id),
        "to_wallet_id": str(to_wallet_id),
        "amount": amount_text(amount),
    }
    body = _writing(body, reference, metadata)
    return Call("POST", "/transfers", _transfer, body=body, idempotency_key=key)


def get_transfer(transfer_id: uuid.UUID) -> Call[Transfer]:
    return Call("GET", f"/transfers/{transfer_id}", _transfer)


def transfers_page(
    wallet_id: uuid.UUID | None, limit: int | None, cursor: str | None
) -> Call[Page[Transfer]]:
    params = _query(wallet_id=wallet_id, limit=limit, cursor=cursor)
    return Call("GET", "/transfers", _page_of(Transfer.from_json), params=params)


def hold(
    wallet_id: uuid.UUID,
    amount: Amount,
    expires_in_seconds: int | None,
    reference: str | None,
    metadata: Mapping[str, str] | None,
    key: str | None,
) -> Call[Hold]:
    body: dict[str, Any] = {"amount": amount_text(amount)}
    if expires_in_seconds is not None:
        body["expires_in_seconds"] = expires_in_seconds
    body = _writing(body, reference, metadata)
    return Call("POST", f"/wallets/{wallet_id}/holds", _hold, body=body, idempotency_key=key)


def capture(hold_id: uuid.UUID, amount: Amount | None, key: str | None) -> Call[Hold]:
    body = {} if amount is None else {"amount": amount_text(amount)}
    return Call("POST", f"/holds/{hold_id}/capture", _hold, body=body, idempotency_key=key)


def void(hold_id: uuid.UUID, key: str | None) -> Call[Hold]:
    return Call("POST", f"/holds/{hold_id}/void", _hold, idempotency_key=key)


def search(reference: str, limit: int | None) -> Call[ReferenceMatches]:
    params = _query(reference=reference, limit=limit)
    return Call("GET", "/search", _reference_matches, params=params)


def get_hold(hold_id: uuid.UUID) -> Call[Hold]:
    return Call("GET", f"/holds/{hold_id}", _hold)


def holds_page(
    wallet_id: uuid.UUID, status: str | None, limit: int | None, cursor: str | None
) -> Call[Page[Hold]]:
    params = _query(status=status, limit=limit, cursor=cursor)
    return Call("GET", f"/wallets/{wallet_id}/holds", _page_of(Hold.from_json), params=params)


def reverse_operation(
    operation_id: int, amount: Amount | None, key: str | None
) -> Call[tuple[Operation, ...]]:
    body = {} if amount is None else {"amount": amount_text(amount)}
    path = f"/operations/{operation_id}/reverse"
    return Call("POST", path, _entries, body=body, idempotency_key=key)


def reverse_transfer(
    transfer_id: uuid.UUID, amount: Amount | None, key: str | None
) -> Call[tuple[Operation, ...]]:
    body = {} if amount is None else {"amount": amount_text(amount)}
    path = f"/transfers/{transfer_id}/reverse"
    return Call("POST", path, _entries, body=body, idempotency_key=key)


def statement(wallet_id: uuid.UUID, start: datetime, end: datetime) -> Call[Statement]:
    params = (("from", start.isoformat()), ("to", end.isoformat()))
    return Call("GET", f"/wallets/{wallet_id}/statement", _statement, params=params)


def statement_csv(wallet_id: uuid.UUID, start: datetime, end: datetime) -> Call[str]:
    params = (("from", start.isoformat()), ("to", end.isoformat()))
    path = f"/wallets/{wallet_id}/statement"
    return Call("GET", path, _text, params=params, accept="text/csv")


def events(
    after: int,
    limit: int | None,
    types: list[str] | tuple[str, ...] | None,
    wallet_id: uuid.UUID | None,
    wait: int | None,
) -> Call[EventsPage]:
    params = _query(after=after, limit=limit, type=types, wallet_id=wallet_id, wait=wait)
    wait_seconds = float(wait or 0)
    return Call("GET", "/events", _events_page, params=params, long_poll_seconds=wait_seconds)
