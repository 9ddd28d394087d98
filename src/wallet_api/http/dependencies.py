"""Dependency aliases the routers ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError

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


def refuse_unknown_query_parameters(request: Request) -> None:
    """A misspelt filter (`?operation_typ=DEPOSIT`) is a 422, not a silently wider answer."""
    known = _query_parameter_names(request.scope["route"].dependant)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown parameter"}
                for name in dict.fromkeys(unknown)
            ]
        )


def _query_parameter_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_parameter_names(dependency)
    return names


StrictQuery = Depends(refuse_unknown_query_parameters)
