"""The client's exceptions: one class per error `code` of the API, all under WalletApiError."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any


class WalletApiError(Exception):
    """A refusal of the service (or, for TransportFailed, no answer at all)."""

    code: str = ""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        request_id: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.request_id = request_id
        self.body: Mapping[str, Any] = body or {}

    @property
    def errors(self) -> list[Mapping[str, Any]]:
        """The fields at fault of a validation_error (`loc`, `msg`, `type`); else empty."""
        return list(self.body.get("errors") or [])


class TransportFailed(WalletApiError):
    """No answer came before the retry deadline: the connection failed or timed out (status 0;
    the httpx error is its __cause__).

    A write that ends here may or may not have landed: send it again with the same
    `idempotency_key` to learn which.
    """

    code = "transport_error"


class ValidationFailed(WalletApiError):
    code = "validation_error"


class WalletNotFound(WalletApiError):
    code = "wallet_not_found"


class WalletExists(WalletApiError):
    code = "wallet_exists"


class InsufficientFunds(WalletApiError):
    code = "insufficient_funds"


class BalanceLimitExceeded(WalletApiError):
    code = "balance_limit_exceeded"


class IdempotencyKeyReused(WalletApiError):
    code = "idempotency_key_reused"


class IdempotencyKeyInProgress(WalletApiError):
    code = "idempotency_key_in_progress"


class CurrencyMismatch(WalletApiError):
    code = "currency_mismatch"


class TransferNotFound(WalletApiError):
    code = "transfer_not_found"


class HoldNotFound(WalletApiError):
    code = "hold_not_found"


class HoldNotActive(WalletApiError):
    code = "hold_not_active"


class Unauthorized(WalletApiError):
    code = "unauthorized"


class Forbidden(WalletApiError):
    code = "forbidden"


class RateLimited(WalletApiError):
    code = "rate_limited"


class NotFound(WalletApiError):
    code = "not_found"


class MethodNotAllowed(WalletApiError):
    code = "method_not_allowed"


class PayloadTooLarge(WalletApiError):
    code = "payload_too_large"


class ServiceUnavailable(WalletApiError):
    code = "service_unavailable"


class InternalError(WalletApiError):
    code = "internal_error"


class WebhookNotFound(WalletApiError):
    code = "webhook_not_found"


class WebhookUrlNotAllowed(WalletApiError):
    code = "webhook_url_not_allowed"


class WebhookLimitReached(WalletApiError):
    code = "webhook_limit_reached"


class ReferenceExists(WalletApiError):
    code = "reference_exists"

    @property
    def existing_id(self) -> int | uuid.UUID | None:
        """The id of the object that holds the reference: an operation's int, or the UUID of a
        transfer or hold (the service sends either as a string)."""
        value = self.body.get("existing_id")
        if value is None or isinstance(value, int):
            return value
        text = str(value)
        return int(text) if text.isdigit() else uuid.UUID(text)


class ReversalExceedsOriginal(WalletApiError):
    code = "reversal_exceeds_original"


class NotReversible(WalletApiError):
    code = "not_reversible"


class OperationNotFound(WalletApiError):
    code = "operation_not_found"


ERROR_CLASSES: dict[str, type[WalletApiError]] = {
    cls.code: cls
    for cls in (
        ValidationFailed,
        WalletNotFound,
        WalletExists,
        InsufficientFunds,
        BalanceLimitExceeded,
        IdempotencyKeyReused,
        IdempotencyKeyInProgress,
        CurrencyMismatch,
        TransferNotFound,
        HoldNotFound,
        HoldNotActive,
        Unauthorized,
        Forbidden,
        RateLimited,
        NotFound,
        MethodNotAllowed,
        PayloadTooLarge,
        ServiceUnavailable,
        InternalError,
        WebhookNotFound,
        WebhookUrlNotAllowed,
        WebhookLimitReached,
        ReferenceExists,
        ReversalExceedsOriginal,
        NotReversible,
        OperationNotFound,
    )
}


def error_of(
    status: int, body: Mapping[str, Any] | None, text: str, request_id: str | None
) -> WalletApiError:
    """The exception for an error answer: its code's class, or the base class for a code this
    client does not know (or an answer that is not a problem, such as a proxy's 502 page)."""
    if body is not None and isinstance(body.get("code"), str):
        code = body["code"]
        detail = str(body.get("detail", ""))
    else:
        code = f"http_{status}"
        detail = text[:500]
        body = None
    return ERROR_CLASSES.get(code, WalletApiError)(status, code, detail, request_id, body)
