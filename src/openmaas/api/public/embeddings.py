"""Embeddings (reference §8): float lists, or base64 little-endian float32 with encoding_format."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class EmbeddingPublic(BaseModel):
    index: int
    object: Literal["embedding"]
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class EmbeddingsPublic(BaseModel):
    model: str
    object: Literal["list"]
    data: list[EmbeddingPublic]
    usage: EmbeddingUsage
