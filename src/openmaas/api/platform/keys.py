"""The calling account's API keys: list, create, delete, rotate (the secret is shown once)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody

router = APIRouter(prefix="/api/platform/keys", tags=["platform: keys"])


class KeyCreate(BaseModel):
    name: str = Field(default="", max_length=200)


@router.get("")
def list_keys(services: ServicesDep, principal: AccountPrincipalDep, include_revoked: bool = False):
    keys = services.accounts.keys.list(principal.account_id, include_revoked)
    return JSONBody({"data": keys, "count": len(keys)})


@router.post("", status_code=201)
def create_key(body: KeyCreate, services: ServicesDep, principal: AccountPrincipalDep):
    return JSONBody(services.accounts.keys.create(principal.account_id, body.name), status_code=201)


@router.delete("/{key_id}")
def delete_key(key_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    services.accounts.keys.delete(principal.account_id, key_id)
    return JSONBody({"id": key_id, "deleted": True})


@router.post("/{key_id}/rotate")
def rotate_key(key_id: str, services: ServicesDep, principal: AccountPrincipalDep):
    issued = services.accounts.keys.rotate(principal.account_id, key_id)
    return JSONBody({"id": issued.id, "name": issued.name, "api_key": issued.api_key,
                     "created_at": issued.created_at, "replaces": key_id})
