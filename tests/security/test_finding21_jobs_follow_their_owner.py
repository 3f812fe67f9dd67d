"""Finding 21 (security review 2026-12), queued work: batches, async chat and fine-tunes
re-created `Principal(account_id, api_key_id)` from the job row, so they kept running after
their key was revoked or their account disabled, and always at tier V0.

Now the worker checks the job's key and account before it runs it: a revoked key or a
disabled account fails the job (1002, and its kind's row with it), and the handler runs
at the account's real tier."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from openmaas.app import create_app, make_worker
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key, revoke_key
from openmaas.auth.sealing import SecretSealer
from openmaas.jobs.owners import JobOwners
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.store.tables import Account, Batch, Job
from tests.batch.conftest import chat_line, jsonl
from tests.conftest import add_tenant

CHAT = {"model": "glm-4", "messages": [{"role": "user", "content": "hi"}]}


def run_worker_until(client, services, done, timeout: float = 30.0) -> None:
    worker = make_worker(services)
    client.portal.call(worker.start)
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "the worker did not get there in time"
            time.sleep(0.05)
    finally:
        client.portal.call(worker.close)


def job_row(services, job_id: str) -> Job:
    with services.db.session() as session:
        return session.get(Job, job_id)


def test_queued_jobs_of_a_revoked_key_fail_instead_of_running(make_settings, database_url):
    settings = make_settings(database_url=database_url, run_jobs_in_process=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services
        tenant = add_tenant(services)
        task = client.post("/api/paas/v4/async/chat/completions", json=CHAT, headers=tenant.headers).json()
        upload = client.post(
            "/api/paas/v4/files",
            headers=tenant.headers,
            data={"purpose": "batch"},
            files={"file": ("b.jsonl", jsonl([chat_line("a")]))},
        ).json()
        batch = client.post(
            "/api/paas/v4/batches",
            headers=tenant.headers,
            json={"input_file_id": upload["id"], "endpoint": "/v4/chat/completions"},
        ).json()
        with services.db.session() as session:
            revoke_key(session, tenant.account_id, tenant.key_id)
        engine = services.catalog.resolve("glm-4").engine
        run_worker_until(
            client,
            services,
            lambda: all(job_row(services, j).state == "failed" for j in (task["id"], batch["id"])),
        )
        for job_id in (task["id"], batch["id"]):
            job = job_row(services, job_id)
            assert job.error_code == "1002" and "revoked" in job.error_message
        with services.db.session() as session:
            assert session.get(Batch, batch["id"]).status == "failed"  # the kind's row failed with it
        assert engine.generations == 0  # nothing ran on the revoked key


def test_a_disabled_account_stops_its_queued_jobs(db):
    with db.session() as session:
        account = create_account(session, "soon disabled")
    queue = JobQueue(db, 30)
    queue.submit(principal_of(account.id), "test_kind", {}, "job-1")
    with db.session() as session:
        session.execute(sa.update(Account).where(Account.id == account.id).values(status="disabled"))
    ran = asyncio.run(run_one(db, queue, "job-1"))
    assert ran == []
    with db.session() as session:
        job = session.get(Job, "job-1")
    assert (job.state, job.error_code) == ("failed", "1002") and "disabled" in job.error_message


def test_jobs_run_at_the_accounts_tier(db):
    with db.session() as session:
        account = create_account(session, "paying customer")
        account.tier = "V3"
        key = issue_key(session, SecretSealer(Fernet.generate_key()), account.id, "k")
    queue = JobQueue(db, 30)
    queue.submit(principal_of(account.id, key.id), "test_kind", {}, "job-1")
    ran = asyncio.run(run_one(db, queue, "job-1"))
    assert [(p.account_id, p.api_key_id, p.tier) for p in ran] == [(account.id, key.id, "V3")]


def principal_of(account_id: str, key_id: str | None = None):
    from openmaas.auth.principal import Principal

    return Principal(account_id=account_id, api_key_id=key_id)


async def run_one(db, queue: JobQueue, job_id: str) -> list:
    ran = []

    async def handler(job, principal):
        ran.append(principal)
        return {}

    worker = JobWorker(queue, {"test_kind": handler}, poll_seconds=0.02, owner=JobOwners(db).principal)
    await worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.session() as session:
                if session.get(Job, job_id).state in ("succeeded", "failed"):
                    break
            await asyncio.sleep(0.02)
    finally:
        await worker.close()
    return ran
