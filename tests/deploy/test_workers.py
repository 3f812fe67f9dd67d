"""`openmaas serve --workers 2` on PostgreSQL + Redis: async jobs claimed once, billed once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa
from zhipuai import ZhipuAI

from openmaas.billing import ledger
from openmaas.config import ModelConfig
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import Job, Reservation, UsageRecord
from tests.billing.test_concurrent_streams import open_funded_account
from tests.conftest import free_port

pytestmark = pytest.mark.postgres
JOBS = 30


def test_two_worker_processes_share_jobs_exactly_once(postgres_url, tmp_path):
    model = ModelConfig(
        name="fake-chat", engine="fake", aliases=["glm-4"], context_window=512, options={"token_delay": 0.01}
    )
    env = os.environ | {
        "OPENMAAS_ENVIRONMENT": "test",
        "OPENMAAS_DATA_DIR": str(tmp_path),
        "OPENMAAS_SECRET_KEY": "test-secret",
        "OPENMAAS_DATABASE_URL": postgres_url,
        "OPENMAAS_REDIS_URL": "redis://127.0.0.1:6379/0",
        "OPENMAAS_BOOTSTRAP_ACCOUNT": "false",
        "OPENMAAS_LOG_LEVEL": "warning",
        "OPENMAAS_JOB_POLL_SECONDS": "0.05",
        "OPENMAAS_MODELS": json.dumps([model.model_dump(mode="json")]),
        # prices fail closed: the fake model is priced like the other tests' fakes
        "OPENMAAS_BILLING__PRICES": json.dumps({model.name: {"input_per_1k": "0.001"}}),
    }
    db = Database(postgres_url)
    migrate.upgrade(db.engine)
    account_id, api_key = open_funded_account(db, tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "openmaas.cli", "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, process, log)
        client = ZhipuAI(api_key=api_key, base_url=f"{base}/api/paas/v4", max_retries=0)
        ids = [
            client.chat.asyncCompletions.create(
                model="glm-4", messages=[{"role": "user", "content": f"job {i} " + "word " * 10}]
            ).id
            for i in range(JOBS)
        ]
        deadline = time.monotonic() + 90
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for task_id in list(pending):
                if client.chat.asyncCompletions.retrieve_completion_result(task_id).task_status == "SUCCESS":
                    pending.discard(task_id)
            time.sleep(0.2)
        assert not pending, f"{len(pending)} jobs never finished"
        _wait_settled(db, account_id)
        with db.session() as session:
            jobs = session.scalars(sa.select(Job).where(Job.id.in_(ids))).all()
            usage = session.scalars(sa.select(UsageRecord).where(UsageRecord.account_id == account_id)).all()
            assert ledger.reconcile(session, account_id) == []
        assert all(job.attempts == 1 and job.state == "succeeded" for job in jobs), "a job ran twice"
        assert sorted(u.request_id for u in usage) == sorted(j.payload["request_id"] for j in jobs)
        assert len({job.worker_id.rsplit(":", 1)[0] for job in jobs}) >= 1
    finally:
        process.terminate()
        process.wait(30)
        db.dispose()


def _wait_ready(base: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(log.read_text())


def _wait_settled(db: Database, account_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.session() as session:
            held = session.scalar(
                sa.select(sa.func.count())
                .select_from(Reservation)
                .where(Reservation.account_id == account_id, Reservation.state == "held")
            )
            usage = session.scalar(
                sa.select(sa.func.count())
                .select_from(UsageRecord)
                .where(UsageRecord.account_id == account_id)
            )
        if held == 0 and usage >= JOBS:
            return
        time.sleep(0.2)
    raise AssertionError("settlements did not finish")
