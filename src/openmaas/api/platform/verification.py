"""Real-name verification of the calling account: personal or enterprise application, status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from pydantic import BaseModel, Field

from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody

router = APIRouter(prefix="/api/platform/verification", tags=["platform: verification"])


class PersonalApplication(BaseModel):
    real_name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=32)


@router.post("/personal", status_code=201)
def apply_personal(body: PersonalApplication, services: ServicesDep, principal: AccountPrincipalDep):
    application = services.accounts.verification.submit_personal(
        principal.account_id, body.real_name, body.id_number)
    return JSONBody(application, status_code=201)


@router.post("/enterprise", status_code=201)
def apply_enterprise(company_name: Annotated[str, Form(min_length=1, max_length=200)],
                     credit_code: Annotated[str, Form(min_length=1, max_length=32)],
                     licence: UploadFile, services: ServicesDep, principal: AccountPrincipalDep):
    verification = services.accounts.verification
    data = licence.file.read(verification.licences.max_bytes + 1)  # one byte over: "too large"
    application = verification.submit_enterprise(principal.account_id, company_name, credit_code, data)
    return JSONBody(application, status_code=201)


@router.get("")
def verification_status(services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(services.accounts.verification.status(principal.account_id))
