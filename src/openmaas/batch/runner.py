"""The `batch` job handler: run the lines in order, record each, then write the files.

validating → in_progress → finalizing → completed; a cancel seen between lines ends in
cancelled, a passed `expires_at` in expired, a batch-level problem (the input file deleted
mid-run, a file that no longer parses) in failed. Output and error files keep whatever
lines finished in every one of those ends. Cancelling the handler itself (shutdown) just
stops: the lease lapses, another worker reclaims the job and resumes at `next_index`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Iterator
from itertools import islice
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool

from openmaas.auth.principal import Principal
from openmaas.batch.input import read_requests
from openmaas.batch.progress import BatchProgress, TakenOver
from openmaas.batch.types import OUTPUT_PURPOSE, BatchRequest, LineExecutor, LineOutcome
from openmaas.errors import NotFound, PlatformError
from openmaas.files.service import FileService, Upload
from openmaas.store.tables import Batch, Job, utcnow

log = logging.getLogger(__name__)
READ_AHEAD = 64  # requests parsed per trip to the thread pool
RATE_LIMIT_ATTEMPTS = 20
MAX_RATE_LIMIT_WAIT = 5.0
SPOOL_BYTES = 8 * 1024 * 1024
FINAL_STATUS = {"in_progress": "completed", "finalizing": "completed", "cancelling": "cancelled",
                "expired": "expired"}


def output_line(batch_id: str, request: BatchRequest, outcome: LineOutcome) -> str:
    """`{"response":{"status_code","request_id","body"},"custom_id","id","error"}`."""
    record = {"response": {"status_code": outcome.status_code, "request_id": outcome.request_id,
                           "body": outcome.body},
              "custom_id": request.custom_id,
              "id": f"batch_req_{batch_id.removeprefix('batch_')}_{request.position}",
              "error": None if outcome.ok else outcome.body.get("error")}
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode()


class BatchRunner:
    def __init__(self, progress: BatchProgress, files: FileService, executor: LineExecutor) -> None:
        self._progress = progress
        self._files = files
        self._executor = executor

    async def run_job(self, job: Job) -> dict[str, Any]:
        batch = await run_in_threadpool(self._progress.start, job.payload["batch_id"])
        if batch is None:
            return {"status": "done"}
        principal = Principal(account_id=batch.account_id, api_key_id=batch.api_key_id)
        try:
            status = batch.status
            if status == "in_progress":
                status = await self._run_lines(principal, batch)
            final = await self._finalize(principal, batch, status)
        except TakenOver:
            log.warning("batch %s: another worker took the job over; stopping", batch.id)
            return {"status": "taken over"}
        except PlatformError as exc:
            await run_in_threadpool(self._progress.fail, batch.id, exc.code, exc.message, exc.param)
            return {"status": "failed"}
        except Exception as exc:
            log.exception("batch %s failed", batch.id)
            await run_in_threadpool(self._progress.fail, batch.id, "500", f"internal error: {exc}")
            return {"status": "failed"}
        return {"status": final}

    async def _run_lines(self, principal: Principal, batch: Batch) -> str:
        """Runs the lines after the cursor; returns in_progress, cancelling or expired."""
        stream = await run_in_threadpool(self._open_input, principal, batch.input_file_id)
        try:
            requests = read_requests(stream)
            while chunk := await run_in_threadpool(_take, requests, READ_AHEAD):
                for request in chunk:
                    if request.position < batch.next_index:
                        continue
                    if batch.expires_at and utcnow() >= batch.expires_at:
                        return "expired"
                    status = await self._run_one(principal, batch.id, request)
                    if status != "in_progress":
                        return status
        finally:
            stream.close()
        return "in_progress"

    async def _run_one(self, principal: Principal, batch_id: str, request: BatchRequest) -> str:
        outcome = await self._execute(principal, request)
        return await run_in_threadpool(
            self._progress.record, batch_id, request.position, outcome.ok,
            output_line(batch_id, request, outcome), outcome.prompt_tokens, outcome.completion_tokens)

    async def _execute(self, principal: Principal, request: BatchRequest) -> LineOutcome:
        """One line; a line that was only rate limited waits and runs again (bounded)."""
        for _ in range(RATE_LIMIT_ATTEMPTS):
            outcome = await self._executor.execute(principal, request)
            if outcome.retry_after is None:
                return outcome
            await asyncio.sleep(min(max(outcome.retry_after, 0.05), MAX_RATE_LIMIT_WAIT))
        return outcome

    async def _finalize(self, principal: Principal, batch: Batch, status: str) -> str:
        final = FINAL_STATUS.get(status)
        if final is None:  # ended elsewhere (failed): nothing left to write
            return status
        if final == "completed":
            await run_in_threadpool(self._progress.mark_finalizing, batch.id)
        output_id = await run_in_threadpool(self._write_file, principal, batch.id, True)
        error_id = await run_in_threadpool(self._write_file, principal, batch.id, False)
        if batch.auto_delete_input_file:  # before the end state: a finished batch has no input
            await run_in_threadpool(self._delete_input, principal, batch.input_file_id)
        await run_in_threadpool(self._progress.finish, batch.id, final, output_id, error_id)
        return final

    def _open_input(self, principal: Principal, file_id: str):
        try:
            return self._files.open_content(principal, file_id)[1]
        except NotFound:
            raise NotFound("input file (it was deleted before the batch finished)") from None

    def _write_file(self, principal: Principal, batch_id: str, ok: bool) -> str | None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as buffer:
            if not self._progress.write_results(batch_id, ok, buffer):
                return None
            size = buffer.tell()
            buffer.seek(0)
            name = f"{batch_id}_{'output' if ok else 'error'}.jsonl"
            upload = Upload(OUTPUT_PURPOSE, name, "application/jsonl", buffer, size)
            return self._files.create(principal, upload).id

    def _delete_input(self, principal: Principal, file_id: str) -> None:
        with contextlib.suppress(NotFound):  # deleted by its owner already
            self._files.delete(principal, file_id)


def _take(requests: Iterator[BatchRequest], count: int) -> list[BatchRequest]:
    return list(islice(requests, count))
