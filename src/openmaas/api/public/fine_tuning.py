"""Fine-tuning (reference §12): jobs, their events, deleted models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class FineTuningJobPublic(BaseModel):
    id: str
    object: Literal["fine_tuning.job"]
    request_id: str
    created_at: int | None
    finished_at: int | None
    model: str
    fine_tuned_model: str | None
    status: str
    training_file: str
    validation_file: str | None
    result_files: list[str]
    trained_tokens: int
    estimated_tokens: int
    hyperparameters: dict[str, Any]
    error: dict[str, Any] | None
    organization_id: str
    seed: int
    suffix: str | None


class FineTuningJobsPublic(BaseModel):
    object: Literal["list"]
    data: list[FineTuningJobPublic]
    has_more: bool


class FineTuningEventPublic(BaseModel):
    object: Literal["fine_tuning.job.event"]
    id: str
    type: str
    created_at: int | None
    level: str
    message: str
    data: dict[str, Any]


class FineTuningEventsPublic(BaseModel):
    object: Literal["list"]
    data: list[FineTuningEventPublic]
    has_more: bool


class FineTunedModelDeleted(BaseModel):
    """The Zhipu answer to DELETE /fine_tuning/fine_tuned_models/{model}."""

    request_id: str
    model_name: str
    delete_status: Literal["deleted"]


class ModelDeleted(BaseModel):
    """The OpenAI answer to DELETE /v1/models/{model}."""

    id: str
    object: Literal["model"]
    deleted: bool
