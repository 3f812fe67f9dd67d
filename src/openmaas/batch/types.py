"""Values shared by the batch service, its runner and the line executor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from openmaas.auth.principal import Principal
from openmaas.store.tables import Batch

KIND = "batch"  # the durable job kind
USAGE_ENDPOINT = "batch"  # the endpoint recorded on each line's usage row
PRICE_PERCENT = 50  # batch lines pay half the standard price (reference §13, §21)
MAX_REQUESTS = 50_000
MAX_METADATA_KEYS = 16
OUTPUT_PURPOSE = "batch_output"

ENDPOINT_KINDS = {
    "/v4/chat/completions": "chat",
    "/v1/chat/completions": "chat",
    "/v4/embeddings": "embeddings",
    "/v1/embeddings": "embeddings",
}
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
RUNNABLE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})


@dataclass(frozen=True)
class BatchSpec:
    """A create request, as the API hands it to the service."""

    input_file_id: str
    endpoint: str
    completion_window: str | None = None
    metadata: dict[str, str] | None = None
    auto_delete_input_file: bool = False


@dataclass(frozen=True)
class BatchRequest:
    """One request line of the input file; `position` counts requests, `line` file lines."""

    position: int
    line: int
    custom_id: str
    url: str
    body: dict[str, Any]
    # Set by the runner: the id a line without its own `request_id` is metered under (the
    # same on every attempt), and whether this run resumes after a crash (`Meter.open`).
    request_id: str | None = None
    resumed: bool = False

    @property
    def model(self) -> str:
        return self.body["model"]


@dataclass(frozen=True)
class LineOutcome:
    """What one request answered: a wire body (numpy arrays allowed) and its status."""

    status_code: int
    body: dict[str, Any]
    request_id: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retry_after: float | None = None  # set when the line was only rate limited: run it again

    @property
    def ok(self) -> bool:
        return self.status_code == 200


class LineExecutor(Protocol):
    async def execute(self, principal: Principal, request: BatchRequest) -> LineOutcome:
        """Run one request; every failure comes back as an outcome, never as an exception."""
        ...


@dataclass(frozen=True)
class BatchView:
    """A batch as callers see it (a copy of the row)."""

    id: str
    endpoint: str
    model: str
    input_file_id: str
    completion_window: str | None
    status: str
    meta: dict[str, Any] | None
    total: int
    completed: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    output_file_id: str | None
    error_file_id: str | None
    errors: dict[str, Any] | None
    created_at: datetime
    expires_at: datetime | None
    in_progress_at: datetime | None
    finalizing_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    expired_at: datetime | None
    cancelling_at: datetime | None
    cancelled_at: datetime | None


def batch_view(row: Batch) -> BatchView:
    return BatchView(
        row.id,
        row.endpoint,
        row.model,
        row.input_file_id,
        row.completion_window,
        row.status,
        row.meta,
        row.total,
        row.completed,
        row.failed,
        row.prompt_tokens,
        row.completion_tokens,
        row.output_file_id,
        row.error_file_id,
        row.errors,
        row.created_at,
        row.expires_at,
        row.in_progress_at,
        row.finalizing_at,
        row.completed_at,
        row.failed_at,
        row.expired_at,
        row.cancelling_at,
        row.cancelled_at,
    )
