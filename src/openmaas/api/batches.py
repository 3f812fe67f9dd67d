"""Batches (reference §13), on both surfaces: /api/paas/v4/batches and /v1/batches.

POST /batches, GET /batches/{id}, GET /batches?after=&limit= (newest first; iterating
with `after` ends with an empty `data`, which is what the zhipuai SDK waits for, and
`has_more` tells the openai SDK), POST /batches/{id}/cancel.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.pagination import CursorQueryDep, list_page
from openmaas.api.public.batches import BatchesPublic, BatchPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.batch.input import DEFAULT_WINDOW_HOURS
from openmaas.batch.types import BatchSpec, BatchView
from openmaas.concurrency import run_in_threadpool

router = APIRouter(route_class=OffLoopJSONRoute, tags=["batches"])
TIMESTAMPS = (
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
)


class BatchCreateBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    input_file_id: str = Field(min_length=1, max_length=64)
    endpoint: str = Field(min_length=1)
    completion_window: str | None = None  # the zhipuai SDK sends null when not given
    metadata: dict[str, str] | None = None
    auto_delete_input_file: bool | None = None  # zhipuai always sends it; openai never does

    def to_spec(self) -> BatchSpec:
        return BatchSpec(
            input_file_id=self.input_file_id,
            endpoint=self.endpoint,
            completion_window=self.completion_window,
            metadata=self.metadata,
            auto_delete_input_file=bool(self.auto_delete_input_file),
        )


def _seconds(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def batch_object(row: BatchView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id,
        "object": "batch",
        "endpoint": row.endpoint,
        "model": row.model,
        "input_file_id": row.input_file_id,
        "completion_window": row.completion_window or f"{DEFAULT_WINDOW_HOURS}h",
        "status": row.status,
        "output_file_id": row.output_file_id,
        "error_file_id": row.error_file_id,
        "errors": row.errors,
        "request_counts": {"total": row.total, "completed": row.completed, "failed": row.failed},
        "metadata": row.meta,
        "usage": {
            "input_tokens": row.prompt_tokens,
            "output_tokens": row.completion_tokens,
            "total_tokens": row.prompt_tokens + row.completion_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }
    return body | {name: _seconds(getattr(row, name)) for name in TIMESTAMPS}


@router.post("/batches", response_model=BatchPublic)
async def create_batch(body: BatchCreateBody, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    row = await run_in_threadpool(services.batches.create, principal, body.to_spec())
    return JSONBody(batch_object(row))


@router.get("/batches", response_model=BatchesPublic)
async def list_batches(services: ServicesDep, principal: PrincipalDep, query: CursorQueryDep) -> JSONBody:
    page = await run_in_threadpool(services.batches.list, principal, query.after, query.limit)
    return JSONBody(list_page([batch_object(b) for b in page.rows], page.has_more, with_ids=True))


@router.get("/batches/{batch_id}", response_model=BatchPublic)
async def retrieve_batch(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(batch_object(await run_in_threadpool(services.batches.get, principal, batch_id)))


@router.post("/batches/{batch_id}/cancel", response_model=BatchPublic)
async def cancel_batch(batch_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    row = await run_in_threadpool(services.batches.cancel, principal, batch_id)
    return JSONBody(batch_object(row))
