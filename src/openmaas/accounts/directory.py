"""Accounts as seen by their owner and by administrators: profile, listing, tiers, passwords,
and the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.accounts.verification import current_status
from openmaas.accounts.views import (
    AccountView,
    AuditView,
    account_view,
    audit_view,
    verification_status,
)
from openmaas.auth.accounts import find_account
from openmaas.auth.console_sessions import ConsoleSessions
from openmaas.auth.passwords import Passwords
from openmaas.billing.audit import audit
from openmaas.errors import InvalidField, NotFound
from openmaas.store.db import Database
from openmaas.store.tables import Account, AccountCredential, AuditEntry, VerificationApplication

TIERS = ("V0", "V1", "V2", "V3")


class AccountDirectory:
    def __init__(self, db: Database, passwords: Passwords, sessions: ConsoleSessions) -> None:
        self._db = db
        self._passwords = passwords
        self._sessions = sessions

    def profile(self, account_id: str) -> AccountView:
        with self._db.session() as session:
            return account_view(_account(session, account_id), current_status(session, account_id))

    def list_accounts(
        self, limit: int = 50, offset: int = 0, search: str | None = None
    ) -> tuple[list[AccountView], int]:
        query = sa.select(Account)
        if search:
            pattern = f"%{search.strip().lower()}%"
            query = query.where(
                sa.or_(
                    sa.func.lower(Account.name).like(pattern),
                    Account.email.like(pattern),
                    Account.phone.like(pattern),
                    Account.id == search.strip(),
                )
            )
        with self._db.session() as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
            rows = list(
                session.scalars(query.order_by(Account.created_at, Account.id).limit(limit).offset(offset))
            )
            statuses = _latest_applications(session, [r.id for r in rows])
            return [account_view(r, verification_status(statuses.get(r.id))) for r in rows], total

    def set_tier(self, actor_id: str | None, account_id: str, tier: str) -> AccountView:
        if tier not in TIERS:
            raise InvalidField("tier", "one of V0, V1, V2, V3")
        with self._db.session() as session:
            account = _account(session, account_id)
            previous, account.tier = account.tier, tier
            audit(session, actor_id, account.id, "account.set_tier", previous=previous, tier=tier)
            return account_view(account, current_status(session, account.id))

    def check_password_strength(self, password: str) -> None:
        self._passwords.check_strength(password)

    def set_password(self, actor_id: str | None, account_ref: str, password: str) -> str:
        """Sets (or resets) a console password and ends the account's sessions; returns its id."""
        self._passwords.check_strength(password)
        password_hash = self._passwords.hash(password)
        with self._db.session() as session:
            account = find_account(session, account_ref)
            if account is None:
                raise NotFound("account")
            credential = session.get(AccountCredential, account.id)
            if credential is None:
                session.add(AccountCredential(account_id=account.id, password_hash=password_hash))
            else:
                credential.password_hash = password_hash
            self._sessions.close_all(session, account.id)
            audit(session, actor_id, account.id, "account.set_password")
            return account.id

    def audit_log(
        self, account_id: str | None = None, action: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[AuditView]:
        query = sa.select(AuditEntry).order_by(AuditEntry.id.desc())
        if account_id:
            query = query.where(AuditEntry.account_id == account_id)
        if action:
            query = query.where(AuditEntry.action == action)
        with self._db.session() as session:
            return [audit_view(r) for r in session.scalars(query.limit(limit).offset(offset))]


def _account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account")
    return account


def _latest_applications(session: Session, account_ids: list[str]) -> dict[str, VerificationApplication]:
    rows = session.scalars(
        sa.select(VerificationApplication)
        .where(VerificationApplication.account_id.in_(account_ids))
        .order_by(VerificationApplication.created_at)
    )
    return {row.account_id: row for row in rows}  # later rows overwrite: the newest wins
