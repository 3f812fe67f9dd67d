"""Image engines: a prompt in, PNG bytes out.

`DiffusersImageEngine` runs any diffusers pipeline saved with `save_pretrained` (Stable
Diffusion and friends; unconditional pipelines ignore the prompt) on the CPU, on one
dedicated worker thread (pipelines are not thread-safe; calls queue). `UpstreamImageEngine`
asks OpenAI-compatible servers (`POST /v1/images/generations`, b64_json), over the same
replica pool as the upstream chat engine.

torch and diffusers are imported only when a diffusers engine starts (the `images` extra).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from openmaas.engines.upstream_http import (
    ReplicaFailed,
    UpstreamTarget,
    no_replica_error,
    post_json,
    transport_failure,
)
from openmaas.errors import InternalFailure

log = logging.getLogger(__name__)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImageJob:
    prompt: str
    width: int
    height: int
    n: int = 1
    seed: int | None = None


class ImageEngine(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def generate(self, job: ImageJob) -> list[bytes]:
        """`job.n` PNG images."""
        ...


class DiffusersImageEngine:
    def __init__(
        self, path: Path, steps: int = 20, threads: int | None = None, guidance_scale: float | None = None
    ) -> None:
        self.path = Path(path)
        self.steps = steps
        self.threads = threads  # torch's intra-op threads (process-wide); None: torch's default
        self.guidance_scale = guidance_scale
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="diffusers")
        self._pipe: Any = None
        self._accepts: set[str] = set()

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._pipe = None

    async def generate(self, job: ImageJob) -> list[bytes]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, job)

    def _load(self) -> None:
        if not (self.path / "model_index.json").is_file():
            raise ValueError(f"{self.path} is not a diffusers pipeline directory (no model_index.json)")
        import torch
        from diffusers import DiffusionPipeline

        if self.threads:
            torch.set_num_threads(self.threads)
        pipe = DiffusionPipeline.from_pretrained(str(self.path))
        pipe.set_progress_bar_config(disable=True)
        self._accepts = set(inspect.signature(pipe.__call__).parameters)
        self._pipe = pipe
        log.info("diffusers pipeline %s loaded from %s", type(pipe).__name__, self.path)

    def _run(self, job: ImageJob) -> list[bytes]:
        if self._pipe is None:
            raise InternalFailure("图像模型未加载 (the image pipeline is not loaded)")
        import torch

        images: list[Any] = []
        per_call = job.n if {"num_images_per_prompt", "batch_size"} & self._accepts else 1
        while len(images) < job.n:
            generator = (
                torch.Generator().manual_seed(job.seed + len(images)) if job.seed is not None else None
            )
            output = self._pipe(**self._arguments(job, per_call, generator))
            images.extend(output.images)
        return [_png(image) for image in images[: job.n]]

    def _arguments(self, job: ImageJob, count: int, generator: Any) -> dict[str, Any]:
        wanted = {
            "prompt": job.prompt,
            "height": job.height,
            "width": job.width,
            "num_inference_steps": self.steps,
            "num_images_per_prompt": count,
            "batch_size": count,
            "generator": generator,
            "output_type": "pil",
            "guidance_scale": self.guidance_scale,
        }
        return {k: v for k, v in wanted.items() if k in self._accepts and v is not None}


def _png(image: Any) -> bytes:
    """A PIL image (or an HxWxC array in [0, 1]) as PNG bytes."""
    if not hasattr(image, "save"):
        import numpy as np
        from PIL import Image

        image = Image.fromarray((np.clip(image, 0, 1) * 255).round().astype("uint8"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class UpstreamImageEngine:
    def __init__(self, target: UpstreamTarget, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.target = target
        self.pool = target.pool()
        self._client = target.async_client(transport)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self._client.aclose()

    async def generate(self, job: ImageJob) -> list[bytes]:
        body = {
            "model": self.target.model,
            "prompt": job.prompt,
            "n": job.n,
            "size": f"{job.width}x{job.height}",
            "response_format": "b64_json",
        }
        data = await post_json(self._client, self.target, self.pool, "/v1/images/generations", body)
        items = data.get("data")
        if not isinstance(items, list) or not items:
            raise self._failure("the answer has no images")
        return [await self._image_bytes(item) for item in items[: job.n]]

    async def _image_bytes(self, item: Any) -> bytes:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            try:
                raw = base64.b64decode(item["b64_json"], validate=True)
            except ValueError as exc:
                raise self._failure("b64_json is not base64") from exc
        elif isinstance(item, dict) and isinstance(item.get("url"), str):
            raw = await self._download(item["url"])
        else:
            raise self._failure("an image has neither b64_json nor url")
        if not raw.startswith(PNG_MAGIC):
            raw = _reencode(raw)
        return raw

    async def _download(self, url: str) -> bytes:
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise no_replica_error(self.target, self.pool, transport_failure(exc, url)) from exc
        if response.status_code != 200:
            raise self._failure(f"downloading {url} gave HTTP {response.status_code}")
        return response.content

    def _failure(self, detail: str) -> Exception:
        return no_replica_error(self.target, self.pool, ReplicaFailed("failure", detail))


def _reencode(raw: bytes) -> bytes:
    """JPEG/WebP from an upstream → PNG, so every image we store and serve is a PNG."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            return _png(image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InternalFailure("上游返回的图像无法解析 (the upstream's image cannot be decoded)") from exc
