"""What only the console API answers (/console/api): the catalog as configured."""

from __future__ import annotations

from pydantic import BaseModel


class ChatCatalogEntry(BaseModel):
    name: str
    engine: str
    aliases: list[str]
    context_window: int
    max_output_tokens: int
    capabilities: list[str]
    description: str


class EmbeddingCatalogEntry(BaseModel):
    name: str
    engine: str
    aliases: list[str]
    embedding_id: int | None
    dimensions: int
    languages: list[str]
    description: str


class CatalogPublic(BaseModel):
    chat: list[ChatCatalogEntry]
    embedding: list[EmbeddingCatalogEntry]
