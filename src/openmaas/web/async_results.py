"""The account's async jobs (async chat, images and videos) as a list for the console.

The wire API answers one task at a time (`/async-result/{id}`); the console lists them from the
durable job rows, always filtered by the signed-in account.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from openmaas.chat.async_chat import KIND as ASYNC_CHAT
from openmaas.store.db import Database
from openmaas.store.tables import Job
from openmaas.tools_api.async_media import ASYNC_IMAGE, ASYNC_VIDEO

ASYNC_KINDS = (ASYNC_CHAT, ASYNC_IMAGE, ASYNC_VIDEO)
WIRE_STATUS = {"succeeded": "SUCCESS", "failed": "FAIL"}  # anything else is still running


@dataclass(frozen=True)
class AsyncResultView:
    id: str
    kind: str
    model: str
    request_id: str
    status: str  # PROCESSING | SUCCESS | FAIL, as /async-result answers
    created_at: str
    updated_at: str
    error_code: str | None
    error_message: str | None


def _view(job: Job) -> AsyncResultView:
    return AsyncResultView(
        id=job.id,
        kind=job.kind,
        model=str(job.payload.get("model", "")),
        request_id=str(job.payload.get("request_id", job.id)),
        status=WIRE_STATUS.get(job.state, "PROCESSING"),
        created_at=job.created_at.isoformat(),
        updated_at=job.updated_at.isoformat(),
        error_code=job.error_code,
        error_message=job.error_message,
    )


def list_async_results(db: Database, account_id: str, limit: int) -> list[AsyncResultView]:
    """The account's newest async jobs first; other accounts' jobs are never read."""
    query = (
        sa.select(Job)
        .where(Job.account_id == account_id, Job.kind.in_(ASYNC_KINDS))
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    with db.session(read_only=True) as session:
        return [_view(job) for job in session.scalars(query)]
