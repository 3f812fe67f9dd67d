"""The `batch` job handler: run the lines, a few at a time, record each, then write the files.

Lines start in input order, up to `concurrency` at once (so an engine that batches, or
several upstream replicas, serve a batch as they would concurrent clients), and are recorded
as they finish. validating → in_progress → finalizing → completed; a cancel seen when a line
is recorded ends in cancelled (lines already running finish and are kept), a passed
`expires_at` in expired, a batch-level problem (the input file deleted mid-run, a file that
no longer parses) in failed. Output and error files keep whatever lines finished in every one
of those ends, in input order. Cancelling the handler itself (shutdown) just stops: the
lease lapses, another worker reclaims the job and resumes at `next_index`, skipping lines
recorded after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from itertools import islice
from typing import Any, BinaryIO, cast

import orjson

from openmaas.auth.principal import Principal
from openmaas.batch.input import read_requests
from openmaas.batch.progress import BatchProgress, TakenOver
from openmaas.batch.types import OUTPUT_PURPOSE, BatchRequest, LineExecutor, LineOutcome
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import NotFound, PlatformError
from openmaas.files.service import FileService, Upload
from openmaas.store.tables import Batch, Job, utcnow

log = logging.getLogger(__name__)
READ_AHEAD = 64  # requests parsed per trip to the thread pool
LINE_CONCURRENCY = 4  # lines of one batch running at once (the embedded engine's default slots)
RATE_LIMIT_ATTEMPTS = 20
MAX_RATE_LIMIT_WAIT = 5.0
SPOOL_BYTES = 8 * 1024 * 1024
FINAL_STATUS = {
    "in_progress": "completed",
    "finalizing": "completed",
    "cancelling": "cancelled",
    "expired": "expired",
}


def output_line(batch_id: str, request: BatchRequest, outcome: LineOutcome) -> str:
    """`{"response":{"status_code","request_id","body"},"custom_id","id","error"}`."""
    record = {
        "response": {
            "status_code": outcome.status_code,
            "request_id": outcome.request_id,
            "body": outcome.body,
        },
        "custom_id": request.custom_id,
        "id": f"batch_req_{batch_id.removeprefix('batch_')}_{request.position}",
        "error": None if outcome.ok else outcome.body.get("error"),
    }
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class LineCursor:
    """The first position not yet recorded, while lines finish out of order."""

    def __init__(self, start: int, recorded: set[int]) -> None:
        self.next_index = start
        self._ahead = set(recorded)  # recorded positions after next_index
        self._advance()

    def recorded(self, position: int) -> bool:
        return position < self.next_index or position in self._ahead

    def finish(self, position: int) -> int:
        self._ahead.add(position)
        self._advance()
        return self.next_index

    def _advance(self) -> None:
        while self.next_index in self._ahead:
            self._ahead.discard(self.next_index)
            self.next_index += 1


class BatchRunner:
    def __init__(
        self,
        progress: BatchProgress,
        files: FileService,
        executor: LineExecutor,
        concurrency: int = LINE_CONCURRENCY,
    ) -> None:
        self._progress = progress
        self._files = files
        self._executor = executor
        self._concurrency = concurrency
        self._output_limit = files.settings.limit_for(OUTPUT_PURPOSE)

    async def run_job(self, job: Job, principal: Principal) -> dict[str, Any]:
        """Runs the batch as its owner (checked by the worker, at the account's tier)."""
        batch = await run_in_threadpool(self._progress.start, job.payload["batch_id"])
        if batch is None:
            return {"status": "done"}
        try:
            status = batch.status
            if status == "in_progress":
                status = await self._run_lines(principal, batch, job.attempts)
            final = await self._finalize(principal, batch, status, job.attempts)
        except TakenOver:
            log.warning("batch %s: another worker took the job over; stopping", batch.id)
            raise
        except PlatformError as exc:
            await self._fail(batch.id, job.attempts, exc.code, exc.message, exc.param)
            return {"status": "failed"}
        except Exception as exc:
            log.exception("batch %s failed", batch.id)
            await self._fail(batch.id, job.attempts, "500", f"internal error: {exc}")
            return {"status": "failed"}
        return {"status": final}

    async def _fail(
        self, batch_id: str, attempt: int, code: str, message: str, param: str | None = None
    ) -> None:
        await run_in_threadpool(self._progress.fail, batch_id, code, message, param, attempt)

    async def _run_lines(self, principal: Principal, batch: Batch, attempt: int) -> str:
        """Runs the lines not yet recorded; returns in_progress, cancelling or expired.
        A later attempt (a crash): a line the earlier run charged but did not record runs
        again free, found by its request id (`line_request_id`)."""
        stream = await run_in_threadpool(self._open_input, principal, batch.input_file_id)
        recorded = await run_in_threadpool(self._progress.recorded_from, batch.id, batch.next_index)
        run = _LinesRun(
            principal,
            batch.id,
            LineCursor(batch.next_index, recorded),
            self._concurrency,
            self._run_one,
            attempt,
        )
        run.output_bytes = await run_in_threadpool(self._progress.output_bytes, batch.id)
        try:
            async with asyncio.TaskGroup() as group:
                await run.start_lines(group, read_requests(stream), batch.expires_at)
        except BaseExceptionGroup as errors:  # a line's TakenOver, the input's PlatformError...
            raise _first_error(errors) from None
        finally:
            stream.close()
        return run.status

    async def _run_one(self, run: _LinesRun, request: BatchRequest) -> None:
        """One line, unless the output file is full: then the line is not run (nor charged)
        and goes to the error file, so the output never outgrows what can be stored."""
        if run.output_bytes >= self._output_limit:
            outcome = output_full_outcome(self._output_limit)
        else:
            outcome = await self._execute(
                run.principal,
                replace(request, request_id=line_request_id(run.batch_id, request), resumed=run.attempt > 1),
            )
        line = output_line(run.batch_id, request, outcome)
        async with run.recording:  # one at a time, so the cursor written only moves forward
            next_index = run.cursor.finish(request.position)
            status = await run_in_threadpool(
                self._progress.record,
                run.batch_id,
                request.position,
                outcome.ok,
                line,
                outcome.prompt_tokens,
                outcome.completion_tokens,
                next_index,
                run.attempt,
            )
            if outcome.ok:
                run.output_bytes += len(line.encode()) + 1
        if status != "in_progress":
            run.stop(status)

    async def _execute(self, principal: Principal, request: BatchRequest) -> LineOutcome:
        """One line; a line that was only rate limited waits and runs again (bounded)."""
        for _ in range(RATE_LIMIT_ATTEMPTS):
            outcome = await self._executor.execute(principal, request)
            if outcome.retry_after is None:
                return outcome
            await asyncio.sleep(min(max(outcome.retry_after, 0.05), MAX_RATE_LIMIT_WAIT))
        return outcome

    async def _finalize(self, principal: Principal, batch: Batch, status: str, attempt: int) -> str:
        final = FINAL_STATUS.get(status)
        if final is None:  # ended elsewhere (failed): nothing left to write
            return status
        # fenced before the files are written, so a stale attempt does not write them
        await run_in_threadpool(self._progress.mark_finalizing, batch.id, attempt)
        output_id = await run_in_threadpool(self._write_file, principal, batch.id, True)
        error_id = await run_in_threadpool(self._write_file, principal, batch.id, False)
        if batch.auto_delete_input_file:  # before the end state: a finished batch has no input
            await run_in_threadpool(self._delete_input, principal, batch.input_file_id)
        await run_in_threadpool(self._progress.finish, batch.id, final, output_id, error_id, attempt)
        return final

    def _open_input(self, principal: Principal, file_id: str):
        try:
            return self._files.open_content(principal, file_id)[1]
        except NotFound:
            raise NotFound("input file (it was deleted before the batch finished)") from None

    def _write_file(self, principal: Principal, batch_id: str, ok: bool) -> str | None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spooled:
            # typeshed types it IO[bytes]; in binary mode it is a BinaryIO in all but name
            buffer = cast(BinaryIO, spooled)
            if not self._progress.write_results(batch_id, ok, buffer):
                return None
            size = buffer.tell()
            buffer.seek(0)
            name = f"{batch_id}_{'output' if ok else 'error'}.jsonl"
            upload = Upload(OUTPUT_PURPOSE, name, "application/jsonl", buffer, size)
            # Bounded by the runner already (lines stop running once it is full; the lines
            # in flight then may pass the limit a little): never refused after billing.
            return self._files.create(principal, upload, max_bytes=size).id

    def _delete_input(self, principal: Principal, file_id: str) -> None:
        with contextlib.suppress(NotFound):  # deleted by its owner already
            self._files.delete(principal, file_id)


def line_request_id(batch_id: str, request: BatchRequest) -> str:
    """The line's own `request_id`, else one derived from its batch and position: the same on
    every attempt, so a line re-run after a crash is recognised and not charged twice."""
    own = request.body.get("request_id")
    return own if isinstance(own, str) and own else f"{batch_id}-{request.position}"


def output_full_outcome(limit: int) -> LineOutcome:
    message = (
        f"批处理输出文件已达上限 (the batch's output file reached its limit of {limit} bytes; "
        "this line was not run and not charged)"
    )
    return LineOutcome(
        413, {"error": {"code": "1210", "message": message, "param": None, "type": "invalid_request_error"}}
    )


class _LinesRun:
    """One pass over a batch's lines: what is running, the cursor, and why it stopped."""

    def __init__(
        self,
        principal: Principal,
        batch_id: str,
        cursor: LineCursor,
        concurrency: int,
        run_one: Callable[[_LinesRun, BatchRequest], Awaitable[None]],
        attempt: int = 1,
    ) -> None:
        self.principal, self.batch_id, self.cursor = principal, batch_id, cursor
        self.attempt = attempt  # the job's: fences every write (a later attempt resumes free)
        self.status = "in_progress"
        self.output_bytes = 0  # of the lines recorded ok so far
        self.recording = asyncio.Lock()
        self._slots = asyncio.Semaphore(concurrency)
        self._run_one = run_one

    def stop(self, status: str) -> None:
        if self.status == "in_progress":
            self.status = status

    async def start_lines(
        self, group: asyncio.TaskGroup, requests: Iterator[BatchRequest], expires_at
    ) -> None:
        while chunk := await run_in_threadpool(_take, requests, READ_AHEAD):
            for request in chunk:
                if self.cursor.recorded(request.position):
                    continue
                await self._slots.acquire()
                if expires_at and utcnow() >= expires_at:
                    self.stop("expired")
                if self.status != "in_progress":
                    self._slots.release()
                    return
                group.create_task(self._line(request))

    async def _line(self, request: BatchRequest) -> None:
        try:
            await self._run_one(self, request)
        finally:
            self._slots.release()


def _first_error(errors: BaseExceptionGroup) -> BaseException:
    """The first exception a task group collected (usually the only one)."""
    first = errors.exceptions[0]
    return _first_error(first) if isinstance(first, BaseExceptionGroup) else first


def _take(requests: Iterator[BatchRequest], count: int) -> list[BatchRequest]:
    return list(islice(requests, count))
