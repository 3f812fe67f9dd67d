"""Create, retrieve, list and cancel batches; every query scoped to the caller's account.

`create` checks everything first (endpoint, window, metadata, then the whole input file)
and only then writes the batch row and its job in one transaction: a rejected batch
leaves nothing behind. The job's id is the batch's id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import Principal
from openmaas.batch.input import (
    InputSummary,
    check_metadata,
    endpoint_kind,
    validate_input,
    window_hours,
)
from openmaas.batch.progress import BatchProgress
from openmaas.batch.runner import LINE_CONCURRENCY, BatchRunner
from openmaas.batch.types import (
    KIND,
    MAX_REQUESTS,
    RUNNABLE,
    BatchSpec,
    BatchView,
    LineExecutor,
    batch_view,
)
from openmaas.errors import InvalidField, InvalidRequest, NotFound
from openmaas.files.service import FileService
from openmaas.jobs.queue import FailedJob, JobQueue
from openmaas.store.db import Database, changed_rows
from openmaas.store.paging import Page, keyset_page
from openmaas.store.tables import Batch, BatchResult, new_id, utcnow


class BatchNotCancellable(InvalidRequest):
    code = "1214"

    def __init__(self, status: str) -> None:
        super().__init__(f"batch 已结束，无法取消 (a {status} batch cannot be cancelled)", param="batch_id")


class BatchService:
    def __init__(
        self,
        db: Database,
        files: FileService,
        jobs: JobQueue,
        max_requests: int = MAX_REQUESTS,
        line_concurrency: int = LINE_CONCURRENCY,
    ) -> None:
        self._db = db
        self._jobs = jobs
        jobs.on_give_up(KIND, fail_given_up_batches)
        self._files = files
        self.max_requests = max_requests
        self.line_concurrency = line_concurrency
        self.progress = BatchProgress(db)

    def runner(self, executor: LineExecutor) -> BatchRunner:
        """The job handler, given how to run one line (the API layer's wire replay)."""
        return BatchRunner(self.progress, self._files, executor, self.line_concurrency)

    def create(self, principal: Principal, spec: BatchSpec) -> BatchView:
        endpoint_kind(spec.endpoint)
        hours = window_hours(spec.completion_window)
        check_metadata(spec.metadata)
        self._jobs.check_room(principal.account_id, KIND)  # before reading the file, and no write
        summary = self._validate_file(principal, spec)
        batch = _new_batch(principal, spec, summary, hours)
        with self._db.session() as session:
            session.add(batch)
            self._jobs.enqueue(session, principal, KIND, {"batch_id": batch.id}, batch.id)
        return batch_view(batch)

    def get(self, principal: Principal, batch_id: str) -> BatchView:
        with self._db.session(read_only=True) as session:
            return batch_view(self._owned(session, principal, batch_id))

    def list(self, principal: Principal, after: str | None = None, limit: int = 20) -> Page[BatchView]:
        """Newest first; `after` is the last id of the previous page (an empty page ends it)."""
        owned = Batch.account_id == principal.account_id
        query = sa.select(Batch).where(owned)
        with self._db.session(read_only=True) as session:
            page = keyset_page(
                session,
                query,
                (Batch.created_at, Batch.id),
                limit,
                after or None,
                scope=owned,
                unknown="unknown batch id",
            )
        return page.map(batch_view)

    def cancel(self, principal: Principal, batch_id: str) -> BatchView:
        """validating / in_progress → cancelling; the runner stops after the current line."""
        with self._db.session() as session:
            batch = self._owned(session, principal, batch_id, lock=True)
            if batch.status in ("validating", "in_progress"):
                batch.status, batch.cancelling_at = "cancelling", utcnow()
            elif batch.status in ("completed", "failed", "expired"):
                raise BatchNotCancellable(batch.status)
            session.flush()
            return batch_view(batch)

    def _validate_file(self, principal: Principal, spec: BatchSpec) -> InputSummary:
        try:
            row, stream = self._files.open_content(principal, spec.input_file_id)
        except NotFound:
            raise InvalidField("input_file_id", f"no file {spec.input_file_id!r} in this account") from None
        with stream:
            if row.purpose != "batch":
                raise InvalidField(
                    "input_file_id",
                    f"the file's purpose is {row.purpose!r}; upload batch input with purpose batch",
                )
            return validate_input(stream, spec.endpoint, self.max_requests)

    @staticmethod
    def _owned(session: Session, principal: Principal, batch_id: str, lock: bool = False) -> Batch:
        query = sa.select(Batch).where(Batch.id == batch_id, Batch.account_id == principal.account_id)
        batch = session.scalar(query.with_for_update() if lock else query)
        if batch is None:
            raise NotFound("batch")
        return batch


def _new_batch(principal: Principal, spec: BatchSpec, summary: InputSummary, hours: int) -> Batch:
    now = utcnow()
    return Batch(
        id=new_id("batch_"),
        account_id=principal.account_id,
        api_key_id=principal.api_key_id,
        endpoint=spec.endpoint,
        input_file_id=spec.input_file_id,
        completion_window=spec.completion_window,
        model=summary.model,
        status="validating",
        auto_delete_input_file=spec.auto_delete_input_file,
        meta=spec.metadata or None,
        total=summary.total,
        completed=0,
        failed=0,
        next_index=0,
        prompt_tokens=0,
        completion_tokens=0,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )


def fail_given_up_batches(session: Session, failed: Sequence[FailedJob]) -> None:
    """The batch kind's give-up hook: a batch whose job the queue ended as failed (interrupted
    too often, its key revoked) fails too, unless it ended already, and its per-line rows go
    (as `BatchProgress.fail` does). The job's id is the batch's."""
    for job in failed:
        errors = {
            "object": "list",
            "data": [{"code": job.code, "message": job.message, "param": None, "line": None}],
        }
        ended = session.execute(
            sa.update(Batch)
            .where(Batch.id == job.id, Batch.status.in_(RUNNABLE))
            .values(status="failed", failed_at=utcnow(), errors=errors)
            .execution_options(synchronize_session=False)
        )
        if changed_rows(ended):
            session.execute(sa.delete(BatchResult).where(BatchResult.batch_id == job.id))
