"""Did retrieval find anything that can answer the question? The evidence gate (issue #20).

The fused ranking (RRF by default) only orders passages: its scores say nothing about whether
the best of them is relevant at all, so a question the knowledge base cannot answer still gets
five passages, and a small model given passages answers from them or from its own knowledge.
The gate judges each final passage on an absolute scale instead:

- reranked by the cross-encoder (an English question, an English passage): its logit against
  `no_answer_min_rerank_logit`;
- otherwise: its cosine to the question (the best of the original and translated question)
  against `no_answer_min_cosine[<the base's embedding model>]`. A passage that came from BM25
  alone scored below every dense candidate, so the lowest dense candidate bounds its cosine.

Nothing relevant when no passage passes. A passage nothing can judge (an embedding model with no
calibrated threshold, keyword-only retrieval) counts as relevant: the gate only speaks on
evidence. The chat retrieval tool then tells the model that the documents hold nothing on the
question instead of handing it weak passages (knowledge/retrieval_tool.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openmaas.knowledge.settings import KnowledgeSettings


@dataclass(frozen=True)
class PassageEvidence:
    chunk_id: int
    embedding_model: str
    cosine: float | None  # None: dense search did not run
    logit: float | None  # None: not reranked

    def relevant(self, settings: KnowledgeSettings) -> bool:
        if self.logit is not None and settings.no_answer_min_rerank_logit is not None:
            return self.logit >= settings.no_answer_min_rerank_logit
        threshold = settings.no_answer_min_cosine.get(self.embedding_model)
        if self.cosine is None or threshold is None:
            return True  # nothing to judge it by
        return self.cosine >= threshold


def nothing_relevant(evidence: Sequence[PassageEvidence], settings: KnowledgeSettings) -> bool:
    """The gate's decision: on, and no passage passes (no passage at all included)."""
    return settings.no_answer_gate and not any(e.relevant(settings) for e in evidence)


def evidence_trace(evidence: Sequence[PassageEvidence], settings: KnowledgeSettings) -> dict[str, Any]:
    return {
        "enabled": settings.no_answer_gate,
        "nothing_relevant": nothing_relevant(evidence, settings),
        "min_rerank_logit": settings.no_answer_min_rerank_logit,
        "min_cosine": dict(settings.no_answer_min_cosine),
        "passages": [
            {
                "chunk_id": e.chunk_id,
                "cosine": None if e.cosine is None else round(e.cosine, 4),
                "logit": None if e.logit is None else round(e.logit, 4),
                "relevant": e.relevant(settings),
            }
            for e in evidence
        ],
    }
