"""Rerank: relevance scores of documents for a query.

- English query and documents: the packaged cross-encoder (ms-marco-MiniLM-L-12, its
  logit through a sigmoid).
- Chinese or mixed text (no Chinese cross-encoder ships): the e5 (multilingual-e5-small)
  cosine by default, the best of the local methods measured in bench/tool_endpoints.py;
  or `fusion` (e5 cosine and BM25 over jieba terms, IDF from the documents themselves,
  each normalised by mean ± 3σ and weighted) or `lexical` (BM25 alone).
- An upstream reranker (`tools.rerank.upstream`), when configured, scores everything.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openmaas.auth.principal import Principal
from openmaas.concurrency import run_in_threadpool
from openmaas.embeddings.service import EmbeddingService
from openmaas.engines.upstream_tools import UpstreamToolClient
from openmaas.errors import InvalidField, ModelNotFound
from openmaas.knowledge.rerank import CrossEncoderReranker, is_mostly_english
from openmaas.knowledge.retrieval import three_sigma
from openmaas.knowledge.terms import terms
from openmaas.tools_api.errors import NoEngineConfigured
from openmaas.tools_api.metering import ToolMeter
from openmaas.tools_api.prices import RERANK
from openmaas.tools_api.settings import RerankSettings


@dataclass(frozen=True)
class RerankRequest:
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None  # None or 0: all
    request_id: str | None = None


@dataclass(frozen=True)
class RankedDocument:
    index: int
    relevance_score: float
    document: str


@dataclass(frozen=True)
class RerankResult:
    request_id: str
    model: str
    method: str  # cross-encoder | embedding | lexical | fusion | upstream
    results: list[RankedDocument]
    prompt_tokens: int


class RerankService:
    def __init__(
        self,
        settings: RerankSettings,
        embeddings: EmbeddingService,
        meter: ToolMeter,
        cross_encoder: CrossEncoderReranker | None = None,
        upstream: UpstreamToolClient | None = None,
    ) -> None:
        self.settings = settings
        self._embeddings = embeddings
        self._meter = meter
        self._cross_encoder = cross_encoder or CrossEncoderReranker()
        self._upstream = upstream

    async def rerank(self, principal: Principal, request: RerankRequest) -> RerankResult:
        if request.model not in self.settings.names:
            raise ModelNotFound(request.model)
        self._check(request)
        method = self.method_for(request.query, request.documents)
        tokens = await self._count_tokens(request.query, request.documents)
        async with self._meter.metered(principal, RERANK, tokens, "rerank", request.request_id) as meter:
            scores = await self.scores(method, request.model, request.query, request.documents)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        top = order[: request.top_n] if request.top_n else order
        results = [RankedDocument(i, round(float(scores[i]), 6), request.documents[i]) for i in top]
        return RerankResult(meter.request_id, request.model, method, results, tokens)

    def method_for(self, query: str, documents: Sequence[str]) -> str:
        if self._upstream is not None:
            return "upstream"
        if is_mostly_english(query) and all(is_mostly_english(d) for d in documents):
            return self.settings.english
        return self.settings.multilingual

    async def scores(self, method: str, model: str, query: str, documents: Sequence[str]) -> np.ndarray:
        if method == "upstream":
            if self._upstream is None:
                raise NoEngineConfigured(model, "rerank", "set tools.rerank.upstream")
            return np.array(await self._upstream.rerank(model, query, documents))
        if method == "cross-encoder":
            logits = await run_in_threadpool(self._cross_encoder.score, query, documents)
            return 1.0 / (1.0 + np.exp(-logits))
        if method == "lexical":
            return min_max(await run_in_threadpool(bm25_scores, query, documents))
        dense = await self._cosine(query, documents)
        if method == "embedding":
            return np.clip(dense, 0.0, 1.0)
        lexical = await run_in_threadpool(bm25_scores, query, documents)
        weight = self.settings.fusion_dense_weight
        fused = weight * _normalised(dense) + (1 - weight) * _normalised(lexical)
        return np.clip(fused, 0.0, 1.0)

    async def _cosine(self, query: str, documents: Sequence[str]) -> np.ndarray:
        model = self._embedding_model()
        q = await self._embeddings.embed(model, [query], "query")
        d = await self._embeddings.embed(model, list(documents), "passage")
        return (d @ q[0]).astype(np.float64)  # both L2-normalised

    def _embedding_model(self) -> str:
        return self.settings.embedding_model or self._embeddings.catalog.default().name

    async def _count_tokens(self, query: str, documents: Sequence[str]) -> int:
        """Query + document tokens per pair, counted by the embedding model's tokenizer."""
        model = self._embeddings.catalog.resolve(self._embedding_model())
        await model.batcher.ready()
        engine = model.batcher.engine

        def count() -> int:
            q = engine.count_tokens(query, "query")
            return sum(q + engine.count_tokens(d, "passage") for d in documents)

        return await run_in_threadpool(count)

    def _check(self, request: RerankRequest) -> None:
        limit, most = self.settings.max_chars, self.settings.max_documents
        if not request.query or not request.query.strip():
            raise InvalidField("query", "must not be empty")
        if len(request.query) > limit:
            raise InvalidField("query", f"at most {limit} characters")
        if not request.documents:
            raise InvalidField("documents", "must not be empty")
        if len(request.documents) > most:
            raise InvalidField("documents", f"at most {most} documents")
        for i, document in enumerate(request.documents):
            if not isinstance(document, str) or not document.strip():
                raise InvalidField(f"documents[{i}]", "must be a non-empty string")
            if len(document) > limit:
                raise InvalidField(f"documents[{i}]", f"at most {limit} characters")
        if request.top_n is not None and request.top_n < 0:
            raise InvalidField("top_n", "must not be negative (0: all)")

    async def close(self) -> None:
        if self._upstream is not None:
            await self._upstream.close()


def bm25_scores(query: str, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 of the query's terms over the documents, the documents being the corpus."""
    bags = [Counter(terms(d)) for d in documents]
    lengths = np.array([sum(bag.values()) for bag in bags], dtype=np.float64)
    average = max(lengths.mean(), 1.0)
    n = len(documents)
    scores = np.zeros(n)
    for term in set(terms(query)):
        df = sum(1 for bag in bags if term in bag)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, bag in enumerate(bags):
            tf = bag.get(term, 0)
            if tf:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / average))
    return scores


def min_max(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min() if len(values) else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def _normalised(values: np.ndarray) -> np.ndarray:
    return np.clip(three_sigma(values), 0.0, 1.0) if len(values) > 1 else np.ones_like(values)
