"""Replicas of one upstream model: least-outstanding-requests selection, circuit breakers,
and an active health checker.

A replica's breaker is CLOSED while it works. `failure_threshold` failures in a row (or a
failed health check) OPEN it: no traffic for `reset_seconds`. Then it is HALF_OPEN: exactly
one probe is let through — a real request or the next health check — and its outcome
closes the breaker again or re-opens it for another `reset_seconds`.

The pool is shared by asyncio code (chat, images) and by the embedding batcher's thread,
so its bookkeeping sits behind a plain lock; nothing awaits while holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import httpx

log = logging.getLogger(__name__)
Outcome = Literal["success", "failure", "neutral"]  # neutral: says nothing about the replica


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    failure_threshold: int = 3
    reset_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  # consecutive
    opened_at: float = 0.0
    probing: bool = False  # the one half-open probe is in flight
    trips: int = 0

    def try_acquire(self) -> bool:
        """May a request go to this replica now? (Takes the half-open probe slot if so.)"""
        if self.state is BreakerState.OPEN and self.reset_elapsed():
            self.state, self.probing = BreakerState.HALF_OPEN, False
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def reset_elapsed(self) -> bool:
        return self.clock() - self.opened_at >= self.reset_seconds

    def retry_in(self) -> float:
        """Seconds until this replica may take traffic again (0 when it may now)."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self.reset_seconds - (self.clock() - self.opened_at))
        return 0.0

    def record(self, outcome: Outcome) -> None:
        if outcome == "success":
            self.close()
        elif outcome == "failure":
            self.failures += 1
            if self.state is not BreakerState.CLOSED or self.failures >= self.failure_threshold:
                self.trip()
        else:
            self.probing = False  # a neutral probe (client left, 4xx): let another one try

    def close(self) -> None:
        if self.state is not BreakerState.CLOSED:
            log.info("upstream breaker closed")
        self.state, self.failures, self.probing = BreakerState.CLOSED, 0, False

    def trip(self) -> None:
        if self.state is BreakerState.CLOSED:
            self.trips += 1
        self.state, self.opened_at, self.probing = BreakerState.OPEN, self.clock(), False


@dataclass
class Replica:
    url: str  # base URL without the /v1 suffix, e.g. http://10.0.0.5:8000
    breaker: CircuitBreaker
    outstanding: int = 0
    served: int = 0  # requests that ended in success
    failed: int = 0

    @property
    def state(self) -> BreakerState:
        return self.breaker.state


@dataclass
class PoolStats:
    url: str
    state: str
    outstanding: int
    served: int
    failed: int


@dataclass
class ReplicaPool:
    replicas: list[Replica]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _turn: int = 0

    @classmethod
    def of(
        cls,
        urls: list[str],
        failure_threshold: int = 3,
        reset_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> ReplicaPool:
        return cls(
            [Replica(u.rstrip("/"), CircuitBreaker(failure_threshold, reset_seconds, clock)) for u in urls]
        )

    def acquire(self, exclude: set[str] | frozenset[str] = frozenset()) -> Replica | None:
        """The available replica with the fewest requests in flight (ties rotate), or None."""
        with self._lock:
            count = len(self.replicas)
            order = sorted(
                range(count), key=lambda i: (self.replicas[i].outstanding, (i - self._turn) % count)
            )
            for index in order:
                replica = self.replicas[index]
                if replica.url not in exclude and replica.breaker.try_acquire():
                    replica.outstanding += 1
                    self._turn = (index + 1) % count
                    return replica
            return None

    def release(self, replica: Replica, outcome: Outcome) -> None:
        with self._lock:
            replica.outstanding -= 1
            replica.served += outcome == "success"
            replica.failed += outcome == "failure"
            replica.breaker.record(outcome)

    def retry_in(self) -> float:
        with self._lock:
            return min((r.breaker.retry_in() for r in self.replicas), default=1.0)

    def outstanding(self) -> int:
        with self._lock:
            return sum(r.outstanding for r in self.replicas)

    def stats(self) -> list[PoolStats]:
        with self._lock:
            return [PoolStats(r.url, r.state.value, r.outstanding, r.served, r.failed) for r in self.replicas]

    # health checks ---------------------------------------------------------------------
    def health_result(self, replica: Replica, alive: bool) -> None:
        """A dead replica opens at once; a live one closes only once its open spell is over
        (the check is then the half-open probe), so a replica that answers /health but fails
        requests cannot flap back in early."""
        with self._lock:
            breaker = replica.breaker
            if not alive:
                if breaker.state is BreakerState.CLOSED:
                    log.warning("upstream %s failed its health check", replica.url)
                breaker.trip()
            elif breaker.state is not BreakerState.CLOSED and breaker.reset_elapsed() and not breaker.probing:
                breaker.close()


class HealthChecker:
    """Polls `GET {replica}{path}` every `interval` seconds; any HTTP answer below 500 is alive."""

    def __init__(
        self, pool: ReplicaPool, client: httpx.AsyncClient, path: str, interval: float, timeout: float
    ) -> None:
        self.pool, self.client, self.path = pool, client, path
        self.interval, self.timeout = interval, timeout
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.create_task(self._run(), name="upstream-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(r) for r in self.pool.replicas))

    async def _run(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self.interval)

    async def _check(self, replica: Replica) -> None:
        try:
            response = await self.client.get(f"{replica.url}{self.path}", timeout=self.timeout)
            alive = response.status_code < 500
        except httpx.HTTPError:
            alive = False
        self.pool.health_result(replica, alive)
