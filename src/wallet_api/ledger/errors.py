"""The ledger's refusals, one class each, each carrying its stable `code`: the HTTP layer maps
the code to a status, the metrics count it by the same name."""

from __future__ import annotations


class LedgerError(Exception):
    """A request the ledger refuses; `detail` is safe to show to the client."""

    code = "ledger_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StoredRefusal(LedgerError):
    """A refusal read back from the idempotency store, to be answered again as it was."""

    def __init__(self, code: str, detail: str, existing_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.existing_id = existing_id


class InvalidRequest(LedgerError):
    """The request itself is wrong (422): it is never stored under an idempotency key."""

    code = "validation_error"


class InvalidAmount(InvalidRequest):
    """The amount is not a positive, finite value with the currency's decimals within the limit."""


class WalletNotFound(LedgerError):
    code = "wallet_not_found"

    def __init__(self, wallet_id: object) -> None:
        super().__init__(f"Wallet {wallet_id} does not exist.")


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"

    def __init__(self, wallet_id: object) -> None:
        super().__init__(f"Wallet {wallet_id} does not hold enough funds for this operation.")


class BalanceLimitExceeded(LedgerError):
    code = "balance_limit_exceeded"

    def __init__(self, wallet_id: object) -> None:
        super().__init__(f"This deposit would take wallet {wallet_id} above the balance limit.")


class UnknownCurrency(InvalidRequest):
    def __init__(self, currency: str) -> None:
        super().__init__(f"{currency!r} is not an ISO 4217 currency code this service knows.")


class WalletExists(LedgerError):
    code = "wallet_exists"

    def __init__(self, wallet_id: object) -> None:
        super().__init__(f"Wallet {wallet_id} already exists.")


class InvalidCursor(InvalidRequest):
    def __init__(self) -> None:
        super().__init__("The cursor is not one this service issued.")


class IdempotencyKeyReused(LedgerError):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("This Idempotency-Key was already used with a different request.")


class IdempotencyKeyInProgress(LedgerError):
    code = "idempotency_key_in_progress"

    def __init__(self) -> None:
        super().__init__("A request with this Idempotency-Key is still being processed; retry.")


class SameWallet(InvalidRequest):
    def __init__(self) -> None:
        super().__init__("A transfer needs two different wallets.")


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"Cannot transfer between a {source} wallet and a {target} wallet.")


class TransferNotFound(LedgerError):
    code = "transfer_not_found"

    def __init__(self, transfer_id: object) -> None:
        super().__init__(f"Transfer {transfer_id} does not exist.")


class HoldNotFound(LedgerError):
    code = "hold_not_found"

    def __init__(self, hold_id: object) -> None:
        super().__init__(f"Hold {hold_id} does not exist.")


class HoldNotActive(LedgerError):
    code = "hold_not_active"

    def __init__(self, hold_id: object, status: str) -> None:
        super().__init__(f"Hold {hold_id} is {status}, no longer ACTIVE.")
        self.status = status


class Unauthenticated(LedgerError):
    """No usable API key. `reason` (missing, unknown, revoked, expired) goes to the log only:
    the client is told no more than whether a key was sent."""

    code = "unauthorized"

    def __init__(self, reason: str, *, presented: bool) -> None:
        if presented:
            detail = "The API key is not valid: it is unknown, revoked or expired."
        else:
            detail = "This request needs an API key: send `Authorization: Bearer <key>`."
        super().__init__(detail)
        self.reason = reason
        self.presented = presented


class MissingScope(LedgerError):
    code = "forbidden"

    def __init__(self, key_id: int, scope: str) -> None:
        super().__init__(f"This API key does not have the scope '{scope}'.")
        self.reason = f"API key {key_id} lacks the scope {scope}"


class RateLimited(LedgerError):
    code = "rate_limited"

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            f"Too many requests with this API key; retry in {retry_after_seconds} seconds."
        )
        self.retry_after_seconds = retry_after_seconds


class WebhookNotFound(LedgerError):
    code = "webhook_not_found"

    def __init__(self, endpoint_id: object) -> None:
        super().__init__(f"Webhook endpoint {endpoint_id} does not exist.")


class WebhookUrlNotAllowed(InvalidRequest):
    code = "webhook_url_not_allowed"


class WebhookLimitReached(LedgerError):
    code = "webhook_limit_reached"

    def __init__(self, most: int) -> None:
        super().__init__(f"At most {most} webhook endpoints; delete one first.")


class OperationNotFound(LedgerError):
    code = "operation_not_found"

    def __init__(self, operation_id: object) -> None:
        super().__init__(f"Operation {operation_id} does not exist.")


class NotReversible(LedgerError):
    code = "not_reversible"

    def __init__(self, operation_id: object, why: str) -> None:
        super().__init__(f"Operation {operation_id} cannot be reversed: {why}.")


class ReversalExceedsOriginal(LedgerError):
    code = "reversal_exceeds_original"

    def __init__(self, why: str) -> None:
        super().__init__(f"The reversal exceeds the original: {why}.")


class ReferenceExists(LedgerError):
    """The reference names an object already; `existing_id` is that object's id."""

    code = "reference_exists"

    def __init__(self, kind: str, reference: str, existing_id: object) -> None:
        super().__init__(f"The reference {reference!r} is taken by {kind} {existing_id}.")
        self.existing_id = existing_id
