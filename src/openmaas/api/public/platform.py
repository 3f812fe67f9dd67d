"""The platform-management API (/api/platform): account, keys, verification, admin, sign-in.

The account services' views are plain dataclasses (accounts/views.py); they are the wire
objects themselves (datetimes as ISO 8601 strings).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from openmaas.accounts.views import AccountView, ApplicationView, AuditView, KeyView
from openmaas.api.public.common import binary_answer

LICENCE_CONTENT = binary_answer("the uploaded business licence", "image/png", "image/jpeg", "application/pdf")


class AccountsPublic(BaseModel):
    data: list[AccountView]
    count: int  # all matching accounts


class ApplicationsPublic(BaseModel):
    data: list[ApplicationView]
    count: int  # on this page


class AuditPublic(BaseModel):
    data: list[AuditView]
    count: int  # on this page


class KeysPublic(BaseModel):
    data: list[KeyView]
    count: int


class KeyIssued(BaseModel):
    """The only answer that carries the full secret (`api_key`)."""

    id: str
    name: str
    api_key: str
    created_at: datetime
    scope: str


class KeyRotated(KeyIssued):
    replaces: str  # the revoked key's id


class KeyDeleted(BaseModel):
    id: str
    deleted: bool


class CodeSent(BaseModel):
    sent: bool
    channel: Literal["email", "phone"]
    expires_in: int  # seconds


class PasswordReset(BaseModel):
    reset: bool


class LoggedIn(BaseModel):
    account: AccountView
    csrf_token: str  # echo it in X-CSRF-Token on unsafe methods
    expires_at: datetime


class LoggedOut(BaseModel):
    logged_out: bool
