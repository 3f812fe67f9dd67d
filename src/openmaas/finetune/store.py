"""Fine-tuning rows: jobs, their events and fine-tuned models; every read scoped to an account.

Status changes are conditional UPDATEs (`transition`): a job cancelled by the API can
never be flipped back to running or succeeded by a worker that was mid-step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.errors import InvalidField, NotFound
from openmaas.finetune.types import ACTIVE
from openmaas.jobs.queue import FailedJob
from openmaas.store.db import Database, changed_rows
from openmaas.store.paging import Page, check_limit, keyset_page
from openmaas.store.tables import FineTunedModel, FineTuningEvent, FineTuningJob, utcnow


def _visible(account_id: str):
    return sa.and_(FineTuningJob.account_id == account_id, FineTuningJob.deleted_at.is_(None))


ReleaseHold = Callable[[Session, str], None]


class FineTuneStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # jobs --------------------------------------------------------------------------------
    def insert(self, job: FineTuningJob, enqueue: Callable[[Session], Any], messages: list[str]) -> None:
        """The job, its durable queue row (`enqueue`) and its first events, in one transaction."""
        with self._db.session() as session:
            session.add(job)
            session.flush()
            enqueue(session)
            session.add_all(FineTuningEvent(job_id=job.id, message=m) for m in messages)

    def owned(self, account_id: str, job_id: str) -> FineTuningJob:
        with self._db.session(read_only=True) as session:
            job = session.scalar(
                sa.select(FineTuningJob).where(FineTuningJob.id == job_id, _visible(account_id))
            )
            if job is None:
                raise NotFound("fine-tuning job")
            return job

    def by_id(self, job_id: str) -> FineTuningJob | None:
        with self._db.session(read_only=True) as session:
            return session.get(FineTuningJob, job_id)

    def status_of(self, job_id: str) -> str | None:
        with self._db.session(read_only=True) as session:
            return session.scalar(sa.select(FineTuningJob.status).where(FineTuningJob.id == job_id))

    def page(self, account_id: str, after: str | None, limit: int) -> Page[FineTuningJob]:
        """Newest first; `after` is the last id of the previous page."""
        visible = _visible(account_id)
        query = sa.select(FineTuningJob).where(visible)
        order = (FineTuningJob.created_at, FineTuningJob.id)
        with self._db.session(read_only=True) as session:
            return keyset_page(
                session,
                query,
                order,
                limit,
                after or None,
                scope=visible,
                unknown="unknown fine-tuning job id",
            )

    def transition(self, job_id: str, sources: Sequence[str], target: str, **values: Any) -> bool:
        """Move the job to `target` if its status is one of `sources`; False if it was not."""
        with self._db.session() as session:
            done = session.execute(
                sa.update(FineTuningJob)
                .where(FineTuningJob.id == job_id, FineTuningJob.status.in_(sources))
                .values(status=target, **values)
                .execution_options(synchronize_session=False)
            )
            return changed_rows(done) == 1

    def update(self, job_id: str, **values: Any) -> None:
        with self._db.session() as session:
            session.execute(
                sa.update(FineTuningJob)
                .where(FineTuningJob.id == job_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def mark_deleted(self, account_id: str, job_id: str) -> None:
        with self._db.session() as session:
            session.execute(
                sa.update(FineTuningJob)
                .where(FineTuningJob.id == job_id, _visible(account_id))
                .values(deleted_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    # events ------------------------------------------------------------------------------
    def add_event(
        self,
        job_id: str,
        message: str,
        level: str = "info",
        kind: str = "message",
        data: dict[str, Any] | None = None,
    ) -> None:
        with self._db.session() as session:
            session.add(FineTuningEvent(job_id=job_id, message=message, level=level, type=kind, data=data))

    def events(self, account_id: str, job_id: str, after: str | None, limit: int) -> Page[FineTuningEvent]:
        """Newest first; `after` is an event id (`ftevent-<n>`) of the previous page."""
        check_limit(limit)  # before the job's lookup
        self.owned(account_id, job_id)
        of_job = FineTuningEvent.job_id == job_id
        number = _event_number(after) if after else None
        with self._db.session(read_only=True) as session:
            query = sa.select(FineTuningEvent).where(of_job)
            return keyset_page(session, query, (FineTuningEvent.id,), limit, number, scope=of_job)

    # fine-tuned models -------------------------------------------------------------------
    def succeed(self, job_id: str, model: FineTunedModel, trained_tokens: int) -> bool:
        """Register the model and finish the job together, unless the job was cancelled meanwhile."""
        with self._db.session() as session:
            done = session.execute(
                sa.update(FineTuningJob)
                .where(FineTuningJob.id == job_id, FineTuningJob.status == "running")
                .values(
                    status="succeeded",
                    fine_tuned_model=model.name,
                    trained_tokens=trained_tokens,
                    finished_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            if changed_rows(done) != 1:
                return False
            session.add(model)
            return True

    def model(self, account_id: str, name: str) -> FineTunedModel | None:
        with self._db.session(read_only=True) as session:
            return session.scalar(
                sa.select(FineTunedModel).where(
                    FineTunedModel.name == name, FineTunedModel.account_id == account_id
                )
            )

    def models(self, account_id: str) -> list[FineTunedModel]:
        with self._db.session(read_only=True) as session:
            return list(
                session.scalars(
                    sa.select(FineTunedModel)
                    .where(FineTunedModel.account_id == account_id)
                    .order_by(FineTunedModel.created_at)
                )
            )

    def all_models(self) -> list[FineTunedModel]:
        """Every account's fine-tuned models (the resolver's in-memory snapshot)."""
        with self._db.session(read_only=True) as session:
            return list(session.scalars(sa.select(FineTunedModel).order_by(FineTunedModel.created_at)))

    def delete_model(self, account_id: str, name: str) -> FineTunedModel:
        with self._db.session() as session:
            row = session.scalar(
                sa.select(FineTunedModel).where(
                    FineTunedModel.name == name, FineTunedModel.account_id == account_id
                )
            )
            if row is None:
                raise NotFound("fine-tuned model")
            session.delete(row)
            return row


def _event_number(event_id: str) -> int:
    digits = event_id.removeprefix("ftevent-")
    if not digits.isdigit():
        raise InvalidField("after", "unknown event id")
    return int(digits)


def fail_given_up_jobs(session: Session, failed: Sequence[FailedJob], release_hold: ReleaseHold) -> None:
    """The fine-tune kind's give-up hook: a job whose queue row the queue ended as failed
    (interrupted too often, its key revoked) fails with that reason, and its billing hold is
    released (nothing is charged for it); one that ended already is left alone."""
    for queued in failed:
        error = {"code": queued.code, "message": queued.message, "param": None}
        ended = session.execute(
            sa.update(FineTuningJob)
            .where(FineTuningJob.id == queued.id, FineTuningJob.status.in_(ACTIVE))
            .values(status="failed", finished_at=utcnow(), error=error)
            .returning(FineTuningJob.hold_id)
            .execution_options(synchronize_session=False)
        ).first()
        if ended is None:
            continue
        session.add(FineTuningEvent(job_id=queued.id, level="error", message=queued.message))
        if ended.hold_id:
            release_hold(session, ended.hold_id)
