"""Attempt limits for unauthenticated and money endpoints (login, register, codes, redeem).

Fixed one-minute (or one-hour) windows counted per client address and per target (the
login name, the email/phone, the account). With `redis_url` the counters live in Redis and
hold across server processes; otherwise each process counts for itself. Over a limit:
429, code 1303, with Retry-After.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from openmaas.errors import TooManyAttempts


@dataclass(frozen=True)
class Rule:
    name: str  # "login:address", "codes:target", ...
    allowed: int
    window_seconds: int


class MemoryCounters:
    """Per-process window counters; stale windows are dropped as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._window_ends: dict[str, float] = {}

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = time.time()
        if len(self._counts) > 100_000:
            self._prune(now)
        window_end = (now // window_seconds + 1) * window_seconds
        if self._window_ends.get(key) != window_end:
            self._window_ends[key], self._counts[key] = window_end, 0
        self._counts[key] += 1
        return self._counts[key], window_end - now

    def _prune(self, now: float) -> None:
        for key in [k for k, end in self._window_ends.items() if end <= now]:
            self._window_ends.pop(key, None)
            self._counts.pop(key, None)


class RedisCounters:
    """INCR + EXPIRE on one key per window: exact across processes."""

    def __init__(self, url: str) -> None:
        from openmaas.limits.redis_client import redis_client

        self._redis = redis_client(url)

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = time.time()
        window = int(now // window_seconds)
        name = f"openmaas:throttle:{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)  # queued: a pipeline's commands run at execute()
            pipe.expire(name, window_seconds + 1)
            count, _ = await pipe.execute()
        return int(count), (window + 1) * window_seconds - now


class Throttle:
    def __init__(self, counters: MemoryCounters | RedisCounters) -> None:
        self._counters = counters

    async def check(self, rule: Rule, subject: str) -> None:
        """Counts one attempt by `subject` under `rule`; TooManyAttempts past the limit."""
        digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
        count, retry_after = await self._counters.hit(f"{rule.name}:{digest}", rule.window_seconds)
        if count > rule.allowed:
            raise TooManyAttempts(retry_after=max(1.0, retry_after))


def build_throttle(redis_url: str | None) -> Throttle:
    return Throttle(RedisCounters(redis_url) if redis_url else MemoryCounters())
