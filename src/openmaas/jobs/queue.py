"""The durable job table: submit, claim with a lease, heartbeat, finish, fail.

A claim is a conditional UPDATE (compare-and-set on state and lease), so exactly one
worker wins a job on SQLite and PostgreSQL alike. A worker that dies stops renewing
its lease; once the lease lapses the job is claimable again (up to MAX_ATTEMPTS).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.errors import NotFound
from openmaas.store.db import Database
from openmaas.store.tables import Job, utcnow

MAX_ATTEMPTS = 3


def _claimable(now):
    return sa.or_(Job.state == "queued", sa.and_(Job.state == "running", Job.lease_until < now))


class JobQueue:
    def __init__(self, db: Database, lease_seconds: float) -> None:
        self._db = db
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    def submit(self, principal: Principal, kind: str, payload: dict[str, Any], job_id: str) -> Job:
        job = Job(id=job_id, account_id=principal.account_id, api_key_id=principal.api_key_id,
                  kind=kind, payload=payload)
        with self._db.session() as session:
            session.add(job)
        return job

    def claim(self, kinds: list[str]) -> Job | None:
        now = utcnow()
        with self._db.session() as session:
            self._fail_exhausted(session, now)
            # PostgreSQL: rows another worker is claiming are skipped, not waited on.
            candidates = session.scalars(
                sa.select(Job.id).where(Job.kind.in_(kinds), _claimable(now))
                .order_by(Job.created_at).limit(8).with_for_update(skip_locked=True)).all()
            for job_id in candidates:
                won = session.execute(
                    sa.update(Job).where(Job.id == job_id, _claimable(now))
                    .values(state="running", worker_id=self.worker_id,
                            lease_until=now + self.lease, attempts=Job.attempts + 1,
                            updated_at=now)
                    .execution_options(synchronize_session=False))
                if won.rowcount == 1:
                    return session.get(Job, job_id, populate_existing=True)
        return None

    def heartbeat(self, job_id: str) -> None:
        self._update_owned(job_id, lease_until=utcnow() + self.lease)

    def finish(self, job_id: str, result: dict[str, Any]) -> None:
        self._update_owned(job_id, state="succeeded", result=result, lease_until=None)

    def fail(self, job_id: str, code: str, message: str) -> None:
        self._update_owned(job_id, state="failed", error_code=code, error_message=message,
                           lease_until=None)

    def get(self, account_id: str, job_id: str) -> Job:
        with self._db.session() as session:
            job = session.get(Job, job_id)
            if job is None or job.account_id != account_id:
                raise NotFound("task")
            return job

    def _update_owned(self, job_id: str, **values: Any) -> None:
        with self._db.session() as session:
            session.execute(sa.update(Job)
                            .where(Job.id == job_id, Job.worker_id == self.worker_id,
                                   Job.state == "running")
                            .values(updated_at=utcnow(), **values)
                            .execution_options(synchronize_session=False))

    @staticmethod
    def _fail_exhausted(session, now) -> None:
        session.execute(
            sa.update(Job).where(Job.state == "running", Job.lease_until < now,
                                 Job.attempts >= MAX_ATTEMPTS)
            .values(state="failed", error_code="1230", lease_until=None, updated_at=now,
                    error_message=f"interrupted {MAX_ATTEMPTS} times; giving up")
            .execution_options(synchronize_session=False))
