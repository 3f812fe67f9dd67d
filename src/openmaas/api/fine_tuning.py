"""Fine-tuning (reference §12), on both surfaces: /api/paas/v4/fine_tuning/... and /v1/fine_tuning/...

POST /fine_tuning/jobs, GET /fine_tuning/jobs?after=&limit= (newest first),
GET /fine_tuning/jobs/{id}, GET /fine_tuning/jobs/{id}/events?after=&limit=,
POST /fine_tuning/jobs/{id}/cancel, DELETE /fine_tuning/jobs/{id},
DELETE /fine_tuning/fine_tuned_models/{model}; and the OpenAI SDK's DELETE /v1/models/{model}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.pagination import CursorQueryDep, list_page
from openmaas.api.public.fine_tuning import (
    FineTunedModelDeleted,
    FineTuningEventsPublic,
    FineTuningJobPublic,
    FineTuningJobsPublic,
    ModelDeleted,
)
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.chat.ids import new_request_id
from openmaas.concurrency import run_in_threadpool
from openmaas.finetune.types import JobSpec
from openmaas.finetune.views import EventView, JobView

router = APIRouter(route_class=OffLoopJSONRoute, tags=["fine-tuning"])
openai_router = APIRouter(route_class=OffLoopJSONRoute, tags=["fine-tuning"])
Auto = Literal["auto"]


class HyperparametersBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    n_epochs: int | Auto = "auto"
    batch_size: int | Auto = "auto"
    learning_rate_multiplier: float | Auto = "auto"


class FineTuneCreateBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=128)
    training_file: str = Field(min_length=1, max_length=64)
    validation_file: str | None = Field(default=None, max_length=64)
    hyperparameters: HyperparametersBody | None = None
    suffix: str | None = None
    request_id: str | None = Field(default=None, max_length=128)

    def to_spec(self) -> JobSpec:
        hyper = self.hyperparameters or HyperparametersBody()
        return JobSpec(
            model=self.model,
            training_file=self.training_file,
            validation_file=self.validation_file or None,
            n_epochs=hyper.n_epochs,
            batch_size=hyper.batch_size,
            learning_rate_multiplier=hyper.learning_rate_multiplier,
            suffix=self.suffix or None,
            request_id=self.request_id,
        )


def _seconds(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def job_object(row: JobView) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "fine_tuning.job",
        "request_id": row.request_id or row.id,
        "created_at": _seconds(row.created_at),
        "finished_at": _seconds(row.finished_at),
        "model": row.model,
        "fine_tuned_model": row.fine_tuned_model,
        "status": row.status,
        "training_file": row.training_file,
        "validation_file": row.validation_file,
        "result_files": [],
        "trained_tokens": row.trained_tokens,
        "estimated_tokens": row.estimated_tokens,
        "hyperparameters": row.hyperparameters,
        "error": row.error,
        "organization_id": row.account_id,
        "seed": 0,
        "suffix": row.suffix,
    }


def event_object(row: EventView) -> dict[str, Any]:
    return {
        "object": "fine_tuning.job.event",
        "id": f"ftevent-{row.id}",
        "type": row.type,
        "created_at": _seconds(row.created_at),
        "level": row.level,
        "message": row.message,
        "data": row.data or {},
    }


@router.post("/fine_tuning/jobs", response_model=FineTuningJobPublic)
async def create_job(body: FineTuneCreateBody, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    row = await services.finetune.create(principal, body.to_spec())
    return JSONBody(job_object(row))


@router.get("/fine_tuning/jobs", response_model=FineTuningJobsPublic)
async def list_jobs(services: ServicesDep, principal: PrincipalDep, query: CursorQueryDep) -> JSONBody:
    page = await run_in_threadpool(services.finetune.list, principal, query.after, query.limit)
    return JSONBody(list_page([job_object(r) for r in page.rows], page.has_more))


@router.get("/fine_tuning/jobs/{job_id}", response_model=FineTuningJobPublic)
async def retrieve_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(job_object(await run_in_threadpool(services.finetune.get, principal, job_id)))


@router.get("/fine_tuning/jobs/{job_id}/events", response_model=FineTuningEventsPublic)
async def list_events(
    job_id: str, services: ServicesDep, principal: PrincipalDep, query: CursorQueryDep
) -> JSONBody:
    page = await run_in_threadpool(services.finetune.events, principal, job_id, query.after, query.limit)
    return JSONBody(list_page([event_object(r) for r in page.rows], page.has_more))


@router.post("/fine_tuning/jobs/{job_id}/cancel", response_model=FineTuningJobPublic)
async def cancel_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(job_object(await run_in_threadpool(services.finetune.cancel, principal, job_id)))


@router.delete("/fine_tuning/jobs/{job_id}", response_model=FineTuningJobPublic)
async def delete_job(job_id: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    return JSONBody(job_object(await run_in_threadpool(services.finetune.delete, principal, job_id)))


@router.delete("/fine_tuning/fine_tuned_models/{model}", response_model=FineTunedModelDeleted)
async def delete_model(model: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    name = await run_in_threadpool(services.finetune.delete_model, principal, model)
    return JSONBody({"request_id": new_request_id(), "model_name": name, "delete_status": "deleted"})


@openai_router.delete("/models/{model}", response_model=ModelDeleted)
async def delete_model_openai(model: str, services: ServicesDep, principal: PrincipalDep) -> JSONBody:
    name = await run_in_threadpool(services.finetune.delete_model, principal, model)
    return JSONBody({"id": name, "object": "model", "deleted": True})
