"""Picks the limiter for the settings: Redis when configured, in-process otherwise."""

from __future__ import annotations

from openmaas.config import Settings
from openmaas.limits.base import Limiter, NoLimits


def build_limiter(settings: Settings) -> Limiter:
    if not settings.limits.enabled:
        return NoLimits()
    if settings.redis_url:
        from openmaas.limits.redis_limiter import RedisLimiter

        return RedisLimiter(settings.limits, settings.redis_url)
    from openmaas.limits.memory import MemoryLimiter

    return MemoryLimiter(settings.limits)
