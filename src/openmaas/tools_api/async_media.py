"""Async image and video generation: durable jobs (kinds `async_image`, `async_video`)
polled at GET /async-result/{id} like async chat.

Images run on the configured image engines (images/service.py: a diffusers directory or an
upstream) and are billed there, per image. Videos go to a configured Zhipu-compatible
video upstream (`tools.video.upstream`): the job submits there and polls its async-result;
without one, 1211. Billed per video.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.errors import InvalidField, UpstreamFailure, UpstreamTimeout
from openmaas.images.service import ImageRequest, ImageService
from openmaas.jobs.queue import JobQueue
from openmaas.store.tables import Job
from openmaas.tools_api.errors import NoEngineConfigured
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import VIDEO
from openmaas.tools_api.settings import VideoSettings

ASYNC_IMAGE, ASYNC_VIDEO = "async_image", "async_video"
STATUS = {"succeeded": "SUCCESS", "failed": "FAIL"}


@dataclass(frozen=True)
class MediaTask:
    id: str
    kind: str  # async_image | async_video
    model: str
    request_id: str
    status: str  # PROCESSING | SUCCESS | FAIL
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None


class AsyncMediaService:
    def __init__(
        self,
        images: ImageService,
        jobs: JobQueue,
        meter: ToolMeter,
        video: VideoSettings,
        video_upstream: UpstreamToolClient | None = None,
    ) -> None:
        self._images = images
        self._jobs = jobs
        self._meter = meter
        self.video = video
        self._video_upstream = video_upstream

    async def submit_image(self, principal: Principal, request: ImageRequest) -> MediaTask:
        model = self._images.resolve(request.model)  # 1211 now, not in the job
        if not (request.prompt or "").strip():
            raise InvalidField("prompt", "must not be empty")
        task_id = uuid.uuid4().hex
        request_id = request.request_id or task_id
        model_name = request.model or model.name
        payload: dict[str, Any] = {
            "model": model_name,
            "prompt": request.prompt,
            "n": request.n,
            "size": request.size,
            "request_id": request_id,
        }
        await run_in_threadpool(self._jobs.submit, principal, ASYNC_IMAGE, payload, task_id)
        return MediaTask(task_id, ASYNC_IMAGE, model_name, request_id, "PROCESSING")

    async def run_image(self, job: Job, principal: Principal) -> dict[str, Any]:
        p = job.payload
        made = await self._images.generate(
            principal, ImageRequest(p["model"], p["prompt"], p.get("n"), p.get("size"), p["request_id"])
        )
        return {"names": made.names, "created": made.created}

    async def submit_video(self, principal: Principal, body: dict[str, Any]) -> MediaTask:
        model = str(body.get("model") or "")
        if model not in self.video.names:
            raise InvalidField("model", f"one of {', '.join(self.video.names)}")
        if self._video_upstream is None:
            raise NoEngineConfigured(model, "video", "no video weights ship: set tools.video.upstream")
        if not body.get("prompt") and not body.get("image_url"):
            raise InvalidField("prompt", "a prompt or an image_url is needed")
        task_id = uuid.uuid4().hex
        request_id = str(body.get("request_id") or task_id)
        payload = {k: v for k, v in body.items() if v is not None} | {"request_id": request_id}
        await run_in_threadpool(self._jobs.submit, principal, ASYNC_VIDEO, payload, task_id)
        return MediaTask(task_id, ASYNC_VIDEO, model, request_id, "PROCESSING")

    async def run_video(self, job: Job, principal: Principal) -> dict[str, Any]:
        if self._video_upstream is None:
            raise NoEngineConfigured(job.payload["model"], "video", "set tools.video.upstream")
        async with self._meter.metered(principal, VIDEO, 1, "videos", job.payload["request_id"]):
            videos = await self._generate_video(job.payload)
        return {"video_result": videos, "created": int(time.time())}

    async def _generate_video(self, payload: dict[str, Any]) -> list[dict[str, str]]:
        upstream = self._video_upstream
        model = payload["model"]
        if upstream is None:
            raise NoEngineConfigured(model, "video generation", "set tools.video.upstream")
        task = await upstream.post_json("/videos/generations", model, payload)
        task_id = task.get("id")
        if not task_id:
            raise UpstreamFailure(model, "the video upstream answered without a task id")
        deadline = time.monotonic() + self.video.max_wait_seconds
        while time.monotonic() < deadline:
            result = await upstream.get_json(f"/async-result/{task_id}", model)
            status = result.get("task_status")
            if status == "SUCCESS":
                return [
                    {"url": str(v.get("url", "")), "cover_image_url": str(v.get("cover_image_url", ""))}
                    for v in result.get("video_result") or []
                ]
            if status == "FAIL":
                raise UpstreamFailure(model, f"the video upstream failed the task: {result.get('error')}")
            await asyncio.sleep(self.video.poll_seconds)
        raise UpstreamTimeout(model, f"no video after {self.video.max_wait_seconds:g} s")

    async def fetch(self, principal: Principal, task_id: str) -> MediaTask | None:
        """The task if it is an image or video job of this account; None for other kinds."""
        job = await run_in_threadpool(self._jobs.get, principal.account_id, task_id)
        if job.kind not in (ASYNC_IMAGE, ASYNC_VIDEO):
            return None
        status = STATUS.get(job.state, "PROCESSING")
        error = (
            {"code": job.error_code or "500", "message": job.error_message or ""}
            if status == "FAIL"
            else None
        )
        return MediaTask(
            job.id,
            job.kind,
            job.payload["model"],
            job.payload.get("request_id", job.id),
            status,
            job.result or {},
            error,
        )

    def job_handlers(self) -> dict:
        return {ASYNC_IMAGE: self.run_image, ASYNC_VIDEO: self.run_video}

    async def close(self) -> None:
        if self._video_upstream is not None:
            await self._video_upstream.close()
