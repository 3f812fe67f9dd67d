"""What the fine-tuning service hands back: plain copies, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openmaas.store.tables import FineTuningEvent, FineTuningJob


@dataclass(frozen=True)
class JobView:
    id: str
    account_id: str
    request_id: str | None
    model: str
    status: str
    training_file: str
    validation_file: str | None
    suffix: str | None
    hyperparameters: dict[str, Any]
    fine_tuned_model: str | None
    estimated_tokens: int
    trained_tokens: int
    error: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


def job_view(row: FineTuningJob) -> JobView:
    return JobView(
        row.id,
        row.account_id,
        row.request_id,
        row.model,
        row.status,
        row.training_file,
        row.validation_file,
        row.suffix,
        row.hyperparameters,
        row.fine_tuned_model,
        row.estimated_tokens,
        row.trained_tokens,
        row.error,
        row.created_at,
        row.finished_at,
    )


@dataclass(frozen=True)
class EventView:
    id: int
    type: str
    level: str
    message: str
    data: dict[str, Any] | None
    created_at: datetime


def event_view(row: FineTuningEvent) -> EventView:
    return EventView(row.id, row.type, row.level, row.message, row.data, row.created_at)
