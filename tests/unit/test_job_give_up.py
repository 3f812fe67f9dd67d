"""One enqueue and one give-up path (architecture review W4/W5): the job row is written in
the caller's transaction and wakes the worker itself; a job the queue gives up on is
handed to its kind's hook in the same transaction, so reads never repair (nor write)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.finetune.store import FineTuneStore, fail_given_up_jobs
from openmaas.finetune.types import KIND as FINE_TUNE
from openmaas.jobs.queue import MAX_ATTEMPTS, JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.store.tables import FineTuningEvent, FineTuningJob, Job, utcnow

ALICE = Principal(account_id="acct_alice", api_key_id=None)


def add_fine_tune(db, queue: JobQueue, job_id: str, status: str = "queued") -> None:
    job = FineTuningJob(
        id=job_id,
        account_id=ALICE.account_id,
        model="glm-4",
        base_model="glm-4",
        training_file="file-1",
        status=status,
        hold_id=f"hold-{job_id}",
        created_at=utcnow(),
    )
    FineTuneStore(db).insert(
        job,
        partial(queue.enqueue, principal=ALICE, kind=FINE_TUNE, payload={"job_id": job_id}, job_id=job_id),
        [],
    )


def interrupt_too_often(db, job_id: str) -> None:
    with db.session() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(
                state="running",
                worker_id="dead:1:x",
                attempts=MAX_ATTEMPTS,
                lease_until=utcnow() - timedelta(seconds=5),
            )
        )


def test_enqueue_writes_in_the_callers_transaction(db):
    queue = JobQueue(db, 30)
    with pytest.raises(RuntimeError), db.session() as session:
        queue.enqueue(session, ALICE, "k", {}, "rolled-back")
        raise RuntimeError("the caller's write failed")
    with db.session() as session:
        assert session.get(Job, "rolled-back") is None


def test_a_fine_tune_given_up_on_fails_and_releases_its_hold(db):
    queue, released = JobQueue(db, 30), []
    queue.on_give_up(
        FINE_TUNE, partial(fail_given_up_jobs, release_hold=lambda session, hold: released.append(hold))
    )
    add_fine_tune(db, queue, "ftjob-a")
    add_fine_tune(db, queue, "ftjob-done", status="succeeded")
    interrupt_too_often(db, "ftjob-a")
    interrupt_too_often(db, "ftjob-done")
    store = FineTuneStore(db)
    assert store.owned(ALICE.account_id, "ftjob-a").status == "queued"  # a read repairs nothing
    assert queue.claim([FINE_TUNE]) is None
    failed = store.owned(ALICE.account_id, "ftjob-a")
    assert failed.status == "failed" and "interrupted" in failed.error["message"]
    assert store.owned(ALICE.account_id, "ftjob-done").status == "succeeded"  # ended already
    assert released == ["hold-ftjob-a"]
    with db.session() as session:
        events = session.scalars(
            sa.select(FineTuningEvent.message).where(FineTuningEvent.job_id == "ftjob-a")
        ).all()
    assert any("interrupted" in e for e in events)


def test_listing_fine_tuning_jobs_writes_nothing(db):
    """W5: the listing used to fail jobs and release their holds as it read them."""
    queue = JobQueue(db, 30)
    add_fine_tune(db, queue, "ftjob-a")
    with db.session() as session:
        session.execute(sa.update(Job).values(state="failed", error_code="1230"))
    page = FineTuneStore(db).page(ALICE.account_id, None, 10)
    assert [j.status for j in page.rows] == ["queued"]
    with db.session() as session:
        assert session.get(FineTuningJob, "ftjob-a").status == "queued"


def test_an_enqueued_job_wakes_the_worker_without_the_router(db):
    queue = JobQueue(db, 30)
    done = []

    async def handler(job, principal):
        done.append(job.id)
        return {}

    worker = JobWorker(queue, {"k": handler}, poll_seconds=60)  # polling alone would take a minute

    async def scenario() -> float:
        await worker.start()
        await asyncio.sleep(0.2)  # the first (empty) claim is over: the worker now sleeps
        started = time.monotonic()
        try:
            await asyncio.to_thread(queue.submit, ALICE, "k", {}, "job-1")  # from a thread, as routes do
            while not done and time.monotonic() - started < 10:
                await asyncio.sleep(0.01)
            return time.monotonic() - started
        finally:
            await worker.close()

    assert asyncio.run(scenario()) < 2.0 and done == ["job-1"]
