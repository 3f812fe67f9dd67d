"""One SQLite writer at a time inside a process, admitted in arrival order.

SQLite lets one transaction write at a time. A connection that finds the write lock taken
waits in SQLite's busy handler, which polls with sleeps growing to 100 ms: under
contention a newcomer (polling every millisecond) keeps winning against a thread that
has waited longest and now sleeps 100 ms between tries. With 32 clients that starved
some requests for 1.5 s. Writers of one process therefore queue here first (first come,
first served, woken the moment the lock is handed over); SQLite's busy handler is left
with contention between processes only.

Background writers (the job worker: batch lines, async chats, claims and heartbeats) wait
behind interactive ones: a tenant's flood of jobs must not queue in front of another
tenant's request for the write lock (its billing hold, before its first token). They are
not starved: after `FOREGROUND_RUN` hand-overs in a row to interactive writers, a waiting
background writer goes next.
"""

from __future__ import annotations

import threading
from collections import deque
from contextvars import ContextVar

FOREGROUND_RUN = 8
# Set for the job worker's tasks; threads started with their context (run_in_threadpool)
# see it too. A context variable, so it follows the work wherever it runs.
BACKGROUND_WRITER: ContextVar[bool] = ContextVar("openmaas_background_writer", default=False)


class WriterGate:
    """A FIFO lock that any thread may release (a pooled connection can be returned by a
    thread other than the one that began its transaction)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()  # interactive writers
        self._background: deque[threading.Lock] = deque()
        self._foreground_run = 0  # hand-overs to interactive writers in a row

    def acquire(self, timeout: float, background: bool = False) -> bool:
        """False after `timeout` seconds: the caller proceeds and SQLite arbitrates, so a
        thread that already holds the gate (a nested write) waits no worse than before."""
        with self._mutex:
            if not self._held and not self._waiters and not self._background:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            queue = self._background if background else self._waiters
            queue.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by release(): _held stayed True
        with self._mutex:
            if turn in queue:
                queue.remove(turn)
                return False
        return True  # handed over between the timeout and the removal

    def release(self) -> None:
        with self._mutex:
            if self._waiters and not (self._background and self._foreground_run >= FOREGROUND_RUN):
                self._foreground_run += 1
                self._waiters.popleft().release()  # hand over directly: no newcomer can cut in
            elif self._background:
                self._foreground_run = 0
                self._background.popleft().release()
            else:
                self._foreground_run = 0
                self._held = False
