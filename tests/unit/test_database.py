"""Database: sessions commit or roll back as a unit; dispose closes every connection."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import pytest
import sqlalchemy as sa

from openmaas.auth.accounts import create_account
from openmaas.store.db import Database
from openmaas.store.tables import Account
from openmaas.store.writer_gate import FOREGROUND_RUN, WriterGate


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


def test_writer_gate_admits_waiters_in_arrival_order():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    order: list[int] = []

    def writer(n: int) -> None:
        assert gate.acquire(timeout=5)
        order.append(n)
        gate.release()

    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        time.sleep(0.02)  # queue them one after another
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_writer_gate_times_out_and_stays_usable():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    assert gate.acquire(timeout=0.05) is False  # e.g. a nested write: SQLite arbitrates
    gate.release()
    assert gate.acquire(timeout=0.05)  # the timed-out waiter left no ticket behind
    gate.release()


def test_concurrent_sqlite_writers_all_commit_and_release_the_gate(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    try:
        with database.session() as session:
            session.execute(sa.text("CREATE TABLE counter (n INTEGER)"))
            session.execute(sa.text("INSERT INTO counter VALUES (0)"))

        def bump(fail: bool) -> None:
            with contextlib.suppress(RuntimeError), database.session() as session:
                n = session.execute(sa.text("SELECT n FROM counter")).scalar_one()
                session.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})
                if fail:
                    raise RuntimeError("rolled back")  # a rollback must hand the gate on too

        threads = [threading.Thread(target=bump, args=(i % 4 == 0,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        with database.session() as session:
            assert session.execute(sa.text("SELECT n FROM counter")).scalar_one() == 30
        started = time.monotonic()
        with database.session() as session:  # the gate is free again: no 30 s wait
            session.execute(sa.text("UPDATE counter SET n = 0"))
        assert time.monotonic() - started < 1
    finally:
        database.dispose()


def test_writer_gate_serves_interactive_writers_before_background_ones():
    """Issue 15 (hostile tenant bench): a tenant's flood of jobs queued its writes in front of
    another tenant's request (its billing hold, before the first token)."""
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    order: list[str] = []

    def writer(name: str, background: bool) -> None:
        assert gate.acquire(timeout=5, background=background)
        order.append(name)
        gate.release()

    threads = []
    for name, background in (("job-1", True), ("job-2", True), ("request", False)):
        threads.append(threading.Thread(target=writer, args=(name, background)))
        threads[-1].start()
        time.sleep(0.02)  # queued in this order
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == ["request", "job-1", "job-2"]


def test_writer_gate_does_not_starve_background_writers():
    gate = WriterGate()
    assert gate.acquire(timeout=1)
    order: list[str] = []

    def writer(name: str, background: bool) -> None:
        assert gate.acquire(timeout=5, background=background)
        order.append(name)
        gate.release()

    threads = [threading.Thread(target=writer, args=("job", True))]
    threads[0].start()
    time.sleep(0.02)
    for n in range(FOREGROUND_RUN + 3):
        threads.append(threading.Thread(target=writer, args=(f"r{n}", False)))
        threads[-1].start()
        time.sleep(0.01)
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order.index("job") <= FOREGROUND_RUN  # after at most FOREGROUND_RUN requests


def test_the_job_workers_writes_are_background_writes(db):
    from openmaas.auth.principal import Principal
    from openmaas.jobs.queue import JobQueue
    from openmaas.jobs.worker import JobWorker
    from openmaas.store.writer_gate import BACKGROUND_WRITER

    queue = JobQueue(db, 30)
    queue.submit(Principal(account_id="acct", api_key_id=None), "kind", {}, "job-1")
    seen: list[bool] = []

    async def handler(job, principal):
        seen.append(BACKGROUND_WRITER.get())
        seen.append(await asyncio.to_thread(BACKGROUND_WRITER.get))  # what a DB call in a thread sees
        return {}

    async def scenario() -> None:
        worker = JobWorker(queue, {"kind": handler}, poll_seconds=0.02)
        await worker.start()
        try:
            while len(seen) < 2:
                await asyncio.sleep(0.02)
        finally:
            await worker.close()

    asyncio.run(scenario())
    assert seen == [True, True] and BACKGROUND_WRITER.get() is False
