"""AsyncWalletClient: the asyncio client, on httpx.AsyncClient; the same methods as WalletClient."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from wallet_api.client import calls
from wallet_api.client.amounts import Amount
from wallet_api.client.calls import Call
from wallet_api.client.errors import WalletExists
from wallet_api.client.models import (
    Event,
    EventsPage,
    Hold,
    Operation,
    Page,
    ReferenceMatches,
    Statement,
    Transfer,
    Wallet,
)
from wallet_api.client.retries import Backoff, final, retry_delay, transport_failed
from wallet_api.client.sync import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETRY_DEADLINE_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    auth_headers,
)

T = TypeVar("T")
Item = TypeVar("Item")


class AsyncWalletClient:
    """WalletClient for asyncio: the same methods, each awaited (the iterators with `async for`)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base_url = base_url
        self._headers = auth_headers(api_key)
        self._timeout = timeout
        self._retry_deadline = retry_deadline
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            transport=transport, timeout=timeout, limits=calls.CONNECTION_LIMITS
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncWalletClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Wallets

    async def create_wallet(
        self,
        currency: str | None = None,
        *,
        wallet_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
    ) -> Wallet:
        chosen = wallet_id or uuid.uuid4()
        try:
            return await self._run(calls.create_wallet(chosen, currency, idempotency_key))
        except WalletExists:
            # An id this client drew itself is taken only by an earlier attempt of this call
            # whose answer was lost: that wallet is the one asked for.
            if wallet_id is not None:
                raise
            return await self.get_wallet(chosen)

    async def get_wallet(self, wallet_id: uuid.UUID, *, as_of: datetime | None = None) -> Wallet:
        return await self._run(calls.get_wallet(wallet_id, as_of))

    def wallets(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[Wallet]:
        """Every wallet (scope admin), a page at a time."""
        return self._every(lambda cursor: calls.wallets_page(page_size, cursor))

    # Deposits, withdrawals and history

    async def deposit(
        self,
        wallet_id: uuid.UUID,
        amount: Amount,
        *,
        reference: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        call = calls.operation(wallet_id, "DEPOSIT", amount, reference, metadata, idempotency_key)
        return await self._run(call)

    async def withdraw(
        self,
        wallet_id: uuid.UUID,
        amount: Amount,
        *,
        reference: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        call = calls.operation(wallet_id, "WITHDRAW", amount, reference, metadata, idempotency_key)
        return await self._run(call)

    def operations(
        self,
        wallet_id: uuid.UUID,
        *,
        operation_type: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        reference: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Operation]:
        """The wallet's operations, newest first, across all pages."""
        return self._every(
            lambda cursor: calls.operations_page(
                wallet_id,
                page_size,
                cursor,
                operation_type,
                created_after,
                created_before,
                reference,
            )
        )

    async def reverse(
        self,
        operation_id: int,
        amount: Amount | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[Operation, ...]:
        """Reverse an operation (by default what is left of it): the REVERSAL entries."""
        return await self._run(calls.reverse_operation(operation_id, amount, idempotency_key))

    async def statement(self, wallet_id: uuid.UUID, start: datetime, end: datetime) -> Statement:
        return await self._run(calls.statement(wallet_id, start, end))

    async def statement_csv(self, wallet_id: uuid.UUID, start: datetime, end: datetime) -> str:
        return await self._run(calls.statement_csv(wallet_id, start, end))

    # Transfers

    async def transfer(
        self,
        from_wallet_id: uuid.UUID,
        to_wallet_id: uuid.UUID,
        amount: Amount,
        *,
        reference: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Transfer:
        call = calls.transfer(
            from_wallet_id, to_wallet_id, amount, reference, metadata, idempotency_key
        )
        return await self._run(call)

    async def search(self, reference: str, *, limit: int | None = None) -> ReferenceMatches:
        """The operations, transfers and holds that carry `reference`, in every wallet, newest
        first; at most `limit` (1 to 100, the server's default 20) of each."""
        return await self._run(calls.search(reference, limit))

    async def get_transfer(self, transfer_id: uuid.UUID) -> Transfer:
        return await self._run(calls.get_transfer(transfer_id))

    def transfers(
        self, *, wallet_id: uuid.UUID | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> AsyncIterator[Transfer]:
        return self._every(lambda cursor: calls.transfers_page(wallet_id, page_size, cursor))

    async def reverse_transfer(
        self,
        transfer_id: uuid.UUID,
        amount: Amount | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[Operation, ...]:
        return await self._run(calls.reverse_transfer(transfer_id, amount, idempotency_key))

    # Holds

    async def hold(
        self,
        wallet_id: uuid.UUID,
        amount: Amount,
        *,
        expires_in_seconds: int | None = None,
        reference: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Hold:
        call = calls.hold(
            wallet_id, amount, expires_in_seconds, reference, metadata, idempotency_key
        )
        return await self._run(call)

    async def capture(
        self,
        hold_id: uuid.UUID,
        amount: Amount | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Hold:
        return await self._run(calls.capture(hold_id, amount, idempotency_key))

    async def void(self, hold_id: uuid.UUID, *, idempotency_key: str | None = None) -> Hold:
        return await self._run(calls.void(hold_id, idempotency_key))

    async def get_hold(self, hold_id: uuid.UUID) -> Hold:
        return await self._run(calls.get_hold(hold_id))

    def holds(
        self,
        wallet_id: uuid.UUID,
        *,
        status: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Hold]:
        return self._every(lambda cursor: calls.holds_page(wallet_id, status, page_size, cursor))

    # Events

    async def events(
        self,
        after: int = 0,
        *,
        limit: int | None = None,
        types: list[str] | tuple[str, ...] | None = None,
        wallet_id: uuid.UUID | None = None,
        wait: int | None = None,
    ) -> EventsPage:
        """One page of the feed; pass `next_after` back as `after` for the next."""
        return await self._run(calls.events(after, limit, types, wallet_id, wait))

    async def iter_events(
        self,
        after: int = 0,
        *,
        types: list[str] | tuple[str, ...] | None = None,
        wallet_id: uuid.UUID | None = None,
        limit: int | None = None,
        follow: bool = False,
        wait: int = 30,
    ) -> AsyncGenerator[Event, None]:
        """The events after `after`, in order; with `follow`, long-polls for new ones forever
        (`aclose()` it to stop), else stops at the first empty page."""
        while True:
            page = await self.events(
                after, limit=limit, types=types, wallet_id=wallet_id, wait=wait if follow else None
            )
            for event in page.items:
                yield event
            if not page.items and not follow:
                return
            after = page.next_after

    # Sending

    async def _every(self, page: Callable[[str | None], Call[Page[Item]]]) -> AsyncIterator[Item]:
        cursor: str | None = None
        while True:
            answer = await self._run(page(cursor))
            for item in answer.items:
                yield item
            if answer.next_cursor is None:
                return
            cursor = answer.next_cursor

    async def _run(self, call: Call[T]) -> T:
        return call.read(await self._send(call))

    async def _send(self, call: Call[Any]) -> httpx.Response:
        key = (call.idempotency_key or str(uuid.uuid4())) if call.is_write else None
        backoff = Backoff(self._retry_deadline)
        while True:
            request = calls.build_request(
                self._http, self._base_url, call, key, self._headers, self._timeout
            )
            try:
                response = await self._http.send(request)
            except httpx.TransportError as error:
                delay = backoff.next_delay()
                if delay is None:
                    raise transport_failed(error) from error
            else:
                delay = retry_delay(backoff, response)
                if delay is None:
                    return final(response)
            await asyncio.sleep(delay)
