"""Sign-up: a one-time code to the email address or phone, then the account with its password.

A new account gets the registration grant (billing) in the same transaction as its creation.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from openmaas.accounts.contacts import Contact, contact_for, registration_contact
from openmaas.accounts.views import AccountView, VerificationStatus, account_view
from openmaas.auth.accounts import create_account
from openmaas.auth.codes import CodeCheck, VerificationCodes
from openmaas.auth.passwords import Passwords
from openmaas.billing.audit import audit
from openmaas.billing.service import BillingService
from openmaas.errors import DeliveryFailed, InvalidField
from openmaas.notify.base import Notifier, OutgoingMessage
from openmaas.store.db import Database
from openmaas.store.tables import Account, AccountCredential

CODE_PURPOSE = "register"


@dataclass(frozen=True)
class RegistrationForm:
    name: str
    password: str
    code: str
    email: str | None = None
    phone: str | None = None


def code_message(contact: Contact, code: str, ttl_seconds: int) -> OutgoingMessage:
    minutes = max(1, ttl_seconds // 60)
    return OutgoingMessage(
        channel=contact.channel, target=contact.target, kind="verification_code",
        subject="OpenMaaS 验证码 (verification code)",
        body=f"您的注册验证码是 {code}，{minutes} 分钟内有效。"
             f"Your OpenMaaS verification code is {code}; it expires in {minutes} minutes.")


class Registration:
    def __init__(self, db: Database, billing: BillingService, codes: VerificationCodes,
                 passwords: Passwords, notifier: Notifier, code_ttl_seconds: int) -> None:
        self._db = db
        self._billing = billing
        self._codes = codes
        self._passwords = passwords
        self._notifier = notifier
        self._ttl = code_ttl_seconds

    def send_code(self, channel: str, target: str) -> int:
        """Sends a sign-up code; returns its lifetime in seconds."""
        contact = contact_for(channel, target)
        self._refuse_registered(contact)
        code = self._codes.issue(contact.channel, contact.target, CODE_PURPOSE)
        try:
            self._notifier.send(code_message(contact, code, self._ttl))
        except Exception as exc:
            self._codes.withdraw(contact.channel, contact.target, CODE_PURPOSE, code)
            if isinstance(exc, DeliveryFailed):
                raise
            raise DeliveryFailed() from exc
        return self._ttl

    def register(self, form: RegistrationForm) -> AccountView:
        contact = registration_contact(form.email, form.phone)
        if not form.name.strip():
            raise InvalidField("name", "must not be empty")
        self._passwords.check_strength(form.password)
        password_hash = self._passwords.hash(form.password)  # slow: outside the transaction
        with self._db.session() as session:
            check = self._codes.consume(session, contact.channel, contact.target, CODE_PURPOSE,
                                        form.code)
            if check is CodeCheck.ACCEPTED:
                account = self._create(session, contact, form.name, password_hash)
                return account_view(account, VerificationStatus("unverified"))
        raise InvalidField("code", check.value)  # after the commit: wrong attempts are counted

    def _create(self, session, contact: Contact, name: str, password_hash: str) -> Account:
        email = contact.target if contact.channel == "email" else None
        phone = contact.target if contact.channel == "phone" else None
        account = create_account(session, name, email=email, phone=phone)
        session.add(AccountCredential(account_id=account.id, password_hash=password_hash))
        self._billing.grant_registration(session, account.id)
        audit(session, account.id, account.id, "account.register", channel=contact.channel)
        return account

    def _refuse_registered(self, contact: Contact) -> None:
        column = Account.email if contact.channel == "email" else Account.phone
        with self._db.session() as session:
            if session.scalar(sa.select(Account.id).where(column == contact.target)):
                raise InvalidField("target", f"this {contact.channel} is already registered")
