"""Usage records: one row per request, written off the request path in small batches.

`record()` never blocks or awaits, so it is safe in `finally` blocks of streams that a
disconnecting client cancels; a background task inserts rows in batches.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass

from starlette.concurrency import run_in_threadpool

from openmaas.store.db import Database
from openmaas.store.tables import UsageRecord

log = logging.getLogger(__name__)
BATCH = 256


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


class UsageRecorder:
    def __init__(self, db: Database) -> None:
        self._db = db
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
        """Wait until every recorded event is in the database."""
        while self._pending:
            await asyncio.sleep(0.01)

    async def _drain_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < BATCH:
                batch.append(self._queue.get_nowait())
            try:
                await run_in_threadpool(self._insert, batch)
            except Exception:  # a lost usage row must not kill the recorder
                log.exception("failed to write %d usage records", len(batch))
            finally:
                self._pending -= len(batch)

    def _insert(self, batch: list[UsageEvent]) -> None:
        with self._db.session() as session:
            session.add_all(UsageRecord(**asdict(event)) for event in batch)
