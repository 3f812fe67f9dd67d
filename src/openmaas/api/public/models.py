"""GET /models: the catalog's chat and embedding models, aliases included."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelPublic(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str
    context_window: int
    capabilities: list[str]
    dimensions: int | None = None  # embedding models only


class ModelsPublic(BaseModel):
    object: Literal["list"]
    data: list[ModelPublic]
