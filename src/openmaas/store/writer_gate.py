"""One SQLite writer at a time inside a process, admitted in arrival order.

SQLite lets one transaction write at a time. A connection that finds the write lock taken
waits in SQLite's busy handler, which polls with sleeps growing to 100 ms: under
contention a newcomer (polling every millisecond) keeps winning against a thread that
has waited longest and now sleeps 100 ms between tries. With 32 clients that starved
some requests for 1.5 s. Writers of one process therefore queue here first (first come,
first served, woken the moment the lock is handed over); SQLite's busy handler is left
with contention between processes only.
"""

from __future__ import annotations

import threading
from collections import deque


class WriterGate:
    """A FIFO lock that any thread may release (a pooled connection can be returned by a
    thread other than the one that began its transaction)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float) -> bool:
        """False after `timeout` seconds: the caller proceeds and SQLite arbitrates, so a
        thread that already holds the gate (a nested write) waits no worse than before."""
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        if turn.acquire(timeout=timeout):
            return True  # handed over by release(): _held stayed True
        with self._mutex:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        return True  # handed over between the timeout and the removal

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # hand over directly: no newcomer can cut in
            else:
                self._held = False
