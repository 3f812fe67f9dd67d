"""Stored Responses: durable, per account, chained by `previous_response_id`.

Each row keeps the request's own input items and the response object; a chain's history is
rebuilt by walking `previous_response_id` back (bounded), every read scoped to the account.

Writes are behind the answer, not in front of it: `save` queues the row and a writer task
commits queued rows in one transaction within `flush_seconds` (a synchronous write would
add a SQLite transaction to every call). Reads in this process see queued rows at once; a
read that misses waits one flush window and looks again, so a chain continued on another
server process right after the answer still finds its link. `close` (app shutdown) commits
whatever is queued.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from openmaas.concurrency import run_in_threadpool
from openmaas.errors import InvalidField, NotFound
from openmaas.store.db import Database
from openmaas.store.tables import StoredResponse, utcnow

log = logging.getLogger(__name__)
MAX_CHAIN = 256  # responses walked back through previous_response_id


@dataclass(frozen=True)
class Row:
    id: str
    account_id: str
    input_items: list[dict[str, Any]]
    body: dict[str, Any]

    @property
    def previous_response_id(self) -> str | None:
        return self.body.get("previous_response_id")


class ResponseStore:
    def __init__(self, db: Database, flush_seconds: float = 0.02) -> None:
        self._db = db
        self._flush_seconds = flush_seconds
        self._queued: dict[str, Row] = {}
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None

    # --- writing -------------------------------------------------------------------------------
    async def save(self, account_id: str, input_items: list[dict[str, Any]], body: dict[str, Any]) -> None:
        self._queued[body["id"]] = Row(body["id"], account_id, input_items, body)
        wake = self._wake
        if self._writer is None or wake is None:  # set together: a writer has its event
            wake = self._wake = asyncio.Event()
            # A context of its own: started from a job's task, it must not inherit the
            # job's background mark (its writes serve interactive requests too).
            self._writer = asyncio.create_task(
                self._write_loop(wake), name="response-store", context=contextvars.Context()
            )
        wake.set()

    async def _write_loop(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            await asyncio.sleep(self._flush_seconds)  # gather the rows of concurrent answers
            wake.clear()
            await self.flush()

    async def flush(self) -> None:
        rows = list(self._queued.values())
        if not rows:
            return
        try:
            await run_in_threadpool(self._insert, rows)
        except Exception:  # kept queued: the next flush tries again
            log.exception("could not store %d responses", len(rows))
            return
        for row in rows:
            if self._queued.get(row.id) is row:
                del self._queued[row.id]

    def _insert(self, rows: list[Row]) -> None:
        """One multi-row INSERT (a row a failed flush already wrote is skipped, not doubled)."""
        dialect = postgresql if self._db.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(StoredResponse).on_conflict_do_nothing(index_elements=["id"])
        with self._db.session() as session:
            session.execute(
                statement,
                [
                    {
                        "id": r.id,
                        "account_id": r.account_id,
                        "model": r.body["model"],
                        "previous_response_id": r.previous_response_id,
                        "input_items": r.input_items,
                        "body": r.body,
                        "created_at": utcnow(),
                    }
                    for r in rows
                ],
            )

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.flush()

    # --- reading -------------------------------------------------------------------------------
    async def get(self, account_id: str, response_id: str) -> dict[str, Any]:
        return (await self._find(account_id, response_id)).body

    async def input_items(self, account_id: str, response_id: str) -> list[dict[str, Any]]:
        return (await self._find(account_id, response_id)).input_items

    async def _find(self, account_id: str, response_id: str) -> Row:
        row = await self._lookup(account_id, response_id)
        if row is None:
            raise NotFound(f"response {response_id}")
        return row

    async def _lookup(self, account_id: str, response_id: str) -> Row | None:
        """Queued or stored; a miss is looked up once more after a flush window (another
        process may have answered it a moment ago)."""
        for attempt in range(2):
            queued = self._queued.get(response_id)
            if queued is not None:
                return queued if queued.account_id == account_id else None
            row = await run_in_threadpool(self._stored, account_id, response_id)
            if row is not None or attempt:
                return row
            await asyncio.sleep(self._flush_seconds * 2)
        return None

    def _stored(self, account_id: str, response_id: str) -> Row | None:
        with self._db.session(read_only=True) as session:
            found = session.scalar(
                sa.select(StoredResponse).where(
                    StoredResponse.id == response_id, StoredResponse.account_id == account_id
                )
            )
            return None if found is None else Row(found.id, found.account_id, found.input_items, found.body)

    async def delete(self, account_id: str, response_id: str) -> None:
        await self._find(account_id, response_id)
        await self.flush()  # a queued row is written first, then deleted with the rest
        await run_in_threadpool(self._delete, account_id, response_id)

    def _delete(self, account_id: str, response_id: str) -> None:
        with self._db.session() as session:
            session.execute(
                sa.delete(StoredResponse).where(
                    StoredResponse.id == response_id, StoredResponse.account_id == account_id
                )
            )

    async def history(self, account_id: str, previous_response_id: str) -> list[dict[str, Any]]:
        """Items of every earlier response of the chain (inputs then outputs), oldest first."""
        newest = await self._lookup(account_id, previous_response_id)
        if newest is None:  # another account's id reads exactly like an unknown one
            raise InvalidField(
                "previous_response_id", f"no stored response {previous_response_id!r} in this account"
            )
        chain = [newest]
        next_id = newest.previous_response_id
        while next_id in self._queued and len(chain) < MAX_CHAIN:  # queued links are the newest
            row = self._queued[next_id]
            if row.account_id != account_id:
                break
            chain.append(row)
            next_id = row.previous_response_id
        if next_id is not None and len(chain) < MAX_CHAIN:
            chain += await run_in_threadpool(self._stored_chain, account_id, next_id, MAX_CHAIN - len(chain))
        items: list[dict[str, Any]] = []
        for row in reversed(chain):
            items.extend(row.input_items)
            items.extend(row.body.get("output") or [])
        return items

    def _stored_chain(self, account_id: str, response_id: str, limit: int) -> list[Row]:
        """Stored links from `response_id` back; a deleted link ends the chain there."""
        rows: list[Row] = []
        with self._db.session(read_only=True) as session:
            next_id: str | None = response_id
            while next_id is not None and len(rows) < limit:
                found = session.scalar(
                    sa.select(StoredResponse).where(
                        StoredResponse.id == next_id, StoredResponse.account_id == account_id
                    )
                )
                if found is None:
                    break
                rows.append(Row(found.id, found.account_id, found.input_items, found.body))
                next_id = found.previous_response_id
        return rows
