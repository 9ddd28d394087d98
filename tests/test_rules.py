"""The money rules (`ledger/rules.py`) without a database: one example per refusal, and a
book-keeper that applies random movements as the engine would and checks the books after each.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from wallet_api.ledger import amounts, rules
from wallet_api.ledger.currencies import minor_units
from wallet_api.ledger.errors import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    HoldNotActive,
    HoldNotFound,
    InsufficientFunds,
    InvalidAmount,
    LedgerError,
    SameWallet,
    WalletNotFound,
)
from wallet_api.ledger.rules import (
    Books,
    CaptureHold,
    Change,
    Decision,
    Deposit,
    Entry,
    HoldState,
    HoldStatus,
    LapseHold,
    Margin,
    Movement,
    OperationType,
    PlaceHold,
    Quantity,
    TransferFunds,
    VoidHold,
    WalletState,
    Withdrawal,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
NEW_ID = uuid.UUID(int=0xFEED)
UNKNOWN = uuid.UUID(int=0xDEAD)
USD_LIMIT = amounts.max_balance_minor(2)


def wallet(
    currency: str = "USD", *, balance: int = 0, held: int = 0, next_expiry: datetime | None = None
) -> WalletState:
    return WalletState(uuid.uuid4(), currency, balance, held, next_expiry)


def hold(
    of: WalletState,
    amount: int,
    *,
    status: HoldStatus = HoldStatus.ACTIVE,
    expires_at: datetime = NOW + timedelta(hours=1),
) -> HoldState:
    return HoldState(uuid.uuid4(), of.id, amount, status, None, expires_at, created_at=NOW)


def books(*states: WalletState | HoldState, default_currency: str = "USD") -> Books:
    return Books(
        wallets={s.id: s for s in states if isinstance(s, WalletState)},
        holds={s.id: s for s in states if isinstance(s, HoldState)},
        now=NOW,
        default_currency=default_currency,
    )


def refused(decision: Decision) -> LedgerError:
    assert isinstance(decision, LedgerError), f"expected a refusal, got {decision!r}"
    return decision


def accepted(decision: Decision) -> Change:
    assert isinstance(decision, Change), f"expected a change, got {decision!r}"
    return decision


def signed(entry: Entry) -> int:
    return entry.amount if entry.operation_type in rules.CREDIT_TYPES else -entry.amount


# Deposits.


def test_first_deposit_opens_the_wallet_in_the_default_currency() -> None:
    wallet_id = uuid.uuid4()
    movement = Deposit(wallet_id, Decimal("1234"))
    change = accepted(rules.decide(movement, books(default_currency="JPY"), NEW_ID))
    assert change.wallets == (WalletState(wallet_id, "JPY", 1234, held=0, next_expiry=None),)
    assert change.entries == (Entry(wallet_id, OperationType.DEPOSIT, 1234),)


def test_first_deposit_is_scaled_to_the_default_currency() -> None:
    movement = Deposit(uuid.uuid4(), Decimal("12.345"))
    in_euros = rules.decide(movement, books(default_currency="EUR"), NEW_ID)
    in_dinars = rules.decide(movement, books(default_currency="KWD"), NEW_ID)
    assert isinstance(in_euros, InvalidAmount)
    assert accepted(in_dinars).entries[0].amount == 12_345


def test_deposit_scales_the_amount_to_the_wallets_currency() -> None:
    yen = wallet("JPY", balance=5)
    change = accepted(rules.decide(Deposit(yen.id, Decimal("1000")), books(yen), NEW_ID))
    assert change.wallets == (replace(yen, balance=1005),)
    assert change.entries == (Entry(yen.id, OperationType.DEPOSIT, 1000),)


def test_deposit_up_to_the_balance_limit_is_accepted() -> None:
    full = wallet(balance=USD_LIMIT - 1)
    change = accepted(rules.decide(Deposit(full.id, Decimal("0.01")), books(full), NEW_ID))
    assert change.wallets[0].balance == USD_LIMIT


def test_deposit_above_the_balance_limit_is_balance_limit_exceeded() -> None:
    full = wallet(balance=USD_LIMIT - 1)
    refusal = refused(rules.decide(Deposit(full.id, Decimal("0.02")), books(full), NEW_ID))
    assert isinstance(refusal, BalanceLimitExceeded)
    assert refusal.code == "balance_limit_exceeded"


# Withdrawals.


def test_withdrawal_on_an_unknown_wallet_is_wallet_not_found() -> None:
    refusal = refused(rules.decide(Withdrawal(UNKNOWN, Decimal("1")), books(), NEW_ID))
    assert isinstance(refusal, WalletNotFound)
    assert refusal.code == "wallet_not_found"


def test_withdrawal_of_the_whole_available_balance_is_accepted() -> None:
    funded = wallet(balance=1000, held=400)
    change = accepted(rules.decide(Withdrawal(funded.id, Decimal("6")), books(funded), NEW_ID))
    assert change.wallets == (replace(funded, balance=400),)
    assert change.entries == (Entry(funded.id, OperationType.WITHDRAW, 600),)


def test_withdrawal_above_the_available_balance_is_insufficient_funds() -> None:
    funded = wallet(balance=1000)
    decision = rules.decide(Withdrawal(funded.id, Decimal("10.01")), books(funded), NEW_ID)
    assert refused(decision).code == "insufficient_funds"


def test_withdrawal_of_funds_that_are_held_is_insufficient_funds() -> None:
    funded = wallet(balance=1000, held=400)
    decision = rules.decide(Withdrawal(funded.id, Decimal("6.01")), books(funded), NEW_ID)
    assert isinstance(refused(decision), InsufficientFunds)


# Transfers.


def test_transfer_moves_the_amount_and_names_both_entries_with_the_transfer_id() -> None:
    source, target = wallet(balance=1000), wallet(balance=5)
    movement = TransferFunds(source.id, target.id, Decimal("2.50"))
    change = accepted(rules.decide(movement, books(source, target), NEW_ID))
    assert change.wallets == (replace(source, balance=750), replace(target, balance=255))
    assert change.entries == (
        Entry(source.id, OperationType.TRANSFER_OUT, 250, transfer_id=NEW_ID),
        Entry(target.id, OperationType.TRANSFER_IN, 250, transfer_id=NEW_ID),
    )


def test_transfer_from_an_unknown_wallet_is_wallet_not_found() -> None:
    target = wallet()
    movement = TransferFunds(UNKNOWN, target.id, Decimal("1"))
    assert refused(rules.decide(movement, books(target), NEW_ID)).code == "wallet_not_found"


def test_transfer_to_an_unknown_wallet_is_wallet_not_found() -> None:
    source = wallet(balance=1000)
    movement = TransferFunds(source.id, UNKNOWN, Decimal("1"))
    refusal = refused(rules.decide(movement, books(source), NEW_ID))
    assert isinstance(refusal, WalletNotFound)
    assert str(UNKNOWN) in refusal.detail


def test_transfer_to_the_same_wallet_is_a_validation_error() -> None:
    funded = wallet(balance=1000)
    movement = TransferFunds(funded.id, funded.id, Decimal("1"))
    refusal = refused(rules.decide(movement, books(funded), NEW_ID))
    assert isinstance(refusal, SameWallet)
    assert refusal.code == "validation_error"


def test_transfer_between_currencies_is_currency_mismatch() -> None:
    dollars, yen = wallet("USD", balance=1000), wallet("JPY")
    movement = TransferFunds(dollars.id, yen.id, Decimal("1"))
    refusal = refused(rules.decide(movement, books(dollars, yen), NEW_ID))
    assert isinstance(refusal, CurrencyMismatch)
    assert refusal.code == "currency_mismatch"


def test_transfer_above_the_available_balance_is_insufficient_funds() -> None:
    source, target = wallet(balance=1000, held=1), wallet()
    movement = TransferFunds(source.id, target.id, Decimal("10"))
    refusal = refused(rules.decide(movement, books(source, target), NEW_ID))
    assert refusal.code == "insufficient_funds"


def test_transfer_above_the_target_balance_limit_is_balance_limit_exceeded() -> None:
    source, target = wallet(balance=1000), wallet(balance=USD_LIMIT - 99)
    movement = TransferFunds(source.id, target.id, Decimal("1"))
    refusal = refused(rules.decide(movement, books(source, target), NEW_ID))
    assert isinstance(refusal, BalanceLimitExceeded)
    assert str(target.id) in refusal.detail


# Holds.


def test_hold_on_an_unknown_wallet_is_wallet_not_found() -> None:
    movement = PlaceHold(UNKNOWN, Decimal("1"), expires_in_seconds=60)
    assert refused(rules.decide(movement, books(), NEW_ID)).code == "wallet_not_found"


def test_hold_above_the_available_balance_is_insufficient_funds() -> None:
    funded = wallet(balance=1000, held=600)
    movement = PlaceHold(funded.id, Decimal("4.01"), expires_in_seconds=60)
    assert refused(rules.decide(movement, books(funded), NEW_ID)).code == "insufficient_funds"


def test_placed_hold_reserves_the_amount_and_expires_after_its_seconds() -> None:
    funded = wallet(balance=1000)
    movement = PlaceHold(funded.id, Decimal("4"), expires_in_seconds=60)
    change = accepted(rules.decide(movement, books(funded), NEW_ID))
    expires_at = NOW + timedelta(seconds=60)
    assert change.wallets == (replace(funded, held=400, next_expiry=expires_at),)
    assert change.holds == (
        HoldState(NEW_ID, funded.id, 400, HoldStatus.ACTIVE, None, expires_at, created_at=NOW),
    )
    assert change.entries == ()


def test_placed_hold_lowers_next_expiry_but_never_raises_it() -> None:
    in_an_hour = NOW + timedelta(hours=1)
    funded = wallet(balance=1000, next_expiry=in_an_hour)
    sooner = PlaceHold(funded.id, Decimal("1"), expires_in_seconds=60)
    later = PlaceHold(funded.id, Decimal("1"), expires_in_seconds=7200)
    lowered = accepted(rules.decide(sooner, books(funded), NEW_ID)).wallets[0]
    kept = accepted(rules.decide(later, books(funded), NEW_ID)).wallets[0]
    assert lowered.next_expiry == NOW + timedelta(seconds=60)
    assert kept.next_expiry == in_an_hour


def test_full_capture_takes_the_held_amount_from_the_balance() -> None:
    funded = wallet(balance=1000, held=400)
    held = hold(funded, 400)
    change = accepted(rules.decide(CaptureHold(held.id, None), books(funded, held), NEW_ID))
    assert change.wallets == (replace(funded, balance=600, held=0),)
    assert change.holds == (replace(held, status=HoldStatus.CAPTURED, captured=400),)
    assert change.entries == (Entry(funded.id, OperationType.HOLD_CAPTURE, 400, hold_id=held.id),)


def test_partial_capture_releases_the_rest_of_the_hold() -> None:
    funded = wallet(balance=1000, held=500)
    held = hold(funded, 400)
    movement = CaptureHold(held.id, Decimal("1.50"))
    change = accepted(rules.decide(movement, books(funded, held), NEW_ID))
    assert change.wallets == (replace(funded, balance=850, held=100),)
    assert change.wallets[0].available == 750
    assert change.holds == (replace(held, status=HoldStatus.CAPTURED, captured=150),)
    assert change.entries == (Entry(funded.id, OperationType.HOLD_CAPTURE, 150, hold_id=held.id),)


def test_capture_above_the_held_amount_is_a_validation_error() -> None:
    funded = wallet(balance=1000, held=400)
    held = hold(funded, 400)
    movement = CaptureHold(held.id, Decimal("4.01"))
    refusal = refused(rules.decide(movement, books(funded, held), NEW_ID))
    assert isinstance(refusal, InvalidAmount)
    assert refusal.code == "validation_error"
    assert "4.00" in refusal.detail


def test_void_releases_the_hold_without_an_entry() -> None:
    funded = wallet(balance=1000, held=400)
    held = hold(funded, 400)
    change = accepted(rules.decide(VoidHold(held.id), books(funded, held), NEW_ID))
    assert change.wallets == (replace(funded, held=0),)
    assert change.holds == (replace(held, status=HoldStatus.VOIDED),)
    assert change.entries == ()


def test_lapse_of_a_hold_at_its_expiry_releases_it_as_expired() -> None:
    funded = wallet(balance=1000, held=400, next_expiry=NOW)
    held = hold(funded, 400, expires_at=NOW)
    assert rules.lapse_due(funded, NOW)
    assert held.lapsed(NOW)
    change = accepted(rules.decide(LapseHold(held.id), books(funded, held), NEW_ID))
    assert change.wallets == (replace(funded, held=0),)
    assert change.holds == (replace(held, status=HoldStatus.EXPIRED),)


def test_lapse_of_a_hold_not_yet_expired_is_hold_not_active() -> None:
    funded = wallet(balance=1000, held=400)
    held = hold(funded, 400, expires_at=NOW + timedelta(seconds=1))
    refusal = refused(rules.decide(LapseHold(held.id), books(funded, held), NEW_ID))
    assert refusal.code == "hold_not_active"


SETTLEMENTS: list[Callable[[uuid.UUID], Movement]] = [
    lambda hold_id: CaptureHold(hold_id, None),
    lambda hold_id: CaptureHold(hold_id, Decimal("1")),
    VoidHold,
    LapseHold,
]


@pytest.mark.parametrize(
    "settle", SETTLEMENTS, ids=["capture-all", "capture-part", "void", "lapse"]
)
def test_settling_an_unknown_hold_is_hold_not_found(
    settle: Callable[[uuid.UUID], Movement],
) -> None:
    refusal = refused(rules.decide(settle(UNKNOWN), books(wallet(balance=100)), NEW_ID))
    assert isinstance(refusal, HoldNotFound)
    assert refusal.code == "hold_not_found"


@pytest.mark.parametrize(
    "status", [HoldStatus.CAPTURED, HoldStatus.VOIDED, HoldStatus.EXPIRED], ids=str.lower
)
@pytest.mark.parametrize(
    "settle", SETTLEMENTS, ids=["capture-all", "capture-part", "void", "lapse"]
)
def test_settling_a_hold_that_is_no_longer_active_is_hold_not_active(
    status: HoldStatus, settle: Callable[[uuid.UUID], Movement]
) -> None:
    funded = wallet(balance=1000)
    ended = hold(funded, 400, status=status)
    refusal = refused(rules.decide(settle(ended.id), books(funded, ended), NEW_ID))
    assert isinstance(refusal, HoldNotActive)
    assert refusal.status == status


@pytest.mark.parametrize(
    "settle", [lambda h: CaptureHold(h, None), VoidHold], ids=["capture", "void"]
)
def test_settling_a_hold_lapsed_by_time_is_hold_not_active_expired(
    settle: Callable[[uuid.UUID], Movement],
) -> None:
    # The engine has not lapsed it yet: the hold is still ACTIVE in the books, but past its time.
    funded = wallet(balance=1000, held=400, next_expiry=NOW)
    lapsed = hold(funded, 400, expires_at=NOW)
    refusal = refused(rules.decide(settle(lapsed.id), books(funded, lapsed), NEW_ID))
    assert isinstance(refusal, HoldNotActive)
    assert refusal.status == HoldStatus.EXPIRED


# Margins: how far each balance comparison was from going the other way.


def test_withdrawal_notes_how_far_it_was_from_insufficient_funds() -> None:
    funded = wallet(balance=1000, held=400)
    noting = replace(books(funded), margins=[])
    accepted(rules.decide(Withdrawal(funded.id, Decimal("5")), noting, NEW_ID))
    assert noting.margins == [Margin(funded.id, Quantity.AVAILABLE, 100)]


def test_refused_transfer_notes_the_margin_that_failed_last() -> None:
    source, target = wallet(balance=1000), wallet(balance=USD_LIMIT - 99)
    noting = replace(books(source, target), margins=[])
    refused(rules.decide(TransferFunds(source.id, target.id, Decimal("1")), noting, NEW_ID))
    assert noting.margins == [
        Margin(source.id, Quantity.AVAILABLE, 900),
        Margin(target.id, Quantity.ROOM, -1),
    ]


# Amounts: every movement that carries one refuses the same invalid amounts.

INVALID_AMOUNTS = [
    pytest.param("USD", "0", id="zero"),
    pytest.param("USD", "-0.00", id="negative-zero"),
    pytest.param("USD", "-1.00", id="negative"),
    pytest.param("USD", "0.001", id="three-decimals-in-usd"),
    pytest.param("JPY", "1.5", id="decimals-in-jpy"),
    pytest.param("KWD", "0.0005", id="four-decimals-in-kwd"),
    pytest.param("USD", "1000000000000.01", id="above-the-maximum"),
    pytest.param("JPY", "1E+13", id="above-the-maximum-in-jpy"),
    pytest.param("USD", "NaN", id="nan"),
    pytest.param("USD", "Infinity", id="infinity"),
]

MakeMovement = Callable[[WalletState, WalletState, HoldState, Decimal], Movement]
MOVEMENTS_WITH_AN_AMOUNT: list[MakeMovement] = [
    lambda w, _other, _hold, amount: Deposit(w.id, amount),
    lambda w, _other, _hold, amount: Withdrawal(w.id, amount),
    lambda w, other, _hold, amount: TransferFunds(w.id, other.id, amount),
    lambda w, _other, _hold, amount: PlaceHold(w.id, amount, expires_in_seconds=60),
    lambda _w, _other, held, amount: CaptureHold(held.id, amount),
]


@pytest.mark.parametrize(("currency", "amount"), INVALID_AMOUNTS)
@pytest.mark.parametrize(
    "movement", MOVEMENTS_WITH_AN_AMOUNT, ids=["deposit", "withdraw", "transfer", "hold", "capture"]
)
def test_an_invalid_amount_is_a_validation_error(
    currency: str,
    amount: str,
    movement: MakeMovement,
) -> None:
    funded = wallet(currency, balance=10**12, held=10**11)
    other = wallet(currency)
    held = hold(funded, 10**11)
    decision = rules.decide(
        movement(funded, other, held, Decimal(amount)), books(funded, other, held), NEW_ID
    )
    refusal = refused(decision)
    assert isinstance(refusal, InvalidAmount)
    assert refusal.code == "validation_error"


@pytest.mark.parametrize(
    ("currency", "amount", "minor"),
    [
        ("USD", "0.01", 1),
        ("USD", "5.100", 510),
        ("USD", "1E+2", 10_000),
        ("USD", "1000000000000", 10**14),
        ("JPY", "1", 1),
        ("JPY", "1000000000000.000", 10**12),
        ("KWD", "0.001", 1),
    ],
)
def test_an_amount_at_the_edge_of_valid_is_scaled_exactly(
    currency: str, amount: str, minor: int
) -> None:
    empty = wallet(currency)
    change = accepted(rules.decide(Deposit(empty.id, Decimal(amount)), books(empty), NEW_ID))
    assert change.entries == (Entry(empty.id, OperationType.DEPOSIT, minor),)


@pytest.mark.parametrize(
    "amount",
    ["0.0100000000000000000000000000001", "0.00999999999999999999999999999999"],
    ids=["a-cent-and-a-bit", "a-bit-less-than-a-cent"],
)
def test_an_amount_longer_than_decimal_precision_is_refused_not_rounded(amount: str) -> None:
    # Both pass `amounts.coerce_decimal` (up to 40 digits each side of the point).
    assert isinstance(rules.scaled(Decimal(amount), "USD"), InvalidAmount)


# Property-based: amounts.

CURRENCIES = ["USD", "JPY", "KWD"]
MAX_AMOUNT = amounts.MAX_OPERATION_AMOUNT
EDGE_AMOUNTS = [
    Decimal(text)
    for text in (
        *("0", "-0", "-0.01", "-5", "0.0001", "0.001", "NaN", "Infinity", "-Infinity"),
        *("999999999999.99", "1E+12", "1000000000000.01", "1E+13"),
    )
]


def money() -> st.SearchStrategy[Decimal]:
    """Amounts as a client may send them: three plain ones with 0 to 3 decimals (too many for
    some currencies) for every edge or invalid one."""
    plain = st.builds(
        lambda digits, exponent: Decimal(digits).scaleb(-exponent),
        st.integers(1, 10**6),
        st.integers(0, 3),
    )
    return st.one_of(plain, plain, plain, st.sampled_from(EDGE_AMOUNTS))


# Amounts at the edges of what the books allow, worked out when a step runs: all that the paying
# wallet has available (or one unit more), its whole balance (held funds included), all the room
# the receiving wallet has below its limit (or one unit more), a hold's amount (or one unit less
# or more).
EDGES = ("available", "available + 1", "balance", "room", "room + 1")
HELD_EDGES = {"held - 1": -1, "held": 0, "held + 1": 1}


def money_or_edge() -> st.SearchStrategy[Decimal | str]:
    return st.one_of(money(), st.sampled_from(EDGES))


def long_amount(units: int, decimals: str, zeros: int, last: int) -> Decimal:
    """An amount as long as `amounts.coerce_decimal` lets through (40 decimals), longer than the
    28 digits of Decimal's default context: a few decimals, a run of zeros, one more digit,
    which a rounding scale would lose."""
    return Decimal(f"{units}.{decimals}{'0' * zeros}{last}")


LONG_AMOUNTS = st.builds(
    long_amount,
    st.integers(0, 10**12),
    st.from_regex(r"[0-9]{0,3}", fullmatch=True),
    st.integers(0, 36),
    st.integers(0, 9),
)


@given(amount=money() | LONG_AMOUNTS, currency=st.sampled_from(CURRENCIES))
def test_an_amount_is_valid_only_when_positive_exact_and_at_most_the_maximum(
    amount: Decimal, currency: str
) -> None:
    digits = minor_units(currency)
    with localcontext(prec=200):  # exact for every amount drawn here
        minor = amount.scaleb(digits)
        valid = amount.is_finite() and 0 < amount <= MAX_AMOUNT and minor == int(minor)
    scaled = rules.scaled(amount, currency)
    if valid:
        assert scaled == minor
    else:
        assert isinstance(scaled, InvalidAmount)


# Property-based: the book-keeper.

USD_A, USD_B, YEN, UNOPENED = (uuid.UUID(int=n) for n in range(0xA1, 0xA5))
OPENED = {USD_A: "USD", USD_B: "USD", YEN: "JPY"}
# A first deposit opens UNOPENED in USD. Often the two USD wallets, so that transfers go through
# as well as get refused; a deposit, withdrawal or hold goes to the first of the two.
WALLET_IDS = st.sampled_from([*OPENED, UNOPENED])
TRANSFER_ENDS = st.one_of(st.permutations([USD_A, USD_B]), st.tuples(WALLET_IDS, WALLET_IDS))
START = datetime(2030, 1, 1, tzinfo=UTC)


def opening_balance(currency: str) -> st.SearchStrategy[int]:
    """Funded (or empty), or close to the balance limit, which deposits of at most 1e12 each
    could not reach within one run."""
    limit = amounts.max_balance_minor(minor_units(currency))
    near_the_limit = st.one_of(st.integers(0, 10**4), st.integers(0, 10**14)).map(
        lambda gap: limit - gap
    )
    return st.one_of(st.integers(0, 10**8), near_the_limit)


def outcome(decision: Decision) -> object:
    """A decision in a form that compares by value (exceptions compare by identity)."""
    if isinstance(decision, LedgerError):
        return (type(decision), decision.code, decision.detail)
    return decision


def wallet_ids_named(movement: Movement) -> list[uuid.UUID]:
    match movement:
        case Deposit(wallet_id=w) | Withdrawal(wallet_id=w) | PlaceHold(wallet_id=w):
            return [w]
        case TransferFunds():
            return [movement.from_wallet_id, movement.to_wallet_id]
    return []


def amount_named(movement: Movement) -> Decimal | None:
    return getattr(movement, "amount", None)


def minor(amount: Decimal, currency: str) -> Decimal:
    return amount.scaleb(minor_units(currency))


def as_seen(wallet_id: uuid.UUID, books: Books) -> WalletState:
    """The wallet, or the empty one a first deposit would open."""
    opened = WalletState(wallet_id, books.default_currency, 0, 0, None)
    return books.wallets.get(wallet_id, opened)


def assert_refusal_has_its_reason(refusal: LedgerError, movement: Movement, books: Books) -> None:
    """Whichever refusal the rules chose, what it says must be true of the books."""
    named = wallet_ids_named(movement)
    amount = amount_named(movement)
    hold_id = getattr(movement, "hold_id", None)
    match refusal:
        case SameWallet():
            assert isinstance(movement, TransferFunds)
            assert movement.from_wallet_id == movement.to_wallet_id
        case WalletNotFound():
            assert any(w not in books.wallets for w in named)
        case CurrencyMismatch():
            assert len({books.wallets[w].currency for w in named}) == 2
        case InvalidAmount() if isinstance(movement, CaptureHold):
            held = books.holds[movement.hold_id]
            currency = books.wallets[held.wallet_id].currency
            assert amount is not None
            assert isinstance(rules.scaled(amount, currency), InvalidAmount) or (
                minor(amount, currency) > held.amount
            )
        case InvalidAmount():
            assert amount is not None
            currency = as_seen(named[0], books).currency
            assert isinstance(rules.scaled(amount, currency), InvalidAmount)
        case InsufficientFunds():
            source = books.wallets[named[0]]
            assert amount is not None
            assert minor(amount, source.currency) > source.available
        case BalanceLimitExceeded():
            target = as_seen(named[-1], books)
            assert amount is not None
            assert target.balance + minor(amount, target.currency) > target.limit
        case HoldNotFound():
            assert hold_id not in books.holds
        case HoldNotActive():
            held = books.holds[hold_id]
            if isinstance(movement, LapseHold):
                assert not held.lapsed(books.now)
            else:
                assert held.status is not HoldStatus.ACTIVE or held.lapsed(books.now)
        case _:
            raise AssertionError(f"unexpected refusal {refusal!r}")


def assert_margins_tell_the_decision(decision: Decision, movement: Movement, books: Books) -> None:
    """Every balance comparison a decision made is noted, with its exact margin: all of them
    passed when it was accepted; the last one failed when it refused for funds or the limit."""
    assert books.margins is not None
    for noted in books.margins:
        wallet = as_seen(noted.wallet_id, books)
        asked = rules.scaled(amount_named(movement) or Decimal(0), wallet.currency)
        assert isinstance(asked, int)
        if noted.quantity is Quantity.AVAILABLE:
            assert noted.margin == wallet.available - asked
        else:
            assert noted.margin == wallet.limit - wallet.balance - asked
    failed = [noted.quantity for noted in books.margins if noted.margin < 0]
    match decision:
        case InsufficientFunds():
            assert failed == [Quantity.AVAILABLE] and books.margins[-1].margin < 0
        case BalanceLimitExceeded():
            assert failed == [Quantity.ROOM] and books.margins[-1].margin < 0
        case _:
            assert failed == []


class BookKeeper(RuleBasedStateMachine):
    """Keeps the books as the engine would: it locks what a movement names, lapses the holds due
    on those wallets first, asks the rules, and applies the change it gets back."""

    hold_ids = Bundle("hold_ids")

    def __init__(self) -> None:
        super().__init__()
        self.wallets: dict[uuid.UUID, WalletState] = {}
        self.holds: dict[uuid.UUID, HoldState] = {}
        self.entries: list[Entry] = []
        self.now = START
        self.new_ids = (uuid.UUID(int=n) for n in itertools.count(1000))

    @initialize(target=hold_ids, data=st.data())
    def open_the_books(self, data: st.DataObject) -> object:
        """Each wallet opens with a balance (one DEPOSIT entry) and an ACTIVE hold on part of it,
        so that the first steps already meet held funds. Among the hold ids, one no hold has."""
        for wallet_id, currency in OPENED.items():
            balance = data.draw(opening_balance(currency), label=f"{currency} balance")
            held = data.draw(st.integers(0, balance), label=f"{currency} held")
            expires_at = START + timedelta(seconds=data.draw(st.integers(1, 3600)))
            self.wallets[wallet_id] = WalletState(wallet_id, currency, balance, held, expires_at)
            if balance:
                self.entries.append(Entry(wallet_id, OperationType.DEPOSIT, balance))
            if held:
                hold_id = next(self.new_ids)
                self.holds[hold_id] = HoldState(
                    hold_id, wallet_id, held, HoldStatus.ACTIVE, None, expires_at, START
                )
        return multiple(*self.holds, UNKNOWN)

    # The steps. Hypothesis switches whole rules off in some runs, and the cases worth finding
    # need several kinds of movement together (a hold, then a withdrawal of the held funds), so
    # one rule moves money and one settles holds.

    @rule(
        target=hold_ids,
        kind=st.sampled_from(["deposit", "withdraw", "transfer", "hold"]),
        ends=TRANSFER_ENDS,
        amount=money_or_edge(),
        seconds=st.integers(1, 3600),
    )
    def move_money(
        self, kind: str, ends: tuple[uuid.UUID, uuid.UUID], amount: Decimal | str, seconds: int
    ) -> object:
        payer, payee = ends if kind == "transfer" else (ends[0], ends[0])
        value = self.amount(amount, payer, payee)
        movement: Movement
        match kind:
            case "deposit":
                movement = Deposit(payee, value)
            case "withdraw":
                movement = Withdrawal(payer, value)
            case "transfer":
                movement = TransferFunds(payer, payee, value)
            case _:
                movement = PlaceHold(payer, value, seconds)
        total_before = sum(w.balance for w in self.wallets.values())
        decision = self.settle(movement)
        if isinstance(movement, TransferFunds):
            assert sum(w.balance for w in self.wallets.values()) == total_before
        if isinstance(decision, Change) and isinstance(movement, TransferFunds):
            assert len({e.transfer_id for e in decision.entries}) == 1
        if isinstance(decision, Change) and isinstance(movement, PlaceHold):
            return decision.holds[0].id
        return multiple()

    @rule(
        hold_id=hold_ids,
        kind=st.sampled_from(["capture", "void", "lapse"]),
        amount=st.none() | money() | st.sampled_from(sorted(HELD_EDGES)),
    )
    def settle_hold(self, hold_id: uuid.UUID, kind: str, amount: Decimal | str | None) -> None:
        held = self.holds.get(hold_id)
        if isinstance(amount, str):
            amount = self.held_edge(held, amount)
        match kind:
            case "capture":
                self.settle(CaptureHold(hold_id, amount))
            case "void":
                self.settle(VoidHold(hold_id))
            case _:
                # As the expiry sweep asks, without lapsing anything first: accepted exactly
                # when the hold is ACTIVE and past its time.
                decision = self.decide_and_apply(LapseHold(hold_id))
                assert isinstance(decision, Change) == bool(held and held.lapsed(self.now))

    @rule(seconds=st.integers(1, 2 * 3600))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    def amount(self, amount: Decimal | str, payer_id: uuid.UUID, payee_id: uuid.UUID) -> Decimal:
        """The amount of a step, an edge worked out from the books as the engine will see them:
        once the holds due on the wallets have lapsed."""
        if isinstance(amount, Decimal):
            return amount
        for wallet_id in {payer_id, payee_id} & self.wallets.keys():
            self.lapse_due_holds(wallet_id)
        everything = Books(self.wallets, self.holds, self.now, default_currency="USD")
        payer, payee = as_seen(payer_id, everything), as_seen(payee_id, everything)
        minor = {
            "available": payer.available,
            "available + 1": payer.available + 1,
            "balance": payer.balance,
            "room": payee.limit - payee.balance,
            "room + 1": payee.limit - payee.balance + 1,
        }[amount]
        return amounts.from_minor_units(minor, minor_units(payer.currency))

    def held_edge(self, held: HoldState | None, edge: str) -> Decimal:
        if held is None:
            return Decimal(1)
        digits = minor_units(self.wallets[held.wallet_id].currency)
        return amounts.from_minor_units(held.amount + HELD_EDGES[edge], digits)

    # What the engine does around each decision.

    def settle(self, movement: Movement) -> Decision:
        for wallet_id in self.wallets_touched(movement):
            self.lapse_due_holds(wallet_id)
        return self.decide_and_apply(movement)

    def wallets_touched(self, movement: Movement) -> list[uuid.UUID]:
        named = wallet_ids_named(movement)
        hold_id = getattr(movement, "hold_id", None)
        if hold_id in self.holds:
            named.append(self.holds[hold_id].wallet_id)
        return [w for w in named if w in self.wallets]

    def lapse_due_holds(self, wallet_id: uuid.UUID) -> None:
        if not rules.lapse_due(self.wallets[wallet_id], self.now):
            return
        for due in [h for h in self.holds.values() if h.wallet_id == wallet_id]:
            if due.lapsed(self.now):
                accepted(self.decide_and_apply(LapseHold(due.id)))

    def locked(self, movement: Movement) -> Books:
        """The books as the engine would lock them for `movement`: only what it names."""
        hold_id = getattr(movement, "hold_id", None)
        return Books(
            wallets={w: self.wallets[w] for w in self.wallets_touched(movement)},
            holds={hold_id: self.holds[hold_id]} if hold_id in self.holds else {},
            now=self.now,
            default_currency="USD",
        )

    def decide_and_apply(self, movement: Movement) -> Decision:
        books = self.locked(movement)
        read = (dict(books.wallets), dict(books.holds))
        new_id = next(self.new_ids)
        decision = rules.decide(movement, books, new_id)
        event(f"{type(movement).__name__}: {getattr(decision, 'code', 'accepted')}")
        assert (dict(books.wallets), dict(books.holds)) == read, "deciding changed its input"
        noting = replace(self.locked(movement), margins=[])
        again = rules.decide(movement, noting, new_id)
        assert outcome(again) == outcome(decision), "decide is not deterministic"
        assert_margins_tell_the_decision(decision, movement, noting)
        if isinstance(decision, LedgerError):
            assert_refusal_has_its_reason(decision, movement, books)
            return decision
        self.assert_change_is_bounded(decision, movement, books, new_id)
        self.wallets.update((w.id, w) for w in decision.wallets)
        self.holds.update((h.id, h) for h in decision.holds)
        self.entries.extend(decision.entries)
        return decision

    @staticmethod
    def assert_change_is_bounded(
        change: Change, movement: Movement, books: Books, new_id: uuid.UUID
    ) -> None:
        """A change touches only what was locked (or what it creates), and every balance moves
        by exactly the entries it appends."""
        opened = {movement.wallet_id} if isinstance(movement, Deposit) else set()
        assert {w.id for w in change.wallets} <= books.wallets.keys() | opened
        assert {h.id for h in change.holds} <= books.holds.keys() | {new_id}
        assert {e.wallet_id for e in change.entries} <= {w.id for w in change.wallets}
        for new in change.wallets:
            old = books.wallets.get(new.id)
            moved = sum(signed(e) for e in change.entries if e.wallet_id == new.id)
            assert new.balance - (old.balance if old else 0) == moved
            assert old is None or (old.currency, old.id) == (new.currency, new.id)
        assert all(e.amount > 0 for e in change.entries)

    # What must hold after every step.

    @invariant()
    def books_balance(self) -> None:
        for w in self.wallets.values():
            active = [h for h in self.holds_of(w.id) if h.status is HoldStatus.ACTIVE]
            assert w.balance >= 0, w
            assert w.available >= 0, w
            assert w.held >= 0, w
            assert w.held == sum(h.amount for h in active), w
            assert w.balance <= w.limit, w
            assert w.balance == sum(signed(e) for e in self.entries if e.wallet_id == w.id), w

    @invariant()
    def no_due_hold_is_missed(self) -> None:
        """next_expiry is never after an ACTIVE hold's expiry, so `lapse_due` finds every hold
        that has lapsed."""
        for w in self.wallets.values():
            for h in self.holds_of(w.id):
                if h.status is HoldStatus.ACTIVE:
                    assert w.next_expiry is not None and w.next_expiry <= h.expires_at
                    assert rules.lapse_due(w, self.now) or not h.lapsed(self.now)

    @invariant()
    def holds_are_consistent(self) -> None:
        for h in self.holds.values():
            assert h.amount > 0
            if h.status is HoldStatus.CAPTURED:
                assert h.captured is not None and 0 < h.captured <= h.amount
            else:
                assert h.captured is None

    def holds_of(self, wallet_id: uuid.UUID) -> Iterable[HoldState]:
        return (h for h in self.holds.values() if h.wallet_id == wallet_id)


def test_random_movements_keep_the_books_balanced() -> None:
    run_state_machine_as_test(
        BookKeeper, settings=settings(max_examples=200, stateful_step_count=30, deadline=None)
    )
