"""POST /async/images/generations and POST /videos/generations: durable jobs whose results
GET /async-result/{id} returns (`image_result` / `video_result`), as the SDKs poll them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from openmaas.api.deps import PrincipalDep, ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.images.service import ImageRequest
from openmaas.tools_api.async_media import ASYNC_IMAGE, MediaTask

router = APIRouter(route_class=OffLoopJSONRoute, tags=["tools: async images and videos"])
IMAGE_FILE_ROUTE = "image_file"  # api/images.py serves the stored PNGs


class AsyncImagesBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    prompt: str
    model: str | None = None
    n: int | None = Field(default=None, ge=1)
    size: str | None = None
    quality: str | None = None
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)
    watermark_enabled: bool | None = None

    def to_request(self) -> ImageRequest:
        return ImageRequest(self.model, self.prompt, self.n, self.size, self.request_id)


class VideosBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    prompt: str | None = None
    image_url: str | list[Any] | dict[str, Any] | None = None
    request_id: str | None = Field(default=None, max_length=128)
    user_id: str | None = Field(default=None, max_length=128)


class ImageItem(BaseModel):
    url: str


class VideoItem(BaseModel):
    url: str
    cover_image_url: str


class TaskError(BaseModel):
    code: str
    message: str


class MediaTaskResponse(BaseModel):
    id: str
    model: str
    request_id: str
    task_status: str
    created: int | None = None
    image_result: list[ImageItem] | None = None
    video_result: list[VideoItem] | None = None
    error: TaskError | None = None


def task_response(task: MediaTask, request: Request) -> MediaTaskResponse:
    body = MediaTaskResponse(
        id=task.id,
        model=task.model,
        request_id=task.request_id,
        task_status=task.status,
        created=task.result.get("created"),
        error=TaskError(**task.error) if task.error else None,
    )
    if task.kind == ASYNC_IMAGE:
        body.image_result = [
            ImageItem(url=str(request.url_for(IMAGE_FILE_ROUTE, name=n)))
            for n in task.result.get("names", [])
        ]
    else:
        body.video_result = [VideoItem(**v) for v in task.result.get("video_result", [])]
    return body


@router.post("/async/images/generations", response_model=MediaTaskResponse, response_model_exclude_none=True)
async def async_images(
    body: AsyncImagesBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> MediaTaskResponse:
    task = await services.tools.media.submit_image(principal, body.to_request())
    return task_response(task, request)


@router.post("/videos/generations", response_model=MediaTaskResponse, response_model_exclude_none=True)
async def videos(
    body: VideosBody, request: Request, services: ServicesDep, principal: PrincipalDep
) -> MediaTaskResponse:
    task = await services.tools.media.submit_video(principal, body.model_dump(exclude={"user_id"}))
    return task_response(task, request)
