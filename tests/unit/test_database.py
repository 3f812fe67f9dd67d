"""Database: sessions commit or roll back as a unit; dispose closes every connection."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.store.db import Database
from openmaas.store.tables import Account


def is_closed(dbapi_connection) -> bool:
    if hasattr(dbapi_connection, "closed"):  # psycopg
        return bool(dbapi_connection.closed)
    try:  # sqlite3-style: using a closed connection raises
        dbapi_connection.execute("SELECT 1")
    except Exception:
        return True
    return False


def test_a_failing_unit_of_work_leaves_no_row(db):
    with pytest.raises(RuntimeError), db.session() as session:
        create_account(session, "ghost")
        raise RuntimeError("boom")
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0
    with db.session() as session:
        create_account(session, "real")
    with db.session() as session:
        assert session.scalars(sa.select(Account.name)).all() == ["real"]


def test_dispose_waits_for_a_connection_still_in_use(db, database_url):
    other = Database(database_url)
    connection = other.engine.connect()
    connection.execute(sa.text("SELECT 1"))
    raw = connection.connection.dbapi_connection
    handed_back = threading.Timer(0.3, connection.close)  # a thread finishing late
    handed_back.start()
    started = time.monotonic()
    other.dispose()
    handed_back.join()
    assert time.monotonic() - started >= 0.2
    assert is_closed(raw)


def test_dispose_gives_up_waiting_after_its_grace(db, database_url):
    other = Database(database_url)
    connection = other.engine.connect()
    connection.execute(sa.text("SELECT 1"))
    started = time.monotonic()
    other.dispose(grace_seconds=0.1)
    assert time.monotonic() - started < 2
    connection.invalidate()  # close it for real: its pool is gone
    connection.close()
