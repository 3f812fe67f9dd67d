"""The meter: the one entry point through which every chargeable call pays.

    async with meter.hold(principal, model, canonical, Bound(prompt, max_tokens),
                          endpoint="embeddings") as m:     # 1113 / 1231 raised here
        ...run the work...
        m.record(prompt_tokens, completion_tokens)          # else released on exit, uncharged

or, for a call that outlives one block (a chat stream), `m = await meter.open(...)`, then
`m.progress(...)` while it delivers and exactly one `m.record(...)` / `m.release(...)`.

The meter owns the price lookup (fail closed: `PriceBook.price` raises for an unpriced
name), the free/enabled check, the choice between this process's funds lease (no database
round trip) and an exact database hold, the retry after freeing funds, the usage row and
the release on error or disconnect. Callers never see the ledger, the lease book or the
usage recorder. Crash safety: a running call's delivered tokens are flushed about once a
second (`UsageRecorder`); when this process dies, any other (or its restart) charges them
and releases its holds (`billing/recovery.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.auth.principal import Principal
from openmaas.billing.money import Price, ceil_div
from openmaas.billing.pricing import ServedModel, price_problems
from openmaas.billing.recovery import heartbeat, recover_dead, register_owner, unregister_owner
from openmaas.billing.service import BillingService, Hold
from openmaas.billing.usage import InFlight, UsageEvent, UsageRecorder
from openmaas.chat.ids import new_request_id
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import PlatformError
from openmaas.observability.metrics import Metrics
from openmaas.store.db import Database
from openmaas.store.tables import Reservation

log = logging.getLogger(__name__)

RETRY_SEPARATOR = ":retry"
RETRY_BASE_CHARS = 112
MAX_RESUMES = 20  # retry ids looked at; a job is given up on long before (jobs.queue.MAX_ATTEMPTS)


def prior_attempts(db: Database, account_id: str, request_id: str) -> tuple[bool, str]:
    """(whether an earlier attempt under `request_id` paid or still holds, the id to hold under
    now). Attempts are `request_id`, `request_id:retry1`, ...: a released, uncharged attempt
    (killed before it delivered anything) leaves its id used, so the next one moves on."""
    base = request_id[:RETRY_BASE_CHARS]  # a retry id fits the column (128) too
    ids = [request_id] + [f"{base}{RETRY_SEPARATOR}{i}" for i in range(1, MAX_RESUMES + 1)]
    with db.session() as session:
        rows = session.execute(
            sa.select(
                Reservation.request_id,
                Reservation.state,
                Reservation.charged_micro,
                Reservation.charged_tokens,
            ).where(Reservation.account_id == account_id, Reservation.request_id.in_(ids))
        ).all()
    if any(state != "released" or micro or tokens for _, state, micro, tokens in rows):
        return True, request_id
    used = {row[0] for row in rows}
    return False, next((i for i in ids if i not in used), ids[-1])


@dataclass(frozen=True, slots=True)
class Bound:
    """The most a call may use, held before it runs. `images`: a per-image call."""

    prompt_tokens: int = 0
    max_tokens: int = 0  # completion allowance
    flexible: bool = False  # no max_tokens from the caller: shrink the allowance to the funds
    images: int = 0


class Metered:
    """One admitted call's hold; report exactly one outcome (`record` or `release`)."""

    def __init__(
        self,
        meter: Meter,
        principal: Principal,
        request_id: str,
        endpoint: str,
        model: str,
        price: Price,
        hold: Hold | None,
        max_tokens: int,
        prompt_cap: int | None,
    ) -> None:
        self._meter = meter
        self._principal = principal
        self.request_id = request_id
        self.endpoint = endpoint
        self.model = model
        self.price = price
        self.max_tokens = max_tokens  # the completion allowance granted (may be below the bound)
        self._hold = hold
        self._prompt_cap = prompt_cap  # a prompt count settles at most at what was held
        self._began = time.perf_counter()
        self.closed = False
        self.inflight: InFlight | None = None
        if hold is not None:
            self.inflight = meter.recorder.track(
                InFlight(
                    account_id=principal.account_id,
                    api_key_id=principal.api_key_id,
                    request_id=request_id,
                    endpoint=endpoint,
                    model=model,
                    price=price,
                    max_tokens=max_tokens,
                    reservation_id=hold.reservation_id,
                )
            )

    @property
    def charged(self) -> bool:
        """Whether this call holds funds (False: free, or billing is off)."""
        return self._hold is not None

    def progress(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> None:
        """Tokens delivered so far: charged after a crash (flushed about every second)."""
        if self.inflight is not None and not self.closed:
            self.inflight.update(self._billable_prompt(prompt_tokens, cached_tokens), completion_tokens)

    def record(
        self,
        prompt_tokens: int,
        completion_tokens: int,
        *,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
        status: str = "success",
        error_code: str | None = None,
        charge: bool = True,
    ) -> None:
        """The call's outcome: charge real usage (capped at the hold) and write its usage row.
        `cached_tokens` are part of `prompt_tokens`, billed at the cache rate; `reasoning_tokens`
        part of `completion_tokens`, billed as output. A second outcome is ignored."""
        if self.closed:
            return
        self.closed = True
        prompt_tokens, completion_tokens = max(prompt_tokens, 0), max(completion_tokens, 0)
        cached_tokens = min(max(cached_tokens, 0), prompt_tokens)
        hold = self._hold
        self._meter.recorder.record(
            UsageEvent(
                account_id=self._principal.account_id,
                api_key_id=self._principal.api_key_id,
                request_id=self.request_id,
                endpoint=self.endpoint,
                model=self.model,
                prompt_tokens=prompt_tokens if charge else 0,
                completion_tokens=completion_tokens,
                latency_ms=int((time.perf_counter() - self._began) * 1000),
                status=status,
                error_code=error_code,
                reservation_id=hold.reservation_id if hold else None,
                charge=charge and hold is not None,
                lease=hold.lease if hold else None,
                billed_prompt=self._billable_prompt(prompt_tokens, cached_tokens) if charge else 0,
                cached_tokens=cached_tokens,
                reasoning_tokens=max(reasoning_tokens, 0),
                inflight=self.inflight,
            )
        )

    def release(
        self, status: str = "cancelled", error_code: str | None = None, completion_tokens: int = 0
    ) -> None:
        """Give the hold back without charging (the work failed or never ran)."""
        self.record(0, completion_tokens, status=status, error_code=error_code, charge=False)

    def _billable_prompt(self, prompt_tokens: int, cached_tokens: int) -> int:
        """Prompt tokens as billed: cached ones at the cache rate, never above what was held
        (an upstream's own count may exceed our estimate: finding 18)."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        billable = prompt_tokens - cached + ceil_div(cached * self._meter.cache_percent, 100)
        return billable if self._prompt_cap is None else min(billable, self._prompt_cap)


class Meter:
    def __init__(
        self,
        billing: BillingService,
        recorder: UsageRecorder,
        metrics: Metrics | None = None,
        cache_percent: int = 100,
        heartbeat_seconds: float = 2.0,
        dead_seconds: float = 15.0,
    ) -> None:
        self._billing = billing
        self.recorder = recorder
        self._metrics = metrics
        self.cache_percent = cache_percent
        self._heartbeat_seconds = heartbeat_seconds
        self._dead_seconds = dead_seconds
        self._task: asyncio.Task[None] | None = None
        recorder.recover = self.recover_dead

    # lifecycle -----------------------------------------------------------------------------
    def check_prices(self, served: list[ServedModel]) -> None:
        """Refuse to start when a served name has no price or a free name shares a priced
        model (prices fail closed)."""
        if not self._billing.config.enabled:
            return
        problems = price_problems(self._billing.prices, served)
        if problems:
            raise ValueError("refusing to start, unsafe prices:\n  " + "\n  ".join(problems))

    async def start(self) -> None:
        """Register this process as an owner, charge and release what dead ones left (a
        restart after kill -9 finds its predecessor's pid gone: recovered at once), then keep
        a heartbeat."""
        await self.recorder.start()
        await run_in_threadpool(register_owner, self._billing.db, self.recorder.owner)
        await run_in_threadpool(self.recover_dead)
        self._task = asyncio.create_task(self._beat_forever(), name="meter-heartbeat")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.recorder.close()
        if self.recorder.idle():  # nothing left for a peer to recover
            await run_in_threadpool(unregister_owner, self._billing.db, self.recorder.owner)

    def recover_dead(self) -> int:
        """Charge dead owners' delivered tokens and release their holds (blocking)."""
        return recover_dead(self._billing.db, self._billing, self.recorder.owner, self._dead_seconds)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            try:
                await run_in_threadpool(heartbeat, self._billing.db, self.recorder.owner)
                await run_in_threadpool(self.recover_dead)
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("meter heartbeat failed; retrying", exc_info=True)

    def price(self, model: str, canonical: str, price_percent: int = 100) -> Price:
        if not self._billing.config.enabled:
            return Price()
        return self._billing.prices.price(model, canonical).scaled(price_percent)

    def charges(self, model: str, canonical: str) -> bool:
        return self._billing.config.enabled and not self.price(model, canonical).free

    async def open(
        self,
        principal: Principal,
        model: str,
        canonical: str,
        bound: Bound,
        *,
        endpoint: str,
        request_id: str | None = None,
        price_percent: int = 100,
        use_lease: bool = True,
        resume: bool = False,
    ) -> Metered:
        """Hold funds for `bound` (on this process's lease when it can: a request id the client
        chose must be checked against the database for reuse, 1231). Raises 1113 / 1231.

        `resume`: a durable job's work run again after a crash, under the request id of its
        earlier attempt. When that attempt paid (or still holds), this run is free; when it was
        released uncharged, this one holds under the next retry id (`prior_attempts`)."""
        chosen = request_id is not None
        request_id = request_id or new_request_id()
        price = self.price(model, canonical, price_percent)
        if resume and chosen and not price.free and self._billing.config.enabled:
            paid, hold_id = await run_in_threadpool(
                prior_attempts, self._billing.db, principal.account_id, request_id
            )
            if paid:
                self._count_hold("resumed")
                return Metered(
                    self,
                    principal,
                    request_id,
                    endpoint,
                    model,
                    Price(),
                    None,
                    bound.images or bound.max_tokens,
                    None,
                )
            request_id = hold_id
        allowance = bound.images if bound.images else bound.max_tokens
        if price.free or not self._billing.config.enabled:
            return Metered(self, principal, request_id, endpoint, model, price, None, allowance, None)
        hold = None
        if use_lease and not chosen and not bound.images:
            hold = await self.recorder.lease_hold_soon(
                principal.account_id, model, price, bound.prompt_tokens, bound.max_tokens
            )
        if hold is not None:
            self._count_hold("lease")
        else:
            self._count_hold("exact")
            hold = await self._hold_exactly(principal, model, canonical, bound, request_id, price_percent)
        if hold is None:  # the price became free between the two lookups
            return Metered(self, principal, request_id, endpoint, model, price, None, allowance, None)
        return Metered(
            self,
            principal,
            request_id,
            endpoint,
            model,
            price,
            hold,
            hold.max_tokens,
            None if bound.images else bound.prompt_tokens,
        )

    @contextlib.asynccontextmanager
    async def hold(
        self,
        principal: Principal,
        model: str,
        canonical: str,
        bound: Bound,
        *,
        endpoint: str,
        request_id: str | None = None,
        price_percent: int = 100,
        resume: bool = False,
    ) -> AsyncIterator[Metered]:
        """`open`, then release the hold uncharged unless the block called `record`."""
        metered = await self.open(
            principal,
            model,
            canonical,
            bound,
            endpoint=endpoint,
            request_id=request_id,
            price_percent=price_percent,
            use_lease=False,
            resume=resume,
        )
        try:
            yield metered
        except PlatformError as exc:
            metered.release("error", exc.code)
            raise
        except BaseException:
            metered.release("error", "500")
            raise
        finally:
            metered.release("cancelled")  # a no-op after record()

    async def _hold_exactly(
        self,
        principal: Principal,
        model: str,
        canonical: str,
        bound: Bound,
        request_id: str,
        price_percent: int,
    ) -> Hold | None:
        owner = self.recorder.owner
        if bound.images:
            return await self.recorder.hold_exactly(
                principal.account_id,
                self._billing.reserve_images,
                principal.account_id,
                principal.api_key_id,
                request_id,
                model,
                canonical,
                bound.images,
                owner,
            )
        return await self.recorder.hold_exactly(
            principal.account_id,
            self._billing.reserve,
            principal.account_id,
            principal.api_key_id,
            request_id,
            model,
            canonical,
            bound.prompt_tokens,
            bound.max_tokens,
            bound.flexible,
            price_percent,
            owner,
        )

    # work billed after it ran (fine-tuning) ------------------------------------------------
    async def hold_for_job(
        self, principal: Principal, model: str, canonical: str, tokens: int, request_id: str
    ) -> str | None:
        """An exact hold owned by a job, not this process (released or charged by
        `charge_job`, never by the crash sweeper); its reservation id, None when free."""
        hold = await self.recorder.hold_exactly(
            principal.account_id,
            self._billing.reserve,
            principal.account_id,
            principal.api_key_id,
            request_id,
            model,
            canonical,
            tokens,
            0,
            False,
            100,
            None,
        )
        return hold.reservation_id if hold else None

    def charge_job(
        self,
        account_id: str,
        api_key_id: str | None,
        request_id: str,
        model: str,
        canonical: str,
        tokens: int,
        hold_id: str | None,
    ) -> int:
        """Release the job's hold and charge `tokens` at the input price, at most what was held
        (once per `request_id`); blocking. Returns µ元 charged."""
        return self._billing.charge_tokens(
            account_id, api_key_id, request_id, model, canonical, tokens, hold_id
        )

    def release_job_hold(self, hold_id: str) -> None:
        with self._billing.db.session() as session:
            self.release_job_hold_in(session, hold_id)

    def release_job_hold_in(self, session: Session, hold_id: str) -> None:
        """Inside the caller's transaction (a job the queue gave up on, failed in the same one)."""
        self._billing.release(session, hold_id)

    async def release_job_hold_soon(self, hold_id: str) -> None:
        await run_in_threadpool(self.release_job_hold, hold_id)

    def _count_hold(self, path: str) -> None:
        if self._metrics is not None:
            self._metrics.holds.labels(path).inc()
