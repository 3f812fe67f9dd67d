"""The calling account's API keys: list, create, delete, rotate (the secret is shown once)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from openmaas.accounts.key_limits import KeyLimitsInput
from openmaas.accounts.views import KeyView
from openmaas.api.deps import ManagePrincipalDep, ServicesDep
from openmaas.api.public.platform import KeyDeleted, KeyIssued, KeyRotated, KeysPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.auth.principal import KeyScope
from openmaas.billing.money import MICRO_PER_YUAN
from openmaas.errors import InvalidField

MAX_BUDGET_YUAN = 10**12  # far beyond any budget; keeps Decimal arithmetic small

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/api/platform/keys", tags=["platform: keys"])


class KeyLimitsBody(BaseModel):
    """A key's own limits; each left out (or null) means none beyond the account's."""

    monthly_budget: Decimal | None = Field(default=None, description="yuan per calendar month (Beijing time)")
    rpm_limit: int | None = Field(default=None, description="requests per minute (at most the tier's)")
    tpm_limit: int | None = Field(default=None, description="tokens per minute (at most the tier's)")
    expires_at: datetime | None = Field(default=None, description="refused (401, 1003) from this moment")

    def to_limits(self) -> KeyLimitsInput:
        budget = self.monthly_budget
        if budget is not None and (not budget.is_finite() or abs(budget) > MAX_BUDGET_YUAN):
            raise InvalidField("monthly_budget", "between 0 and 1,000,000,000 yuan")
        micro = int((budget * MICRO_PER_YUAN).to_integral_value()) if budget is not None else None
        return KeyLimitsInput(micro, self.rpm_limit, self.tpm_limit, self.expires_at)


class KeyCreate(KeyLimitsBody):
    name: str = Field(default="", max_length=200)
    scope: KeyScope = Field(
        default="inference",
        description=(
            "inference: model APIs only; manage: also keys, account, billing actions; "
            "admin: also the admin routes (administrators only)"
        ),
    )


@router.get("", response_model=KeysPublic)
def list_keys(
    services: ServicesDep, principal: ManagePrincipalDep, include_revoked: bool = False
) -> JSONBody:
    keys = services.accounts.keys.list(principal.account_id, include_revoked)
    return JSONBody({"data": keys, "count": len(keys)})


@router.post("", status_code=201, response_model=KeyIssued)
def create_key(body: KeyCreate, services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    issued = services.accounts.keys.create(
        principal.account_id, body.name, scope=body.scope, creator=principal, limits=body.to_limits()
    )
    return JSONBody(issued, status_code=201)


@router.put("/{key_id}/limits", response_model=KeyView)
def set_key_limits(
    key_id: str, body: KeyLimitsBody, services: ServicesDep, principal: ManagePrincipalDep
) -> JSONBody:
    """Replaces the key's monthly budget, RPM/TPM limits and expiry (null clears one)."""
    return JSONBody(services.accounts.keys.set_limits(principal.account_id, key_id, body.to_limits()))


@router.delete("/{key_id}", response_model=KeyDeleted)
def delete_key(key_id: str, services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    services.accounts.keys.delete(principal.account_id, key_id)
    return JSONBody({"id": key_id, "deleted": True})


@router.post("/{key_id}/rotate", response_model=KeyRotated)
def rotate_key(key_id: str, services: ServicesDep, principal: ManagePrincipalDep) -> JSONBody:
    issued = services.accounts.keys.rotate(principal.account_id, key_id)
    return JSONBody(
        {
            "id": issued.id,
            "name": issued.name,
            "api_key": issued.api_key,
            "created_at": issued.created_at,
            "scope": issued.scope,
            "replaces": key_id,
        }
    )
