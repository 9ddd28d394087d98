"""How an amount is read from a request, scaled to minor units and written back, exactly."""

from __future__ import annotations

import re
from decimal import Decimal

from wallet_api.ledger.errors import InvalidAmount

MINOR_UNIT_DIGITS = 2
MAX_OPERATION_AMOUNT = Decimal("1000000000000.00")
MAX_BALANCE = Decimal("1000000000000000.00")

_DECIMAL_STRING = re.compile(r"[0-9]{1,40}(\.[0-9]{1,40})?")


def coerce_decimal(value: object) -> Decimal:
    """Accept a JSON number (already a Decimal or int) or a plain decimal string, nothing else."""
    if isinstance(value, bool):
        raise ValueError("amount must be a number or a decimal string, not a boolean")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL_STRING.fullmatch(value):
        return Decimal(value)
    if isinstance(value, str):
        raise ValueError("amount string must be a plain decimal such as '1000.00'")
    raise ValueError("amount must be a number or a decimal string")


def to_minor_units(amount: Decimal, digits: int = MINOR_UNIT_DIGITS) -> int:
    """Scale a validated amount to integer minor units, refusing anything that would be rounded."""
    if not amount.is_finite():
        raise InvalidAmount("amount must be a finite number")
    if amount <= 0:
        raise InvalidAmount("amount must be greater than 0")
    if amount > MAX_OPERATION_AMOUNT:
        raise InvalidAmount(f"amount must be at most {format_amount(MAX_OPERATION_AMOUNT, digits)}")
    # In integers: Decimal arithmetic rounds to its context's 28 digits, and a longer amount
    # (0.0100000000000000000000000000001) would be rounded to a whole cent, not refused.
    _, coefficient_digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int), "a finite amount has an integer exponent"
    coefficient = int("".join(map(str, coefficient_digits)))
    shift = exponent + digits
    if shift >= 0:
        scale: int = 10**shift
        return coefficient * scale
    # More decimals than the currency has: only zeros may stand there. A coefficient with no
    # more digits than the shift is below one minor unit (and keeps a huge exponent cheap).
    if -shift >= len(coefficient_digits) or coefficient % 10**-shift:
        raise InvalidAmount(f"amount must have at most {digits} decimal places")
    unit: int = 10**-shift
    return coefficient // unit


def from_minor_units(minor: int, digits: int = MINOR_UNIT_DIGITS) -> Decimal:
    """The exact decimal value of `minor` units, with exactly `digits` decimals."""
    return Decimal(minor).scaleb(-digits)


def format_amount(amount: Decimal, digits: int = MINOR_UNIT_DIGITS) -> str:
    """The decimal text of an amount with exactly `digits` decimals, as written in JSON."""
    return f"{amount:.{digits}f}"


def max_balance_minor(digits: int = MINOR_UNIT_DIGITS) -> int:
    return int(MAX_BALANCE.scaleb(digits))
