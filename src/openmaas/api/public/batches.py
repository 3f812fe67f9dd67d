"""Batches (reference §13): the batch object (OpenAI's shape, on both surfaces) and its page."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class RequestCounts(BaseModel):
    total: int
    completed: int
    failed: int


class InputTokensDetails(BaseModel):
    cached_tokens: int


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int


class BatchUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens_details: OutputTokensDetails


class BatchPublic(BaseModel):
    id: str
    object: Literal["batch"]
    endpoint: str
    model: str
    input_file_id: str
    completion_window: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    errors: dict[str, Any] | None
    request_counts: RequestCounts
    metadata: dict[str, Any] | None
    usage: BatchUsage
    created_at: int | None
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None


class BatchesPublic(BaseModel):
    object: Literal["list"]
    data: list[BatchPublic]
    first_id: str | None
    last_id: str | None
    has_more: bool
