"""Dependency aliases the routers ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from wallet_api.ledger.idempotency import IDEMPOTENCY_KEY_PATTERN
from wallet_api.ledger.operations import Ledger


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=(
            "1 to 255 visible ASCII characters. A retry with the same key and the same request "
            "gets the first answer again (with `Idempotent-Replayed: true`) and moves no money."
        ),
    ),
]
