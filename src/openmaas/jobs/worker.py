"""The worker loop: claims jobs, runs their handler, keeps the lease alive, records the end.

Each job kind has its own pool of slots, so a kind of long jobs (batches, fine-tunes)
cannot hold the slots another kind needs; a kind is only claimed while its pool has room
(a fine-tune is claimed when the trainer is free, not to wait for it in a slot). Before a
job runs, its owner is checked (`owner`): a revoked key or a disabled account fails it,
and the handler gets the principal at the account's real tier.

A running job is stopped (its handler cancelled) when
- its owner's key is revoked or account disabled (`owner_watch`, every
  `owner_check_seconds`): the job fails with 1002; what the handler had delivered is billed
  as a cancelled call is (the meter's `finally` paths), and the kind's give-up hook fails its row;
- its lease renewal finds that another claim took the job over (a lapsed lease): nothing
  more is written, the new attempt owns the job. Every queue write carries the attempt number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import PlatformError
from openmaas.jobs.owners import trusted_owner
from openmaas.jobs.queue import JobQueue, TakenOver
from openmaas.store.tables import Job
from openmaas.store.writer_gate import BACKGROUND_WRITER

log = logging.getLogger(__name__)
Handler = Callable[[Job, Principal], Awaitable[dict[str, Any]]]
OwnerCheck = Callable[[Job], Principal]
OwnerWatch = Callable[[Sequence[Job]], Mapping[str, PlatformError]]
HEARTBEAT_RETRY_SECONDS = 1.0


@dataclass
class _Running:
    """A job this worker runs: its handler task, and why it was stopped, if it was."""

    job: Job
    handler: asyncio.Future[Any] | None = None
    stop: PlatformError | None = None  # the owner may no longer run it: fail it with this
    lost: bool = False  # another claim took it over: write nothing more
    stopped: bool = False

    def halt(self) -> None:
        """Cancels the handler, unless it has already returned (then its result stands)."""
        self.stopped = self.handler is None or self.handler.cancel()


class JobWorker:
    def __init__(
        self,
        queue: JobQueue,
        handlers: dict[str, Handler],
        poll_seconds: float,
        concurrency: int = 4,
        slots: Mapping[str, int] | None = None,
        owner: OwnerCheck = trusted_owner,
        owner_watch: OwnerWatch | None = None,
        owner_check_seconds: float = 0.5,
    ) -> None:
        self._queue = queue
        self._handlers = handlers
        self._poll = poll_seconds
        self._slots = {kind: (slots or {}).get(kind, concurrency) for kind in handlers}
        self._busy = dict.fromkeys(handlers, 0)
        self._owner = owner
        self._owner_watch = owner_watch
        self._owner_check = owner_check_seconds
        self._active: dict[str, _Running] = {}
        self._watch_task: asyncio.Task | None = None
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._db_calls: set[asyncio.Future] = set()
        self._turn = 0
        self._closing = False

    def wake(self) -> None:
        """A job was queued (from any thread): claim now instead of at the next poll."""
        if self._loop is None:
            return
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._wakeup.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._wakeup.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue.add_waker(self.wake)
        self._loop_task = asyncio.create_task(self._claim_loop(), name="job-worker")
        if self._owner_watch is not None:
            self._watch_task = asyncio.create_task(self._watch_owners(), name="job-owners")

    async def close(self) -> None:
        self._closing = True
        self._queue.remove_waker(self.wake)
        tasks = [t for t in (self._loop_task, self._watch_task, *self._running) if t]
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

    async def _claim_loop(self) -> None:
        # The jobs' tasks start from this one and inherit its context: their write
        # transactions (and the claims') wait behind interactive requests' at the writer gate.
        BACKGROUND_WRITER.set(True)
        while not self._closing:
            self._wakeup.clear()  # a wake-up from here on (a submit, a slot freed) is kept
            await self._fill_slots()
            # Not `wait_for`: on 3.11 it swallows a cancellation that lands as the wake-up
            # does (a job ending while `close()` cancels), and this loop then never ended.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wakeup.wait()

    async def _fill_slots(self) -> None:
        while kinds := self._kinds_with_room():
            job = await self._claim_safely(kinds)
            if job is None:
                return
            self._busy[job.kind] += 1
            task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _kinds_with_room(self) -> list[str]:
        """Kinds with a free slot, starting one further each time (no kind always first)."""
        if self._closing:
            return []
        kinds = [k for k in self._handlers if self._busy[k] < self._slots[k]]
        self._turn += 1
        shift = self._turn % len(kinds) if kinds else 0
        return kinds[shift:] + kinds[:shift]

    async def _claim_safely(self, kinds: list[str]) -> Job | None:
        try:
            return await self._in_thread(self._queue.claim, kinds)
        except Exception:
            log.exception("claiming a job failed")
            return None

    async def _run(self, job: Job) -> None:
        running = self._active[job.id] = _Running(job)
        heartbeat = asyncio.create_task(self._keep_lease(running))
        try:
            principal = await self._in_thread(self._owner, job)
            running.handler = asyncio.ensure_future(self._handlers[job.kind](job, principal))
            if running.stopped:  # stopped while the owner was being checked
                running.handler.cancel()
            result = await running.handler
            if running.stopped:  # the handler swallowed its cancellation
                await self._end_stopped(running)
            else:
                await self._in_thread(self._queue.finish, job.id, job.attempts, result)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not running.stopped or (task is not None and task.cancelling()):
                raise  # shutting down: the lease lapses and another worker resumes the job
            await self._end_stopped(running)
        except TakenOver:
            log.warning("job %s: another worker took it over; stopping", job.id)
        except PlatformError as exc:
            await self._in_thread(self._queue.fail, job.id, job.attempts, exc.code, exc.message)
        except Exception as exc:
            log.exception("job %s failed", job.id)
            await self._in_thread(self._queue.fail, job.id, job.attempts, "500", f"internal error: {exc}")
        finally:
            heartbeat.cancel()
            self._active.pop(job.id, None)
            self._busy[job.kind] -= 1
            self._wakeup.set()  # a slot is free

    async def _end_stopped(self, running: _Running) -> None:
        job = running.job
        if running.lost:
            log.warning("job %s: another worker took it over; stopped", job.id)
        elif running.stop is not None:
            log.info("job %s stopped: %s", job.id, running.stop.message)
            await self._in_thread(
                self._queue.fail, job.id, job.attempts, running.stop.code, running.stop.message
            )

    async def _watch_owners(self) -> None:
        """Every `owner_check_seconds`: stops the running jobs whose owner may no longer run
        them (one query for all of them); a failed check is tried again next time."""
        watch = self._owner_watch
        assert watch is not None  # started only with a watch
        while True:
            await asyncio.sleep(self._owner_check)
            watched = [r for r in self._active.values() if not r.stopped]
            if not watched:
                continue
            try:
                stops = await self._in_thread(watch, [r.job for r in watched])
            except Exception:
                log.warning("checking the owners of running jobs failed", exc_info=True)
                continue
            for running in watched:
                if (stop := stops.get(running.job.id)) is not None and not running.stopped:
                    running.stop = stop
                    running.halt()

    async def _keep_lease(self, running: _Running) -> None:
        """Renews the lease every third of it; a failed renewal (a locked database, a
        failover) is retried soon after, never the end of renewing. A renewal refused (the
        job was claimed again, or ended) stops the handler."""
        job_id, attempt = running.job.id, running.job.attempts
        interval = self._queue.lease.total_seconds() / 3
        delay = interval
        while True:
            await asyncio.sleep(delay)
            try:
                held = await self._in_thread(self._queue.heartbeat, job_id, attempt)
                delay = interval
            except Exception:
                log.warning("renewing the lease of job %s failed; retrying", job_id, exc_info=True)
                delay = min(HEARTBEAT_RETRY_SECONDS, interval / 4)
                continue
            if not held:
                running.lost = True
                running.halt()
                return
