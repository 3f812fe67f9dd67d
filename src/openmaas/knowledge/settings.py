"""Knowledge settings (`settings.knowledge`): chunking, limits, index backend, retrieval."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# calibrated on bench/knowledge_answers.py --split dev --retrieval-only --gate-scores (issue #20)
# (least answerable cosine with its evidence in the top 5: 0.772; least English logit: +2.7)
NO_ANSWER_MIN_COSINE_E5 = 0.75
NO_ANSWER_MIN_LOGIT = 0.0


class KnowledgeSettings(BaseModel):
    # chunking (per document overridable through `sentence_size` / `custom_separator`)
    chunk_size: int = Field(default=300, ge=20, le=4000)  # characters
    chunk_overlap: int = Field(default=60, ge=0)  # characters carried into the next chunk
    # embed and BM25-index each chunk under its document's title (the file name), so a chunk
    # that never names its topic is still found by it; the stored and returned text is the chunk
    title_in_index: bool = True
    # limits (the failure reasons the SDK documents)
    max_document_chars: int = 500_000  # 50 万字 per document → failInfo 10002
    max_knowledge_bases: int = 100
    capacity_bytes: int = 1024**3  # 1 GB per account → failInfo 10001
    capacity_words: int = 50_000_000
    max_docx_uncompressed: int = 200 * 1024 * 1024  # zip-bomb guard
    max_docx_ratio: int = 200  # uncompressed/compressed per member
    # index
    index: Literal["auto", "sqlite-vec", "portable", "milvus"] = "auto"
    milvus_uri: str | None = None  # e.g. http://host:19530, or a milvus-lite file path
    vector_encoding: Literal["float32", "bit"] = "float32"  # sqlite-vec: exact, or bits + rescoring
    dense_oversample: int = 4  # bit encoding: Hamming candidates per wanted dense hit (rescored)
    dense_min_candidates: int = 100
    # per process: knowledge bases' float32 vectors held in memory for exact dense search
    # (150 MB per 100k chunks at 384-d), least recently used out; 0: search the index
    vector_cache_mb: int = Field(default=1024, ge=0)
    keyword_max_postings: int = Field(default=20_000, ge=1)  # sqlite-vec: bounds one BM25 query
    # retrieval
    top_k: int = 5  # chunks put into the prompt
    candidates: int = 30  # per method, before fusion
    # dbsf: scores normalised by mean ± 3σ, weighted sum; relative: min-max; rrf: ranks.
    # rrf by default since issue #20: on bench/knowledge_answers.py's dev split it led dbsf
    # (74.3 vs 72.9 % recall@5) and never fell below dense or BM25 in any direction, where
    # dbsf let BM25 outvote dense on Chinese questions about English documents
    fusion: Literal["dbsf", "relative", "rrf"] = "rrf"
    dense_weight: float = Field(default=0.5, ge=0.0, le=1.0)  # dbsf/relative: BM25 gets 1 - this
    rrf_k: int = 60
    # traces mark passages whose 0–1 relevance (knowledge/relevance.py) is below this
    relevance_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    rerank: Literal["auto", "always", "never"] = "auto"  # auto: English queries only
    # the evidence gate (knowledge/answerable.py): the chat retrieval tool tells the model the
    # documents hold nothing on the question when no retrieved passage passes these
    no_answer_gate: bool = Field(
        default=True,
        description="Chat retrieval tool: when no retrieved passage passes the thresholds below, "
        "the model is told (in the question's language) that the knowledge base holds nothing on "
        "the question and says so, instead of being given weak passages. The retrieve API's "
        "response is unchanged; the decision is in the retrieval trace (`answerable`).",
    )
    no_answer_min_cosine: dict[str, float] = Field(
        default_factory=lambda: {"multilingual-e5-small": NO_ANSWER_MIN_COSINE_E5},
        description="Per embedding model: the least cosine (question, passage; the better of the "
        "original and translated question) a passage that was not reranked needs to count as "
        "relevant. A model not listed is never gated on cosine. Calibrated on the dev split of "
        "bench/knowledge_answers.py (`--gate-scores`).",
    )
    no_answer_min_rerank_logit: float | None = Field(
        default=NO_ANSWER_MIN_LOGIT,
        description="The least cross-encoder logit a reranked passage needs to count as relevant "
        "(None: reranked passages are judged by cosine too). Calibrated as above.",
    )
    no_answer_identifiers: bool = Field(
        default=True,
        description="Also nothing relevant when the question names codes (a word starting with a "
        "letter and holding a digit: A3, DH-20, INC-4471, Q4) and no retrieved passage or its "
        "document name names any of them: the passages are about a look-alike.",
    )
    # auto: a question is also searched in translation (zh↔en, by `translation_model`) when the
    # base holds passages in the other language (knowledge/translation.py); never: off
    translate_queries: Literal["auto", "never"] = "auto"
    translation_model: str = "glm-4-flash"
    rerank_candidates: int = 20
    max_knowledge_chars: int = 6000  # of retrieved text per prompt
    trace_retention_days: int = 7
