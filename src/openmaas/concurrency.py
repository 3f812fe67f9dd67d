"""Blocking calls off the event loop, on threads that background work cannot use up.

Interactive requests and the job worker share one process and, through starlette's
`run_in_threadpool`, one pool of threads. A tenant's flood of jobs (batch lines and async
chats, each waiting on its own account's wallet lock) would hold every thread of that pool,
and another tenant's billing write, before its first token, would queue behind them; their
Python work also takes the interpreter lock from the event loop. Calls made from the job
worker's tasks (`BACKGROUND_WRITER` is set in their context) therefore run under a small
limiter of their own: background work waits for background threads, never for the shared
pool, and never holds more than a few threads at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from openmaas.store.writer_gate import BACKGROUND_WRITER

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_BACKGROUND_THREADS = 2
DEFAULT_BACKGROUND_SHARE = 0.25
FOREGROUND_RECENT_SECONDS = 1.0  # interactive calls this recent make background work yield
MAX_YIELD_SECONDS = 0.5


class BackgroundThreads:
    """The job worker's threads: at most `threads` at once and, while interactive requests
    are being served, a CPU duty cycle of `share`. After a background call that used `c`
    seconds of CPU, its thread slot rests `c * (1 / share - 1)` (at most MAX_YIELD_SECONDS):
    Python threads have no priorities, so this is how background work steps aside for the
    interpreter lock. With no interactive traffic, background work runs at full speed."""

    def __init__(self, threads: int, share: float) -> None:
        self.limiter = anyio.CapacityLimiter(max(1, threads))
        self.rest_per_cpu_second = 1 / min(1.0, max(share, 0.01)) - 1
        self.last_foreground = -FOREGROUND_RECENT_SECONDS

    def saw_foreground(self) -> None:
        self.last_foreground = time.monotonic()

    def rest_after(self, cpu_seconds: float) -> float:
        if time.monotonic() - self.last_foreground > FOREGROUND_RECENT_SECONDS:
            return 0.0
        return min(MAX_YIELD_SECONDS, cpu_seconds * self.rest_per_cpu_second)


# One per event loop (a RunVar, like anyio's own default limiter).
_BACKGROUND: RunVar[BackgroundThreads] = RunVar("openmaas_background_threads")


def use_background_threads(threads: int, share: float = DEFAULT_BACKGROUND_SHARE) -> None:
    """On the running loop: how background calls run (see BackgroundThreads)."""
    _BACKGROUND.set(BackgroundThreads(threads, share))


def _background() -> BackgroundThreads:
    try:
        return _BACKGROUND.get()
    except LookupError:
        threads = BackgroundThreads(DEFAULT_BACKGROUND_THREADS, DEFAULT_BACKGROUND_SHARE)
        _BACKGROUND.set(threads)
        return threads


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.thread_time()
    result = call()
    return result, time.thread_time() - started


async def run_in_threadpool(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """starlette's `run_in_threadpool`; background work runs as `BackgroundThreads` says."""
    call = functools.partial(func, *args, **kwargs)
    background = _background()
    if not BACKGROUND_WRITER.get():
        background.saw_foreground()
        return await anyio.to_thread.run_sync(call)
    async with background.limiter:
        result, cpu_seconds = await anyio.to_thread.run_sync(_timed, call)
        rest = background.rest_after(cpu_seconds)
        if rest > 0:
            await anyio.sleep(rest)
    return result
