"""Request dependencies as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from openmaas.accounts.key_limits import check_key_budget
from openmaas.api.session_cookies import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from openmaas.auth.console_sessions import check_csrf
from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import PermissionDenied
from openmaas.services import Services


async def get_services(request: Request) -> Services:
    # async: FastAPI would run a plain `def` dependency in the threadpool, per request
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    # The key cache answers on the loop; a miss reads the database in the threadpool.
    principal = await services.authenticator.authenticate_async(authorization)
    if principal.key_limits is not None and principal.key_limits.monthly_budget_micro is not None:
        # before any work: a key over its monthly budget is refused (1310), nothing is reserved
        await run_in_threadpool(
            check_key_budget,
            services.db,
            principal.account_id,
            principal.api_key_id,
            principal.key_limits.monthly_budget_micro,
            services.settings.billing.bill_utc_offset_hours,
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# --- platform management API: API key OR console session ------------------------------
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_account_principal(
    request: Request, services: ServicesDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """An API-key bearer, else the console session cookie (CSRF-checked on unsafe methods)."""
    token = request.cookies.get(SESSION_COOKIE)
    if authorization or not token:
        return services.authenticator.authenticate(authorization)
    found = services.accounts.sessions.authenticate(token)
    if request.method not in SAFE_METHODS:
        check_csrf(found.csrf_hash, request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER))
    return found.principal


AccountPrincipalDep = Annotated[Principal, Depends(get_account_principal)]

MANAGE_REFUSED = (
    "该 API Key 仅可调用模型接口，请在控制台操作或使用 manage 权限的 Key "
    "(this is an inference key: manage keys, the account and billing from the "
    'console, or with a key created with scope "manage")'
)
ADMIN_REFUSED = '您无权访问该 API (administrators only, through the console or a key with scope "admin")'


async def get_manage_principal(principal: AccountPrincipalDep) -> Principal:
    """Keys, the account, billing actions: a console session or a manage/admin key."""
    if not principal.can_manage:
        raise PermissionDenied(MANAGE_REFUSED)
    return principal


ManagePrincipalDep = Annotated[Principal, Depends(get_manage_principal)]


async def get_admin_principal(principal: AccountPrincipalDep) -> Principal:
    if not principal.can_administer:
        raise PermissionDenied(ADMIN_REFUSED)
    return principal


AdminPrincipalDep = Annotated[Principal, Depends(get_admin_principal)]
