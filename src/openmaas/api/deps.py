"""Request dependencies as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from openmaas.api.session_cookies import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from openmaas.auth.console_sessions import check_csrf
from openmaas.auth.principal import Principal
from openmaas.errors import PermissionDenied
from openmaas.services import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain `def` dependency in the threadpool, per request
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(services: ServicesDep,
                        authorization: Annotated[str | None, Header()] = None) -> Principal:
    # The key cache answers on the loop; a miss reads the database in the threadpool.
    return await services.authenticator.authenticate_async(authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# --- platform management API: API key OR console session ------------------------------
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_account_principal(request: Request, services: ServicesDep,
                          authorization: Annotated[str | None, Header()] = None) -> Principal:
    """An API-key bearer, else the console session cookie (CSRF-checked on unsafe methods)."""
    token = request.cookies.get(SESSION_COOKIE)
    if authorization or not token:
        return services.authenticator.authenticate(authorization)
    found = services.accounts.sessions.authenticate(token)
    if request.method not in SAFE_METHODS:
        check_csrf(found.csrf_hash, request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER))
    return found.principal


AccountPrincipalDep = Annotated[Principal, Depends(get_account_principal)]


async def get_admin_principal(principal: AccountPrincipalDep) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied()
    return principal


AdminPrincipalDep = Annotated[Principal, Depends(get_admin_principal)]
