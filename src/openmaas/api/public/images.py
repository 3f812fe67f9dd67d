"""Image generation (reference §9): links to the PNGs, or the PNGs themselves (b64_json)."""

from __future__ import annotations

from pydantic import BaseModel

from openmaas.api.public.common import binary_answer

PNG_CONTENT = binary_answer("the generated image", "image/png")


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None


class ImagesPublic(BaseModel):
    created: int
    data: list[ImageData]
