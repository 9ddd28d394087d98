"""Amounts in and out of the client: Decimal, int or str in, Decimal out, float never."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

Amount = Decimal | int | str


def amount_text(amount: Amount) -> str:
    """The amount as the exact JSON string the API takes ("1500.50")."""
    # bool is an int, and a float has already lost the cents it was meant to carry.
    if isinstance(amount, bool | float) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"an amount is a Decimal, an int or a str, not {type(amount).__name__}")
    if isinstance(amount, str):
        return amount
    if isinstance(amount, Decimal) and not amount.is_finite():
        raise ValueError(f"an amount is a finite number, not {amount}")
    return format(amount, "f")


def parse_amount(value: object) -> Decimal:
    """An amount of an answer: a JSON string, or a JSON number already parsed as Decimal or int."""
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"not an exact amount: {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as error:
        raise ValueError(f"not an amount: {value!r}") from error
