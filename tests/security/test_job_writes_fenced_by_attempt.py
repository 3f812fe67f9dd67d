"""Issue 15, job fencing: a worker whose lease lapsed (the job claimed again, `attempts`
incremented) could still write the job's state and its kind's rows: the queue fenced by
worker id only (the same process re-claiming its own job got through) and batch progress
only by the line's primary key.

Now (job id, attempt) is the fencing token: the queue's heartbeat/finish/fail and every
batch progress write (under `hold_lease`, in the same transaction) are refused to a stale
attempt, and a worker that sees it lost the job stops its handler without writing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.batch.progress import TakenOver
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.store.db import Database
from openmaas.store.tables import Batch, BatchResult, Job, utcnow
from tests.batch.conftest import BatchHarness, batch_harness, chat_line

KIND = "test_kind"
ALICE = Principal(account_id="acct_alice", api_key_id=None)


@pytest.fixture
def second_db(db, database_url) -> Iterator[Database]:
    """A second worker process's view of the same database: its own engine and pool."""
    other = Database(database_url)
    yield other
    other.dispose()


@pytest.fixture
def idle_bh(make_settings) -> Iterator[BatchHarness]:
    yield from batch_harness(make_settings(run_jobs_in_process=False))


def row(db, job_id: str) -> Job:
    with db.session() as session:
        return session.get(Job, job_id)


def lapse(db, job_id: str) -> None:
    """The holder stalled past its lease (a long GC pause, a partition)."""
    with db.session() as session:
        session.execute(
            sa.update(Job).where(Job.id == job_id).values(lease_until=utcnow() - timedelta(seconds=1))
        )


def test_a_stale_attempt_of_the_same_worker_cannot_write(db):
    """Worker ids alone do not fence: the same process can claim its own lapsed job again."""
    queue = JobQueue(db, 30)
    queue.submit(ALICE, KIND, {}, "job-1")
    first = queue.claim([KIND])
    lapse(db, "job-1")
    second = queue.claim([KIND])
    assert (first.attempts, second.attempts) == (1, 2)
    assert queue.heartbeat("job-1", 1) is False
    assert queue.finish("job-1", 1, {"from": "the stale attempt"}) is False
    assert queue.fail("job-1", 1, "500", "stale") is False
    assert (row(db, "job-1").state, row(db, "job-1").result) == ("running", None)
    assert queue.finish("job-1", 2, {"from": "the live attempt"}) is True
    assert row(db, "job-1").result == {"from": "the live attempt"}


class StalledQueue(JobQueue):
    """Its renewals wait until `resume` is set: a worker stalled past its lease."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.resume = threading.Event()

    def heartbeat(self, job_id: str, attempt: int) -> bool:
        self.resume.wait(10)
        return super().heartbeat(job_id, attempt)


def test_two_claimers_a_lapsed_worker_is_stopped_and_writes_nothing(db, second_db):
    stale, live = StalledQueue(db, 0.6), JobQueue(second_db, 30)  # stale renews every 0.2 s
    stale.submit(ALICE, KIND, {}, "job-1")
    events: list[str] = []

    async def stale_handler(job, principal):
        events.append(f"stale started, attempt {job.attempts}")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("stale cancelled")
            raise
        return {"from": "stale"}

    worker = JobWorker(stale, {KIND: stale_handler}, poll_seconds=0.02, concurrency=1)  # busy: claims none

    async def scenario() -> None:
        await worker.start()
        try:
            while not events:
                await asyncio.sleep(0.02)
            lapse(db, "job-1")
            taken = await asyncio.to_thread(live.claim, [KIND])
            assert taken is not None and taken.attempts == 2
            stale.resume.set()  # its next renewal finds the job taken over
            deadline = time.monotonic() + 5
            while "stale cancelled" not in events:
                assert time.monotonic() < deadline, "the stale worker kept running"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # anything it would still write, it has written by now
        finally:
            await worker.close()

    asyncio.run(scenario())
    job = row(db, "job-1")
    assert (job.state, job.worker_id, job.attempts, job.result) == ("running", live.worker_id, 2, None)
    assert live.finish("job-1", 2, {"from": "live"})
    assert row(db, "job-1").result == {"from": "live"}


@pytest.fixture
def batch_job(idle_bh):
    """A batch whose job attempt 1 claimed, then attempt 2 took over."""
    batch_id = idle_bh.submit([chat_line("a"), chat_line("b")])["id"]
    with idle_bh.services.db.session() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == batch_id)
            .values(state="running", attempts=2, lease_until=utcnow() + timedelta(seconds=30))
        )
        session.execute(sa.update(Batch).where(Batch.id == batch_id).values(status="in_progress"))
    return idle_bh, batch_id


def test_batch_progress_refuses_the_stale_attempt(batch_job):
    bh, batch_id = batch_job
    progress = bh.services.batches.progress
    with pytest.raises(TakenOver):
        progress.record(batch_id, 0, True, "{}", 5, 5, next_index=1, attempt=1)
    with pytest.raises(TakenOver):
        progress.mark_finalizing(batch_id, attempt=1)
    with pytest.raises(TakenOver):
        progress.finish(batch_id, "completed", None, None, attempt=1)
    with pytest.raises(TakenOver):
        progress.fail(batch_id, "500", "stale", attempt=1)
    with bh.services.db.session() as session:
        batch = session.get(Batch, batch_id)
        assert (batch.status, batch.completed, batch.next_index, batch.prompt_tokens) == (
            "in_progress",
            0,
            0,
            0,
        )
        assert session.scalar(sa.select(sa.func.count()).select_from(BatchResult)) == 0
    # the live attempt writes
    assert progress.record(batch_id, 0, True, "{}", 5, 5, next_index=1, attempt=2) == "in_progress"
