"""Finding 8 (security review 2026-12): the job heartbeat died on its first database error,
so the lease lapsed and the job ran a second time beside the first.

The heartbeat must retry after a failed renewal and keep the lease alive."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from openmaas.auth.principal import Principal
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.store.tables import Job

KIND = "test_kind"
ALICE = Principal(account_id="acct_alice", api_key_id=None)


class FlakyQueue(JobQueue):
    """Its first two renewals fail as a locked database would."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.renewals = 0

    def heartbeat(self, job_id: str, attempt: int) -> bool:
        self.renewals += 1
        if self.renewals <= 2:
            raise OperationalError("UPDATE jobs", {}, Exception("database is locked"))
        return super().heartbeat(job_id, attempt)


def test_a_failed_renewal_is_retried_and_the_job_runs_once(db):
    queue = FlakyQueue(db, 0.6)  # renewals every 0.2 s
    queue.submit(ALICE, KIND, {}, "long")
    runs = []

    async def slow(job, principal):
        runs.append(job.attempts)
        await asyncio.sleep(2.0)  # three lease lengths
        return {"done": True}

    worker = JobWorker(queue, {KIND: slow}, poll_seconds=0.05)

    async def scenario() -> None:
        await worker.start()
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                with db.session() as session:
                    if session.scalar(sa.select(Job.state).where(Job.id == "long")) == "succeeded":
                        return
                await asyncio.sleep(0.05)
        finally:
            await worker.close()

    asyncio.run(scenario())
    with db.session() as session:
        job = session.get(Job, "long")
    assert runs == [1]  # never re-claimed while it ran
    assert (job.state, job.attempts) == ("succeeded", 1)
    assert queue.renewals >= 5  # it kept renewing after the two failures
