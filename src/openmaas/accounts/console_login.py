"""Console login and logout with a password; the session itself lives in auth.console_sessions."""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.accounts.contacts import normalize_email, normalize_phone
from openmaas.accounts.verification import current_status
from openmaas.accounts.views import AccountView, account_view
from openmaas.auth.console_sessions import ConsoleSessions, OpenedSession
from openmaas.auth.passwords import Passwords
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import AuthError, InvalidField
from openmaas.store.db import Database
from openmaas.store.tables import Account, AccountCredential

WRONG_LOGIN = "账号或密码错误 (wrong login or password)"


def login_ref(login: str) -> str:
    """An email address or a phone number in the form they are stored."""
    if "@" in login:
        try:
            return normalize_email(login, "login")
        except InvalidField:  # e.g. the bootstrap admin's admin@localhost (no dot in the domain)
            return login.strip().lower()
    try:
        return normalize_phone(login, "login")
    except InvalidField:
        return login.strip()


class ConsoleLogin:
    def __init__(self, db: Database, passwords: Passwords, sessions: ConsoleSessions) -> None:
        self._db = db
        self._passwords = passwords
        self._sessions = sessions

    def login(self, login: str, password: str) -> tuple[AccountView, OpenedSession]:
        account_id, password_hash = self._credentials(login_ref(login))
        # argon2 takes a while: verify outside any transaction (SQLite would hold its write lock)
        if not self._passwords.verify(password_hash, password) or account_id is None:
            raise AuthError(WRONG_LOGIN)
        with self._db.session() as session:
            account = session.get(Account, account_id)
            if account is None or account.status != "active":  # gone or disabled since the read
                raise AuthError(WRONG_LOGIN)
            credential = session.get(AccountCredential, account_id)
            if credential is not None and self._passwords.needs_rehash(password_hash or ""):
                credential.password_hash = self._passwords.hash(password)
            opened = self._sessions.open(session, account_id)
            return account_view(account, current_status(session, account_id)), opened

    async def login_async(self, login: str, password: str) -> tuple[AccountView, OpenedSession]:
        """The API's login: argon2 on the password pool, the database in the threadpool."""
        account_id, password_hash = await run_in_threadpool(self._credentials, login_ref(login))
        if not await self._passwords.verify_async(password_hash, password) or account_id is None:
            raise AuthError(WRONG_LOGIN)
        new_hash = None
        if self._passwords.needs_rehash(password_hash or ""):
            new_hash = await self._passwords.hash_async(password)
        return await run_in_threadpool(self._open, account_id, new_hash)

    def _open(self, account_id: str, new_hash: str | None) -> tuple[AccountView, OpenedSession]:
        with self._db.session() as session:
            account = session.get(Account, account_id)
            if account is None or account.status != "active":  # gone or disabled since the read
                raise AuthError(WRONG_LOGIN)
            credential = session.get(AccountCredential, account_id)
            if credential is not None and new_hash is not None:
                credential.password_hash = new_hash
            opened = self._sessions.open(session, account_id)
            return account_view(account, current_status(session, account_id)), opened

    def logout(self, token: str) -> None:
        self._sessions.close(token)

    def _credentials(self, ref: str) -> tuple[str | None, str | None]:
        with self._db.session(read_only=True) as session:
            found = session.execute(
                sa.select(Account.id, AccountCredential.password_hash)
                .join(AccountCredential, AccountCredential.account_id == Account.id)
                .where(sa.or_(Account.email == ref, Account.phone == ref))
            ).first()
            return (found[0], found[1]) if found else (None, None)
