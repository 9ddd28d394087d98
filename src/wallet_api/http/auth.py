"""The API key check as route dependencies: `dependencies=[ReadAccess]` or `[WriteAccess]`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from wallet_api.ledger.api_keys import Access, Scope
from wallet_api.ledger.errors import MissingScope, Unauthenticated
from wallet_api.ledger.idempotency import ANONYMOUS

log = logging.getLogger(__name__)

# Declares the bearer scheme in the OpenAPI document (the Authorize button of /docs); the check
# itself is `Access.admit`, so a missing key gets the service's own 401 problem.
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `wallet-api keys create`, sent as `Authorization: Bearer <key>`.",
)

BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

# The statuses every route behind an access dependency may answer, for `described(...)`.
ACCESS_STATUSES = (401, 403, 429)

# How a route that checks access by hand (see `admit`) declares it in the OpenAPI document.
BEARER_SECURITY: list[dict[str, list[str]]] = [{bearer.scheme_name: []}]


def require_scope(scope: Scope) -> Callable[..., Awaitable[None]]:
    """A dependency that lets a request through only with a valid key that has `scope`."""

    async def check(request: Request, credentials: BearerCredentials) -> None:
        await admit(request, credentials.credentials if credentials is not None else None, scope)

    return check


def bearer_key(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, read as `bearer` reads it."""
    scheme, credentials = get_authorization_scheme_param(request.headers.get("authorization"))
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


async def admit(request: Request, key: str | None, scope: Scope) -> None:
    """Let the request through only with a valid `key` that has `scope`; log a refusal. The
    caller (the key's id, or ANONYMOUS with auth disabled) scopes its idempotency keys."""
    access: Access = request.app.state.access
    try:
        api_key = await access.admit(key, scope)
        request.state.caller = ANONYMOUS if api_key is None else api_key.id
    except (Unauthenticated, MissingScope) as refusal:
        client = request.client.host if request.client else "unknown"
        log.warning(
            "refused %s %r from %s: %s",
            request.method,
            request.url.path,
            client,
            refusal.reason,
        )
        raise


ReadAccess = Depends(require_scope(Scope.WALLETS_READ))
WriteAccess = Depends(require_scope(Scope.WALLETS_WRITE))
EventsAccess = Depends(require_scope(Scope.EVENTS_READ))
AdminAccess = Depends(require_scope(Scope.ADMIN))
