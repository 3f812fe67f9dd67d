"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def binary_answer(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route answering bytes (its `response_model` is None)."""
    return {200: {"content": {m: {} for m in media_types}, "description": description}}


class ZhipuEnvelope(BaseModel):
    """The platform's envelope on knowledge writes: `code` 200, `message`, ms `timestamp`."""

    code: int
    message: str
    timestamp: int


class Money(BaseModel):
    """An amount in µ元 (exact) and as a 元 string for display."""

    micro: int
    yuan: str
