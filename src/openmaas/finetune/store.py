"""Fine-tuning rows: jobs, their events and fine-tuned models; every read scoped to an account.

Status changes are conditional UPDATEs (`transition`): a job cancelled by the API can
never be flipped back to running or succeeded by a worker that was mid-step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.errors import InvalidField, NotFound
from openmaas.finetune.types import ACTIVE
from openmaas.store.db import Database
from openmaas.store.tables import FineTunedModel, FineTuningEvent, FineTuningJob, Job, utcnow

MAX_PAGE = 100


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    has_more: bool


def _visible(account_id: str):
    return sa.and_(FineTuningJob.account_id == account_id, FineTuningJob.deleted_at.is_(None))


ReleaseHold = Callable[[Session, str], None]


class FineTuneStore:
    def __init__(self, db: Database, release_hold: ReleaseHold) -> None:
        self._db = db
        self._release_hold = release_hold  # BillingService.release

    # jobs --------------------------------------------------------------------------------
    def insert(self, job: FineTuningJob, queued: Job, messages: list[str]) -> None:
        """The job, its durable queue row and its first events, in one transaction."""
        with self._db.session() as session:
            session.add_all([job, queued])
            session.flush()
            session.add_all(FineTuningEvent(job_id=job.id, message=m) for m in messages)

    def owned(self, account_id: str, job_id: str) -> FineTuningJob:
        with self._db.session() as session:
            job = session.scalar(sa.select(FineTuningJob).where(FineTuningJob.id == job_id,
                                                                _visible(account_id)))
            if job is None:
                raise NotFound("fine-tuning job")
            adopt_failed_jobs(session, [job], self._release_hold)
            return job

    def by_id(self, job_id: str) -> FineTuningJob | None:
        with self._db.session() as session:
            return session.get(FineTuningJob, job_id)

    def status_of(self, job_id: str) -> str | None:
        with self._db.session() as session:
            return session.scalar(sa.select(FineTuningJob.status).where(FineTuningJob.id == job_id))

    def page(self, account_id: str, after: str | None, limit: int) -> Page:
        """Newest first; `after` is the last id of the previous page."""
        _check_limit(limit)
        query = sa.select(FineTuningJob).where(_visible(account_id))
        with self._db.session() as session:
            if after:
                cursor = session.scalar(sa.select(FineTuningJob).where(
                    FineTuningJob.id == after, _visible(account_id)))
                if cursor is None:
                    raise InvalidField("after", "unknown fine-tuning job id")
                key = sa.tuple_(FineTuningJob.created_at, FineTuningJob.id)
                query = query.where(key < sa.tuple_(
                    sa.literal(cursor.created_at, FineTuningJob.created_at.type), sa.literal(cursor.id)))
            rows = list(session.scalars(query.order_by(FineTuningJob.created_at.desc(),
                                                       FineTuningJob.id.desc()).limit(limit + 1)))
            adopt_failed_jobs(session, rows[:limit], self._release_hold)
        return Page(rows[:limit], len(rows) > limit)

    def transition(self, job_id: str, sources: Sequence[str], target: str, **values: Any) -> bool:
        """Move the job to `target` if its status is one of `sources`; False if it was not."""
        with self._db.session() as session:
            done = session.execute(sa.update(FineTuningJob)
                                   .where(FineTuningJob.id == job_id, FineTuningJob.status.in_(sources))
                                   .values(status=target, **values)
                                   .execution_options(synchronize_session=False))
            return done.rowcount == 1

    def update(self, job_id: str, **values: Any) -> None:
        with self._db.session() as session:
            session.execute(sa.update(FineTuningJob).where(FineTuningJob.id == job_id).values(**values)
                            .execution_options(synchronize_session=False))

    def mark_deleted(self, account_id: str, job_id: str) -> None:
        with self._db.session() as session:
            session.execute(sa.update(FineTuningJob).where(FineTuningJob.id == job_id, _visible(account_id))
                            .values(deleted_at=utcnow()).execution_options(synchronize_session=False))

    # events ------------------------------------------------------------------------------
    def add_event(self, job_id: str, message: str, level: str = "info", kind: str = "message",
                  data: dict[str, Any] | None = None) -> None:
        with self._db.session() as session:
            session.add(FineTuningEvent(job_id=job_id, message=message, level=level, type=kind, data=data))

    def events(self, account_id: str, job_id: str, after: str | None, limit: int) -> Page:
        """Newest first; `after` is an event id (`ftevent-<n>`) of the previous page."""
        _check_limit(limit)
        self.owned(account_id, job_id)
        query = sa.select(FineTuningEvent).where(FineTuningEvent.job_id == job_id)
        if after:
            query = query.where(FineTuningEvent.id < _event_number(after))
        with self._db.session() as session:
            rows = list(session.scalars(query.order_by(FineTuningEvent.id.desc()).limit(limit + 1)))
        return Page(rows[:limit], len(rows) > limit)

    # fine-tuned models -------------------------------------------------------------------
    def succeed(self, job_id: str, model: FineTunedModel, trained_tokens: int) -> bool:
        """Register the model and finish the job together, unless the job was cancelled meanwhile."""
        with self._db.session() as session:
            done = session.execute(sa.update(FineTuningJob)
                                   .where(FineTuningJob.id == job_id, FineTuningJob.status == "running")
                                   .values(status="succeeded", fine_tuned_model=model.name,
                                           trained_tokens=trained_tokens, finished_at=utcnow())
                                   .execution_options(synchronize_session=False))
            if done.rowcount != 1:
                return False
            session.add(model)
            return True

    def model(self, account_id: str, name: str) -> FineTunedModel | None:
        with self._db.session() as session:
            return session.scalar(sa.select(FineTunedModel).where(
                FineTunedModel.name == name, FineTunedModel.account_id == account_id))

    def models(self, account_id: str) -> list[FineTunedModel]:
        with self._db.session() as session:
            return list(session.scalars(sa.select(FineTunedModel).where(
                FineTunedModel.account_id == account_id).order_by(FineTunedModel.created_at)))

    def delete_model(self, account_id: str, name: str) -> FineTunedModel:
        with self._db.session() as session:
            row = session.scalar(sa.select(FineTunedModel).where(
                FineTunedModel.name == name, FineTunedModel.account_id == account_id))
            if row is None:
                raise NotFound("fine-tuned model")
            session.delete(row)
            return row


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"between 1 and {MAX_PAGE}")


def _event_number(event_id: str) -> int:
    digits = event_id.removeprefix("ftevent-")
    if not digits.isdigit():
        raise InvalidField("after", "unknown event id")
    return int(digits)


def adopt_failed_jobs(session: Session, jobs: Sequence[FineTuningJob], release_hold: ReleaseHold) -> None:
    """A job whose queue row was given up on (interrupted too often) is failed, with that
    reason, and its billing hold released (nothing is charged for it)."""
    active = {j.id: j for j in jobs if j.status in ACTIVE}
    if not active:
        return
    failed = session.execute(sa.select(Job.id, Job.error_code, Job.error_message).where(
        Job.id.in_(active), Job.state == "failed")).all()
    for job_id, code, message in failed:
        job = active[job_id]
        job.status, job.finished_at = "failed", utcnow()
        job.error = {"code": code or "500", "message": message or "the fine-tuning job failed",
                     "param": None}
        session.add(FineTuningEvent(job_id=job_id, level="error", message=job.error["message"]))
        if job.hold_id:
            release_hold(session, job.hold_id)
