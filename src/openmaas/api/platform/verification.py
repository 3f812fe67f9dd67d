"""Real-name verification of the calling account: personal or enterprise application, status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from pydantic import BaseModel, Field

from openmaas.accounts.views import ApplicationView, VerificationStatus
from openmaas.api.deps import ManagePrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute

router = APIRouter(
    prefix="/api/platform/verification", tags=["platform: verification"], route_class=OffLoopJSONRoute
)


class PersonalApplication(BaseModel):
    real_name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=32)


@router.post("/personal", status_code=201, response_model=ApplicationView)
def apply_personal(
    body: PersonalApplication, services: ServicesDep, principal: ManagePrincipalDep
) -> JSONBody:
    application = services.accounts.verification.submit_personal(
        principal.account_id, body.real_name, body.id_number
    )
    return JSONBody(application, status_code=201)


@router.post("/enterprise", status_code=201, response_model=ApplicationView)
def apply_enterprise(
    company_name: Annotated[str, Form(min_length=1, max_length=200)],
    credit_code: Annotated[str, Form(min_length=1, max_length=32)],
    licence: UploadFile,
    services: ServicesDep,
    principal: ManagePrincipalDep,
) -> JSONBody:
    verification = services.accounts.verification
    data = licence.file.read(verification.licences.max_bytes + 1)  # one byte over: "too large"
    application = verification.submit_enterprise(principal.account_id, company_name, credit_code, data)
    return JSONBody(application, status_code=201)


@router.get("", response_model=VerificationStatus)
def verification_status(services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    return JSONBody(services.accounts.verification.status(principal.account_id))
