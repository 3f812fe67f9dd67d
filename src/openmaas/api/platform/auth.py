"""Sign-up codes, registration, console login and logout."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from openmaas.accounts.registration import RegistrationForm
from openmaas.api.deps import AccountPrincipalDep, ServicesDep
from openmaas.api.responses import JSONBody
from openmaas.api.session_cookies import SESSION_COOKIE, clear_session_cookies, set_session_cookies

router = APIRouter(prefix="/api/platform/auth", tags=["platform: auth"])


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
        return RegistrationForm(name=self.name, password=self.password, code=self.code,
                                email=self.email, phone=self.phone)


class LoginBody(BaseModel):
    login: str = Field(min_length=1, max_length=320, description="email address or phone number")
    password: str = Field(min_length=1, max_length=128)


@router.post("/codes")
def send_code(body: CodeRequest, services: ServicesDep):
    expires_in = services.accounts.registration.send_code(body.channel, body.target)
    return JSONBody({"sent": True, "channel": body.channel, "expires_in": expires_in})


@router.post("/register", status_code=201)
def register(body: RegisterBody, services: ServicesDep):
    return JSONBody(services.accounts.registration.register(body.to_form()), status_code=201)


@router.post("/login")
def login(body: LoginBody, services: ServicesDep):
    account, opened = services.accounts.login.login(body.login, body.password)
    response = JSONBody({"account": account, "csrf_token": opened.csrf_token,
                         "expires_at": opened.expires_at})
    set_session_cookies(response, opened, services.settings.accounts.cookie_secure)
    return response


@router.post("/logout")
def logout(request: Request, services: ServicesDep, principal: AccountPrincipalDep):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services.accounts.login.logout(token)
    response = JSONBody({"logged_out": True})
    clear_session_cookies(response, services.settings.accounts.cookie_secure)
    return response
