"""Finding 4 (security review 2026-12): cross-tenant starvation of the job worker.

One account's flood of jobs must not push another account's jobs back (round-robin by
account within a kind), an account has caps on jobs queued (1302 at submit) and running,
and each kind has its own worker slots: a fine-tune waiting for the trainer holds none.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.auth.principal import Principal
from openmaas.jobs.queue import JobQueue, TooManyJobs
from openmaas.jobs.settings import JobSettings
from openmaas.jobs.worker import JobWorker
from openmaas.store.tables import Job
from tests.conftest import add_tenant

KIND = "async_chat"
FLOODER = Principal(account_id="acct_flood", api_key_id=None)
QUIET = Principal(account_id="acct_quiet", api_key_id=None)
THIRD = Principal(account_id="acct_third", api_key_id=None)


def fair_queue(db, **caps) -> JobQueue:
    settings = JobSettings(
        max_queued_per_account={"*": caps.get("queued", 1000)},
        max_running_per_account={"*": caps.get("running", 1000)},
    )
    return JobQueue(db, 30, settings)


def submit_many(queue: JobQueue, principal: Principal, count: int, kind: str = KIND) -> list[str]:
    ids = [f"{principal.account_id}-{i:03d}" for i in range(count)]
    for job_id in ids:
        queue.submit(principal, kind, {}, job_id)
    return ids


def test_a_flood_does_not_delay_another_accounts_job(db):
    queue = fair_queue(db)
    submit_many(queue, FLOODER, 30)
    time.sleep(0.01)
    (quiet,) = submit_many(queue, QUIET, 1)
    first, second = queue.claim([KIND]), queue.claim([KIND])
    assert first.account_id == FLOODER.account_id  # it was first
    assert second.id == quiet  # not behind the 29 others: the quiet account had none running


def test_claims_go_round_robin_across_accounts(db):
    queue = fair_queue(db)
    for principal in (FLOODER, QUIET, THIRD):
        submit_many(queue, principal, 6)
    claimed = Counter(queue.claim([KIND]).account_id for _ in range(9))
    assert claimed == {FLOODER.account_id: 3, QUIET.account_id: 3, THIRD.account_id: 3}


def test_an_account_at_its_running_cap_waits(db):
    queue = fair_queue(db, running=2)
    submit_many(queue, FLOODER, 5)
    running = [queue.claim([KIND]), queue.claim([KIND])]
    assert all(running) and queue.claim([KIND]) is None  # capped, though 3 are queued
    (quiet,) = submit_many(queue, QUIET, 1)
    assert queue.claim([KIND]).id == quiet  # others are not held back by the cap
    queue.finish(running[0].id, running[0].attempts, {})
    assert queue.claim([KIND]).account_id == FLOODER.account_id


def test_past_the_queued_cap_a_submission_is_refused_with_1302(db):
    queue = fair_queue(db, queued=3)
    submit_many(queue, FLOODER, 3)
    with pytest.raises(TooManyJobs) as refused:
        queue.submit(FLOODER, KIND, {}, "one-too-many")
    assert refused.value.code == "1302" and refused.value.http_status == 429
    with db.session() as session:
        assert session.get(Job, "one-too-many") is None  # nothing half-written
    submit_many(queue, QUIET, 3)  # another account has its own cap
    job = queue.claim([KIND])
    queue.finish(job.id, job.attempts, {})
    queue.submit(job_principal(job), KIND, {}, "room-again")  # a finished job frees its place


def job_principal(job: Job) -> Principal:
    return Principal(account_id=job.account_id, api_key_id=job.api_key_id)


def test_a_waiting_fine_tune_holds_no_slot_of_other_kinds(db):
    """Fine-tunes have one slot (the trainer's): a second one stays queued, and async chat
    jobs keep running beside the training."""
    queue = JobQueue(db, 30)
    release = asyncio.Event()

    async def train(job, principal):
        await release.wait()
        return {}

    async def chat(job, principal):
        return {"ok": True}

    submit_many(queue, FLOODER, 2, kind="fine_tune")
    time.sleep(0.01)
    chats = submit_many(queue, QUIET, 6)
    worker = JobWorker(
        queue, {"fine_tune": train, KIND: chat}, poll_seconds=0.02, slots={"fine_tune": 1, KIND: 2}
    )

    async def scenario() -> dict[str, str]:
        await worker.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and states(db, chats) != {"succeeded"}:
                await asyncio.sleep(0.02)
            return dict(states_by_id(db))
        finally:
            release.set()
            await worker.close()

    seen = asyncio.run(scenario())
    assert {seen[c] for c in chats} == {"succeeded"}
    assert sorted(s for i, s in seen.items() if "flood" in i) == ["queued", "running"]


def states(db, ids: list[str]) -> set[str]:
    by_id = states_by_id(db)
    return {by_id[i] for i in ids}


def states_by_id(db) -> dict[str, str]:
    with db.session() as session:
        return dict(session.execute(sa.select(Job.id, Job.state)).all())


def test_async_chat_submissions_past_the_cap_get_1302(make_settings):
    settings = make_settings(
        run_jobs_in_process=False, jobs=JobSettings(max_queued_per_account={"async_chat": 2})
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services
        flooder, quiet = add_tenant(services, "flooder"), add_tenant(services, "quiet")
        body = {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}

        def submit(tenant):
            return client.post("/api/paas/v4/async/chat/completions", json=body, headers=tenant.headers)

        assert [submit(flooder).status_code for _ in range(2)] == [200, 200]
        refused = submit(flooder)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "1302"
        assert submit(quiet).status_code == 200
