"""Redis limiter: exact across several server processes (OPENMAAS_REDIS_URL).

Concurrency slots are members of a sorted set scored by their lease expiry, so slots of a
crashed process free themselves; admission is one Lua script (atomic on the server).
"""

from __future__ import annotations

import asyncio
import logging

from openmaas.config import LimitsConfig
from openmaas.limits.base import (
    CONCURRENCY_LEASE_SECONDS,
    WINDOW_SECONDS,
    Admission,
    ConcurrencyExceeded,
    FrequencyExceeded,
    Ticket,
    concurrency_key,
    concurrency_limit,
    frequency_limits,
    now,
    window_keys,
)
from openmaas.limits.redis_client import redis_client

log = logging.getLogger(__name__)

# KEYS: conc, rpm, tpm; ARGV: now, lease, conc_limit, rpm_limit, tpm_limit, tokens, member, ttl
ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local rpm = tonumber(redis.call('GET', KEYS[2]) or '0')
local tpm = tonumber(redis.call('GET', KEYS[3]) or '0')
if rpm + 1 > tonumber(ARGV[4]) or tpm + tonumber(ARGV[6]) > tonumber(ARGV[5]) then return 2 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[7])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
redis.call('INCRBY', KEYS[3], tonumber(ARGV[6]))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[8]))
return 0
"""


class RedisLimiter:
    def __init__(self, config: LimitsConfig, url: str) -> None:
        self._config = config
        self._redis = redis_client(url)
        self._admit = self._redis.register_script(ADMIT)
        self._pending: set[asyncio.Task] = set()

    async def admit(self, admission: Admission) -> Ticket | None:
        moment = now()
        rpm_key, tpm_key, retry = window_keys(admission, moment)
        ticket = Ticket(concurrency_key(admission), tpm_key, admission.estimated_tokens)
        limits = (
            concurrency_limit(self._config, admission.principal.tier),
            *frequency_limits(self._config, admission.principal),
        )
        verdict = await self._admit(
            keys=[ticket.concurrency_key, rpm_key, tpm_key],
            args=[
                moment,
                CONCURRENCY_LEASE_SECONDS,
                *limits,
                admission.estimated_tokens,
                ticket.id,
                2 * WINDOW_SECONDS,
            ],
        )
        if verdict == 2:
            raise FrequencyExceeded(retry_after=retry)
        if verdict == 1:
            raise ConcurrencyExceeded(retry_after=1.0)
        return ticket

    def release(self, ticket: Ticket | None, actual_tokens: int) -> None:
        if ticket is None:
            return
        task = asyncio.get_running_loop().create_task(self._release(ticket, actual_tokens))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _release(self, ticket: Ticket, actual_tokens: int) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(ticket.concurrency_key, ticket.id)
                over = ticket.estimated_tokens - actual_tokens
                if over > 0 and ticket.tpm_key:
                    pipe.decrby(ticket.tpm_key, over)
                await pipe.execute()
        except Exception:  # the lease expires the slot anyway
            log.exception("releasing a limiter slot failed")

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._redis.aclose()
