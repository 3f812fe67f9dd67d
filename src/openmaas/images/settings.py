"""Image settings: the image model catalog and where generated images live.

Part of the one `Settings` object (`settings.images`). No text-to-image weights ship with
OpenMaaS: point a model at a diffusers pipeline directory or at upstream servers, e.g.
`OPENMAAS_IMAGES__MODELS='[{"name": "sd-turbo", "aliases": ["cogview-3"], "path": "/models/sd-turbo"}]'`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
COGVIEW_SIZES = ["1024x1024", "768x1344", "864x1152", "1344x768", "1152x864", "1440x720", "720x1440"]


def parse_size(size: str) -> tuple[int, int]:
    """'1024x768' → (1024, 768); ValueError otherwise."""
    match = SIZE.match(size.strip().lower())
    if not match:
        raise ValueError(f"size {size!r} is not WIDTHxHEIGHT")
    return int(match.group(1)), int(match.group(2))


class ImageModelConfig(BaseModel):
    """One image model: a public name (+ aliases) served by one engine."""

    name: str
    engine: Literal["diffusers", "upstream"] = "diffusers"
    aliases: list[str] = Field(default_factory=list)
    path: Path | None = None  # diffusers: a pipeline directory written by save_pretrained
    sizes: list[str] = Field(default_factory=lambda: list(COGVIEW_SIZES))  # the first is the default
    max_images: int = Field(default=4, ge=1)  # most images (`n`) per request
    steps: int = Field(default=20, ge=1)  # diffusers: num_inference_steps
    guidance_scale: float | None = None  # diffusers: None → the pipeline's default
    threads: int | None = None  # diffusers: torch intra-op threads (process-wide); None: torch's
    upstreams: list[str] = Field(default_factory=list)  # upstream: replica base URLs
    upstream_model: str | None = None  # upstream: its name for the model (default: `name`)
    api_key_env: str | None = None  # upstream: environment variable holding its API key
    options: dict[str, Any] = Field(default_factory=dict)  # upstream: engines/upstream_http.py knobs
    description: str = ""

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[str]) -> list[str]:
        if not sizes:
            raise ValueError("at least one size")
        return [f"{w}x{h}" for w, h in map(parse_size, sizes)]

    @model_validator(mode="after")
    def _engine_needs(self) -> ImageModelConfig:
        if self.engine == "diffusers" and self.path is None:
            raise ValueError(f"image model {self.name!r}: engine diffusers needs `path`")
        if self.engine == "upstream" and not self.upstreams:
            raise ValueError(f"image model {self.name!r}: engine upstream needs `upstreams`")
        return self


class ImagesSettings(BaseModel):
    models: list[ImageModelConfig] = Field(default_factory=list)
    url_ttl_days: int = Field(default=30, ge=1)  # generated images are deleted after this
    max_prompt_chars: int = Field(default=4000, ge=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ImagesSettings:
        names = [n for m in self.models for n in (m.name, *m.aliases)]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"image model names/aliases used twice: {sorted(duplicates)}")
        return self
