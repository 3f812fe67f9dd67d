"""Background work (the job worker's tasks) runs its blocking calls on threads of its own."""

from __future__ import annotations

import asyncio
import threading
import time

from openmaas.concurrency import (
    FOREGROUND_RECENT_SECONDS,
    MAX_YIELD_SECONDS,
    BackgroundThreads,
    run_in_threadpool,
    use_background_threads,
)
from openmaas.store.writer_gate import BACKGROUND_WRITER


async def _as_background(coroutine):
    BACKGROUND_WRITER.set(True)  # as the job worker's claim loop does for its tasks
    return await coroutine


def _spawn_background(coroutine) -> asyncio.Task:
    return asyncio.create_task(_as_background(coroutine))


async def test_background_calls_wait_for_their_own_threads_not_the_shared_pool() -> None:
    use_background_threads(2)
    release = threading.Event()
    running = 0
    most = 0
    lock = threading.Lock()

    def blocked() -> None:  # a job's write waiting on its own account's wallet lock
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10)
        with lock:
            running -= 1

    jobs = [_spawn_background(run_in_threadpool(blocked)) for _ in range(6)]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    answer = await run_in_threadpool(lambda: "interactive")  # not queued behind the jobs
    assert answer == "interactive"
    assert time.monotonic() - started < 1.0
    assert most == 2
    release.set()
    await asyncio.gather(*jobs)
    assert most == 2


async def test_background_work_rests_only_while_interactive_work_is_served() -> None:
    threads = BackgroundThreads(threads=1, share=0.25)
    assert threads.rest_after(0.1) == 0.0  # idle: full speed
    threads.saw_foreground()
    assert abs(threads.rest_after(0.1) - 0.3) < 1e-9  # 25 % of the CPU: rest 3x what it used
    assert threads.rest_after(10.0) == MAX_YIELD_SECONDS
    threads.last_foreground -= FOREGROUND_RECENT_SECONDS + 0.1
    assert threads.rest_after(0.1) == 0.0


async def test_a_background_call_returns_its_result_and_raises_its_error() -> None:
    use_background_threads(1)
    assert await _spawn_background(run_in_threadpool(sum, [1, 2, 3])) == 6

    def fails() -> None:
        raise ValueError("boom")

    task = _spawn_background(run_in_threadpool(fails))
    try:
        await task
    except ValueError as exc:
        assert str(exc) == "boom"
    else:
        raise AssertionError("the error was lost")
