"""Hybrid retrieval: dense + BM25, score fusion, optional cross-encoder rerank.

For each knowledge base: embed the question (the base's model, "query" side), take the
top `candidates` by cosine and by BM25 (jieba terms), fuse them — a weighted sum of
normalised scores (`dense_weight` : 1 - dense_weight), normalised by default with
distribution-based score fusion (`dbsf`: mean ± 3σ of each list → [0, 1]), or min-max
(`relative`), or reciprocal rank fusion (`rrf`, Σ 1/(rrf_k + rank)) — hydrate the texts,
and — for English, where the cross-encoder applies — rerank the first
`rerank_candidates`. Why dbsf: min-max stretches every list to [0, 1] however flat it is.
For a code among look-alikes ("Orbis printer E-117") the dense list is flat (every
error-code entry at ~0.86) and BM25 has one clear winner; min-max gave dense noise the
same spread as BM25's decision and lost the answer. Normalising by each list's own spread
lets the list whose top stands out decide (on bench/retrieval_quality.py dbsf tied
min-max on the first 84 questions and led by 2 of 116 with the code look-ups; rrf was
behind both). On unseen documents with cross-lingual questions (bench/knowledge_answers.py,
issue #20) dbsf fell below dense alone on Chinese questions about English documents: BM25's
confident wrong chunks outvoted dense. rrf never fell below either method there in any
direction, so it is the default; dbsf stays selectable for identifier-heavy bases. When the
base holds the other language, the question is also searched in translation
(knowledge/translation.py) and the two fused rankings are merged by RRF. Every retrieval
leaves a trace (terms, translation, candidates and scores before and after fusion and
rerank, timings) readable by its request id, for debugging.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import sqlalchemy as sa

from openmaas.auth.principal import Principal
from openmaas.chat.ids import new_request_id
from openmaas.concurrency import run_in_threadpool
from openmaas.embeddings.service import EmbeddingService
from openmaas.errors import InvalidField, NotFound
from openmaas.knowledge.answerable import PassageEvidence, codes_missed, evidence_trace, nothing_relevant
from openmaas.knowledge.bases import owned_base
from openmaas.knowledge.chunk import under_title
from openmaas.knowledge.index import ChunkIndex, Hit
from openmaas.knowledge.relevance import Scale, relevance
from openmaas.knowledge.rerank import Reranker
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.knowledge.terms import terms
from openmaas.knowledge.translation import QueryTranslator, language_of
from openmaas.limits.base import RETRIEVAL, Limiter, admitted
from openmaas.store.db import Database
from openmaas.store.tables import (
    KnowledgeBase,
    KnowledgeChunk,
    KnowledgeDocument,
    RetrievalTrace,
    utcnow,
)
from openmaas.tools_api.prices import RETRIEVAL as RETRIEVAL_PRICE

log = logging.getLogger(__name__)
Method = Literal["hybrid", "dense", "keyword"]
MAX_QUERY_CHARS = 1000
LANGUAGE_SAMPLE = 100  # chunks read from each end of a base to tell which languages it holds


@dataclass(frozen=True)
class RetrievalQuery:
    knowledge_ids: list[str]
    query: str
    top_k: int | None = None
    method: Method = "hybrid"
    rerank: bool | None = None  # None: the settings decide (auto: English only)
    request_id: str | None = None


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    knowledge_id: str
    document_id: str
    document_name: str
    ordinal: int
    text: str
    score: float


@dataclass
class RetrievalResult:
    request_id: str
    passages: list[Passage]
    trace: dict[str, Any] = field(default_factory=dict)
    # the evidence gate's verdict (knowledge/answerable.py): no passage is relevant enough
    nothing_relevant: bool = False


def rrf(rankings: list[list[Hit]], k: int) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: Σ 1/(k + rank)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def min_max(values: np.ndarray) -> np.ndarray:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else np.ones_like(values)  # one score: full marks


def three_sigma(values: np.ndarray) -> np.ndarray:
    """Distribution-based score fusion's normalisation: mean - 3σ → 0, mean + 3σ → 1."""
    sigma = values.std()
    return (values - values.mean() + 3 * sigma) / (6 * sigma) if sigma > 0 else np.ones_like(values)


NORMALISERS = {"relative": min_max, "dbsf": three_sigma}


def score_fusion(weighted: list[tuple[float, list[Hit]]], normalise=three_sigma) -> list[tuple[int, float]]:
    """Each list's scores normalised, then a weighted sum (a chunk missing from a list
    gets 0 from it)."""
    scores: dict[int, float] = {}
    for weight, hits in weighted:
        if not hits:
            continue
        normalised = normalise(np.array([h.score for h in hits], dtype=np.float64))
        for hit, value in zip(hits, normalised, strict=True):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + weight * float(value)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _hits(hits: list[Hit]) -> list[dict[str, Any]]:
    return [{"chunk_id": h.chunk_id, "score": round(h.score, 6)} for h in hits]


class RetrievalService:
    def __init__(
        self,
        db: Database,
        index: ChunkIndex,
        embeddings: EmbeddingService,
        reranker: Reranker | None,
        settings: KnowledgeSettings,
        limiter: Limiter,
        translator: QueryTranslator | None = None,
    ) -> None:
        self._db = db
        self._limiter = limiter
        self.translator = translator  # set by the app once the chat catalog exists
        self._index = index
        self._embeddings = embeddings
        self._reranker = reranker
        self.settings = settings
        self._stored = itertools.count()

    async def retrieve(
        self, principal: Principal, query: RetrievalQuery, store_trace: bool = True, *, admit: bool = True
    ) -> RetrievalResult:
        """Admitted by the limiter as `principal` before any work (1302/1303 past the
        account's limits); `admit=False` only where the caller was already admitted for the
        work this retrieval serves (the intranet web search provider)."""
        question = (query.query or "").strip()
        if not question:
            raise InvalidField("query", "must not be empty")
        top_k = query.top_k or self.settings.top_k
        if not 1 <= top_k <= 100:
            raise InvalidField("top_k", "1 to 100")
        if not admit:
            return await self._retrieve(principal, query, question[:MAX_QUERY_CHARS], top_k, store_trace)
        async with admitted(self._limiter, principal, RETRIEVAL):
            return await self._retrieve(principal, query, question[:MAX_QUERY_CHARS], top_k, store_trace)

    async def _retrieve(
        self, principal: Principal, query: RetrievalQuery, question: str, top_k: int, store_trace: bool
    ) -> RetrievalResult:
        bases = await run_in_threadpool(self._bases, principal, query.knowledge_ids)
        began = time.perf_counter()
        timings: dict[str, float] = {}
        words = await run_in_threadpool(terms, question)
        dense, keyword = await self._candidates(principal, bases, question, words, query.method, timings)
        fused = self._fuse(dense, keyword)
        scale, rrf_best = self._fused_scale(dense, keyword)
        all_dense = list(dense)
        translated = await self._translation(principal, bases, question, timings)
        if translated:
            translated_words = await run_in_threadpool(terms, translated)
            more_dense, more_keyword = await self._candidates(
                principal, bases, translated, translated_words, query.method, timings
            )
            fused = merge_rankings([fused, self._fuse(more_dense, more_keyword)], self.settings.rrf_k)
            all_dense += more_dense
            scale, rrf_best = "rrf", 2.0 / (self.settings.rrf_k + 1)
        wanted = max(top_k, self.settings.rerank_candidates)
        passages = await run_in_threadpool(self._hydrate, principal, [c for c, _ in fused[:wanted]])
        fused_score = dict(fused)
        ranked = [_with_score(p, fused_score[p.chunk_id]) for p in passages]
        ranked, rerank_trace = await self._maybe_rerank(question, ranked, query.rerank, timings)
        final = ranked[:top_k]
        logits = {s["chunk_id"]: s["score"] for s in rerank_trace.get("scores", [])}
        reranked = set(logits)
        evidence = passage_evidence(final, all_dense, logits, {b.id: b.embedding_model for b in bases})
        missed = codes_missed(question, [f"{p.document_name}\n{p.text}" for p in final])
        timings["total"] = (time.perf_counter() - began) * 1000
        request_id = query.request_id or new_request_id()
        trace = {
            "request_id": request_id,
            "query": question,
            "translation": translated,
            "method": query.method,
            "knowledge_ids": [b.id for b in bases],
            "terms": words,
            "dense": _hits(dense),
            "keyword": _hits(keyword),
            "fusion": self.settings.fusion if dense and keyword else "none",
            "fused": [{"chunk_id": c, "score": round(s, 6)} for c, s in fused[:wanted]],
            "rerank": rerank_trace,
            "final": [
                {
                    "chunk_id": p.chunk_id,
                    "document_id": p.document_id,
                    "document_name": p.document_name,
                    "score": round(p.score, 6),
                    "relevance": (
                        r := relevance(p.score, "logit" if p.chunk_id in reranked else scale, rrf_best)
                    ),
                    "below_threshold": r < self.settings.relevance_threshold,
                    "text": p.text[:300],
                }
                for p in final
            ],
            "relevance_threshold": self.settings.relevance_threshold,
            "answerable": evidence_trace(evidence, self.settings, missed),
            "timings_ms": {k: round(v, 2) for k, v in timings.items()},
        }
        if store_trace:
            await run_in_threadpool(self._store_trace, principal, request_id, trace)
        return RetrievalResult(request_id, final, trace, nothing_relevant(evidence, self.settings, missed))

    def _fused_scale(self, dense: list[Hit], keyword: list[Hit]) -> tuple[Scale, float]:
        """The scale `_fuse`'s scores are on, and the best RRF sum (for `relevance`)."""
        if not dense or not keyword:
            return ("unit" if dense else "bm25"), 1.0
        if self.settings.fusion == "rrf":
            return "rrf", 2.0 / (self.settings.rrf_k + 1)
        return "unit", 1.0

    def _fuse(self, dense: list[Hit], keyword: list[Hit]) -> list[tuple[int, float]]:
        if not dense or not keyword:
            return [(h.chunk_id, h.score) for h in dense or keyword]
        if self.settings.fusion == "rrf":
            return rrf([dense, keyword], self.settings.rrf_k)
        weight = self.settings.dense_weight
        return score_fusion([(weight, dense), (1.0 - weight, keyword)], NORMALISERS[self.settings.fusion])

    async def _translation(
        self, principal: Principal, bases: list[KnowledgeBase], question: str, timings: dict[str, float]
    ) -> str | None:
        """The question in the other language, when a base holds passages in it (see translation)."""
        if self.translator is None or self.settings.translate_queries == "never":
            return None
        languages = await run_in_threadpool(self._languages, [b.id for b in bases])
        if not languages - {language_of(question)}:
            return None
        started = time.perf_counter()
        translated = await self.translator.translate(question, principal.account_id)
        timings["translate"] = (time.perf_counter() - started) * 1000
        return translated

    def _languages(self, knowledge_ids: list[str]) -> set[str]:
        """Languages of the first and last chunks of the bases (a sample, not every chunk)."""
        found: set[str] = set()
        with self._db.session(read_only=True) as session:
            for order in (KnowledgeChunk.id.asc(), KnowledgeChunk.id.desc()):
                texts = session.scalars(
                    sa.select(KnowledgeChunk.text)
                    .where(KnowledgeChunk.knowledge_id.in_(knowledge_ids))
                    .order_by(order)
                    .limit(LANGUAGE_SAMPLE)
                )
                found.update(language_of(text) for text in texts)
        return found

    def _bases(self, principal: Principal, knowledge_ids: list[str]) -> list[KnowledgeBase]:
        if not knowledge_ids:
            raise InvalidField("knowledge_id", "required")
        with self._db.session(read_only=True) as session:
            return [owned_base(session, principal, kid) for kid in dict.fromkeys(knowledge_ids)]

    async def _candidates(
        self,
        principal: Principal,
        bases: list[KnowledgeBase],
        question: str,
        words: list[str],
        method: Method,
        timings: dict[str, float],
    ) -> tuple[list[Hit], list[Hit]]:
        n = self.settings.candidates
        dense: list[Hit] = []
        keyword: list[Hit] = []
        vectors = {}
        if method in ("hybrid", "dense"):
            started = time.perf_counter()
            for model in {b.embedding_model for b in bases}:
                # the query's tokens are billed at the retrieval row (keyword-only retrieval
                # embeds nothing: free)
                vectors[model] = (
                    await self._embeddings.embed_billed(
                        principal, model, [question], "query", "retrieval", price_row=RETRIEVAL_PRICE.item
                    )
                )[0]
            timings["embed"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        jobs = []
        for base in bases:
            if method in ("hybrid", "dense"):
                jobs.append(
                    (
                        "dense",
                        run_in_threadpool(
                            self._index.dense, base.id, vectors[base.embedding_model], n, base.dimensions
                        ),
                    )
                )
            if method in ("hybrid", "keyword"):
                jobs.append(("keyword", run_in_threadpool(self._index.keyword, base.id, words, n)))
        results = await asyncio.gather(*(job for _, job in jobs))
        for (kind, _), hits in zip(jobs, results, strict=True):
            (dense if kind == "dense" else keyword).extend(hits)
        timings["search"] = (time.perf_counter() - started) * 1000
        dense.sort(key=lambda h: -h.score)
        keyword.sort(key=lambda h: -h.score)
        return dense[:n], keyword[:n]

    def _hydrate(self, principal: Principal, chunk_ids: list[int]) -> list[Passage]:
        if not chunk_ids:
            return []
        with self._db.session(read_only=True) as session:
            rows = session.execute(
                sa.select(
                    KnowledgeChunk.id,
                    KnowledgeChunk.knowledge_id,
                    KnowledgeChunk.document_id,
                    KnowledgeChunk.ordinal,
                    KnowledgeChunk.text,
                    KnowledgeDocument.name,
                )
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
                .where(KnowledgeChunk.id.in_(chunk_ids), KnowledgeChunk.account_id == principal.account_id)
            ).all()
        by_id = {
            r.id: Passage(r.id, r.knowledge_id, r.document_id, r.name, r.ordinal, r.text, 0.0) for r in rows
        }
        return [by_id[c] for c in chunk_ids if c in by_id]  # unknown ids (stale index) drop out

    async def _maybe_rerank(
        self, question: str, ranked: list[Passage], wanted: bool | None, timings: dict[str, float]
    ) -> tuple[list[Passage], dict[str, Any]]:
        """`wanted` None: the settings decide; True/False: the caller does. Either way only
        where the cross-encoder applies (an English question; English passages)."""
        head = ranked[: self.settings.rerank_candidates]
        use = wanted if wanted is not None else self.settings.rerank != "never"
        if (
            not use
            or self._reranker is None
            or not head
            or not self._reranker.applies_to(question, [p.text for p in head])
        ):
            return ranked, {"applied": False}
        # Only passages the cross-encoder understands are reordered, among the slots they
        # held; the others (e.g. Chinese passages for an English question) keep theirs.
        slots = [i for i, p in enumerate(head) if self._reranker.reranks(p.text)]
        started = time.perf_counter()
        texts = [
            under_title(head[i].document_name, head[i].text) if self.settings.title_in_index else head[i].text
            for i in slots
        ]  # as the passages were indexed
        scores = await run_in_threadpool(self._reranker.score, question, texts)
        timings["rerank"] = (time.perf_counter() - started) * 1000
        order = sorted(range(len(slots)), key=lambda j: -float(scores[j]))
        reranked = list(head)
        for slot, j in zip(slots, order, strict=True):
            reranked[slot] = _with_score(head[slots[j]], float(scores[j]))
        trace = {
            "applied": True,
            "model": "ms-marco-MiniLM-L-12-v2",
            "scores": [
                {"chunk_id": head[slots[j]].chunk_id, "score": round(float(scores[j]), 4)} for j in order
            ],
        }
        return reranked + ranked[len(head) :], trace

    # traces -----------------------------------------------------------------------------
    def _store_trace(self, principal: Principal, request_id: str, trace: dict[str, Any]) -> None:
        try:
            with self._db.session() as session:
                session.add(
                    RetrievalTrace(
                        account_id=principal.account_id,
                        request_id=request_id,
                        knowledge_id=trace["knowledge_ids"][0],
                        trace=trace,
                    )
                )
                if next(self._stored) % 200 == 0:
                    cutoff = utcnow() - timedelta(days=self.settings.trace_retention_days)
                    session.execute(sa.delete(RetrievalTrace).where(RetrievalTrace.created_at < cutoff))
        except Exception:  # a lost trace must not fail the request it describes
            log.exception("storing retrieval trace %s failed", request_id)

    def get_trace(self, principal: Principal, request_id: str) -> dict[str, Any]:
        with self._db.session() as session:
            row = session.scalar(
                sa.select(RetrievalTrace)
                .where(
                    RetrievalTrace.account_id == principal.account_id, RetrievalTrace.request_id == request_id
                )
                .order_by(RetrievalTrace.id.desc())
                .limit(1)
            )
        if row is None:
            raise NotFound("retrieval trace")
        return row.trace


def passage_evidence(
    passages: list[Passage], dense: list[Hit], logits: dict[int, float], models: dict[str, str]
) -> list[PassageEvidence]:
    """What the evidence gate judges each passage by: its best cosine over the dense searches
    (original and translated question); one dense search missed is bounded by the lowest dense
    candidate (None when no dense search ran), and its cross-encoder logit when reranked."""
    cosines: dict[int, float] = {}
    for hit in dense:
        cosines[hit.chunk_id] = max(hit.score, cosines.get(hit.chunk_id, hit.score))
    floor = min(cosines.values()) if cosines else None
    return [
        PassageEvidence(
            p.chunk_id, models.get(p.knowledge_id, ""), cosines.get(p.chunk_id, floor), logits.get(p.chunk_id)
        )
        for p in passages
    ]


def merge_rankings(rankings: list[list[tuple[int, float]]], k: int) -> list[tuple[int, float]]:
    """Fused rankings of one question asked several ways (original, translated), by RRF."""
    return rrf([[Hit(chunk, score) for chunk, score in ranking] for ranking in rankings], k)


def _with_score(passage: Passage, score: float) -> Passage:
    return Passage(
        passage.chunk_id,
        passage.knowledge_id,
        passage.document_id,
        passage.document_name,
        passage.ordinal,
        passage.text,
        score,
    )
