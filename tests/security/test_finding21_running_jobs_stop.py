"""Finding 21, the rest (issue 15): a job already *running* when its owner's key is revoked,
or its account disabled, kept running to the end (only queued jobs were checked).

Now the worker re-checks the owners of the jobs it runs every `owner_check_seconds` and
stops those that may no longer run: the job fails with 1002 within the revocation window
(one second, plus the check), the tokens already generated are billed once (as a cancelled
call), and the kind's row fails without half-written rows."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from openmaas.app import create_app, make_worker
from openmaas.auth.accounts import create_account
from openmaas.auth.keys import issue_key, revoke_key
from openmaas.auth.principal import Principal
from openmaas.auth.sealing import SecretSealer
from openmaas.jobs.owners import JobOwners
from openmaas.jobs.queue import JobQueue
from openmaas.jobs.worker import JobWorker
from openmaas.store.tables import Account, Batch, BatchResult, Job, Reservation, StoredFile, UsageRecord
from tests.batch.conftest import chat_line, jsonl
from tests.conftest import add_tenant

KIND = "test_kind"
WINDOW = 2.0  # seconds from the revocation to the job's end
LONG_TEXT = " ".join(f"word{i}" for i in range(200))


def job_row(services, job_id: str) -> Job:
    with services.db.session() as session:
        return session.get(Job, job_id)


def wait_for(done, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def usage_of(client, services, **where) -> list[UsageRecord]:
    client.portal.call(services.usage.flush)
    with services.db.session() as session:
        return list(session.scalars(sa.select(UsageRecord).filter_by(**where)))


def reservations(services, account_id: str) -> list[Reservation]:
    with services.db.session() as session:
        return list(session.scalars(sa.select(Reservation).where(Reservation.account_id == account_id)))


def open_holds(services, account_id: str) -> int:
    with services.db.session() as session:
        return (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Reservation)
                .where(Reservation.account_id == account_id, Reservation.state == "held")
            )
            or 0
        )


def test_a_running_async_chat_stops_when_its_key_is_revoked(make_settings, database_url):
    settings = make_settings(database_url=database_url, run_jobs_in_process=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services
        tenant = add_tenant(services)
        engine = services.catalog.resolve("glm-4").engine
        engine.token_delay = 0.05  # 120 tokens: six seconds of generation
        engine.enqueue(LONG_TEXT)
        task = client.post(
            "/api/paas/v4/async/chat/completions",
            headers=tenant.headers,
            json={"model": "glm-4", "max_tokens": 120, "messages": [{"role": "user", "content": "talk"}]},
        ).json()
        worker = make_worker(services)
        client.portal.call(worker.start)
        try:
            wait_for(lambda: engine.generations == 1)
            time.sleep(0.5)  # some tokens out
            with services.db.session() as session:
                revoke_key(session, tenant.account_id, tenant.key_id)
            revoked_at = time.monotonic()
            wait_for(lambda: job_row(services, task["id"]).state != "running")
            stopped_after = time.monotonic() - revoked_at
        finally:
            client.portal.call(worker.close)
        job = job_row(services, task["id"])
        assert (job.state, job.error_code, job.result) == ("failed", "1002", None)
        assert "revoked" in job.error_message
        assert stopped_after < WINDOW, f"stopped {stopped_after:.2f} s after the revocation"
        rows = usage_of(client, services, account_id=tenant.account_id)
        assert len(rows) == 1  # billed once: the tokens generated before the stop
        assert rows[0].status == "cancelled" and 0 < rows[0].completion_tokens < 120
        (hold,) = reservations(services, tenant.account_id)  # charged once, for what was generated
        assert hold.state == "settled" and (hold.charged_tokens or hold.charged_micro) > 0


def test_a_running_batch_stops_when_its_account_is_disabled(make_settings):
    settings = make_settings(run_jobs_in_process=False, batch_line_concurrency=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        services = client.app.state.services
        tenant = add_tenant(services)
        engine = services.catalog.resolve("glm-4").engine
        engine.token_delay = 0.02
        lines = [chat_line(f"r{i}", " ".join(["word"] * 20)) for i in range(40)]
        upload = client.post(
            "/api/paas/v4/files",
            headers=tenant.headers,
            data={"purpose": "batch"},
            files={"file": ("b.jsonl", jsonl(lines))},
        ).json()
        batch = client.post(
            "/api/paas/v4/batches",
            headers=tenant.headers,
            json={"input_file_id": upload["id"], "endpoint": "/v4/chat/completions"},
        ).json()
        worker = make_worker(services)
        client.portal.call(worker.start)
        try:
            wait_for(lambda: batch_row(services, batch["id"]).completed >= 2)
            with services.db.session() as session:
                session.execute(
                    sa.update(Account).where(Account.id == tenant.account_id).values(status="disabled")
                )
            disabled_at = time.monotonic()
            wait_for(lambda: job_row(services, batch["id"]).state != "running")
            stopped_after = time.monotonic() - disabled_at
        finally:
            client.portal.call(worker.close)
        assert stopped_after < WINDOW, f"stopped {stopped_after:.2f} s after the account was disabled"
        job, row = job_row(services, batch["id"]), batch_row(services, batch["id"])
        assert (job.state, job.error_code) == ("failed", "1002") and "disabled" in job.error_message
        assert row.status == "failed" and row.errors["data"][0]["code"] == "1002"
        assert row.completed < 40 and row.output_file_id is None  # stopped, no files written
        with services.db.session() as session:
            assert session.scalar(sa.select(sa.func.count()).select_from(BatchResult)) == 0
            assert (
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(StoredFile)
                    .where(StoredFile.purpose == "batch_output")
                )
                == 0
            )
        rows = usage_of(client, services, account_id=tenant.account_id)
        by_request = [r.request_id for r in rows]
        assert len(by_request) == len(set(by_request))  # each line billed at most once
        assert len(rows) >= row.completed  # every recorded line billed (and the lines cut off)
        assert open_holds(services, tenant.account_id) == 0


def batch_row(services, batch_id: str) -> Batch:
    with services.db.session() as session:
        return session.get(Batch, batch_id)


def test_a_handler_is_cancelled_within_the_window_on_revocation(db):
    """The worker alone: a long handler is cancelled (not left to finish) and the job fails."""
    with db.session() as session:
        account = create_account(session, "soon revoked")
        key = issue_key(session, SecretSealer(Fernet.generate_key()), account.id, "k")
    queue = JobQueue(db, 30)
    queue.submit(Principal(account_id=account.id, api_key_id=key.id), KIND, {}, "job-1")
    events: list[str] = []

    async def long_handler(job, principal):
        events.append("started")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        return {"finished": True}

    owners = JobOwners(db)
    worker = JobWorker(
        queue,
        {KIND: long_handler},
        poll_seconds=0.02,
        owner=owners.principal,
        owner_watch=owners.stopped,
        owner_check_seconds=0.2,
    )

    async def scenario() -> float:
        await worker.start()
        try:
            while events != ["started"]:
                await asyncio.sleep(0.02)
            with db.session() as session:
                revoke_key(session, account.id, key.id)
            revoked_at = time.monotonic()
            while state(db, "job-1") == "running":
                assert time.monotonic() - revoked_at < 10
                await asyncio.sleep(0.02)
            return time.monotonic() - revoked_at
        finally:
            await worker.close()

    took = asyncio.run(scenario())
    assert took < 1.0 and events == ["started", "cancelled"]
    with db.session() as session:
        job = session.get(Job, "job-1")
    assert (job.state, job.error_code, job.result) == ("failed", "1002", None)


def state(db, job_id: str) -> str:
    with db.session() as session:
        return session.scalar(sa.select(Job.state).where(Job.id == job_id))
