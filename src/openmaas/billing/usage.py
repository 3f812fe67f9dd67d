"""Request outcomes → settlement, usage rows and hourly rollups, off the request path.

`record()` never blocks or awaits, so it is safe in `finally` blocks of streams that a
disconnecting client cancels. A background task takes events in batches and, in one
transaction per batch (accounts in a fixed order, so wallet locks cannot deadlock),
settles or releases each hold, writes the usage row with its cost and bumps the rollups.
A batch that fails is retried one event at a time, so one bad event cannot sink the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from openmaas.billing.service import BillingService
from openmaas.observability.metrics import Metrics
from openmaas.store.db import Database
from openmaas.store.tables import UsageRecord, UsageRollup, utcnow

log = logging.getLogger(__name__)
BATCH = 32  # one transaction holds SQLite's write lock: keep it short
GATHER_SECONDS = 0.01


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


class UsageRecorder:
    def __init__(self, db: Database, billing: BillingService, metrics: Metrics | None = None) -> None:
        self._db = db
        self._billing = billing
        self._metrics = metrics
        self._queue: asyncio.Queue[UsageEvent] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._pending = 0

    def record(self, event: UsageEvent) -> None:
        self._pending += 1
        self._queue.put_nowait(event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain_forever(), name="usage-recorder")

    async def close(self) -> None:
        await self.flush()
        if self._task:
            self._task.cancel()

    async def flush(self) -> None:
        """Wait until every recorded event is settled and written."""
        while self._pending:
            await asyncio.sleep(0.005)

    async def _drain_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # A short gather window turns a burst into one write transaction (one SQLite
            # write lock) instead of one per request; nobody waits on it but `flush`.
            await asyncio.sleep(GATHER_SECONDS)
            while not self._queue.empty() and len(batch) < BATCH:
                batch.append(self._queue.get_nowait())
            try:
                await run_in_threadpool(self._write_batch, batch)
            finally:
                self._pending -= len(batch)

    def _write_batch(self, batch: list[UsageEvent]) -> None:
        try:
            self._write(batch)
        except Exception:
            log.warning("usage batch of %d failed; retrying one by one", len(batch), exc_info=True)
            for event in batch:
                try:
                    self._write([event])
                except Exception:  # its hold stays; the stale-hold sweeper releases it
                    log.exception("could not settle request %s", event.request_id)
                    if self._metrics is not None:
                        self._metrics.billing_errors.inc()

    def _write(self, batch: list[UsageEvent]) -> None:
        # No autoflush: the batch's changes reach the database in one flush at commit
        # (executemany) instead of one flush per event. Safe because each reservation is
        # settled at most once per batch and wallets/packs stay in the session's identity
        # map, so later events see earlier ones' unflushed changes.
        with self._db.session() as session, session.no_autoflush:
            seen: set[str] = set()
            rows = [self._settle(session, e, seen) for e in sorted(batch, key=lambda e: e.account_id)]
            session.add_all(rows)
            bump_rollups(session, rows)

    def _settle(self, session: Session, event: UsageEvent, seen: set[str]) -> UsageRecord:
        cost = 0
        if event.reservation_id in seen:
            pass  # a second outcome for one hold: the first one settled it
        elif event.reservation_id and event.charge:
            cost = self._billing.settle(session, event.reservation_id, event.prompt_tokens,
                                        event.completion_tokens, event.account_id)
        elif event.reservation_id:
            self._billing.release(session, event.reservation_id, event.account_id)
        if event.reservation_id:
            seen.add(event.reservation_id)
        return UsageRecord(account_id=event.account_id, api_key_id=event.api_key_id,
                           request_id=event.request_id, endpoint=event.endpoint, model=event.model,
                           prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens,
                           latency_ms=event.latency_ms, status=event.status, error_code=event.error_code,
                           cost_micro=cost, created_at=utcnow())


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def bump_rollups(session: Session, rows: list[UsageRecord]) -> None:
    """Add the rows to the hourly rollups with one upsert per (account, model, hour)."""
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        if row.status == "error" and not row.cost_micro:
            continue
        bucket = totals[(row.account_id, row.model, hour_of(row.created_at))]
        for i, value in enumerate((1, row.prompt_tokens, row.completion_tokens, row.cost_micro)):
            bucket[i] += value
    insert = postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert
    for (account_id, model, hour), (requests, prompt, completion, cost) in sorted(totals.items()):
        statement = insert(UsageRollup).values(
            account_id=account_id, model=model, hour=hour, requests=requests, prompt_tokens=prompt,
            completion_tokens=completion, cost_micro=cost)
        excluded = statement.excluded
        session.execute(statement.on_conflict_do_update(
            index_elements=["account_id", "model", "hour"],
            set_={"requests": UsageRollup.requests + excluded.requests,
                  "prompt_tokens": UsageRollup.prompt_tokens + excluded.prompt_tokens,
                  "completion_tokens": UsageRollup.completion_tokens + excluded.completion_tokens,
                  "cost_micro": UsageRollup.cost_micro + excluded.cost_micro}))



