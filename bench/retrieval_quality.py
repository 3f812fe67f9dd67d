"""Retrieval quality on an offline corpus: recall@5 of dense, BM25, hybrid (+ rerank).

Corpus (bench/corpus.py): 62 hand-written fact passages (32 English, 30 Chinese) with
paraphrased questions, 22 keyword-style lookups over them, 32 reference entries
(error codes, part numbers, settings, contracts...) with questions that name their
identifier among look-alike entries of the same family, templated look-alike
distractors in both languages, and Python documentation topics from the standard
library as English bulk: about 390 chunks, 116 questions. A question counts as found
when its answer string appears in one of the top 5 chunks. Recall is printed per
language and per question style, and the hybrid margin (fusion alone, and the API's
default: fusion + the cross-encoder rerank where it applies, i.e. English) also for the
first 84 questions alone (paraphrase + lookup). Runs in process on the real
multilingual-e5-small (embedding-2) and the real indexes.

    .venv/bin/python bench/retrieval_quality.py
    .venv/bin/python bench/retrieval_quality.py --fusion relative --dense-weight 0.6  # min-max
    .venv/bin/python bench/retrieval_quality.py --fusion rrf
    .venv/bin/python bench/retrieval_quality.py --database postgresql://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import build  # noqa: E402

# (label, recall_method, rerank_status); None = the settings decide, as for an API call that
# leaves rerank_status out: "hybrid+rerank" is the API's default hybrid retrieval.
METHODS = [
    ("dense", "embedding", 0),
    ("bm25", "keyword", 0),
    ("hybrid", "mixed", 0),
    ("hybrid+rerank", "mixed", None),
]


def run(args: argparse.Namespace) -> None:
    from fastapi.testclient import TestClient

    from openmaas.app import create_app
    from openmaas.config import ModelConfig, Settings
    from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models
    from openmaas.knowledge.settings import KnowledgeSettings
    from tests.conftest import add_tenant
    from tests.knowledge.conftest import KnowledgeHarness

    documents, questions = build()
    data = Path(tempfile.mkdtemp(prefix="openmaas-quality-"))
    settings = Settings(
        environment="test",
        data_dir=data,
        secret_key="bench-secret",
        job_poll_seconds=0.05,
        database_url=args.database or f"sqlite:///{data / 'db.sqlite'}",
        models=[ModelConfig(name="fake-chat", engine="fake")],
        embeddings=EmbeddingsSettings(models=default_embedding_models()[:1]),
        knowledge=KnowledgeSettings(
            chunk_size=args.chunk_size,
            chunk_overlap=args.overlap,
            index=args.index,
            fusion=args.fusion,
            dense_weight=args.dense_weight,
        ),
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        tenant = add_tenant(app.state.services)
        kh = KnowledgeHarness(client, app.state.services, tenant, tenant)
        kb_id = kh.create_kb("quality")
        began = time.perf_counter()
        chunks = 0
        for name, text in documents:
            chunks += kh.ingest(kb_id, name, text.encode(), timeout=600)["chunk_count"]
        ingest_s = time.perf_counter() - began
        print(
            f"corpus: {len(documents)} documents, {chunks} chunks, {len(questions)} questions "
            f"({sum(q.lang == 'en' for q in questions)} en / {sum(q.lang == 'zh' for q in questions)} zh); "
            f"index {kh.services.knowledge.index.name}; ingested in {ingest_s:.1f} s "
            f"({chunks / ingest_s:.1f} chunks/s)"
        )
        found: dict[str, list[bool]] = {}
        for label, method, rerank in METHODS:
            found[label] = []
            for question in questions:
                hits = kh.retrieve(
                    kb_id, question.question, top_k=5, recall_method=method, rerank_status=rerank
                )
                found[label].append(any(question.answer in hit["text"] for hit in hits))
        groups = {
            "all": lambda q: True,
            "en": lambda q: q.lang == "en",
            "zh": lambda q: q.lang == "zh",
            "paraphrase": lambda q: q.style == "paraphrase",
            "lookup": lambda q: q.style == "lookup",
            "identifier": lambda q: q.style == "identifier",
            "first 84": lambda q: q.style != "identifier",
        }
        sizes = {g: sum(map(keep, questions)) for g, keep in groups.items()}
        print("\nrecall@5 (%)   " + "".join(f"{g + f' ({n})':>16}" for g, n in sizes.items()))
        recall = {}
        for label, hits in found.items():
            recall[label] = {
                g: 100 * sum(h for h, q in zip(hits, questions, strict=True) if keep(q)) / sizes[g]
                for g, keep in groups.items()
            }
            print(f"{label:<15}" + "".join(f"{recall[label][g]:>16.1f}" for g in groups))
        best = max(recall["dense"]["all"], recall["bm25"]["all"])
        print(
            f"\nhybrid - best single method (all questions): {recall['hybrid']['all'] - best:+.1f} points "
            "(fusion only)"
        )
        print(
            f"hybrid+rerank - best single method (all questions): "
            f"{recall['hybrid+rerank']['all'] - best:+.1f} points (the API's default hybrid retrieval: "
            "recall_method mixed, rerank where it applies)"
        )
        for group in ("paraphrase", "first 84"):
            margin = recall["hybrid"][group] - max(recall["dense"][group], recall["bm25"][group])
            print(f"hybrid - best single method ({group} only): {margin:+.1f} points")
        print(
            f"fusion: {settings.knowledge.fusion} (dense weight {settings.knowledge.dense_weight}); "
            "rerank: the English cross-encoder reorders English passages only"
        )
        if args.show_misses:
            print_misses(found, questions)


def print_misses(found: dict[str, list[bool]], questions: list) -> None:
    """Each question some method missed, with which methods found it (for error analysis)."""
    print("\nmissed by at least one method (found by: d=dense b=bm25 h=hybrid r=hybrid+rerank):")
    for i, question in enumerate(questions):
        marks = "".join(
            label[0] if label != "hybrid+rerank" else "r" for label, hits in found.items() if hits[i]
        )
        if len(marks) < len(found):
            print(f"  [{marks:<4}] {question.style:<10} {question.question}  -> {question.answer!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default=None, help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--index", default="auto", choices=["auto", "sqlite-vec", "portable", "milvus"])
    parser.add_argument("--chunk-size", type=int, default=300)
    parser.add_argument("--overlap", type=int, default=60)
    parser.add_argument("--fusion", default="dbsf", choices=["dbsf", "relative", "rrf"])
    parser.add_argument("--dense-weight", type=float, default=0.5)
    parser.add_argument("--show-misses", action="store_true", help="list the questions each method missed")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    run(args)


if __name__ == "__main__":
    main()
