"""The durable job queue: exclusive claims, lease expiry, ownership, giving up (SQLite + PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.errors import NotFound
from openmaas.jobs.queue import MAX_ATTEMPTS, JobQueue
from openmaas.store.db import Database
from openmaas.store.tables import Job, utcnow

ALICE = Principal(account_id="acct_alice", api_key_id="key_a")
KIND = "async_chat"


@pytest.fixture
def second_db(db, database_url):
    """Another process's view of the same database: its own engine and pool."""
    other = Database(database_url)
    yield other
    other.dispose()


def submit(queue: JobQueue, job_id: str, kind: str = KIND) -> None:
    queue.submit(ALICE, kind, {"n": job_id}, job_id)


def row(db: Database, job_id: str) -> Job:
    with db.session() as session:
        return session.get(Job, job_id)


def set_row(db: Database, job_id: str, **values) -> None:
    with db.session() as session:
        session.execute(sa.update(Job).where(Job.id == job_id).values(**values))


def test_one_of_two_queues_wins_a_job(db, second_db):
    first, second = JobQueue(db, 30), JobQueue(second_db, 30)
    assert first.worker_id != second.worker_id
    submit(first, "job-1")
    won = first.claim([KIND])
    assert won is not None and won.id == "job-1"
    assert (won.state, won.worker_id, won.attempts) == ("running", first.worker_id, 1)
    assert won.lease_until > utcnow()
    assert second.claim([KIND]) is None
    assert first.claim([KIND]) is None


def test_concurrent_claims_never_hand_out_a_job_twice(db, second_db):
    queues = [JobQueue(db, 30), JobQueue(second_db, 30), JobQueue(db, 30), JobQueue(second_db, 30)]
    ids = [f"job-{i:02d}" for i in range(24)]
    for job_id in ids:
        submit(queues[0], job_id)
    claimed: dict[int, list[str]] = {i: [] for i in range(len(queues))}
    start = threading.Barrier(len(queues))

    def worker(index: int) -> None:
        start.wait()
        while (job := queues[index].claim([KIND])) is not None:
            claimed[index].append(job.id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(queues))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    everything = [job_id for jobs in claimed.values() for job_id in jobs]
    assert sorted(everything) == ids  # all claimed, none twice
    for index, jobs in claimed.items():
        for job_id in jobs:
            assert row(db, job_id).worker_id == queues[index].worker_id


def test_claims_are_oldest_first_and_filtered_by_kind(db):
    queue = JobQueue(db, 30)
    submit(queue, "other-kind", kind="ingest")
    submit(queue, "older")
    time.sleep(0.01)
    submit(queue, "newer")
    assert [queue.claim([KIND]).id, queue.claim([KIND]).id] == ["older", "newer"]
    assert queue.claim([KIND]) is None
    assert queue.claim(["ingest"]).id == "other-kind"


def test_an_expired_lease_is_reclaimed_and_the_old_owner_loses_its_writes(db, second_db):
    dead, alive = JobQueue(db, 0.2), JobQueue(second_db, 30)
    submit(dead, "job-1")
    assert dead.claim([KIND]).id == "job-1"
    assert alive.claim([KIND]) is None  # lease still running
    time.sleep(0.3)
    reclaimed = alive.claim([KIND])
    assert reclaimed is not None and reclaimed.id == "job-1"
    assert (reclaimed.worker_id, reclaimed.attempts) == (alive.worker_id, 2)

    dead.finish("job-1", 1, {"from": "the dead worker"})  # too late: not the owner any more
    dead.fail("job-1", 1, "500", "nope")
    assert (row(db, "job-1").state, row(db, "job-1").result) == ("running", None)

    alive.finish("job-1", 2, {"from": "the live worker"})
    done = row(db, "job-1")
    assert (done.state, done.result, done.lease_until) == ("succeeded", {"from": "the live worker"}, None)
    assert dead.claim([KIND]) is None and alive.claim([KIND]) is None


def test_heartbeat_extends_only_the_owners_lease(db, second_db):
    owner, other = JobQueue(db, 30), JobQueue(second_db, 30)
    submit(owner, "job-1")
    owner.claim([KIND])
    set_row(db, "job-1", lease_until=utcnow() + timedelta(seconds=1))
    other.heartbeat("job-1", 1)
    assert row(db, "job-1").lease_until < utcnow() + timedelta(seconds=2)
    owner.heartbeat("job-1", 1)
    assert row(db, "job-1").lease_until > utcnow() + timedelta(seconds=25)


def test_fail_records_the_code(db):
    queue = JobQueue(db, 30)
    submit(queue, "job-1")
    queue.claim([KIND])
    queue.fail("job-1", 1, "1261", "prompt too long")
    failed = row(db, "job-1")
    assert (failed.state, failed.error_code, failed.error_message) == ("failed", "1261", "prompt too long")
    assert queue.claim([KIND]) is None


def test_a_job_interrupted_too_often_is_given_up(db):
    queue = JobQueue(db, 30)
    submit(queue, "job-1")
    set_row(
        db,
        "job-1",
        state="running",
        worker_id="dead:1:x",
        attempts=MAX_ATTEMPTS,
        lease_until=utcnow() - timedelta(seconds=5),
    )
    assert queue.claim([KIND]) is None
    gave_up = row(db, "job-1")
    assert (gave_up.state, gave_up.error_code) == ("failed", "1230")
    assert gave_up.lease_until is None


def test_a_job_below_the_attempt_limit_is_retried(db):
    queue = JobQueue(db, 30)
    submit(queue, "job-1")
    set_row(
        db,
        "job-1",
        state="running",
        worker_id="dead:1:x",
        attempts=MAX_ATTEMPTS - 1,
        lease_until=utcnow() - timedelta(seconds=5),
    )
    assert queue.claim([KIND]).attempts == MAX_ATTEMPTS


def test_get_is_scoped_to_the_account(db):
    queue = JobQueue(db, 30)
    submit(queue, "job-1")
    assert queue.get(ALICE.account_id, "job-1").payload == {"n": "job-1"}
    with pytest.raises(NotFound):
        queue.get("acct_mallory", "job-1")
    with pytest.raises(NotFound):
        queue.get(ALICE.account_id, "no-such-job")
