"""The request's trace of MCP tool calls: each call the platform made for a request (server,
tool, arguments, output or error, duration) kept per account under the id the caller got back
(a chat completion's id, a response's `resp_…`, an assistant turn's request id), whatever
surface it came through; read back by that account only (the console's request detail).

A call is written as soon as it returns, so a request that fails in a later round still shows
what it called. A trace that cannot be written is logged, never fails the request it describes.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa

from openmaas.concurrency import run_in_threadpool
from openmaas.store.db import Database
from openmaas.store.tables import McpCallTrace, utcnow

log = logging.getLogger(__name__)
PRUNE_EVERY = 200  # writes between two sweeps of traces past their retention


@dataclass(frozen=True)
class McpCallView:
    created_at: str
    endpoint: str
    server_label: str
    name: str
    arguments: str
    output: str | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class TraceKey:
    """Where a request's calls are recorded: its account, the id its caller got, its surface."""

    account_id: str
    request_id: str
    endpoint: str


class McpTraceStore:
    def __init__(self, db: Database, retention_days: int) -> None:
        self._db = db
        self._retention = timedelta(days=retention_days)
        self._writes = itertools.count(1)

    async def record(self, key: TraceKey, item: dict[str, Any], duration_ms: int) -> None:
        """One `mcp_call` item (as the Responses surface shows it) of the request `key`."""
        row = McpCallTrace(
            account_id=key.account_id,
            request_id=key.request_id,
            endpoint=key.endpoint,
            server_label=item["server_label"],
            name=item["name"],
            arguments=item["arguments"],
            output=item["output"],
            error=item["error"],
            duration_ms=duration_ms,
        )
        try:
            await run_in_threadpool(self._insert, row)
        except Exception:  # a lost trace must not fail the request it describes
            log.exception("storing the MCP call trace of %s failed", key.request_id)

    def _insert(self, row: McpCallTrace) -> None:
        with self._db.session() as session:
            session.add(row)
            if next(self._writes) % PRUNE_EVERY == 0:
                cutoff = utcnow() - self._retention
                session.execute(sa.delete(McpCallTrace).where(McpCallTrace.created_at < cutoff))

    def calls(self, account_id: str, request_id: str) -> list[McpCallView]:
        return read_calls(self._db, account_id, [request_id])


def read_calls(db: Database, account_id: str, request_ids: list[str]) -> list[McpCallView]:
    """A request's calls in the order they were made; another account's read as none."""
    with db.session(read_only=True) as session:
        rows = session.scalars(
            sa.select(McpCallTrace)
            .where(McpCallTrace.account_id == account_id, McpCallTrace.request_id.in_(request_ids))
            .order_by(McpCallTrace.id)
        ).all()
        return [
            McpCallView(
                r.created_at.replace(tzinfo=UTC).isoformat(),
                r.endpoint,
                r.server_label,
                r.name,
                r.arguments,
                r.output,
                r.error,
                r.duration_ms,
            )
            for r in rows
        ]
