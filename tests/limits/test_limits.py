"""Admission limits: in-process and Redis (exact across processes), and through HTTP."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from openmaas.auth.principal import Principal
from openmaas.config import LimitsConfig, ModelConfig
from openmaas.limits.base import Admission, ConcurrencyExceeded, FrequencyExceeded
from openmaas.limits.memory import MemoryLimiter
from openmaas.limits.redis_limiter import RedisLimiter
from tests.conftest import start_live_server

REDIS = "redis://127.0.0.1:6379/0"


def admission(tokens: int = 10, tier: str = "V0") -> Admission:
    unique = uuid.uuid4().hex  # fresh keys so Redis state never leaks between tests
    return Admission(Principal(f"acct-{unique}", f"key-{unique}", tier), "glm-4", tokens)


def same_caller(base: Admission, tokens: int = 10) -> Admission:
    return Admission(base.principal, base.model, tokens)


def build(kind: str, config: LimitsConfig):
    return MemoryLimiter(config) if kind == "memory" else RedisLimiter(config, REDIS)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_concurrency_per_account_and_model(kind):
    limiter = build(kind, LimitsConfig(concurrency_by_tier={"V0": 2, "V1": 3}))
    first = admission()
    tickets = [await limiter.admit(first), await limiter.admit(same_caller(first))]
    with pytest.raises(ConcurrencyExceeded) as caught:
        await limiter.admit(same_caller(first))
    assert caught.value.code == "1302" and caught.value.retry_after > 0
    limiter.release(tickets[0], 10)
    await asyncio.sleep(0.05)
    assert await limiter.admit(same_caller(first)) is not None
    await limiter.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_rpm_and_tpm_per_key(kind):
    limiter = build(kind, LimitsConfig(rpm_per_key=3, tpm_per_key=100))
    caller = admission()
    for _ in range(3):
        limiter.release(await limiter.admit(same_caller(caller)), 10)
    with pytest.raises(FrequencyExceeded) as caught:
        await limiter.admit(same_caller(caller))
    assert caught.value.code == "1303" and 0 < caught.value.retry_after <= 60
    other = admission(tokens=101)
    with pytest.raises(FrequencyExceeded):
        await limiter.admit(other)
    await limiter.close()


async def test_redis_limits_are_exact_across_processes():
    """Two limiter instances (as in two server processes) share one budget."""
    config = LimitsConfig(concurrency_by_tier={"V0": 5}, rpm_per_key=1000)
    a, b = RedisLimiter(config, REDIS), RedisLimiter(config, REDIS)
    caller = admission()
    results = await asyncio.gather(
        *[(a if i % 2 else b).admit(same_caller(caller)) for i in range(12)], return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, ConcurrencyExceeded)) == 7
    await a.close()
    await b.close()


async def test_a_burst_beyond_the_redis_pool_waits_for_connections():
    """300 admissions at once (more than the 100 pooled connections) are all admitted: the
    default pool raised "Too many connections" (a 500) past 100 (bench/fault_billing.py)."""
    limiter = RedisLimiter(
        LimitsConfig(concurrency_by_tier={"V0": 1000}, rpm_per_key=10**6, tpm_per_key=10**9), REDIS
    )
    caller = admission()
    results = await asyncio.gather(
        *[limiter.admit(same_caller(caller)) for _ in range(300)], return_exceptions=True
    )
    assert [r for r in results if isinstance(r, BaseException)] == []
    await limiter.close()


def test_http_429_with_retry_after(make_settings):
    slow = ModelConfig(
        name="fake-chat", engine="fake", aliases=["glm-4"], context_window=256, options={"token_delay": 0.05}
    )
    settings = make_settings(models=[slow], limits=LimitsConfig(concurrency_by_tier={"V0": 1}))
    server = start_live_server(settings)
    try:
        url = f"{server.zhipu_base}/chat/completions"
        body = {
            "model": "glm-4",
            "messages": [{"role": "user", "content": "one two three four"}],
            "stream": True,
        }
        with (
            httpx.Client(headers=server.tenant.headers, timeout=30) as client,
            client.stream("POST", url, json=body) as first,
        ):
            assert first.status_code == 200
            second = client.post(url, json=body | {"stream": False})
            assert second.status_code == 429
            assert second.json()["error"]["code"] == "1302"
            assert int(second.headers["Retry-After"]) >= 1
            first.read()
        assert (
            httpx.post(
                url, json=body | {"stream": False}, headers=server.tenant.headers, timeout=30
            ).status_code
            == 200
        )
    finally:
        server.stop()
