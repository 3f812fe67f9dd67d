"""Codes that change who can sign in: a forgotten password reset by a code sent to the
account's email or phone, and a new email or phone confirmed by a code sent to it.

Asking for a reset code answers the same whether or not the address has an account (no
enumeration): an unknown address simply gets nothing. A reset ends every session of the
account; a new contact must not belong to another account.
"""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.accounts.contacts import Contact, contact_for
from openmaas.accounts.directory import AccountDirectory
from openmaas.auth.codes import CodeCheck, VerificationCodes
from openmaas.billing.audit import audit
from openmaas.errors import DeliveryFailed, InvalidField, NotFound
from openmaas.notify.base import Notifier, OutgoingMessage
from openmaas.store.db import Database
from openmaas.store.tables import Account

RESET_PURPOSE = "reset_password"
CONTACT_PURPOSE = "change_contact"


def reset_message(contact: Contact, code: str, ttl_seconds: int) -> OutgoingMessage:
    minutes = max(1, ttl_seconds // 60)
    return OutgoingMessage(
        channel=contact.channel,
        target=contact.target,
        kind="verification_code",
        subject="OpenMaaS 重置密码验证码 (password reset code)",
        body=f"您的重置密码验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略。"
        f"Your OpenMaaS password reset code is {code}; it expires in {minutes} minutes. "
        "If you did not ask for it, ignore this message.",
    )


def contact_message(contact: Contact, code: str, ttl_seconds: int) -> OutgoingMessage:
    minutes = max(1, ttl_seconds // 60)
    return OutgoingMessage(
        channel=contact.channel,
        target=contact.target,
        kind="verification_code",
        subject="OpenMaaS 验证码 (verification code)",
        body=f"您正在将此地址绑定到 OpenMaaS 账号，验证码是 {code}，{minutes} 分钟内有效。"
        f"Your code to use this address for your OpenMaaS account is {code}; "
        f"it expires in {minutes} minutes.",
    )


def contact_column(channel: str):
    return Account.email if channel == "email" else Account.phone


class AccountRecovery:
    def __init__(
        self,
        db: Database,
        codes: VerificationCodes,
        notifier: Notifier,
        directory: AccountDirectory,
        code_ttl_seconds: int,
    ) -> None:
        self._db = db
        self._codes = codes
        self._notifier = notifier
        self._directory = directory
        self._ttl = code_ttl_seconds

    def _owner(self, contact: Contact) -> str | None:
        with self._db.session(read_only=True) as session:
            column = contact_column(contact.channel)
            return session.scalar(sa.select(Account.id).where(column == contact.target))

    def _send(self, contact: Contact, purpose: str, message) -> None:
        code = self._codes.issue(contact.channel, contact.target, purpose)  # rate-limited
        try:
            self._notifier.send(message(contact, code, self._ttl))
        except Exception as exc:
            self._codes.withdraw(contact.channel, contact.target, purpose, code)
            raise exc if isinstance(exc, DeliveryFailed) else DeliveryFailed() from exc

    def _consume(self, contact: Contact, purpose: str, code: str) -> None:
        with self._db.session() as session:
            check = self._codes.consume(session, contact.channel, contact.target, purpose, code)
        if check is not CodeCheck.ACCEPTED:
            raise InvalidField("code", check.value)  # after the commit: wrong attempts are counted

    # forgotten password -------------------------------------------------------------------
    def send_reset_code(self, channel: str, target: str) -> int:
        contact = contact_for(channel, target)
        if self._owner(contact) is not None:
            self._send(contact, RESET_PURPOSE, reset_message)
        return self._ttl

    def reset_password(self, channel: str, target: str, code: str, new_password: str) -> str:
        """Sets the new password of the address's account; returns the account id."""
        contact = contact_for(channel, target)
        self._directory.check_password_strength(new_password)  # before the code is used up
        self._consume(contact, RESET_PURPOSE, code)
        account_id = self._owner(contact)
        if account_id is None:  # the address changed hands after the code was sent
            raise InvalidField("code", CodeCheck.EXPIRED.value)
        return self._directory.set_password(account_id, account_id, new_password)

    # a new email or phone -----------------------------------------------------------------
    def send_contact_code(self, account_id: str, channel: str, target: str) -> int:
        contact = self._new_contact(account_id, channel, target)
        self._send(contact, CONTACT_PURPOSE, contact_message)
        return self._ttl

    def change_contact(self, account_id: str, channel: str, target: str, code: str) -> str:
        contact = self._new_contact(account_id, channel, target)
        self._consume(contact, CONTACT_PURPOSE, code)
        with self._db.session() as session:
            account = session.get(Account, account_id, with_for_update=True)
            if account is None:
                raise NotFound("account")
            if session.scalar(sa.select(Account.id).where(contact_column(channel) == contact.target)):
                raise InvalidField("target", "already used by another account")
            previous = getattr(account, channel)
            setattr(account, channel, contact.target)
            audit(
                session,
                account_id,
                account_id,
                f"account.change_{channel}",
                previous=previous,
                new=contact.target,
            )
        return contact.target

    def _new_contact(self, account_id: str, channel: str, target: str) -> Contact:
        contact = contact_for(channel, target)
        owner = self._owner(contact)
        if owner == account_id:
            raise InvalidField("target", "this is already your address")
        if owner is not None:
            raise InvalidField("target", "already used by another account")
        return contact
