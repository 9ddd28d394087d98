"""Dependency aliases the routers ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from wallet_api.ledger.operations import Ledger


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
