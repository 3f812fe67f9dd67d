"""One-time verification codes: HMAC-stored, expiring, single-use, attempt- and rate-limited.

Rate limits count the rows already sent to a target, so they hold across server processes;
on PostgreSQL a transaction-scoped advisory lock per target makes the count exact.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.config import AccountsConfig
from openmaas.errors import SendingTooOften
from openmaas.store.db import Database
from openmaas.store.tables import VerificationCode, utcnow

CODE_DIGITS = 6


class CodeCheck(enum.Enum):
    ACCEPTED = "accepted"
    WRONG = "wrong code"
    EXPIRED = "expired, already used or never sent: request a new code"
    EXHAUSTED = "too many wrong attempts: request a new code"


class VerificationCodes:
    def __init__(self, db: Database, hmac_key: bytes, config: AccountsConfig) -> None:
        self._db = db
        self._key = hmac_key
        self._config = config

    def issue(self, channel: str, target: str, purpose: str) -> str:
        """A fresh code for `target` (committed); the caller sends it. Raises SendingTooOften."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        now = utcnow()
        with self._db.session() as session:
            lock_target(session, target)
            self._check_rate(session, target, now)
            session.add(
                VerificationCode(
                    channel=channel,
                    target=target,
                    purpose=purpose,
                    created_at=now,
                    code_hash=self._hash(channel, target, purpose, code),
                    expires_at=now + timedelta(seconds=self._config.code_ttl_seconds),
                )
            )
        return code

    def withdraw(self, channel: str, target: str, purpose: str, code: str) -> None:
        """Deletes a code that could not be sent, so it counts against no limit."""
        with self._db.session() as session:
            session.execute(
                sa.delete(VerificationCode).where(
                    VerificationCode.target == target,
                    VerificationCode.code_hash == self._hash(channel, target, purpose, code),
                )
            )

    def peek(self, session: Session, channel: str, target: str, purpose: str, code: str) -> CodeCheck:
        """`consume` without using the code up: for checking it before expensive work."""
        return self.consume(session, channel, target, purpose, code, use=False)

    def consume(
        self, session: Session, channel: str, target: str, purpose: str, code: str, use: bool = True
    ) -> CodeCheck:
        """Checks `code` against the newest code sent to `target`, in the caller's transaction.

        A wrong guess is counted on the row, so the caller must commit even when it refuses.
        """
        row = session.scalar(
            sa.select(VerificationCode)
            .where(
                VerificationCode.channel == channel,
                VerificationCode.target == target,
                VerificationCode.purpose == purpose,
            )
            .order_by(VerificationCode.created_at.desc(), VerificationCode.id.desc())
            .limit(1)
            .with_for_update()
        )
        if row is None or row.consumed_at is not None or row.expires_at <= utcnow():
            return CodeCheck.EXPIRED
        if row.attempts >= self._config.code_max_attempts:
            return CodeCheck.EXHAUSTED
        if not hmac.compare_digest(row.code_hash, self._hash(channel, target, purpose, code.strip())):
            row.attempts += 1
            return CodeCheck.WRONG
        if use:
            row.consumed_at = utcnow()
        return CodeCheck.ACCEPTED

    def _check_rate(self, session: Session, target: str, now: datetime) -> None:
        for window, allowed in (
            (timedelta(minutes=1), self._config.code_sends_per_minute),
            (timedelta(hours=1), self._config.code_sends_per_hour),
        ):
            sent = session.scalars(
                sa.select(VerificationCode.created_at)
                .where(VerificationCode.target == target, VerificationCode.created_at > now - window)
                .order_by(VerificationCode.created_at)
            ).all()
            if len(sent) >= allowed:
                retry_after = (sent[len(sent) - allowed] + window - now).total_seconds()
                raise SendingTooOften(retry_after=max(1.0, retry_after))

    def _hash(self, channel: str, target: str, purpose: str, code: str) -> str:
        message = f"{channel}\n{target}\n{purpose}\n{code}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def lock_target(session: Session, target: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:target))"), {"target": target})


def code_hmac_key(server_key: bytes) -> bytes:
    """A key for code HMACs derived from the server key (never the sealing key itself)."""
    return hmac.new(server_key, b"openmaas verification codes", hashlib.sha256).digest()
