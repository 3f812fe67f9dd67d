"""The calling account: profile, tier and verification status."""

from __future__ import annotations

from fastapi import APIRouter

from openmaas.accounts.views import AccountView
from openmaas.api.deps import ManagePrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/api/platform/account", tags=["platform: account"])


@router.get("", response_model=AccountView)
def me(services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    return JSONBody(services.accounts.directory.profile(principal.account_id))
