"""Ingestion is durable: queued work survives a restart, a killed worker's job resumes."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.store.tables import Job, utcnow
from tests.conftest import add_tenant
from tests.knowledge.conftest import KnowledgeHarness
from tests.knowledge.test_knowledge_api import FACTS


def run_app(settings, tenant=None):
    app = create_app(settings)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    services = app.state.services
    tenant = tenant or add_tenant(services)
    return client, KnowledgeHarness(client, services, tenant, tenant)


def ingest_job_once_ended(kh: KnowledgeHarness, seconds: float = 10.0) -> Job:
    """The ingestion job's row once it left `running` (background bookkeeping may rest a
    moment while requests are served: openmaas.concurrency)."""
    deadline = time.monotonic() + seconds
    while True:
        with kh.services.db.session() as session:
            job = session.scalar(sa.select(Job).where(Job.kind == "knowledge_ingest"))
            assert job is not None
            session.expunge(job)
        if job.state != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_queued_ingestion_runs_after_a_restart(make_settings):
    settings = make_settings(run_jobs_in_process=False)
    client, kh = run_app(settings)
    kb_id = kh.create_kb()
    document_id = kh.upload(kb_id, [("facts.txt", FACTS.encode())])["successInfos"][0]["documentId"]
    assert kh.call("GET", f"/document/{document_id}").json()["status"] == "queued"
    client.__exit__(None, None, None)  # the server stops before any worker ran

    client, kh = run_app(make_settings(run_jobs_in_process=True), tenant=kh.tenant)
    assert kh.wait_done(document_id)["embedding_stat"] == 1
    assert "Elsbeth" in kh.retrieve(kb_id, "lighthouse keeper")[0]["text"]
    client.__exit__(None, None, None)


def test_a_killed_workers_job_is_picked_up_again(make_settings):
    client, kh = run_app(make_settings(run_jobs_in_process=False))
    kb_id = kh.create_kb()
    document_id = kh.upload(kb_id, [("facts.txt", FACTS.encode())])["successInfos"][0]["documentId"]
    with kh.services.db.session() as session:  # as if a worker claimed it, then died mid-way
        session.execute(
            sa.update(Job)
            .where(Job.kind == "knowledge_ingest")
            .values(
                state="running",
                worker_id="dead-worker",
                attempts=1,
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )
    client.__exit__(None, None, None)

    client, kh = run_app(make_settings(run_jobs_in_process=True), tenant=kh.tenant)
    assert kh.wait_done(document_id)["embedding_stat"] == 1
    job = ingest_job_once_ended(kh)  # the job's row ends just after the document's
    assert job.state == "succeeded" and job.attempts == 2
    client.__exit__(None, None, None)


def test_deleted_before_ingestion_leaves_nothing(make_settings):
    client, kh = run_app(make_settings(run_jobs_in_process=False))
    kb_id = kh.create_kb()
    document_id = kh.upload(kb_id, [("facts.txt", FACTS.encode())])["successInfos"][0]["documentId"]
    assert kh.call("DELETE", f"/document/{document_id}").status_code == 200
    client.__exit__(None, None, None)

    client, kh = run_app(make_settings(run_jobs_in_process=True), tenant=kh.tenant)
    from tests.sdk._support import wait_for

    def finished():
        with kh.services.db.session() as session:
            return session.scalar(sa.select(Job.state).where(Job.kind == "knowledge_ingest")) == "succeeded"

    wait_for(finished)
    assert kh.retrieve(kb_id, "lighthouse keeper") == []
    client.__exit__(None, None, None)
