"""Administration: users and tiers, real-name review, the audit log (administrators only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from openmaas.accounts.views import AccountView, ApplicationView
from openmaas.api.deps import AdminPrincipalDep, ServicesDep
from openmaas.api.public.platform import LICENCE_CONTENT, AccountsPublic, ApplicationsPublic, AuditPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/api/platform/admin", tags=["platform: admin"])
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


class TierChange(BaseModel):
    tier: Literal["V0", "V1", "V2", "V3"]


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


@router.get("/users", response_model=AccountsPublic)
def list_users(
    services: ServicesDep,
    admin: AdminPrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> JSONBody:
    users, total = services.accounts.directory.list_accounts(limit, offset, q)
    return JSONBody({"data": users, "count": total})


@router.put("/users/{account_id}/tier", response_model=AccountView)
def set_tier(account_id: str, body: TierChange, services: ServicesDep, admin: AdminPrincipalDep) -> JSONBody:
    return JSONBody(services.accounts.directory.set_tier(admin.account_id, account_id, body.tier))


@router.get("/verifications", response_model=ApplicationsPublic)
def list_verifications(
    services: ServicesDep,
    admin: AdminPrincipalDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Literal["pending", "approved", "rejected"] | None = None,
) -> JSONBody:
    applications = services.accounts.verification.list_applications(status, limit, offset)
    return JSONBody({"data": applications, "count": len(applications)})


@router.post("/verifications/{application_id}/approve", response_model=ApplicationView)
def approve(application_id: str, services: ServicesDep, admin: AdminPrincipalDep) -> JSONBody:
    return JSONBody(services.accounts.verification.approve(admin.account_id, application_id))


@router.post("/verifications/{application_id}/reject", response_model=ApplicationView)
def reject(application_id: str, body: Rejection, services: ServicesDep, admin: AdminPrincipalDep) -> JSONBody:
    return JSONBody(services.accounts.verification.reject(admin.account_id, application_id, body.reason))


@router.get(
    "/verifications/{application_id}/licence",
    response_model=None,
    response_class=Response,
    responses=LICENCE_CONTENT,
)
def licence(application_id: str, services: ServicesDep, admin: AdminPrincipalDep) -> Response:
    data, content_type = services.accounts.verification.licence(application_id)
    return Response(
        data,
        media_type=content_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/audit", response_model=AuditPublic)
def audit_log(
    services: ServicesDep,
    admin: AdminPrincipalDep,
    limit: Limit = 100,
    offset: Offset = 0,
    account_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONBody:
    entries = services.accounts.directory.audit_log(account_id, action, limit, offset)
    return JSONBody({"data": entries, "count": len(entries)})
