"""Sign-up codes, registration, console login and logout.

Every unauthenticated route counts an attempt per client address and per target first
(`auth.throttle`: 429 code 1303 past the limit), before any database work or hashing.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from openmaas.accounts.registration import RegistrationForm
from openmaas.accounts.views import AccountView
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.public.platform import CodeSent, LoggedIn, LoggedOut, PasswordReset
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.session_cookies import SESSION_COOKIE, clear_session_cookies, set_session_cookies
from openmaas.auth.throttle import Rule
from openmaas.concurrency import run_in_threadpool
from openmaas.services import Services

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/api/platform/auth", tags=["platform: auth"])


class CodeRequest(BaseModel):
    channel: Literal["email", "phone"]
    target: str = Field(min_length=1, max_length=320)


class RegisterBody(BaseModel):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    code: str = Field(min_length=1, max_length=16)
    password: str = Field(min_length=1, max_length=128)  # strength rules: accounts service
    name: str = Field(min_length=1, max_length=200)

    def to_form(self) -> RegistrationForm:
        return RegistrationForm(
            name=self.name, password=self.password, code=self.code, email=self.email, phone=self.phone
        )


class LoginBody(BaseModel):
    login: str = Field(min_length=1, max_length=320, description="email address or phone number")
    password: str = Field(min_length=1, max_length=128)


def client_address(request: Request) -> str:
    """The peer as uvicorn reports it (X-Forwarded-For applied only for trusted proxies)."""
    return request.client.host if request.client else "unknown"


async def count_attempt(
    services: Services, request: Request, action: str, target: str, per_hour_per_address: int | None = None
) -> None:
    config = services.settings.accounts
    throttle = services.accounts.throttle
    address = client_address(request)
    await throttle.check(Rule(f"{action}:address", config.attempts_per_minute_per_address, 60), address)
    if per_hour_per_address is not None:
        await throttle.check(Rule(f"{action}:address:hour", per_hour_per_address, 3600), address)
    await throttle.check(Rule(f"{action}:target", config.attempts_per_minute_per_target, 60), target)


@router.post("/codes", response_model=CodeSent)
async def send_code(body: CodeRequest, request: Request, services: ServicesDep) -> JSONBody:
    await count_attempt(
        services, request, "codes", body.target, services.settings.accounts.code_sends_per_hour_per_address
    )
    expires_in = await run_in_threadpool(services.accounts.registration.send_code, body.channel, body.target)
    return JSONBody({"sent": True, "channel": body.channel, "expires_in": expires_in})


class ResetCodeRequest(CodeRequest):
    pass


class ResetBody(BaseModel):
    channel: Literal["email", "phone"]
    target: str = Field(min_length=1, max_length=320)
    code: str = Field(min_length=1, max_length=16)
    new_password: str = Field(min_length=1, max_length=128)


@router.post("/password/codes", response_model=CodeSent)
async def send_reset_code(body: ResetCodeRequest, request: Request, services: ServicesDep) -> JSONBody:
    """A reset code to the account's address; the same answer for an address without one."""
    await count_attempt(
        services, request, "codes", body.target, services.settings.accounts.code_sends_per_hour_per_address
    )
    expires_in = await run_in_threadpool(
        services.accounts.recovery.send_reset_code, body.channel, body.target
    )
    return JSONBody({"sent": True, "channel": body.channel, "expires_in": expires_in})


@router.post("/password/reset", response_model=PasswordReset)
async def reset_password(body: ResetBody, request: Request, services: ServicesDep) -> JSONBody:
    """A new password with the code; every session of the account ends."""
    await count_attempt(services, request, "reset", body.target)
    await run_in_threadpool(
        services.accounts.recovery.reset_password, body.channel, body.target, body.code, body.new_password
    )
    return JSONBody({"reset": True})


@router.post("/register", status_code=201, response_model=AccountView)
async def register(body: RegisterBody, request: Request, services: ServicesDep) -> JSONBody:
    await count_attempt(services, request, "register", body.email or body.phone or "")
    account = await services.accounts.registration.register_async(body.to_form())
    return JSONBody(account, status_code=201)


@router.post("/login", response_model=LoggedIn)
async def login(body: LoginBody, request: Request, services: ServicesDep) -> JSONBody:
    await count_attempt(services, request, "login", body.login)
    account, opened = await services.accounts.login.login_async(body.login, body.password)
    response = JSONBody(
        {"account": account, "csrf_token": opened.csrf_token, "expires_at": opened.expires_at}
    )
    set_session_cookies(response, opened, services.settings.accounts.cookie_secure)
    return response


@router.post("/logout", response_model=LoggedOut)
def logout(request: Request, services: ServicesDep, principal: AccountPrincipalDep) -> JSONBody:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.accounts.login.logout(token)
    response = JSONBody({"logged_out": True})
    clear_session_cookies(response, services.settings.accounts.cookie_secure)
    return response
