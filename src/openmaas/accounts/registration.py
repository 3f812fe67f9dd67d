"""Sign-up: a one-time code to the email address or phone, then the account with its password.

A new account gets the registration grant (billing) in the same transaction as its creation,
once per person (`grant_claims`: plus-tags and dots do not make a new person).

`/codes` answers the same whether or not the address is registered (no enumeration): a
registered address gets a "you already have an account" message instead of a code.
`register_async` checks the code before it spends an argon2 hash on the password.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from openmaas.accounts.contacts import Contact, contact_for, registration_contact
from openmaas.accounts.grant_claims import GrantClaims, canonical_identity
from openmaas.accounts.views import AccountView, VerificationStatus, account_view
from openmaas.auth.accounts import create_account
from openmaas.auth.codes import CodeCheck, VerificationCodes
from openmaas.auth.passwords import Passwords
from openmaas.billing.audit import audit
from openmaas.billing.service import BillingService
from openmaas.concurrency import run_in_threadpool
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
        channel=contact.channel,
        target=contact.target,
        kind="verification_code",
        subject="OpenMaaS 验证码 (verification code)",
        body=f"您的注册验证码是 {code}，{minutes} 分钟内有效。"
        f"Your OpenMaaS verification code is {code}; it expires in {minutes} minutes.",
    )


def registered_message(contact: Contact) -> OutgoingMessage:
    return OutgoingMessage(
        channel=contact.channel,
        target=contact.target,
        kind="verification_code",
        subject="OpenMaaS 账号已存在 (account exists)",
        body="该地址已注册 OpenMaaS 账号，请直接登录。如非本人操作，请忽略。"
        "This address already has an OpenMaaS account: sign in instead. "
        "If you did not ask to register, ignore this message.",
    )


class Registration:
    def __init__(
        self,
        db: Database,
        billing: BillingService,
        codes: VerificationCodes,
        passwords: Passwords,
        notifier: Notifier,
        code_ttl_seconds: int,
        claims: GrantClaims | None = None,
    ) -> None:
        self._db = db
        self._billing = billing
        self._codes = codes
        self._passwords = passwords
        self._notifier = notifier
        self._ttl = code_ttl_seconds
        self._claims = claims

    def send_code(self, channel: str, target: str) -> int:
        """Sends a sign-up code (or, to a registered address, a notice: the answer is the same
        either way); returns the code's lifetime in seconds."""
        contact = contact_for(channel, target)
        registered = self._is_registered(contact)
        code = self._codes.issue(contact.channel, contact.target, CODE_PURPOSE)  # rate-limited
        message = registered_message(contact) if registered else code_message(contact, code, self._ttl)
        try:
            self._notifier.send(message)
        except Exception as exc:
            self._codes.withdraw(contact.channel, contact.target, CODE_PURPOSE, code)
            if isinstance(exc, DeliveryFailed):
                raise
            raise DeliveryFailed() from exc
        return self._ttl

    def register(self, form: RegistrationForm) -> AccountView:
        """Synchronous sign-up (CLI, tests): the same checks as `register_async`."""
        contact = self._checked_form(form)
        self._check_code(contact, form.code)
        return self._finish(form, contact, self._passwords.hash(form.password))

    async def register_async(self, form: RegistrationForm) -> AccountView:
        """The API's sign-up: cheap checks, then the code, and only then argon2 (on its pool)."""
        contact = self._checked_form(form)
        await run_in_threadpool(self._check_code, contact, form.code)
        password_hash = await self._passwords.hash_async(form.password)
        return await run_in_threadpool(self._finish, form, contact, password_hash)

    def _checked_form(self, form: RegistrationForm) -> Contact:
        contact = registration_contact(form.email, form.phone)
        if not form.name.strip():
            raise InvalidField("name", "must not be empty")
        self._passwords.check_strength(form.password)
        return contact

    def _check_code(self, contact: Contact, code: str) -> None:
        """Refuses a wrong or stale code before any hashing; a wrong guess is counted."""
        with self._db.session() as session:
            check = self._codes.peek(session, contact.channel, contact.target, CODE_PURPOSE, code)
        if check is not CodeCheck.ACCEPTED:
            raise InvalidField("code", check.value)  # after the commit: wrong attempts are counted

    def _finish(self, form: RegistrationForm, contact: Contact, password_hash: str) -> AccountView:
        with self._db.session() as session:
            check = self._codes.consume(session, contact.channel, contact.target, CODE_PURPOSE, form.code)
            if check is CodeCheck.ACCEPTED:
                account = self._create(session, contact, form.name, password_hash)
                return account_view(account, VerificationStatus("unverified"))
        raise InvalidField("code", check.value)  # after the commit: wrong attempts are counted

    def _create(self, session, contact: Contact, name: str, password_hash: str) -> Account:
        email = contact.target if contact.channel == "email" else None
        phone = contact.target if contact.channel == "phone" else None
        account = create_account(session, name, email=email, phone=phone)
        session.add(AccountCredential(account_id=account.id, password_hash=password_hash))
        granted = self._claims is None or self._claims.claim(
            session, "registration", canonical_identity(contact.channel, contact.target), account.id
        )
        if granted:
            self._billing.grant_registration(session, account.id)
        audit(session, account.id, account.id, "account.register", channel=contact.channel, grant=granted)
        return account

    def _is_registered(self, contact: Contact) -> bool:
        column = Account.email if contact.channel == "email" else Account.phone
        with self._db.session(read_only=True) as session:
            return session.scalar(sa.select(Account.id).where(column == contact.target)) is not None
