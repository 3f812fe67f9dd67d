"""The worker loop on a real queue and database: outcomes, and a clean shutdown."""

from __future__ import annotations

import asyncio
import threading
import time

import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.errors import PromptTooLong
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.store.db import Database
from openmaas.store.tables import Job

ALICE = Principal(account_id="acct_alice", api_key_id="key_a")
KIND = "test_kind"


async def answer(job: Job, _principal: Principal) -> dict:
    if job.payload.get("boom") == "platform":
        raise PromptTooLong(9999, 256)
    if job.payload.get("boom") == "bug":
        raise RuntimeError("handler bug")
    if job.payload.get("slow"):
        await asyncio.sleep(30)
    return {"echo": job.payload["n"]}


def state_of(db: Database, job_id: str) -> Job:
    with db.session() as session:
        return session.get(Job, job_id)


async def run_until(db: Database, worker: JobWorker, done, timeout: float = 10.0) -> None:
    await worker.start()
    deadline = time.monotonic() + timeout
    try:
        while not done():
            assert time.monotonic() < deadline, "worker did not get there in time"
            await asyncio.sleep(0.02)
    finally:
        await worker.close()


def test_outcomes_are_recorded(db):
    queue = JobQueue(db, 30)
    queue.submit(ALICE, KIND, {"n": 1}, "ok")
    queue.submit(ALICE, KIND, {"n": 2, "boom": "platform"}, "refused")
    queue.submit(ALICE, KIND, {"n": 3, "boom": "bug"}, "crashed")
    queue.submit(ALICE, "someone_elses_kind", {"n": 4}, "not-mine")
    worker = JobWorker(queue, {KIND: answer}, poll_seconds=0.02)

    def settled():
        return all(state_of(db, j).state in ("succeeded", "failed") for j in ("ok", "refused", "crashed"))

    asyncio.run(run_until(db, worker, settled))
    ok, refused, crashed = (state_of(db, j) for j in ("ok", "refused", "crashed"))
    assert (ok.state, ok.result) == ("succeeded", {"echo": 1})
    assert (refused.state, refused.error_code) == ("failed", "1261")
    assert (crashed.state, crashed.error_code) == ("failed", "500")
    assert "handler bug" in crashed.error_message
    assert state_of(db, "not-mine").state == "queued"


def test_a_job_cut_off_by_shutdown_stays_claimed_for_the_next_worker(db):
    queue = JobQueue(db, 30)
    queue.submit(ALICE, KIND, {"n": 1, "slow": True}, "long")
    worker = JobWorker(queue, {KIND: answer}, poll_seconds=0.02)
    asyncio.run(run_until(db, worker, lambda: state_of(db, "long").state == "running"))
    job = state_of(db, "long")
    assert (job.state, job.worker_id, job.result) == ("running", queue.worker_id, None)
    assert job.lease_until is not None  # it lapses, then another worker resumes the job


def test_close_waits_for_a_queue_call_in_flight(db, database_url):
    """Shutdown must not abandon a claim running in a thread: it would hand its connection
    back to a pool the app has already disposed (a leaked connection)."""
    queue = JobQueue(db, 30)
    worker = JobWorker(queue, {KIND: answer}, poll_seconds=0.02)
    blocker = Database(database_url)
    holder = blocker.engine.connect()
    holder.begin()  # SQLite: BEGIN IMMEDIATE takes the write lock
    if blocker.engine.dialect.name == "postgresql":
        holder.execute(sa.text("LOCK TABLE jobs IN EXCLUSIVE MODE"))
    else:
        holder.execute(sa.text("SELECT 1"))
    release = threading.Timer(0.6, lambda: (holder.commit(), holder.close()))

    async def scenario() -> float:
        await worker.start()
        await asyncio.sleep(0.3)  # the first claim is now stuck behind the lock
        assert db.engine.pool.checkedout() == 1
        release.start()
        started = time.monotonic()
        await worker.close()
        return time.monotonic() - started

    try:
        waited = asyncio.run(scenario())
    finally:
        release.join()
        blocker.dispose()
    assert waited >= 0.2  # close() waited for the lock to go, then for the claim
    assert db.engine.pool.checkedout() == 0


def test_close_ends_the_loop_even_when_a_wake_up_lands_with_it(db):
    """`close()` cancelling the claim loop just as a wake-up arrived (a job ending, a
    submit) once left the loop running forever: 3.11's `wait_for` returned the wake-up and
    dropped the cancellation, and `close()` waited on the loop for good (a CI hang on PG)."""
    worker = JobWorker(JobQueue(db, 30), {KIND: answer}, poll_seconds=0.05)

    async def wake_then_close() -> None:
        await worker.start()
        await asyncio.sleep(0.2)  # the loop is waiting for a wake-up or its next poll
        worker.wake()
        async with asyncio.timeout(5):
            await worker.close()

    asyncio.run(wake_then_close())
