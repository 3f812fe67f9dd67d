"""Account creation (the billing issue adds registration, verification and tiers)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.errors import InvalidField
from openmaas.store.tables import Account, Wallet, new_id


def create_account(
    session: Session, name: str, email: str | None = None, is_admin: bool = False, phone: str | None = None
) -> Account:
    if not name.strip():
        raise InvalidField("name", "must not be empty")
    if email and session.scalar(sa.select(Account.id).where(Account.email == email)):
        raise InvalidField("email", "already registered")
    if phone and session.scalar(sa.select(Account.id).where(Account.phone == phone)):
        raise InvalidField("phone", "already registered")
    account = Account(id=new_id("acct_")[:37], name=name.strip(), email=email, phone=phone, is_admin=is_admin)
    session.add(account)
    session.flush()
    session.add(Wallet(account_id=account.id, cash_micro=0, held_micro=0))
    session.flush()
    return account


def find_account(session: Session, ref: str) -> Account | None:
    """By id, email or phone."""
    return session.get(Account, ref) or session.scalar(
        sa.select(Account).where(sa.or_(Account.email == ref, Account.phone == ref))
    )


def count_accounts(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Account)) or 0
