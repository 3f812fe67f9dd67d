"""Email addresses and phone numbers: validation and the one normal form stored and compared."""

from __future__ import annotations

import re
from dataclasses import dataclass

from openmaas.errors import InvalidField, MissingField
from openmaas.notify.base import Channel

# No commas, semicolons, quotes, angle brackets or parentheses: one address is exactly one
# mailbox (`a@x.com,b@y.com` would be two recipients in a To: header).
EMAIL_PATTERN = re.compile(r'^[^@\s,;:<>()"\[\]\\]{1,64}@[^@\s,;:<>()"\[\]\\]+\.[^@\s,;:<>()"\[\]\\]{2,}$')
PHONE_PATTERN = re.compile(r"^\+?\d{6,15}$")
PHONE_SEPARATORS = re.compile(r"[\s\-()]")


@dataclass(frozen=True)
class Contact:
    channel: Channel
    target: str


def normalize_email(value: str, field: str = "email") -> str:
    email = value.strip().lower()
    if len(email) > 320 or not EMAIL_PATTERN.match(email):
        raise InvalidField(field, "not an email address")
    return email


def normalize_phone(value: str, field: str = "phone") -> str:
    """Digits with an optional leading +; a mainland number may omit the +86 prefix."""
    phone = PHONE_SEPARATORS.sub("", value)
    if not PHONE_PATTERN.match(phone):
        raise InvalidField(field, "not a phone number (6-15 digits, optional leading +)")
    if re.fullmatch(r"(\+?86)?1[3-9]\d{9}", phone):
        phone = phone[-11:]
    return phone


def contact_for(channel: str, target: str) -> Contact:
    if channel == "email":
        return Contact("email", normalize_email(target, "target"))
    if channel == "phone":
        return Contact("phone", normalize_phone(target, "target"))
    raise InvalidField("channel", "email or phone")


def registration_contact(email: str | None, phone: str | None) -> Contact:
    """Exactly one of email and phone identifies a new account."""
    if email and phone:
        raise InvalidField("phone", "register with an email or a phone, not both")
    if email:
        return Contact("email", normalize_email(email))
    if phone:
        return Contact("phone", normalize_phone(phone))
    raise MissingField("email")
