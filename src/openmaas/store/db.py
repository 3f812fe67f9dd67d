"""Database engine and session factory for SQLite (WAL, pysqlite3) and PostgreSQL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from openmaas.store.writer_gate import BACKGROUND_WRITER, WriterGate

GATE_HELD = "openmaas_writer_gate_held"
BUSY_TIMEOUT_S = 30.0  # how long a SQLite writer waits for the write lock before failing


def _sqlite_connect_args(url: sa.URL) -> dict:
    # pysqlite3 ships SQLite 3.5x with FTS5 and extension loading; this Python's own
    # sqlite3 cannot load extensions, so the knowledge index needs pysqlite3.
    import pysqlite3.dbapi2 as sqlite

    return {"module": sqlite, "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}}


def create_db_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        args = _sqlite_connect_args(parsed)
        engine = sa.create_engine(
            parsed,
            module=args["module"],
            connect_args=args["connect_args"],
            pool_size=20,
            max_overflow=20,
            pool_pre_ping=False,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        _gate_writers(engine, WriterGate())
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, pool_size=20, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


READ_ONLY = "openmaas_read_only"


def _gate_writers(engine: sa.Engine, gate: WriterGate) -> None:
    """Write transactions pass the process's writer gate (writer_gate.py), then take
    SQLite's write lock up front with BEGIN IMMEDIATE, so read-then-write transactions
    (ledger, job claims) serialise cleanly instead of failing with "database is locked" on
    upgrade. Sessions opened with `read_only` start a plain (deferred) transaction and skip
    the gate: WAL readers never wait for the writer."""

    def begin(connection) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
            return
        connection.info[GATE_HELD] = gate.acquire(timeout=BUSY_TIMEOUT_S, background=BACKGROUND_WRITER.get())
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            end(connection)
            raise

    def release(connection_info: dict) -> None:
        if connection_info.pop(GATE_HELD, False):
            gate.release()

    def end(connection) -> None:
        if not connection.invalidated:  # an invalidated one was released by its event
            release(connection.info)

    def ends_transaction(dbapi_call):
        # The dialect's commit/rollback (the pool's reset-on-return rollback included) hands
        # the gate on once SQLite has ended the transaction, so the next writer's BEGIN
        # IMMEDIATE finds the lock free.
        def call(pooled_connection) -> None:
            try:
                dbapi_call(pooled_connection)
            finally:
                with contextlib.suppress(NotImplementedError):  # first-connect probe: no info
                    release(pooled_connection.info)

        return call

    def returned(_dbapi_connection, record, *_exception) -> None:
        release(record.info)  # checked in or invalidated without a commit or rollback

    # no event fires after the DBAPI commit/rollback itself: wrap the dialect's own calls
    engine.dialect.do_commit = ends_transaction(engine.dialect.do_commit)  # type: ignore[method-assign]
    engine.dialect.do_rollback = ends_transaction(engine.dialect.do_rollback)  # type: ignore[method-assign]
    event.listen(engine, "begin", begin)
    event.listen(engine, "checkin", returned)
    event.listen(engine, "invalidate", returned)


def changed_rows(result: sa.Result[Any]) -> int:
    """Rows an UPDATE/DELETE matched (`Session.execute` is typed as returning a plain Result)."""
    return cast("sa.CursorResult[Any]", result).rowcount


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


class Database:
    """Owns the engine and hands out sessions; one per app, built by `create_app`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception. `read_only`
        (mostly-read work such as authentication) does not take SQLite's write lock up front;
        a write in it still works, but may wait for or lose to a concurrent writer."""
        with self._sessions() as session:
            if read_only:
                session.connection(execution_options={READ_ONLY: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self, grace_seconds: float = 5.0) -> None:
        """Close every connection. Work that a cancelled task left running in a thread still
        holds one: give it a moment to hand it back, or it returns to the discarded pool
        and leaks (never closed)."""
        deadline = time.monotonic() + grace_seconds
        checked_out = getattr(self.engine.pool, "checkedout", lambda: 0)
        while checked_out() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.engine.dispose()
