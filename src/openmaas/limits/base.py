"""The limiter interface and the rules shared by its in-process and Redis implementations."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from openmaas.auth.principal import Principal
from openmaas.config import LimitsConfig
from openmaas.errors import RateLimited

WINDOW_SECONDS = 60
RETRIEVAL = "retrieval"  # the limiter resources of platform-side tool work (see `admitted`)
WEB_SEARCH = "web_search"
CONCURRENCY_LEASE_SECONDS = 900  # a crashed process's slots free themselves after this


class ConcurrencyExceeded(RateLimited):
    code = "1302"
    default_message = (
        "您当前使用该 API 的并发数过高，请降低并发，或联系客服增加限额 (too many concurrent requests)"
    )


class FrequencyExceeded(RateLimited):
    code = "1303"
    default_message = "您当前使用该 API 的频率过高，请降低频率，或联系客服增加限额 (rate limit: RPM/TPM)"


@dataclass(frozen=True)
class Admission:
    """What a request asks the limiter for."""

    principal: Principal
    model: str
    estimated_tokens: int


@dataclass
class Ticket:
    concurrency_key: str
    tpm_key: str | None
    estimated_tokens: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


def concurrency_key(admission: Admission) -> str:
    return f"om:conc:{admission.principal.account_id}:{admission.model}"


def window_keys(admission: Admission, now: float) -> tuple[str, str, float]:
    """RPM and TPM counter keys of the current window, and seconds until it rolls over."""
    window = int(now // WINDOW_SECONDS)
    key = admission.principal.api_key_id or admission.principal.account_id
    retry = (window + 1) * WINDOW_SECONDS - now
    return f"om:rpm:{key}:{window}", f"om:tpm:{key}:{window}", retry


def frequency_limits(config: LimitsConfig, principal: Principal) -> tuple[int, int]:
    """RPM and TPM for the caller: the configured per-key ones, lowered by the key's own."""
    own = principal.key_limits
    rpm = min(config.rpm_per_key, own.rpm) if own is not None and own.rpm is not None else config.rpm_per_key
    tpm = min(config.tpm_per_key, own.tpm) if own is not None and own.tpm is not None else config.tpm_per_key
    return rpm, tpm


def concurrency_limit(config: LimitsConfig, tier: str) -> int:
    return config.concurrency_by_tier.get(tier, min(config.concurrency_by_tier.values()))


class Limiter(Protocol):
    async def admit(self, admission: Admission) -> Ticket | None: ...

    def release(self, ticket: Ticket | None, actual_tokens: int) -> None:
        """Never blocks or awaits: called from `finally` blocks of cancelled streams."""
        ...

    async def close(self) -> None: ...


class NoLimits:
    async def admit(self, admission: Admission) -> Ticket | None:
        return None

    def release(self, ticket: Ticket | None, actual_tokens: int) -> None:
        return None

    async def close(self) -> None:
        return None


@asynccontextmanager
async def admitted(limiter: Limiter, principal: Principal, resource: str) -> AsyncIterator[None]:
    """Platform-side work done for a caller (retrieval, web search) counts as one request of
    theirs and holds one of their concurrency slots of `resource` while it runs, so an account
    at its RPM or concurrency limit gets 1303/1302 before any of that work starts."""
    ticket = await limiter.admit(Admission(principal, resource, 0))
    try:
        yield
    finally:
        limiter.release(ticket, 0)


def now() -> float:
    return time.time()
