"""Console sessions: a random cookie token plus a CSRF token, both stored only as SHA-256 hashes.

CSRF uses the double-submit pattern, bound to the session: for unsafe methods the readable
`openmaas_csrf` cookie must be echoed in `X-CSRF-Token` and match the session's CSRF hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import CONSOLE, Principal
from openmaas.errors import CsrfRejected, ExpiredToken, InvalidToken
from openmaas.store.db import Database, changed_rows
from openmaas.store.tables import Account, ConsoleSession, utcnow


@dataclass(frozen=True)
class OpenedSession:
    token: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionPrincipal:
    principal: Principal
    csrf_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleSessions:
    def __init__(self, db: Database, ttl: timedelta) -> None:
        self._db = db
        self._ttl = ttl

    def open(self, session: Session, account_id: str) -> OpenedSession:
        now = utcnow()
        session.execute(
            sa.delete(ConsoleSession).where(
                ConsoleSession.account_id == account_id, ConsoleSession.expires_at <= now
            )
        )
        opened = OpenedSession(secrets.token_urlsafe(32), secrets.token_urlsafe(24), now + self._ttl)
        session.add(
            ConsoleSession(
                token_hash=token_hash(opened.token),
                account_id=account_id,
                csrf_hash=token_hash(opened.csrf_token),
                created_at=now,
                expires_at=opened.expires_at,
            )
        )
        return opened

    def authenticate(self, token: str) -> SessionPrincipal:
        # read-only: a console request must not take the SQLite writer gate just to sign in
        with self._db.session(read_only=True) as session:
            found = session.execute(
                sa.select(ConsoleSession, Account)
                .join(Account, Account.id == ConsoleSession.account_id)
                .where(ConsoleSession.token_hash == token_hash(token))
            ).first()
            if found is None or found[1].status != "active":
                raise InvalidToken("会话无效，请重新登录 (console session invalid: log in again)")
            row, account = found
            if row.expires_at <= utcnow():
                raise ExpiredToken("会话已过期，请重新登录 (console session expired: log in again)")
            principal = Principal(
                account_id=account.id,
                api_key_id=None,
                tier=account.tier,
                is_admin=account.is_admin,
                scope=CONSOLE,
            )
            return SessionPrincipal(principal, row.csrf_hash)

    def close(self, token: str) -> None:
        with self._db.session() as session:
            session.execute(sa.delete(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))

    def close_others(self, account_id: str, token: str) -> int:
        """Ends every session of the account except the one with `token`; returns how many."""
        with self._db.session() as session:
            result = session.execute(
                sa.delete(ConsoleSession).where(
                    ConsoleSession.account_id == account_id, ConsoleSession.token_hash != token_hash(token)
                )
            )
            return changed_rows(result)

    def count(self, account_id: str) -> int:
        with self._db.session(read_only=True) as session:
            return (
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(ConsoleSession)
                    .where(ConsoleSession.account_id == account_id, ConsoleSession.expires_at > utcnow())
                )
                or 0
            )

    def close_all(self, session: Session, account_id: str) -> None:
        session.execute(sa.delete(ConsoleSession).where(ConsoleSession.account_id == account_id))


def check_csrf(csrf_hash: str, cookie: str | None, header: str | None) -> None:
    if not cookie or not header or not hmac.compare_digest(cookie, header):
        raise CsrfRejected()
    if not hmac.compare_digest(csrf_hash, token_hash(header)):
        raise CsrfRejected()
