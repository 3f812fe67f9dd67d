"""Verification codes: stored as HMACs, expiring, single-use, attempt- and rate-limited
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from openmaas.auth.codes import CodeCheck, VerificationCodes
from openmaas.config import AccountsConfig
from openmaas.errors import SendingTooOften
from openmaas.store.tables import VerificationCode, utcnow

TARGET = "zoe@example.com"


@pytest.fixture
def codes(db) -> VerificationCodes:
    config = AccountsConfig(code_max_attempts=3, code_sends_per_minute=2, code_sends_per_hour=3)
    return VerificationCodes(db, b"k" * 32, config)


def consume(db, codes, code: str, target: str = TARGET) -> CodeCheck:
    with db.session() as session:
        return codes.consume(session, "email", target, "register", code)


def test_code_is_stored_only_as_an_hmac_and_accepted_once(db, codes):
    code = codes.issue("email", TARGET, "register")
    assert len(code) == 6 and code.isdigit()
    with db.session() as session:
        stored = [str(v) for v in session.execute(sa.select(VerificationCode.__table__)).one()]
    assert code not in " ".join(stored)
    assert consume(db, codes, code) is CodeCheck.ACCEPTED
    assert consume(db, codes, code) is CodeCheck.EXPIRED  # single use


def test_only_the_newest_code_counts(db, codes):
    first = codes.issue("email", TARGET, "register")
    second = codes.issue("email", TARGET, "register")
    if first != second:
        assert consume(db, codes, first) is CodeCheck.WRONG
    assert consume(db, codes, second) is CodeCheck.ACCEPTED


def test_expired_code_is_refused(db, codes):
    code = codes.issue("email", TARGET, "register")
    with db.session() as session:
        session.execute(sa.update(VerificationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert consume(db, codes, code) is CodeCheck.EXPIRED


def test_attempts_are_limited_even_for_the_right_code(db, codes):
    code = codes.issue("email", TARGET, "register")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert [consume(db, codes, wrong) for _ in range(3)] == [CodeCheck.WRONG] * 3
    assert consume(db, codes, code) is CodeCheck.EXHAUSTED


def test_sending_is_limited_per_minute_and_per_hour_per_target(db, codes):
    codes.issue("email", TARGET, "register")
    codes.issue("email", TARGET, "register")
    with pytest.raises(SendingTooOften) as minute:
        codes.issue("email", TARGET, "register")
    assert minute.value.code == "1303" and 1 <= minute.value.retry_after <= 60
    codes.issue("email", "someone@else.com", "register")  # other targets are not affected
    with db.session() as session:  # an hour-old window: the minute limit has passed
        session.execute(sa.update(VerificationCode).values(created_at=utcnow() - timedelta(minutes=5)))
    codes.issue("email", TARGET, "register")
    with pytest.raises(SendingTooOften) as hour:
        codes.issue("email", TARGET, "register")
    assert 3000 < hour.value.retry_after <= 3600


def test_withdrawn_code_frees_its_slot(db, codes):
    code = codes.issue("email", TARGET, "register")
    codes.withdraw("email", TARGET, "register", code)
    assert consume(db, codes, code) is CodeCheck.EXPIRED
    codes.issue("email", TARGET, "register")
    codes.issue("email", TARGET, "register")
