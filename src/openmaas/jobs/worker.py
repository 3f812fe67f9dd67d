"""The worker loop: claims jobs, runs their handler, keeps the lease alive, records the end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from openmaas.errors import PlatformError
from openmaas.jobs.queue import JobQueue
from openmaas.store.tables import Job

log = logging.getLogger(__name__)
Handler = Callable[[Job], Awaitable[dict[str, Any]]]


class JobWorker:
    def __init__(self, queue: JobQueue, handlers: dict[str, Handler], poll_seconds: float,
                 concurrency: int = 4) -> None:
        self._queue = queue
        self._handlers = handlers
        self._poll = poll_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._db_calls: set[asyncio.Future] = set()

    def wake(self) -> None:
        """Called after a submit so the job starts without waiting for the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="job-worker")

    async def close(self) -> None:
        tasks = [t for t in (self._loop_task, *self._running) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Cancelling does not stop a thread: wait for queue calls still running, or they
        # finish after the app disposed the engine and leak their connection.
        await asyncio.gather(*self._db_calls, return_exceptions=True)

    async def _in_thread(self, call: Callable[..., Any], *args: Any) -> Any:
        """A queue call in the threadpool that `close()` waits for instead of abandoning."""
        future = asyncio.ensure_future(run_in_threadpool(call, *args))
        self._db_calls.add(future)
        future.add_done_callback(self._db_calls.discard)
        return await asyncio.shield(future)

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()
            job = await self._claim_safely()
            if job is None:
                self._slots.release()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll)
                self._wakeup.clear()
                continue
            task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _claim_safely(self) -> Job | None:
        try:
            return await self._in_thread(self._queue.claim, list(self._handlers))
        except Exception:
            log.exception("claiming a job failed")
            return None

    async def _run(self, job: Job) -> None:
        heartbeat = asyncio.create_task(self._keep_lease(job.id))
        try:
            result = await self._handlers[job.kind](job)
            await self._in_thread(self._queue.finish, job.id, result)
        except asyncio.CancelledError:
            raise  # shutting down: the lease lapses and another worker resumes the job
        except PlatformError as exc:
            await self._in_thread(self._queue.fail, job.id, exc.code, exc.message)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            await self._in_thread(self._queue.fail, job.id, "500", f"internal error: {exc}")
        finally:
            heartbeat.cancel()
            self._slots.release()

    async def _keep_lease(self, job_id: str) -> None:
        interval = self._queue.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            await self._in_thread(self._queue.heartbeat, job_id)
