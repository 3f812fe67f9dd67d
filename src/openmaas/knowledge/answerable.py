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

and, with `no_answer_identifiers`, a must-match check for look-alikes: when the question
names codes (a letter then letters, digits, hyphens with at least one digit: "A3", "DH-20",
"INC-4471", "Q4") and no retrieved passage (text or document name) names any of them, the
passages are about something else ("清风A3" against manuals for the A1 and A2).

Nothing relevant when no passage passes, or the passages miss every code the question names.
Measured on the dev split of bench/knowledge_answers.py: the unanswerable questions there are
near misses (the company, product or cabinet is in the base, the fact asked is not), and their
best cosine (0.83–0.93) and logit (up to +8.2) sit among the answerable ones' (0.77–0.94; +2.7
and up), so the thresholds only catch off-topic questions; the code check caught 2 of 8.
A passage nothing can judge (an embedding model with no
calibrated threshold, keyword-only retrieval) counts as relevant: the gate only speaks on
evidence. The chat retrieval tool then tells the model that the documents hold nothing on the
question instead of handing it weak passages (knowledge/retrieval_tool.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openmaas.cjk import HAN
from openmaas.knowledge.settings import KnowledgeSettings

IDENTIFIER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![A-Za-z0-9])")


def _canonical(code: str) -> str:
    return code.replace("-", "").lower()


def identifiers(question: str) -> list[str]:
    """Codes the question names: a word that starts with a letter and holds a digit."""
    found = (m.group(0) for m in IDENTIFIER.finditer(question))
    return list(dict.fromkeys(code for code in found if any(c.isdigit() for c in code)))


def named(code: str, text: str) -> bool:
    """`code` in `text`, hyphens and case aside, not inside a longer code ("A3" not in "CA30")."""
    plain = re.sub(r"(?<=[A-Za-z0-9])-(?=[A-Za-z0-9])", "", text).lower()
    return re.search(rf"(?<![a-z0-9]){re.escape(_canonical(code))}(?![a-z0-9])", plain) is not None


LETTER = re.compile(r"[A-Za-z\u3400-\u9fff\uf900-\ufaff]")


def mostly_cjk(text: str) -> bool:
    """Chinese (or Japanese kanji) text: at least a third of its letters are HAN."""
    letters = len(LETTER.findall(text))
    return letters > 0 and len(HAN.findall(text)) * 3 >= letters


def codes_missed(question: str, texts: Sequence[str]) -> list[str]:
    """The question's codes when no text names any of them, else [] (nothing missed).

    Only within one language: across languages a code may be written out ("Q4" in an English
    question, 第四季度 in a Chinese report), so a cross-lingual question is never judged by it."""
    codes = identifiers(question)
    if not codes or not texts:
        return codes if not texts else []
    if mostly_cjk(question) != mostly_cjk("\n".join(texts)):
        return []
    if any(named(code, text) for code in codes for text in texts):
        return []
    return codes


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


def nothing_relevant(
    evidence: Sequence[PassageEvidence], settings: KnowledgeSettings, missed: Sequence[str] = ()
) -> bool:
    """The gate's decision: on, and no passage passes (no passage at all included) or the
    passages name none of the question's codes (`missed`, from `codes_missed`)."""
    if not settings.no_answer_gate:
        return False
    return not any(e.relevant(settings) for e in evidence) or bool(missed and settings.no_answer_identifiers)


def evidence_trace(
    evidence: Sequence[PassageEvidence], settings: KnowledgeSettings, missed: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "enabled": settings.no_answer_gate,
        "nothing_relevant": nothing_relevant(evidence, settings, missed),
        "codes_missed": list(missed),
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
