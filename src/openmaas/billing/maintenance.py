"""Periodic money housekeeping: record pack expiries, release holds of crashed processes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from openmaas.billing.service import BillingService
from openmaas.concurrency import run_in_threadpool

log = logging.getLogger(__name__)


async def run_maintenance(
    billing: BillingService, interval: float = 60.0, also: Sequence[Callable[[], object]] = ()
) -> None:
    """`also`: other periodic sweeps (e.g. purging expired request bodies), each round."""
    while True:
        try:
            await run_in_threadpool(billing.expire_packs)
            await run_in_threadpool(billing.release_stale_holds)
            for sweep in also:
                await run_in_threadpool(sweep)
        except Exception:
            log.exception("billing maintenance failed; retrying next round")
        await asyncio.sleep(interval)
