"""The calling account: profile, tier and verification status."""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody

router = APIRouter(prefix="/api/platform/account", tags=["platform: account"])


@router.get("")
def me(services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(services.accounts.directory.profile(principal.account_id))
