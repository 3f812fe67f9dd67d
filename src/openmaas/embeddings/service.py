"""The embedding service: model resolution, input checks, admission, money, the batcher.

`create()` serves the public API (usage recorded and charged like chat); `embed_billed()`
is the internal path for knowledge ingestion (the embedding model's price) and retrieval
(its own price row); `embed()` is unbilled, for callers that bill otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openmaas.auth.principal import Principal
from openmaas.billing.meter import Bound, Meter
from openmaas.concurrency import run_in_threadpool
from openmaas.embeddings.base import InputKind, l2_normalise
from openmaas.embeddings.batcher import EmbeddingBatcher
from openmaas.embeddings.factory import build_embedding_engine
from openmaas.embeddings.settings import EmbeddingModelConfig, EmbeddingsSettings
from openmaas.errors import InputTooLong, InvalidField, ModelNotFound
from openmaas.limits.base import Admission, Limiter


@dataclass(frozen=True)
class EmbeddingModel:
    config: EmbeddingModelConfig
    batcher: EmbeddingBatcher

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def dim(self) -> int:
        return self.batcher.engine.dim


class EmbeddingCatalog:
    def __init__(self, settings: EmbeddingsSettings) -> None:
        self._models = [
            EmbeddingModel(
                m,
                EmbeddingBatcher(
                    build_embedding_engine(m),
                    m.name,
                    max_items=settings.batch_max_items,
                    max_tokens=settings.batch_max_tokens,
                    wait_ms=settings.batch_wait_ms,
                ),
            )
            for m in settings.models
        ]
        self._by_name = {n: m for m in self._models for n in (m.name, *m.config.aliases)}

    def resolve(self, name: str) -> EmbeddingModel:
        model = self._by_name.get(name)
        if model is None:
            raise ModelNotFound(name)
        return model

    def by_embedding_id(self, embedding_id: int | None) -> EmbeddingModel:
        if embedding_id is None:
            return self.default()
        for model in self._models:
            if embedding_id in (model.config.embedding_id, *model.config.also_embedding_ids):
                return model
        known = sorted(
            i
            for m in self._models
            for i in (m.config.embedding_id, *m.config.also_embedding_ids)
            if i is not None
        )
        raise InvalidField("embedding_id", f"unknown embedding model id {embedding_id}; known: {known}")

    def default(self) -> EmbeddingModel:
        if not self._models:
            raise ModelNotFound("(no embedding model configured)")
        return self._models[0]

    def entries(self) -> list[EmbeddingModel]:
        return list(self._models)


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None = None
    kind: InputKind = "query"
    request_id: str | None = None


@dataclass(frozen=True)
class EmbeddingResult:
    request_id: str
    model: str
    vectors: np.ndarray  # (n, dimensions) float32, L2-normalised
    prompt_tokens: int


class EmbeddingService:
    def __init__(self, settings: EmbeddingsSettings, meter: Meter, limiter: Limiter) -> None:
        self.settings = settings
        self.catalog = EmbeddingCatalog(settings)
        self._meter = meter
        self._limiter = limiter

    async def start(self) -> None:
        for model in self.catalog.entries():
            model.batcher.start()
            if self.settings.load_on_start:
                await model.batcher.ready()

    async def close(self) -> None:
        for model in self.catalog.entries():
            await run_in_threadpool(model.batcher.close)

    # public API --------------------------------------------------------------------------
    async def create(
        self,
        principal: Principal,
        request: EmbeddingRequest,
        endpoint: str = "embeddings",
        price_percent: int = 100,
        resume: bool = False,
    ) -> EmbeddingResult:
        model = self.catalog.resolve(request.model)
        self._check_inputs(request.inputs)
        dimensions = _check_dimensions(model.config, request.dimensions)
        await model.batcher.ready()
        counts = await run_in_threadpool(_count, model, request.inputs, request.kind)
        self._check_lengths(model.config, counts)
        tokens = sum(counts)
        ticket = await self._limiter.admit(Admission(principal, model.name, tokens))
        try:
            async with self._meter.hold(
                principal,
                request.model,
                model.name,
                Bound(tokens),
                endpoint=endpoint,
                request_id=request.request_id,
                price_percent=price_percent,
                resume=resume,
            ) as metered:
                vectors = await model.batcher.embed(request.inputs, request.kind, tokens)
                metered.record(tokens, 0)
        finally:
            self._limiter.release(ticket, tokens)
        return EmbeddingResult(metered.request_id, request.model, _resize(vectors, dimensions), tokens)

    def _check_inputs(self, inputs: Sequence[str]) -> None:
        if not inputs:
            raise InvalidField("input", "must not be empty")
        if len(inputs) > self.settings.max_items_per_request:
            raise InvalidField("input", f"at most {self.settings.max_items_per_request} items")
        for index, text in enumerate(inputs):
            if not text or not text.strip():
                raise InvalidField(f"input[{index}]", "must be a non-empty string")

    def _check_lengths(self, config: EmbeddingModelConfig, counts: list[int]) -> None:
        for index, count in enumerate(counts):
            if count > config.max_input_tokens:
                raise InputTooLong(index, count, config.max_input_tokens)
        if sum(counts) > self.settings.max_total_tokens:
            raise InvalidField("input", f"at most {self.settings.max_total_tokens} tokens in total")

    # internal use (knowledge) ------------------------------------------------------------
    async def embed(self, model_name: str, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        """Unbilled: only for callers that bill otherwise (use `embed_billed`)."""
        return await self.catalog.resolve(model_name).batcher.embed(texts, kind)

    async def embed_billed(
        self,
        principal: Principal,
        model_name: str,
        texts: Sequence[str],
        kind: InputKind,
        endpoint: str,
        price_row: str | None = None,
    ) -> np.ndarray:
        """Knowledge ingestion and retrieval queries, billed per token counted by the embedding
        model: at the embedding model's price (ingestion, as the GLM platform bills knowledge
        embeddings), or at `price_row`'s (retrieval: a line of its own an operator may set to
        0). 1113 when the funds do not cover it."""
        model = self.catalog.resolve(model_name)
        await model.batcher.ready()
        tokens = sum(await run_in_threadpool(_count, model, texts, kind))
        priced, canonical = (price_row, price_row) if price_row else (model_name, model.name)
        async with self._meter.hold(
            principal, priced, canonical, Bound(tokens), endpoint=endpoint
        ) as metered:
            vectors = await model.batcher.embed(texts, kind, tokens)
            metered.record(tokens, 0)
        return vectors

    def embed_blocking(self, model_name: str, texts: Sequence[str], kind: InputKind) -> np.ndarray:
        return self.catalog.resolve(model_name).batcher.embed_blocking(texts, kind)


def _count(model: EmbeddingModel, inputs: Sequence[str], kind: InputKind) -> list[int]:
    return [model.batcher.engine.count_tokens(text, kind) for text in inputs]


def _check_dimensions(config: EmbeddingModelConfig, wanted: int | None) -> int:
    if wanted is None or wanted == config.dimensions:
        return config.dimensions
    if wanted in config.truncatable_dimensions and wanted < config.dimensions:
        return wanted
    allowed = sorted({config.dimensions, *config.truncatable_dimensions})
    raise InvalidField("dimensions", f"{config.name} supports dimensions {allowed}")


def _resize(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    if vectors.shape[1] == dimensions:
        return vectors
    return l2_normalise(vectors[:, :dimensions])  # Matryoshka truncation, then renormalise
