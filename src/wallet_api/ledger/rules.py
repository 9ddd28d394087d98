"""The money rules, once: given the wallets and holds a movement touches, the new state or a
named refusal. Pure functions: no I/O, no clock, no randomness, no driver types.

Each decision is a flat run of guard clauses in the order a reader would ask them, each
returning its refusal, then one line that says all validation is complete, then the change.
The engine (`ledger/engine.py`) locks what a movement touches, asks `decide`, and writes the
change it gets back; nothing else decides whether money may move.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from wallet_api.ledger import amounts
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    NotReversible,
    OperationNotFound,
    ReferenceExists,
    ReversalExceedsOriginal,
    SameWallet,
    TransferNotFound,
    WalletNotFound,
)


class OperationType(enum.StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"
    TRANSFER_IN = "TRANSFER_IN"
    TRANSFER_OUT = "TRANSFER_OUT"
    HOLD_CAPTURE = "HOLD_CAPTURE"
    REVERSAL = "REVERSAL"


# Operation types that add to a balance; every other type takes away from it, but a REVERSAL,
# which goes the other way from the operation it reverses (see `credits`).
CREDIT_TYPES = frozenset((OperationType.DEPOSIT, OperationType.TRANSFER_IN))


def credits(operation_type: OperationType, reversed_type: OperationType | None = None) -> bool:
    """Whether an operation adds to its wallet's balance; a REVERSAL needs the type of the
    operation it reverses."""
    if operation_type is OperationType.REVERSAL:
        assert reversed_type is not None, "a reversal names what it reverses"
        return reversed_type not in CREDIT_TYPES
    return operation_type in CREDIT_TYPES


# What a write may carry to find it again: a reference (unique per wallet for deposits,
# withdrawals and holds, unique among transfers) and metadata, as (key, value) pairs.
Metadata = tuple[tuple[str, str], ...]
# Where a reference is unique: ("operation" or "hold", the wallet, it) or ("transfer", None, it).
ReferenceKey = tuple[str, uuid.UUID | None, str]


class HoldStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class WalletState:
    """A wallet as the rules see it; amounts in minor units of its currency."""

    id: uuid.UUID
    currency: str
    balance: int
    held: int  # the sum of its ACTIVE holds
    next_expiry: datetime | None  # no ACTIVE hold of the wallet expires before this

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def limit(self) -> int:
        return amounts.max_balance_minor(minor_units(self.currency))


@dataclass(frozen=True, slots=True)
class HoldState:
    id: uuid.UUID
    wallet_id: uuid.UUID
    amount: int
    status: HoldStatus
    captured: int | None
    expires_at: datetime
    created_at: datetime

    def lapsed(self, now: datetime) -> bool:
        """An ACTIVE hold past its expiry: it no longer reserves anything."""
        return self.status is HoldStatus.ACTIVE and self.expires_at <= now


# The movements, as a client asks for them (amounts exactly as parsed, never scaled yet).


@dataclass(frozen=True, slots=True)
class Deposit:
    wallet_id: uuid.UUID
    amount: Decimal
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class Withdrawal:
    wallet_id: uuid.UUID
    amount: Decimal
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class TransferFunds:
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: Decimal
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class PlaceHold:
    wallet_id: uuid.UUID
    amount: Decimal
    expires_in_seconds: int
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class CaptureHold:
    hold_id: uuid.UUID
    amount: Decimal | None  # None: all of the hold


@dataclass(frozen=True, slots=True)
class VoidHold:
    hold_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class LapseHold:
    """Not asked for by a client: the engine lapses every hold past its expiry on a wallet it
    has locked before it decides anything else on that wallet."""

    hold_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ReverseOperation:
    """Undo all or part of a deposit, a withdrawal or a capture with a REVERSAL the other way."""

    operation_id: int
    amount: Decimal | None  # None: what is left to reverse


@dataclass(frozen=True, slots=True)
class ReverseTransfer:
    """Undo all or part of a transfer: a REVERSAL on each of its wallets."""

    transfer_id: uuid.UUID
    amount: Decimal | None  # None: what is left to reverse


Movement = (
    Deposit
    | Withdrawal
    | TransferFunds
    | PlaceHold
    | CaptureHold
    | VoidHold
    | LapseHold
    | ReverseOperation
    | ReverseTransfer
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One operation row to append to a wallet's history."""

    wallet_id: uuid.UUID
    operation_type: OperationType
    amount: int
    transfer_id: uuid.UUID | None = None
    hold_id: uuid.UUID | None = None
    reverses_id: int | None = None
    reference: str | None = None
    metadata: Metadata = ()


@dataclass(frozen=True, slots=True)
class OperationState:
    """An operation as a reversal sees it: what it moved and how much of it was reversed."""

    id: int
    wallet_id: uuid.UUID
    operation_type: OperationType
    amount: int
    reversed: int
    transfer_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class TransferState:
    """A transfer as a reversal sees it, with the operations of its two legs."""

    id: uuid.UUID
    from_wallet_id: uuid.UUID
    to_wallet_id: uuid.UUID
    amount: int
    reversed: int
    out_operation_id: int
    in_operation_id: int


@dataclass(frozen=True, slots=True)
class Change:
    """What an accepted movement changes: the new state of each wallet and hold it touched,
    and the entries it appends, in order."""

    wallets: tuple[WalletState, ...] = ()
    holds: tuple[HoldState, ...] = ()
    entries: tuple[Entry, ...] = ()
    reversed: tuple[OperationState | TransferState, ...] = ()


class Quantity(enum.Enum):
    AVAILABLE = "available"  # available balance less the amount asked for
    ROOM = "room"  # the balance limit less the balance and the amount


@dataclass(frozen=True, slots=True)
class Margin:
    """How far one comparison a decision made was from going the other way: it passed when
    `margin >= 0`. What makes guarded batches possible (see `ledger/engine.py`)."""

    wallet_id: uuid.UUID
    quantity: Quantity
    margin: int


@dataclass(frozen=True, slots=True)
class Books:
    """What a decision may read: the wallets and holds the engine locked, the time of the
    transaction, and the currency a first deposit opens a wallet in. When `margins` is a list,
    every comparison of a balance a decision makes is noted in it."""

    wallets: Mapping[uuid.UUID, WalletState]
    holds: Mapping[uuid.UUID, HoldState]
    now: datetime
    default_currency: str
    margins: list[Margin] | None = None
    # (kind, wallet or None, reference) -> the id of the object that holds it: kind "operation"
    # and "hold" per wallet, "transfer" among all transfers.
    references: Mapping[ReferenceKey, object] = field(default_factory=dict)
    operations: Mapping[int, OperationState] = field(default_factory=dict)
    transfers: Mapping[uuid.UUID, TransferState] = field(default_factory=dict)


Decision = Change | LedgerError


def decide(movement: Movement, books: Books, new_id: uuid.UUID) -> Decision:
    """The change `movement` makes to `books`, or why it may not happen. `new_id` names the
    transfer or hold it creates, if it creates one."""
    match movement:
        case Deposit():
            return deposit(movement, books)
        case Withdrawal():
            return withdraw(movement, books)
        case TransferFunds():
            return transfer(movement, books, new_id)
        case PlaceHold():
            return place_hold(movement, books, new_id)
        case CaptureHold():
            return capture_hold(movement, books)
        case VoidHold():
            return void_hold(movement, books)
        case LapseHold():
            return lapse_hold(movement, books)
        case ReverseOperation():
            return reverse_operation(movement, books)
        case ReverseTransfer():
            return reverse_transfer(movement, books)
    raise AssertionError(f"unknown movement {movement!r}")


def deposit(movement: Deposit, books: Books) -> Decision:
    wallet = books.wallets.get(movement.wallet_id) or _opened(movement.wallet_id, books)
    amount = scaled(movement.amount, wallet.currency)
    if isinstance(amount, InvalidAmount):
        return amount
    if taken := _reference_taken(movement, books):
        return taken
    if _above_limit(wallet, amount, books):
        return BalanceLimitExceeded(wallet.id)
    # All validation is complete.
    entry = Entry(
        wallet.id,
        OperationType.DEPOSIT,
        amount,
        reference=movement.reference,
        metadata=movement.metadata,
    )
    return Change(wallets=(replace(wallet, balance=wallet.balance + amount),), entries=(entry,))


def withdraw(movement: Withdrawal, books: Books) -> Decision:
    wallet = books.wallets.get(movement.wallet_id)
    if wallet is None:
        return WalletNotFound(movement.wallet_id)
    amount = scaled(movement.amount, wallet.currency)
    if isinstance(amount, InvalidAmount):
        return amount
    if taken := _reference_taken(movement, books):
        return taken
    if _short_of(wallet, amount, books):
        return InsufficientFunds(wallet.id)
    # All validation is complete.
    entry = Entry(
        wallet.id,
        OperationType.WITHDRAW,
        amount,
        reference=movement.reference,
        metadata=movement.metadata,
    )
    return Change(wallets=(replace(wallet, balance=wallet.balance - amount),), entries=(entry,))


def transfer(movement: TransferFunds, books: Books, transfer_id: uuid.UUID) -> Decision:
    if movement.from_wallet_id == movement.to_wallet_id:
        return SameWallet()
    source = books.wallets.get(movement.from_wallet_id)
    if source is None:
        return WalletNotFound(movement.from_wallet_id)
    target = books.wallets.get(movement.to_wallet_id)
    if target is None:
        return WalletNotFound(movement.to_wallet_id)
    if source.currency != target.currency:
        return CurrencyMismatch(source.currency, target.currency)
    amount = scaled(movement.amount, source.currency)
    if isinstance(amount, InvalidAmount):
        return amount
    if taken := _reference_taken(movement, books):
        return taken
    if _short_of(source, amount, books):
        return InsufficientFunds(source.id)
    if _above_limit(target, amount, books):
        return BalanceLimitExceeded(target.id)
    # All validation is complete.
    out = Entry(
        source.id,
        OperationType.TRANSFER_OUT,
        amount,
        transfer_id,
        reference=movement.reference,
        metadata=movement.metadata,
    )
    return Change(
        wallets=(
            replace(source, balance=source.balance - amount),
            replace(target, balance=target.balance + amount),
        ),
        entries=(
            out,
            replace(out, wallet_id=target.id, operation_type=OperationType.TRANSFER_IN),
        ),
    )


def place_hold(movement: PlaceHold, books: Books, hold_id: uuid.UUID) -> Decision:
    wallet = books.wallets.get(movement.wallet_id)
    if wallet is None:
        return WalletNotFound(movement.wallet_id)
    amount = scaled(movement.amount, wallet.currency)
    if isinstance(amount, InvalidAmount):
        return amount
    if taken := _reference_taken(movement, books):
        return taken
    if _short_of(wallet, amount, books):
        return InsufficientFunds(wallet.id)
    # All validation is complete.
    expires_at = books.now + timedelta(seconds=movement.expires_in_seconds)
    next_expiry = expires_at if wallet.next_expiry is None else min(wallet.next_expiry, expires_at)
    hold = HoldState(
        hold_id, wallet.id, amount, HoldStatus.ACTIVE, None, expires_at, created_at=books.now
    )
    return Change(
        wallets=(replace(wallet, held=wallet.held + amount, next_expiry=next_expiry),),
        holds=(hold,),
    )


def capture_hold(movement: CaptureHold, books: Books) -> Decision:
    hold = books.holds.get(movement.hold_id)
    if hold is None:
        return HoldNotFound(movement.hold_id)
    if refusal := _not_active(hold, books.now):
        return refusal
    wallet = books.wallets[hold.wallet_id]
    captured = hold.amount if movement.amount is None else scaled(movement.amount, wallet.currency)
    if isinstance(captured, InvalidAmount):
        return captured
    if captured > hold.amount:
        return InvalidAmount(f"amount must be at most the held amount, {_shown(hold, wallet)}")
    # All validation is complete.
    assert hold.amount <= wallet.held <= wallet.balance, "a hold is within its wallet's funds"
    return Change(
        wallets=(
            replace(wallet, balance=wallet.balance - captured, held=wallet.held - hold.amount),
        ),
        holds=(replace(hold, status=HoldStatus.CAPTURED, captured=captured),),
        entries=(Entry(wallet.id, OperationType.HOLD_CAPTURE, captured, hold_id=hold.id),),
    )


def void_hold(movement: VoidHold, books: Books) -> Decision:
    hold = books.holds.get(movement.hold_id)
    if hold is None:
        return HoldNotFound(movement.hold_id)
    if refusal := _not_active(hold, books.now):
        return refusal
    # All validation is complete.
    return _released(hold, books, HoldStatus.VOIDED)


def lapse_hold(movement: LapseHold, books: Books) -> Decision:
    hold = books.holds.get(movement.hold_id)
    if hold is None:
        return HoldNotFound(movement.hold_id)
    if not hold.lapsed(books.now):
        return HoldNotActive(hold.id, hold.status)
    # All validation is complete.
    return _released(hold, books, HoldStatus.EXPIRED)


def reverse_operation(movement: ReverseOperation, books: Books) -> Decision:
    original = books.operations.get(movement.operation_id)
    if original is None:
        return OperationNotFound(movement.operation_id)
    if original.operation_type is OperationType.REVERSAL:
        return NotReversible(original.id, "a reversal is not reversed; make a new operation")
    if original.transfer_id is not None:
        return NotReversible(original.id, f"reverse its transfer, {original.transfer_id}")
    wallet = books.wallets[original.wallet_id]
    amount = _to_reverse(movement.amount, original.amount - original.reversed, wallet)
    if isinstance(amount, LedgerError):
        return amount
    credit = credits(OperationType.REVERSAL, original.operation_type)
    if not credit and _short_of(wallet, amount, books):
        return InsufficientFunds(wallet.id)
    if credit and _above_limit(wallet, amount, books):
        return BalanceLimitExceeded(wallet.id)
    # All validation is complete.
    balance = wallet.balance + amount if credit else wallet.balance - amount
    return Change(
        wallets=(replace(wallet, balance=balance),),
        entries=(Entry(wallet.id, OperationType.REVERSAL, amount, reverses_id=original.id),),
        reversed=(replace(original, reversed=original.reversed + amount),),
    )


def reverse_transfer(movement: ReverseTransfer, books: Books) -> Decision:
    original = books.transfers.get(movement.transfer_id)
    if original is None:
        return TransferNotFound(movement.transfer_id)
    payee = books.wallets[original.to_wallet_id]
    payer = books.wallets[original.from_wallet_id]
    amount = _to_reverse(movement.amount, original.amount - original.reversed, payee)
    if isinstance(amount, LedgerError):
        return amount
    if _short_of(payee, amount, books):
        return InsufficientFunds(payee.id)
    if _above_limit(payer, amount, books):
        return BalanceLimitExceeded(payer.id)
    # All validation is complete.
    back = OperationType.REVERSAL
    return Change(
        wallets=(
            replace(payee, balance=payee.balance - amount),
            replace(payer, balance=payer.balance + amount),
        ),
        entries=(
            Entry(payee.id, back, amount, original.id, reverses_id=original.in_operation_id),
            Entry(payer.id, back, amount, original.id, reverses_id=original.out_operation_id),
        ),
        reversed=(replace(original, reversed=original.reversed + amount),),
    )


def _to_reverse(asked: Decimal | None, left: int, wallet: WalletState) -> int | LedgerError:
    """How much to reverse: what was asked, at most what is left; all that is left by default."""
    if asked is None:
        if left <= 0:
            return ReversalExceedsOriginal("it is reversed in full already")
        return left
    amount = scaled(asked, wallet.currency)
    if isinstance(amount, InvalidAmount):
        return amount
    if amount > left:
        digits = minor_units(wallet.currency)
        shown = amounts.format_amount(amounts.from_minor_units(left, digits), digits)
        return ReversalExceedsOriginal(f"at most {shown} {wallet.currency} is left to reverse")
    return amount


def reference_key(movement: Movement) -> ReferenceKey | None:
    """Where the reference a movement asks for must be unique, as Books.references keys it:
    per wallet for deposits, withdrawals and holds, among all transfers; None without one."""
    if isinstance(movement, Deposit | Withdrawal) and movement.reference is not None:
        return ("operation", movement.wallet_id, movement.reference)
    if isinstance(movement, PlaceHold) and movement.reference is not None:
        return ("hold", movement.wallet_id, movement.reference)
    if isinstance(movement, TransferFunds) and movement.reference is not None:
        return ("transfer", None, movement.reference)
    return None


def _reference_taken(movement: Movement, books: Books) -> ReferenceExists | None:
    key = reference_key(movement)
    existing = None if key is None else books.references.get(key)
    if key is None or existing is None:
        return None
    kind, _, reference = key
    return ReferenceExists(kind, reference, existing)


def scaled(amount: Decimal, currency: str) -> int | InvalidAmount:
    """The amount in minor units of `currency`, or why it is not a valid amount of it."""
    try:
        return amounts.to_minor_units(amount, minor_units(currency))
    except InvalidAmount as refusal:
        return refusal


def lapse_due(wallet: WalletState, now: datetime) -> bool:
    """Whether some hold of the wallet may have lapsed, so its holds must be looked at."""
    return wallet.next_expiry is not None and wallet.next_expiry <= now


def _short_of(wallet: WalletState, amount: int, books: Books) -> bool:
    """Whether the wallet's available balance is short of `amount`."""
    margin = wallet.available - amount
    if books.margins is not None:
        books.margins.append(Margin(wallet.id, Quantity.AVAILABLE, margin))
    return margin < 0


def _above_limit(wallet: WalletState, amount: int, books: Books) -> bool:
    """Whether `amount` more would take the balance above the wallet's limit."""
    margin = wallet.limit - wallet.balance - amount
    if books.margins is not None:
        books.margins.append(Margin(wallet.id, Quantity.ROOM, margin))
    return margin < 0


def _opened(wallet_id: uuid.UUID, books: Books) -> WalletState:
    """A first deposit opens the wallet, empty, in the default currency."""
    return WalletState(wallet_id, books.default_currency, balance=0, held=0, next_expiry=None)


def _not_active(hold: HoldState, now: datetime) -> HoldNotActive | None:
    if hold.status is not HoldStatus.ACTIVE:
        return HoldNotActive(hold.id, hold.status)
    if hold.lapsed(now):
        return HoldNotActive(hold.id, HoldStatus.EXPIRED)
    return None


def _released(hold: HoldState, books: Books, status: HoldStatus) -> Change:
    """The hold ends without taking money: its funds are available again."""
    wallet = books.wallets[hold.wallet_id]
    return Change(
        wallets=(replace(wallet, held=wallet.held - hold.amount),),
        holds=(replace(hold, status=status),),
    )


def _shown(hold: HoldState, wallet: WalletState) -> str:
    digits = minor_units(wallet.currency)
    return amounts.format_amount(amounts.from_minor_units(hold.amount, digits), digits)
