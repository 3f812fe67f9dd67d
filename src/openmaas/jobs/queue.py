"""The durable job table: enqueue, claim fairly with a lease, heartbeat, finish, fail, give up.

A claim is a conditional UPDATE (compare-and-set on state and lease), so exactly one
worker wins a job on SQLite and PostgreSQL alike. A worker that dies stops renewing
its lease; once the lease lapses the job is claimable again (up to MAX_ATTEMPTS).

Every claim increments `attempts`, so (job id, attempt) is the claim's fencing token: the
queue's own writes (heartbeat, finish, fail) and a kind's writes made under `hold_lease`
are refused once another claim took the job over, even by the same worker process.

Fairness: within a kind, the claim serves the account with the fewest jobs running
(ties: the one waiting longest), skipping accounts at their running cap, so one tenant's
flood queues behind itself, not in front of everyone. `enqueue` refuses past an account's
queued cap (1302). A job the queue ends as failed (given up after too many interruptions,
its owner's key revoked, its handler failed) is handed to its kind's give-up hook in the
same transaction, so the kind's own row (a batch, a fine-tuning job, a document) fails with
it: reads never have to repair anything.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import Principal
from openmaas.errors import NotFound, RateLimited
from openmaas.jobs.settings import JobSettings
from openmaas.store.db import Database, changed_rows
from openmaas.store.tables import Job, utcnow

MAX_ATTEMPTS = 3
HEADS = 256  # accounts considered per claim (those waiting longest)
EXHAUSTED_CODE = "1230"


@dataclass(frozen=True)
class FailedJob:
    id: str
    code: str
    message: str


GiveUpHook = Callable[[Session, Sequence[FailedJob]], None]


class TakenOver(Exception):
    """The job was claimed again since this attempt began (its lease had lapsed): the stale
    attempt must stop without writing anything more."""


def hold_lease(session: Session, job_id: str, attempt: int) -> None:
    """Inside a write transaction: TakenOver unless `attempt` still holds the job. The UPDATE
    locks the job row (PostgreSQL) or the database (SQLite) until the caller commits, so no
    claim can take the job over between this check and the caller's own writes."""
    held = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.attempts == attempt, Job.state == "running")
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed_rows(held) != 1:
        raise TakenOver(job_id)


class TooManyJobs(RateLimited):
    """The account has as many jobs of this kind waiting or running as it may."""

    def __init__(self, kind: str, limit: int) -> None:
        super().__init__(
            f"排队任务过多，请等待已有任务完成 (this account already has {limit} {kind} "
            f"jobs queued or running, the most it may; wait for some to finish)",
            retry_after=5.0,
        )


def _claimable(now: datetime):
    return sa.or_(Job.state == "queued", sa.and_(Job.state == "running", Job.lease_until < now))


class JobQueue:
    def __init__(self, db: Database, lease_seconds: float, settings: JobSettings | None = None) -> None:
        """`settings` None: no per-account caps (unit tests); the app passes `settings.jobs`."""
        self._db = db
        self._settings = settings
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._give_up: dict[str, GiveUpHook] = {}
        self._wakers: list[Callable[[], None]] = []

    # wiring ------------------------------------------------------------------------------
    def on_give_up(self, kind: str, hook: GiveUpHook) -> None:
        """`hook(session, failed)` fails the kind's own rows; it must be idempotent."""
        self._give_up[kind] = hook

    def add_waker(self, wake: Callable[[], None]) -> None:
        """An in-process worker: woken after every commit that enqueued a job."""
        self._wakers.append(wake)

    def remove_waker(self, wake: Callable[[], None]) -> None:
        if wake in self._wakers:
            self._wakers.remove(wake)

    # submit ------------------------------------------------------------------------------
    def enqueue(
        self, session: Session, principal: Principal, kind: str, payload: dict[str, Any], job_id: str
    ) -> Job:
        """Adds the job inside the caller's transaction (it exists only if that commits) and
        wakes the in-process worker once it has; TooManyJobs past the account's cap."""
        self._check_queued_cap(session, principal.account_id, kind)
        job = Job(
            id=job_id,
            account_id=principal.account_id,
            api_key_id=principal.api_key_id,
            kind=kind,
            payload=payload,
        )
        session.add(job)
        if self._wakers and not sa.event.contains(session, "after_commit", self._wake_all):
            sa.event.listen(session, "after_commit", self._wake_all)
        return job

    def submit(self, principal: Principal, kind: str, payload: dict[str, Any], job_id: str) -> Job:
        """`enqueue` in a transaction of its own."""
        self.check_room(principal.account_id, kind)
        with self._db.session() as session:
            return self.enqueue(session, principal, kind, payload, job_id)

    def check_room(self, account_id: str, kind: str) -> None:
        """TooManyJobs if the account is at its queued cap, from a read-only session: a
        flood of submissions past the cap is refused without taking a turn at the writer
        (`enqueue` checks again inside the write)."""
        if self._settings is not None:
            with self._db.session(read_only=True) as session:
                self._check_queued_cap(session, account_id, kind)

    def _check_queued_cap(self, session: Session, account_id: str, kind: str) -> None:
        if self._settings is None:
            return
        limit = self._settings.queued_cap(kind)
        waiting = session.scalar(
            sa.select(sa.func.count())
            .select_from(Job)
            .where(Job.account_id == account_id, Job.kind == kind, Job.state.in_(("queued", "running")))
        )
        if (waiting or 0) >= limit:
            raise TooManyJobs(kind, limit)

    def _wake_all(self, _session: Session) -> None:
        for wake in list(self._wakers):
            wake()

    # claim -------------------------------------------------------------------------------
    def claim(self, kinds: Sequence[str]) -> Job | None:
        """The next job of the first kind in `kinds` that has one, fairly across accounts."""
        now = utcnow()
        with self._db.session() as session:
            self._fail_exhausted(session, now)
            for kind in kinds:
                if (job := self._claim_kind(session, kind, now)) is not None:
                    return job
        return None

    def _claim_kind(self, session: Session, kind: str, now: datetime) -> Job | None:
        running = self._running_by_account(session, kind, now)
        first_queued = sa.func.min(Job.created_at)
        heads = session.execute(
            sa.select(Job.account_id, first_queued)
            .where(Job.kind == kind, _claimable(now))
            .group_by(Job.account_id)
            .order_by(first_queued)
            .limit(HEADS)
        ).all()
        cap = self._settings.running_cap(kind) if self._settings else None
        for account_id, _first in sorted(heads, key=lambda h: (running.get(h[0], 0), h[1])):
            if cap is not None and running.get(account_id, 0) >= cap:
                continue
            if (job := self._claim_oldest(session, kind, account_id, now)) is not None:
                return job
        return None

    @staticmethod
    def _running_by_account(session: Session, kind: str, now: datetime) -> dict[str, int]:
        rows = session.execute(
            sa.select(Job.account_id, sa.func.count())
            .where(Job.kind == kind, Job.state == "running", Job.lease_until >= now)
            .group_by(Job.account_id)
        ).all()
        return {account_id: count for account_id, count in rows}

    def _claim_oldest(self, session: Session, kind: str, account_id: str, now: datetime) -> Job | None:
        # PostgreSQL: rows another worker is claiming are skipped, not waited on.
        candidates = session.scalars(
            sa.select(Job.id)
            .where(Job.kind == kind, Job.account_id == account_id, _claimable(now))
            .order_by(Job.created_at, Job.id)
            .limit(4)
            .with_for_update(skip_locked=True)
        ).all()
        for job_id in candidates:
            won = session.execute(
                sa.update(Job)
                .where(Job.id == job_id, _claimable(now))
                .values(
                    state="running",
                    worker_id=self.worker_id,
                    lease_until=now + self.lease,
                    attempts=Job.attempts + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if changed_rows(won) == 1:
                return session.get(Job, job_id, populate_existing=True)
        return None

    # a claimed job -----------------------------------------------------------------------
    def heartbeat(self, job_id: str, attempt: int) -> bool:
        """False when `attempt` no longer holds the job (claimed again since, or ended)."""
        return self._update_owned(job_id, attempt, lease_until=utcnow() + self.lease)

    def finish(self, job_id: str, attempt: int, result: dict[str, Any]) -> bool:
        """Records the result; False (nothing written) when `attempt` lost the job."""
        return self._update_owned(job_id, attempt, state="succeeded", result=result, lease_until=None)

    def fail(self, job_id: str, attempt: int, code: str, message: str) -> bool:
        """Ends our job as failed; its kind's give-up hook fails the kind's row with it.
        False (nothing written) when `attempt` lost the job."""
        with self._db.session() as session:
            kind = session.scalar(
                sa.update(Job)
                .where(
                    Job.id == job_id,
                    Job.attempts == attempt,
                    Job.worker_id == self.worker_id,
                    Job.state == "running",
                )
                .values(
                    state="failed",
                    error_code=code,
                    error_message=message,
                    lease_until=None,
                    updated_at=utcnow(),
                )
                .returning(Job.kind)
                .execution_options(synchronize_session=False)
            )
            if kind is not None:
                self._hand_over(session, [(job_id, kind)], code, message)
            return kind is not None

    def get(self, account_id: str, job_id: str, kind: str | None = None) -> Job:
        """The account's job (of `kind`, when given); NotFound for anything else."""
        with self._db.session(read_only=True) as session:
            job = session.get(Job, job_id)
            if job is None or job.account_id != account_id or (kind and job.kind != kind):
                raise NotFound("task")
            return job

    def _update_owned(self, job_id: str, attempt: int, **values: Any) -> bool:
        with self._db.session() as session:
            done = session.execute(
                sa.update(Job)
                .where(
                    Job.id == job_id,
                    Job.attempts == attempt,
                    Job.worker_id == self.worker_id,
                    Job.state == "running",
                )
                .values(updated_at=utcnow(), **values)
                .execution_options(synchronize_session=False)
            )
            return changed_rows(done) == 1

    def _fail_exhausted(self, session: Session, now: datetime) -> None:
        message = f"interrupted {MAX_ATTEMPTS} times; giving up"
        ended = session.execute(
            sa.update(Job)
            .where(Job.state == "running", Job.lease_until < now, Job.attempts >= MAX_ATTEMPTS)
            .values(
                state="failed",
                error_code=EXHAUSTED_CODE,
                lease_until=None,
                updated_at=now,
                error_message=message,
            )
            .returning(Job.id, Job.kind)
            .execution_options(synchronize_session=False)
        ).all()
        self._hand_over(session, [(job_id, kind) for job_id, kind in ended], EXHAUSTED_CODE, message)

    def _hand_over(self, session: Session, ended: Sequence[tuple[str, str]], code: str, message: str) -> None:
        by_kind: dict[str, list[FailedJob]] = {}
        for job_id, kind in ended:
            by_kind.setdefault(kind, []).append(FailedJob(job_id, code, message))
        for kind, failed in by_kind.items():
            if (hook := self._give_up.get(kind)) is not None:
                hook(session, failed)
