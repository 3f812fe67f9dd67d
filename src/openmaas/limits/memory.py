"""In-process limiter: exact for one server process (the embedded default)."""

from __future__ import annotations

from collections import defaultdict

from openmaas.config import LimitsConfig
from openmaas.limits.base import (
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


class MemoryLimiter:
    def __init__(self, config: LimitsConfig) -> None:
        self._config = config
        self._in_flight: dict[str, int] = defaultdict(int)
        self._counters: dict[str, int] = defaultdict(int)
        self._window: str | None = None

    async def admit(self, admission: Admission) -> Ticket | None:
        rpm_key, tpm_key, retry = window_keys(admission, now())
        self._roll_window(rpm_key)
        rpm, tpm = frequency_limits(self._config, admission.principal)
        if self._counters[rpm_key] + 1 > rpm or (self._counters[tpm_key] + admission.estimated_tokens > tpm):
            raise FrequencyExceeded(retry_after=retry)
        key = concurrency_key(admission)
        if self._in_flight[key] >= concurrency_limit(self._config, admission.principal.tier):
            raise ConcurrencyExceeded(retry_after=1.0)
        self._in_flight[key] += 1
        self._counters[rpm_key] += 1
        self._counters[tpm_key] += admission.estimated_tokens
        return Ticket(key, tpm_key, admission.estimated_tokens)

    def release(self, ticket: Ticket | None, actual_tokens: int) -> None:
        if ticket is None:
            return
        self._in_flight[ticket.concurrency_key] -= 1
        if ticket.tpm_key in self._counters:  # give back what the estimate over-counted
            self._counters[ticket.tpm_key] -= max(ticket.estimated_tokens - actual_tokens, 0)

    def _roll_window(self, rpm_key: str) -> None:
        window = rpm_key.rsplit(":", 1)[1]
        if window != self._window:
            self._window = window
            self._counters.clear()

    async def close(self) -> None:
        return None
