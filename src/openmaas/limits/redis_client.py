"""The Redis client the limiter and the login throttle share their settings through."""

from __future__ import annotations

import redis.asyncio as aioredis

REDIS_CONNECTIONS = 100  # per process (redis-py's default cap)
REDIS_WAIT_SECONDS = 10.0


def redis_client(url: str) -> aioredis.Redis:
    """A burst of requests waits for a free connection (up to REDIS_WAIT_SECONDS) instead of
    failing with "Too many connections": the default pool raised it as a 500 for every
    admission beyond 100 at once (bench/fault_billing.py, 200 streams on --workers 2)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_WAIT_SECONDS
    )
    return aioredis.Redis.from_pool(pool)
