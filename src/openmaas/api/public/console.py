"""What only the console API answers (/console/api): the catalog as configured."""

from __future__ import annotations

from typing import Literal

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


class ConsoleModelPublic(BaseModel):
    """The wire's model (`ModelPublic`) with its `kind`; a tool model (`include=tools`) has no
    context window but says what it is priced by."""

    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str
    kind: str  # chat | embedding | image | rerank | ocr | speech | transcription | web_search
    capabilities: list[str]
    context_window: int | None = None
    dimensions: int | None = None  # embedding models only
    price_item: str | None = None  # tool models only
    unit: str | None = None


class ConsoleModelsPublic(BaseModel):
    object: Literal["list"]
    data: list[ConsoleModelPublic]
