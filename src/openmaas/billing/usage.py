"""Request outcomes → settlement, usage rows and hourly rollups, off the request path.

`record()` never blocks or awaits, so it is safe in `finally` blocks of streams that a
disconnecting client cancels. A background task takes events in batches and, in one
transaction per batch (accounts in a fixed order, so wallet locks cannot deadlock),
settles or releases each hold, writes the usage row with its cost and bumps the rollups.
A batch that fails is retried one event at a time, so one bad event cannot sink the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from openmaas.billing.lease import LeaseBook, LeaseCommit, LeaseSnapshot, SubHold
from openmaas.billing.lease_flush import recall_leases, write_lease
from openmaas.billing.money import Price
from openmaas.billing.service import BillingService, Hold
from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InsufficientBalance
from openmaas.observability.metrics import Metrics
from openmaas.store.db import Database
from openmaas.store.tables import MeterInflight, UsageRecord, UsageRollup, utcnow
from openmaas.store.writer_gate import BACKGROUND_WRITER

log = logging.getLogger(__name__)
BATCH = 256  # events written per transaction (lease charges come on top, already summed)
GATHER_SECONDS = 0.05
LEASE_FLUSH_SECONDS = 1.0
GROW_WAIT_SECONDS = 1.0  # longer than a flush takes; then the request holds exactly
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class UsageEvent:
    account_id: str
    api_key_id: str | None
    request_id: str
    endpoint: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    status: str  # success | error | cancelled
    error_code: str | None = None
    reservation_id: str | None = None
    charge: bool = True  # False: release the hold without charging
    lease: SubHold | None = None  # held on this process's funds lease instead of a reservation
    billed_prompt: int | None = None  # prompt tokens as charged (cache rate, capped); None: all
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    inflight: InFlight | None = None  # the call's crash-recovery row, deleted with its usage row

    @property
    def charged_prompt(self) -> int:
        return self.prompt_tokens if self.billed_prompt is None else self.billed_prompt


_CALL_IDS = itertools.count(1)


class InFlight:
    """A running metered call's delivered tokens (`MeterInflight`): flushed about once a
    second while they change, deleted in the transaction that writes the call's usage row, so
    a crash loses at most the last flush window and recovery never charges a call twice."""

    __slots__ = (
        "id",
        "account_id",
        "api_key_id",
        "request_id",
        "endpoint",
        "model",
        "price",
        "max_tokens",
        "reservation_id",
        "prompt_tokens",
        "completion_tokens",
        "version",
        "written",
        "persisted",
    )

    def __init__(
        self,
        *,
        account_id: str,
        api_key_id: str | None,
        request_id: str,
        endpoint: str,
        model: str,
        price: Price,
        max_tokens: int,
        reservation_id: str | None,
    ) -> None:
        self.id = ""  # set by `UsageRecorder.track`
        self.account_id, self.api_key_id, self.request_id = account_id, api_key_id, request_id
        self.endpoint, self.model, self.price = endpoint, model, price
        self.max_tokens, self.reservation_id = max_tokens, reservation_id
        self.prompt_tokens = self.completion_tokens = 0
        self.version = self.written = 0
        self.persisted = False  # a row exists (or may exist) in the database

    def update(self, prompt_tokens: int, completion_tokens: int) -> None:
        if (prompt_tokens, completion_tokens) != (self.prompt_tokens, self.completion_tokens):
            self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens
            self.version += 1

    def row(self, owner: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner": owner,
            "account_id": self.account_id,
            "api_key_id": self.api_key_id,
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "model": self.model,
            "reservation_id": self.reservation_id,
            "price_in": self.price.input_per_1k,
            "price_out": self.price.output_per_1k,
            "max_tokens": self.max_tokens,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": min(self.completion_tokens, self.max_tokens),
            "updated_at": utcnow(),
        }


class UsageRecorder:
    def __init__(
        self,
        db: Database,
        billing: BillingService,
        metrics: Metrics | None = None,
        leases: LeaseBook | None = None,
        gather_seconds: float = GATHER_SECONDS,
        lease_flush_seconds: float = LEASE_FLUSH_SECONDS,
    ) -> None:
        self._db = db
        self._billing = billing
        self._metrics = metrics
        self.leases = leases
        self._gather_seconds = gather_seconds
        self._lease_flush_seconds = lease_flush_seconds
        # running calls' delivered tokens reach the database this often (the crash-loss bound)
        self._progress_seconds = max(lease_flush_seconds / 2, 0.05)
        self._events: list[UsageEvent] = []
        self._wake = asyncio.Event()  # something to write
        self._nudge = asyncio.Event()  # the write window may have to end early
        self._urgent = False  # a request waits for a write: no window
        self._passes_begun = self._passes_done = 0
        self._task: asyncio.Task[None] | None = None
        self._pending = 0
        # the process's name on its holds and in-flight rows (billing/recovery.py)
        self.owner = leases.owner if leases is not None else secrets.token_hex(4)
        self._inflight: dict[str, InFlight] = {}
        self.recover: Callable[[], int] | None = None  # set by the meter: charge dead owners' calls

    @property
    def book(self) -> LeaseBook:
        """The funds-lease book; only the lease paths call this, and those only exist with one."""
        if self.leases is None:
            raise RuntimeError("this recorder has no lease book")
        return self.leases

    def track(self, call: InFlight) -> InFlight:
        """Keep a running call's delivered tokens flushed until its usage row is written."""
        call.id = f"{self.owner}:{next(_CALL_IDS)}"
        self._inflight[call.id] = call
        return call

    def record(self, event: UsageEvent) -> None:
        self._pending += 1
        if event.inflight is not None and event.charge:
            # the final counts, should the process die before the usage row is written
            event.inflight.update(event.charged_prompt, event.completion_tokens)
        elif event.inflight is not None:
            event.inflight.update(0, 0)
        if event.lease is not None:
            self.book.settle(
                event.lease, event.charged_prompt, event.completion_tokens, event.charge, usage_row(event, 0)
            )
        else:
            self._events.append(event)
            self._nudge.set()  # an exact hold to settle: the short window applies
        self._wake.set()

    # the money path's front ------------------------------------------------------------------
    def lease_hold(
        self, account_id: str, model: str, price: Price, prompt_tokens: int, max_tokens: int
    ) -> Hold | None:
        """A hold on this process's lease of the account's funds, without a database round
        trip; None when there is no lease (yet) or it is too small: use `hold_exactly`."""
        if self.leases is None:
            return None
        sub = self.book.hold(account_id, model, price, prompt_tokens, max_tokens)
        if sub is None:
            self._wake.set()  # a lease to take or to grow (a granted hold's record() wakes later)
            return None
        return Hold(None, sub.plan.completion_tokens, sub)

    async def lease_hold_soon(
        self, account_id: str, model: str, price: Price, prompt_tokens: int, max_tokens: int
    ) -> Hold | None:
        """`lease_hold`, and when the lease is too small but may grow, once more after its
        next flush (asked for at once): waiting one transaction beats a database hold for
        every request of a burst."""
        deadline = time.monotonic() + GROW_WAIT_SECONDS
        while True:
            hold = self.lease_hold(account_id, model, price, prompt_tokens, max_tokens)
            if hold is not None or self.leases is None:
                return hold
            lease = self.book.may_grow(account_id, model, price)
            if lease is None or time.monotonic() >= deadline:
                return None
            self._hurry()
            await self.book.flushed(lease, deadline - time.monotonic())

    async def hold_exactly(self, account_id: str, reserve: Callable[..., T], *args: Any) -> T:
        """`reserve(*args)` (a BillingService hold) in a worker thread. When it finds too
        little, funds may only look spent: held by requests that finished but are not written
        yet (this process writes its own at once; other processes' within their gather
        window), or by funds leases (this process gives its own back and asks the others for
        theirs). It tries again until those had time to free; then 1113 stands."""
        try:
            return await run_in_threadpool(reserve, *args)
        except InsufficientBalance:
            if self.recover is not None:  # a crashed process's holds may keep the funds
                await run_in_threadpool(self.recover)
            patience = await self._free_funds(account_id)
        deadline = time.monotonic() + patience
        while True:
            try:
                return await run_in_threadpool(reserve, *args)
            except InsufficientBalance:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.05)

    async def _free_funds(self, account_id: str) -> float:
        """Free what may hold the account's funds; returns how long to keep trying."""
        await self._write_now()
        patience = 2 * self._gather_seconds + 0.05
        if self.leases is not None and await self._give_back(account_id):
            patience += self.book.idle_seconds + 1.0
        return patience

    async def _write_now(self) -> None:
        """Until a write pass that began after this call has ended (one pass takes every
        event recorded before it, up to BATCH)."""
        target = self._passes_begun + 1
        self._hurry()
        await self._until(lambda: self._passes_done >= target, 5.0)

    async def _give_back(self, account_id: str) -> bool:
        own = self.book.shrink_account(account_id)
        if own:
            self._hurry()
            await self._until(lambda: not self.book.holds_headroom(account_id), 2.0)
        others = await run_in_threadpool(self._recall_others, account_id)
        return bool(own) or others

    def _recall_others(self, account_id: str) -> bool:
        with self._db.session() as session:
            return recall_leases(session, account_id, self.book.owner, utcnow())

    @staticmethod
    async def _until(condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain_forever(), name="usage-recorder")

    async def close(self) -> None:
        await self.flush()
        if self.leases is not None:  # give every lease back before the process goes
            self.book.shrink_all()
            self._hurry()
            await self._until(lambda: not self.book.holds_any(), 5.0)
        if self._task:
            self._task.cancel()

    def idle(self) -> bool:
        """No call in flight and nothing unwritten."""
        return not self._inflight and not self._pending

    async def flush(self) -> None:
        """Wait until every recorded event is settled and written."""
        while self._pending:
            self._hurry()
            await asyncio.sleep(0.005)

    def _hurry(self) -> None:
        self._urgent = True
        self._nudge.set()
        self._wake.set()

    async def _drain_forever(self) -> None:
        while True:
            tick = self.book.idle_seconds / 2 if self.leases is not None and self.book.any() else None
            if self._inflight:  # running calls' progress: flushed twice per window
                tick = min(tick or self._progress_seconds, self._progress_seconds)
            woke = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):  # a tick: idle leases to give back
                    woke = await self._wake.wait()
            if woke:
                await self._window()
            # Settling what already ran waits behind requests at the SQLite writer gate,
            # unless a request waits for this pass (funds that only look spent).
            BACKGROUND_WRITER.set(not self._urgent)
            self._wake.clear()
            self._urgent = False
            self._passes_begun += 1
            batch, self._events = self._events[:BATCH], self._events[BATCH:]
            if self._events:
                self._wake.set()
            snapshots = [self.book.snapshot(lease) for lease in self.book.due()] if self.leases else []
            progress = [
                (call, call.version) for call in self._inflight.values() if call.version != call.written
            ]
            if not batch and not snapshots and not progress:
                self._passes_done = self._passes_begun
                continue
            done: list[InFlight] = []
            try:
                outcomes, done = await run_in_threadpool(self._write_batch, batch, snapshots, progress)
            except BaseException:
                outcomes = [None] * len(snapshots)
                raise
            finally:
                self._pending -= len(batch)
                for snapshot, outcome in zip(snapshots, outcomes, strict=True):
                    self._finish(snapshot, outcome)
                for call in done:
                    self._inflight.pop(call.id, None)
                self._passes_done = self._passes_begun

    async def _window(self) -> None:
        """The wait before a write pass, which turns a burst into one write transaction (one
        SQLite write lock): `gather_seconds` once an exact hold waits to be settled (it keeps
        funds from other requests), `lease_flush_seconds` when only lease charges wait (the
        lease already holds their funds; each pass costs the event loop GIL time, which is
        what a request's p99 pays). None when a request waits for the write."""
        began = time.monotonic()
        while not self._urgent:
            window = self._gather_seconds if self._events else self._lease_flush_seconds
            if self._inflight:  # a crash loses at most this window of a running call's tokens
                window = min(window, self._progress_seconds)
            remaining = began + window - time.monotonic()
            if remaining <= 0:
                return
            self._nudge.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._nudge.wait()

    def _finish(self, snapshot: LeaseSnapshot, outcome: LeaseCommit | None) -> None:
        if outcome is None:
            self.book.abort(snapshot)
        else:
            self.book.commit(snapshot, outcome)
            self._pending -= len(snapshot.charges)

    def _write_batch(
        self,
        batch: list[UsageEvent],
        snapshots: list[LeaseSnapshot],
        progress: list[tuple[InFlight, int]],
    ) -> tuple[Sequence[LeaseCommit | None], list[InFlight]]:
        """Returns the leases' outcomes and the calls whose usage rows are now written."""
        try:
            return self._write(batch, snapshots, progress)
        except Exception:
            log.warning(
                "usage batch of %d (+%d leases) failed; retrying one by one",
                len(batch),
                len(snapshots),
                exc_info=True,
            )
        done: list[InFlight] = []
        for event in batch:
            try:
                done += self._write([event], [], [])[1]
            except Exception:  # its hold stays until its owner is gone (billing/recovery.py)
                log.exception("could not settle request %s", event.request_id)
                self._count_error()
        outcomes: list[LeaseCommit | None] = []
        for snapshot in snapshots:
            try:
                commits, finished = self._write([], [snapshot], [])
                outcomes += commits
                done += finished
            except Exception:  # kept in memory: written with the lease's next flush
                log.exception("could not write the lease of account %s", snapshot.account_id)
                self._count_error()
                outcomes.append(None)
        with contextlib.suppress(Exception):
            self._write([], [], [(call, version) for call, version in progress if call not in done])
        return outcomes, done

    def _count_error(self) -> None:
        if self._metrics is not None:
            self._metrics.billing_errors.inc()

    def _write(
        self, batch: list[UsageEvent], snapshots: list[LeaseSnapshot], progress: list[tuple[InFlight, int]]
    ) -> tuple[list[LeaseCommit], list[InFlight]]:
        # No autoflush: the batch's changes reach the database in one flush at commit
        # (executemany) instead of one flush per event. Safe because each reservation is
        # settled at most once per batch and wallets/packs stay in the session's identity
        # map, so later events see earlier ones' unflushed changes. Accounts are visited in
        # one order (events, then leases, per account), so wallet locks cannot deadlock.
        now = utcnow()
        with self._db.session() as session, session.no_autoflush:
            seen: set[str] = set()
            rows: list[dict[str, Any]] = []
            commits: dict[int, LeaseCommit] = {}
            for account_id in sorted({e.account_id for e in batch} | {s.account_id for s in snapshots}):
                rows += [self._settle(session, e, seen) for e in batch if e.account_id == account_id]
                for i, snapshot in enumerate(snapshots):
                    if snapshot.account_id == account_id:
                        commits[i] = write_lease(
                            session, snapshot, self.book.next_request_id(), now, self.book.recall_seconds
                        )
                        rows += [charge.row for charge in snapshot.charges]
            done = [row["_inflight"] for row in rows if row.get("_inflight") is not None]
            rows = [{k: v for k, v in row.items() if k != "_inflight"} for row in rows]
            if rows:
                session.connection().execute(sa.insert(UsageRecord), rows)  # Core executemany
            bump_rollups(session, rows)
            self._write_progress(session, progress, {call.id for call in done})
            gone = [call.id for call in done if call.persisted]
            if gone:
                session.execute(sa.delete(MeterInflight).where(MeterInflight.id.in_(gone)))
        for call, version in progress:
            call.written = max(call.written, version)  # int stores: safe from the worker thread
        return [commits[i] for i in range(len(snapshots))], done

    def _write_progress(
        self, session: Session, progress: list[tuple[InFlight, int]], finishing: set[str]
    ) -> None:
        """Upsert running calls' delivered tokens (one statement per dialect batch)."""
        rows = [call.row(self.owner) for call, _ in progress if call.id not in finishing]
        if not rows:
            return
        for call, _ in progress:
            call.persisted = True
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        statement = insert(MeterInflight)
        excluded = statement.excluded
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_={
                    "prompt_tokens": excluded.prompt_tokens,
                    "completion_tokens": excluded.completion_tokens,
                    "updated_at": excluded.updated_at,
                },
            ),
            rows,
        )

    def _settle(self, session: Session, event: UsageEvent, seen: set[str]) -> dict[str, Any]:
        cost = 0
        if event.reservation_id in seen:
            pass  # a second outcome for one hold: the first one settled it
        elif event.reservation_id and event.charge:
            cost = self._billing.settle(
                session, event.reservation_id, event.charged_prompt, event.completion_tokens, event.account_id
            )
        elif event.reservation_id:
            self._billing.release(session, event.reservation_id, event.account_id)
        if event.reservation_id:
            seen.add(event.reservation_id)
        return usage_row(event, cost)


def usage_row(event: UsageEvent, cost: int) -> dict[str, Any]:
    """The usage row's fields (`_inflight`, the call's crash-recovery row to delete with it,
    is taken out before the insert)."""
    return {
        "account_id": event.account_id,
        "api_key_id": event.api_key_id,
        "request_id": event.request_id,
        "endpoint": event.endpoint,
        "model": event.model,
        "prompt_tokens": event.prompt_tokens,
        "completion_tokens": event.completion_tokens,
        "latency_ms": event.latency_ms,
        "status": event.status,
        "error_code": event.error_code,
        "cost_micro": cost,
        "cached_tokens": event.cached_tokens,
        "reasoning_tokens": event.reasoning_tokens,
        "created_at": utcnow(),
        "_inflight": event.inflight,
    }


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def bump_rollups(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add the usage rows to the hourly rollups with one upsert per (account, model, hour)."""
    totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        if row["status"] == "error" and not row["cost_micro"]:
            continue
        bucket = totals[(row["account_id"], row["model"], hour_of(row["created_at"]))]
        for i, value in enumerate((1, row["prompt_tokens"], row["completion_tokens"], row["cost_micro"])):
            bucket[i] += value
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for (account_id, model, hour), (requests, prompt, completion, cost) in sorted(totals.items()):
        statement = insert(UsageRollup).values(
            account_id=account_id,
            model=model,
            hour=hour,
            requests=requests,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_micro=cost,
        )
        excluded = statement.excluded
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["account_id", "model", "hour"],
                set_={
                    "requests": UsageRollup.requests + excluded.requests,
                    "prompt_tokens": UsageRollup.prompt_tokens + excluded.prompt_tokens,
                    "completion_tokens": UsageRollup.completion_tokens + excluded.completion_tokens,
                    "cost_micro": UsageRollup.cost_micro + excluded.cost_micro,
                },
            )
        )
