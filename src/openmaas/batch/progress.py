"""The batch row as the runner moves it: start, one durable record per line, finish.

Each finished line is one transaction: its result row (primary key batch + position, so a
line cannot be recorded twice) and the counters and resume cursor move together. Lines run
several at a time and may finish out of order, so `next_index` is the first position not
yet recorded; a job reclaimed after a restart continues there and skips the positions
after it that were recorded already, without redoing a line.

Every write of a running batch is fenced by its job's attempt (`hold_lease`, in the same
transaction): once another worker has claimed the job again, the stale attempt's writes are
refused with TakenOver and it stops.
"""

from __future__ import annotations

from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from openmaas.batch.types import RUNNABLE
from openmaas.jobs.queue import TakenOver, hold_lease
from openmaas.store.db import Database
from openmaas.store.tables import Batch, BatchResult, utcnow

READ_CHUNK = 500
FINAL_TIMESTAMPS = {
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}


__all__ = ["BatchProgress", "TakenOver"]


def _fence(session, batch_id: str, attempt: int | None) -> None:
    """The job's id is the batch's; None: unfenced (unit tests of the rows alone)."""
    if attempt is not None:
        hold_lease(session, batch_id, attempt)


class BatchProgress:
    def __init__(self, db: Database) -> None:
        self._db = db

    def start(self, batch_id: str) -> Batch | None:
        """The batch to run (validating becomes in_progress), or None if there is nothing to do."""
        with self._db.session() as session:
            batch = session.get(Batch, batch_id, with_for_update=True)
            if batch is None or batch.status not in RUNNABLE:
                return None
            if batch.status == "validating":
                batch.status, batch.in_progress_at = "in_progress", utcnow()
            return batch

    def recorded_from(self, batch_id: str, start: int) -> set[int]:
        """Positions at or after `start` that already have a result (finished ahead of the cursor)."""
        with self._db.session(read_only=True) as session:
            return set(
                session.scalars(
                    sa.select(BatchResult.position).where(
                        BatchResult.batch_id == batch_id, BatchResult.position >= start
                    )
                )
            )

    def output_bytes(self, batch_id: str) -> int:
        """Bytes the output file holds so far (each recorded ok line and its newline)."""
        sqlite = self._db.engine.dialect.name == "sqlite"
        octets = (
            sa.func.length(sa.cast(BatchResult.line, sa.LargeBinary))
            if sqlite
            else sa.func.octet_length(BatchResult.line)
        )
        with self._db.session(read_only=True) as session:
            total = session.scalar(
                sa.select(sa.func.sum(octets + 1)).where(
                    BatchResult.batch_id == batch_id, BatchResult.ok.is_(True)
                )
            )
        return int(total or 0)

    def record(
        self,
        batch_id: str,
        position: int,
        ok: bool,
        line: str,
        prompt_tokens: int,
        completion_tokens: int,
        next_index: int,
        attempt: int | None = None,
    ) -> str:
        """Store one finished line and move the cursor to `next_index` (the first position not
        yet recorded); returns the batch's status now. TakenOver: another attempt owns it."""
        try:
            return self._record(
                batch_id, position, ok, line, prompt_tokens, completion_tokens, next_index, attempt
            )
        except IntegrityError:  # another worker recorded this line first
            raise TakenOver(batch_id) from None

    def _record(
        self,
        batch_id: str,
        position: int,
        ok: bool,
        line: str,
        prompt_tokens: int,
        completion_tokens: int,
        next_index: int,
        attempt: int | None,
    ) -> str:
        with self._db.session() as session:
            _fence(session, batch_id, attempt)
            session.add(BatchResult(batch_id=batch_id, position=position, ok=ok, line=line))
            session.flush()
            session.execute(
                sa.update(Batch)
                .where(Batch.id == batch_id)
                .values(
                    completed=Batch.completed + int(ok),
                    failed=Batch.failed + int(not ok),
                    next_index=next_index,
                    prompt_tokens=Batch.prompt_tokens + prompt_tokens,
                    completion_tokens=Batch.completion_tokens + completion_tokens,
                )
                .execution_options(synchronize_session=False)
            )
            return session.scalar(sa.select(Batch.status).where(Batch.id == batch_id)) or "failed"

    def mark_finalizing(self, batch_id: str, attempt: int | None = None) -> None:
        self._set_if(batch_id, attempt, ("in_progress",), status="finalizing", finalizing_at=utcnow())

    def write_results(self, batch_id: str, ok: bool, out: BinaryIO) -> int:
        """Write the recorded output (ok) or error lines as JSONL, in input order."""
        count, after = 0, -1
        while True:
            with self._db.session(read_only=True) as session:
                rows = session.execute(
                    sa.select(BatchResult.position, BatchResult.line)
                    .where(
                        BatchResult.batch_id == batch_id, BatchResult.ok == ok, BatchResult.position > after
                    )
                    .order_by(BatchResult.position)
                    .limit(READ_CHUNK)
                ).all()
            for position, line in rows:
                out.write(line.encode() + b"\n")
                after, count = position, count + 1
            if len(rows) < READ_CHUNK:
                return count

    def finish(
        self,
        batch_id: str,
        status: str,
        output_file_id: str | None,
        error_file_id: str | None,
        attempt: int | None = None,
    ) -> None:
        """The end state and its files; the per-line rows are no longer needed."""
        with self._db.session() as session:
            _fence(session, batch_id, attempt)
            session.execute(
                sa.update(Batch)
                .where(Batch.id == batch_id)
                .values(
                    status=status,
                    output_file_id=output_file_id,
                    error_file_id=error_file_id,
                    **{FINAL_TIMESTAMPS[status]: utcnow()},
                )
                .execution_options(synchronize_session=False)
            )
            session.execute(sa.delete(BatchResult).where(BatchResult.batch_id == batch_id))

    def fail(
        self, batch_id: str, code: str, message: str, param: str | None = None, attempt: int | None = None
    ) -> None:
        errors = {
            "object": "list",
            "data": [{"code": code, "message": message, "param": param, "line": None}],
        }
        with self._db.session() as session:
            _fence(session, batch_id, attempt)
            session.execute(
                sa.update(Batch)
                .where(Batch.id == batch_id, Batch.status.in_(RUNNABLE))
                .values(status="failed", failed_at=utcnow(), errors=errors)
                .execution_options(synchronize_session=False)
            )
            session.execute(sa.delete(BatchResult).where(BatchResult.batch_id == batch_id))

    def _set_if(self, batch_id: str, attempt: int | None, statuses: tuple[str, ...], **values) -> None:
        with self._db.session() as session:
            _fence(session, batch_id, attempt)
            session.execute(
                sa.update(Batch)
                .where(Batch.id == batch_id, Batch.status.in_(statuses))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
