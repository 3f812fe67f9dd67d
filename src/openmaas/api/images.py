"""POST /api/paas/v4/images/generations and POST /v1/images/generations (reference §9), and
GET .../images/files/{name}: the PNGs those answers link to.

`response_format: "b64_json"` puts the PNG in the answer; otherwise (`url`, the default)
the answer links to OpenMaaS itself. Image URLs need no API key: their 192-bit random name
is the credential (images/store.py), like the platform's own expiring image links.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.public.images import PNG_CONTENT, ImagesPublic
from openmaas.api.responses import JSONBody
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.concurrency import run_in_threadpool
from openmaas.images.service import ImageRequest, ImageResult
from openmaas.images.store import ImageStore

router = APIRouter(route_class=OffLoopJSONRoute, tags=["images"])
FILE_ROUTE = "image_file"


class ImagesBody(BaseModel):
    """Both surfaces: the zhipuai SDK's fields (explicit nulls accepted) and OpenAI's."""

    model_config = ConfigDict(extra="allow")

    prompt: str
    model: str | None = None
    n: int | None = Field(default=None, ge=1)
    size: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    quality: str | None = None  # accepted, not used
    style: str | None = None  # accepted, not used
    user: str | None = None
    user_id: str | None = None
    request_id: str | None = Field(default=None, max_length=128)
    sensitive_word_check: dict[str, Any] | None = None
    watermark_enabled: bool | None = None

    @property
    def as_b64(self) -> bool:
        return self.response_format == "b64_json"

    def to_request(self) -> ImageRequest:
        return ImageRequest(
            model=self.model, prompt=self.prompt, n=self.n, size=self.size, request_id=self.request_id
        )


def images_body(result: ImageResult, request: Request, store: ImageStore, as_b64: bool) -> dict[str, Any]:
    if as_b64:
        data = [{"b64_json": base64.b64encode(store.path_of(n).read_bytes()).decode()} for n in result.names]
    else:
        data = [{"url": str(request.url_for(FILE_ROUTE, name=n))} for n in result.names]
    return {"created": result.created, "data": data}


@router.post("/images/generations", response_model=ImagesPublic)
async def generate_images(
    body: ImagesBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> JSONBody:
    result = await services.images.generate(principal, body.to_request())
    return JSONBody(await run_in_threadpool(images_body, result, request, services.images.store, body.as_b64))


@router.get(
    "/images/files/{name}",
    name=FILE_ROUTE,
    response_model=None,
    response_class=Response,
    responses=PNG_CONTENT,
)
async def image_file(name: str, services: ServicesDep) -> FileResponse:
    path = services.images.store.path_of(name)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})
