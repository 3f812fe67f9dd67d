"""The one place tool endpoints are admitted and charged.

`ToolMeter.metered()` admits the call through the limiter, holds the upper bound of its
units on the platform's meter (billing/meter.py: per unit like images, or tokens like
embeddings for token-priced tools), lets the caller do the work and report the units it
really used, then records them (or releases the hold when the work failed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from openmaas.auth.principal import Principal
from openmaas.billing.meter import Bound
from openmaas.billing.meter import Meter as PlatformMeter
from openmaas.errors import InvalidField
from openmaas.limits.base import Admission, Limiter
from openmaas.tools_api.prices import ToolPrice


@dataclass
class Meter:
    request_id: str
    units: int  # what the call used; starts at the held upper bound

    def use(self, units: int) -> None:
        self.units = max(0, units)


class ToolMeter:
    def __init__(self, meter: PlatformMeter, limiter: Limiter) -> None:
        self._meter = meter
        self._limiter = limiter

    @asynccontextmanager
    async def metered(
        self,
        principal: Principal,
        price: ToolPrice,
        units: int,
        endpoint: str,
        request_id: str | None = None,
        resource: str | None = None,
    ) -> AsyncIterator[Meter]:
        """`resource`: the limiter resource admitted (default the price row: a tool endpoint's
        own; the chat-side tools keep theirs, limits/base.py)."""
        if units < 0:
            raise InvalidField("input", "negative usage")
        ticket = await self._limiter.admit(Admission(principal, resource or price.item, units))
        bound = Bound(prompt_tokens=units) if price.per_token else Bound(images=max(units, 1))
        try:
            async with self._meter.hold(
                principal, price.item, price.item, bound, endpoint=endpoint, request_id=request_id
            ) as metered:
                usage = Meter(metered.request_id, units)
                yield usage
                used = min(usage.units, units)
                if price.per_token:
                    metered.record(used, 0)
                else:
                    metered.record(0, used)
        finally:
            self._limiter.release(ticket, units)
