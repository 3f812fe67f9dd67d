"""Account settings for the console: the account's tier and limits, changing the password
(the current one first), a new email or phone confirmed by a code sent to it, signing out the
other sessions, and the opt-in storage of request bodies. Setting the password ends every
session of the account (the directory does it), so the page sends the user to sign in again."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.platform.auth import count_attempt
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.session_cookies import SESSION_COOKIE
from openmaas.auth.passwords import Passwords
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InvalidField, PermissionDenied
from openmaas.observability.request_bodies import BodyStore, body_store
from openmaas.store.tables import AccountCredential

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/console/api/account", include_in_schema=False)


class LimitsOut(BaseModel):
    enabled: bool
    concurrency: int | None  # requests at once, for the account's tier
    rpm_per_key: int | None
    tpm_per_key: int | None


class BodiesOut(BaseModel):
    store_bodies: bool
    body_retention_days: int


class SettingsOut(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    tier: str
    limits: LimitsOut
    tiers: dict[str, int]  # concurrency of every tier, to show what a higher tier gives
    sessions: int  # console sessions signed in now, this one included
    bodies: BodiesOut


class PasswordBody(BaseModel):
    old_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=1, max_length=128)


class ChangedOut(BaseModel):
    changed: bool
    signed_out: bool


@router.get("/settings", response_model=SettingsOut)
def settings(services: ServicesDep, principal: AccountPrincipalDep):
    account = services.accounts.directory.profile(principal.account_id)
    limits = services.settings.limits
    tiers = dict(getattr(limits, "concurrency_by_tier", {}) or {})
    return {
        "id": account.id,
        "name": account.name,
        "email": account.email,
        "phone": account.phone,
        "tier": account.tier,
        "tiers": tiers,
        "sessions": services.accounts.sessions.count(principal.account_id),
        "bodies": asdict(body_store(services).preferences(principal.account_id)),
        "limits": {
            "enabled": bool(getattr(limits, "enabled", True)),
            "concurrency": tiers.get(account.tier),
            "rpm_per_key": getattr(limits, "rpm_per_key", None),
            "tpm_per_key": getattr(limits, "tpm_per_key", None),
        },
    }


def change_password(services, account_id: str, old: str, new: str) -> None:
    config = services.settings.accounts
    passwords = Passwords(config.password_hash_profile, config.password_min_length)
    with services.db.session() as session:
        stored = session.scalar(
            sa.select(AccountCredential.password_hash).where(AccountCredential.account_id == account_id)
        )
    if not passwords.verify(stored, old):  # a 400, not a 401: a typo must not sign the user out
        raise InvalidField("old_password", "does not match the current password")
    if old == new:
        raise InvalidField("new_password", "must differ from the current password")
    services.accounts.directory.set_password(account_id, account_id, new)


@router.post("/password", response_model=ChangedOut)
async def password(body: PasswordBody, services: ServicesDep, principal: AccountPrincipalDep):
    await run_in_threadpool(
        change_password, services, principal.account_id, body.old_password, body.new_password
    )
    return {"changed": True, "signed_out": True}


class ContactCodeBody(BaseModel):
    channel: Literal["email", "phone"]
    target: str = Field(min_length=1, max_length=320)


class ContactBody(ContactCodeBody):
    code: str = Field(min_length=1, max_length=16)


class SentOut(BaseModel):
    sent: bool
    expires_in: int


class ContactOut(BaseModel):
    channel: str
    target: str


class SignedOutOut(BaseModel):
    signed_out: int


class BodiesBody(BaseModel):
    store_bodies: bool
    body_retention_days: int = Field(default=7)


def console_token(request: Request) -> str:
    """The caller's own console session (these routes are for the console, not for keys)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or request.headers.get("authorization"):
        raise PermissionDenied("仅限控制台会话 (console session only)")
    return token


@router.post("/contact/code", response_model=SentOut)
async def contact_code(
    body: ContactCodeBody, request: Request, services: ServicesDep, principal: AccountPrincipalDep
):
    await count_attempt(
        services, request, "codes", body.target, services.settings.accounts.code_sends_per_hour_per_address
    )
    ttl = await run_in_threadpool(
        services.accounts.recovery.send_contact_code, principal.account_id, body.channel, body.target
    )
    return {"sent": True, "expires_in": ttl}


@router.post("/contact", response_model=ContactOut)
async def change_contact(
    body: ContactBody, request: Request, services: ServicesDep, principal: AccountPrincipalDep
):
    await count_attempt(services, request, "contact", body.target)
    target = await run_in_threadpool(
        services.accounts.recovery.change_contact, principal.account_id, body.channel, body.target, body.code
    )
    return {"channel": body.channel, "target": target}


@router.post("/sessions/sign-out-others", response_model=SignedOutOut)
async def sign_out_others(request: Request, services: ServicesDep, principal: AccountPrincipalDep):
    token = console_token(request)
    closed = await run_in_threadpool(services.accounts.sessions.close_others, principal.account_id, token)
    return {"signed_out": closed}


@router.put("/bodies", response_model=BodiesOut)
async def set_bodies(body: BodiesBody, services: ServicesDep, principal: AccountPrincipalDep):
    store: BodyStore = body_store(services)
    view = await run_in_threadpool(
        store.set_preferences, principal.account_id, body.store_bodies, body.body_retention_days
    )
    return asdict(view)
