"""Opt-in storage of request and response bodies, per account, for the request log's detail.

Off by default. An account that turns it on keeps each chat request's body and its answer
for `body_retention_days`; the maintenance loop purges expired rows (`purge_expired`).
Recording happens after the answer went out (a background task), so it never slows a request
and a failure to record only loses the copy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from openmaas.errors import InvalidField
from openmaas.store.db import Database, changed_rows
from openmaas.store.tables import AccountPreference, RequestBody, utcnow

log = logging.getLogger(__name__)
MAX_RETENTION_DAYS = 90
MAX_STORED_BYTES = 256 * 1024  # per side; a larger body is stored as a note that it was too large
DEFAULT_RETENTION_DAYS = 7


@dataclass(frozen=True)
class BodyPreferences:
    store_bodies: bool
    body_retention_days: int


def bounded(value: Any) -> Any:
    if len(orjson.dumps(value)) > MAX_STORED_BYTES:
        return {"truncated": True, "note": f"larger than {MAX_STORED_BYTES} bytes: not kept"}
    return value


class BodyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def preferences(self, account_id: str) -> BodyPreferences:
        with self._db.session(read_only=True) as session:
            row = session.get(AccountPreference, account_id)
        if row is None:
            return BodyPreferences(False, DEFAULT_RETENTION_DAYS)
        return BodyPreferences(row.store_bodies, row.body_retention_days)

    def set_preferences(self, account_id: str, store: bool, days: int) -> BodyPreferences:
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise InvalidField("body_retention_days", f"1 to {MAX_RETENTION_DAYS} days")
        with self._db.session() as session:
            row = session.get(AccountPreference, account_id)
            if row is None:
                row = AccountPreference(account_id=account_id)
                session.add(row)
            row.store_bodies, row.body_retention_days = store, days
            if not store:  # turning it off forgets what was kept
                session.execute(sa.delete(RequestBody).where(RequestBody.account_id == account_id))
        return BodyPreferences(store, days)

    def record(self, account_id: str, request_id: str | None, request: Any, response: Any) -> bool:
        """Keeps the pair if the account opted in; returns whether it did. `response` may be a
        callable that builds it, so nothing is assembled for accounts that keep nothing."""
        if not request_id or request is None:
            return False
        prefs = self.preferences(account_id)
        if not prefs.store_bodies:
            return False
        if callable(response):
            response = response()
        now = utcnow()
        with self._db.session() as session:
            session.add(
                RequestBody(
                    account_id=account_id,
                    request_id=request_id[:128],
                    request=bounded(request),
                    response=bounded(response),
                    created_at=now,
                    expires_at=now + timedelta(days=prefs.body_retention_days),
                )
            )
        return True

    def record_quietly(self, account_id: str, request_id: str | None, request: Any, response: Any) -> None:
        try:
            self.record(account_id, request_id, request, response)
        except Exception:  # the copy is a convenience; the request already succeeded
            log.exception("could not keep the bodies of request %s", request_id)

    def get(self, account_id: str, request_id: str) -> RequestBody | None:
        with self._db.session(read_only=True) as session:
            return session.scalar(
                sa.select(RequestBody)
                .where(
                    RequestBody.account_id == account_id,
                    RequestBody.request_id == request_id,
                    RequestBody.expires_at > utcnow(),
                )
                .order_by(RequestBody.id.desc())
                .limit(1)
            )

    def purge_expired(self) -> int:
        with self._db.session() as session:
            expired = sa.delete(RequestBody).where(RequestBody.expires_at <= utcnow())
            return changed_rows(session.execute(expired))


def body_store(services) -> BodyStore:
    return BodyStore(services.db)


def assembled_answer(chunks: list[dict]) -> dict:
    """A streamed answer as one message: the content and reasoning deltas joined, the usage."""
    content, reasoning, usage, finish = [], [], None, None
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            finish = choice.get("finish_reason") or finish
        usage = chunk.get("usage") or usage
    message = {"role": "assistant", "content": "".join(content)}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    return {
        "stream": True,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def sse_payloads(data: bytes | str) -> list[dict]:
    text = data.decode() if isinstance(data, bytes) else data
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            try:
                out.append(orjson.loads(line[6:]))
            except orjson.JSONDecodeError:
                continue
    return out
