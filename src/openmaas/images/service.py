"""The image service: model resolution, checks, admission, per-image money, storage.

One money path (DESIGN.md rule 1): the meter holds n × the per-image price before the
engine runs and settles on the images actually made (completion_tokens = images), or
releases the hold when generation fails or is cancelled. Priced by the name used, else the
canonical model (an image call without `model` pays the canonical's price).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from openmaas.auth.principal import Principal
from openmaas.billing.meter import Bound, Meter
from openmaas.concurrency import run_in_threadpool
from openmaas.engines.images import ImageEngine, ImageJob
from openmaas.errors import InternalFailure, InvalidField, ModelNotFound, PlatformError
from openmaas.images.settings import ImageModelConfig, ImagesSettings, parse_size
from openmaas.images.store import ImageStore
from openmaas.limits.base import Admission, Limiter

log = logging.getLogger(__name__)
PURGE_EVERY_SECONDS = 3600


def build_image_engine(config: ImageModelConfig) -> ImageEngine:
    if config.engine == "upstream":
        from openmaas.engines.images import UpstreamImageEngine
        from openmaas.engines.upstream_http import UpstreamTarget

        return UpstreamImageEngine(
            UpstreamTarget.build(
                config.name, config.upstreams, config.upstream_model, config.api_key_env, config.options
            )
        )
    from openmaas.engines.images import DiffusersImageEngine

    if config.path is None:  # ImageModelConfig's validator already refuses this
        raise ValueError(f"image model {config.name!r}: engine diffusers needs `path`")
    return DiffusersImageEngine(
        config.path, steps=config.steps, threads=config.threads, guidance_scale=config.guidance_scale
    )


@dataclass(frozen=True)
class ImageModel:
    config: ImageModelConfig
    engine: ImageEngine

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class ImageRequest:
    model: str | None  # None: the first configured image model
    prompt: str
    n: int | None = None
    size: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class ImageResult:
    request_id: str
    model: str
    created: int
    names: list[str]  # stored PNGs (ImageStore names)


class ImageService:
    def __init__(self, settings: ImagesSettings, store: ImageStore, meter: Meter, limiter: Limiter) -> None:
        self.settings = settings
        self.store = store
        self.models = [ImageModel(m, build_image_engine(m)) for m in settings.models]
        self._by_name = {n: m for m in self.models for n in (m.name, *m.config.aliases)}
        self._meter, self._limiter = meter, limiter
        self._purger: asyncio.Task | None = None

    async def start(self) -> None:
        for model in self.models:
            await model.engine.start()
        self._purger = asyncio.create_task(self._purge_forever(), name="image-purge")

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        for model in self.models:
            await model.engine.close()

    def resolve(self, name: str | None) -> ImageModel:
        if name is None and self.models:
            return self.models[0]
        model = self._by_name.get(name or "")
        if model is None:
            # no image weights ship offline: say so, rather than only "no such model"
            unconfigured = "" if self.models else "; this server has no image model configured"
            raise ModelNotFound(f"{name or '(none given)'}{unconfigured}")
        return model

    async def generate(self, principal: Principal, request: ImageRequest) -> ImageResult:
        model = self.resolve(request.model)
        job = self._job(model.config, request)
        public_name = request.model or model.name  # no `model` (the OpenAI SDK's default): the canonical
        ticket = await self._limiter.admit(Admission(principal, model.name, 0))
        try:
            async with self._meter.hold(
                principal,
                public_name,
                model.name,
                Bound(images=job.n),
                endpoint="images",
                request_id=request.request_id,
            ) as metered:
                names = await self._make(model, job)
                metered.record(0, len(names))  # one completion "token" per image made
        finally:
            self._limiter.release(ticket, 0)
        return ImageResult(metered.request_id, public_name, int(time.time()), names)

    async def _make(self, model: ImageModel, job: ImageJob) -> list[str]:
        try:
            images = await model.engine.generate(job)
            return await run_in_threadpool(lambda: [self.store.save(png) for png in images])
        except PlatformError:
            raise
        except Exception as exc:
            log.exception("image generation failed on %s", model.name)
            raise InternalFailure("图像生成失败 (image generation failed)") from exc

    def _job(self, config: ImageModelConfig, request: ImageRequest) -> ImageJob:
        prompt = (request.prompt or "").strip()
        if not prompt:
            raise InvalidField("prompt", "must not be empty")
        if len(prompt) > self.settings.max_prompt_chars:
            raise InvalidField("prompt", f"at most {self.settings.max_prompt_chars} characters")
        n = 1 if request.n is None else request.n
        if not 1 <= n <= config.max_images:
            raise InvalidField("n", f"{config.name} makes 1 to {config.max_images} images per request")
        size = (request.size or config.sizes[0]).strip().lower()
        if size not in config.sizes:
            raise InvalidField("size", f"{config.name} supports sizes {', '.join(config.sizes)}")
        width, height = parse_size(size)
        return ImageJob(prompt=prompt, width=width, height=height, n=n)

    async def _purge_forever(self) -> None:
        while True:
            try:
                removed = await run_in_threadpool(self.store.purge_expired)
                if removed:
                    log.info("deleted %d expired images", removed)
            except OSError:
                log.warning("image purge failed", exc_info=True)
            await asyncio.sleep(PURGE_EVERY_SECONDS)
