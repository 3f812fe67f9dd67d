"""Retrieval at scale: query latency at 100,000 chunks, ingestion and index-write throughput.

In process, SQLite + the embedded index (dense: the in-memory float32 matrix of the
base, knowledge/vector_cache.py, over sqlite-vec; BM25: FTS5, bounded query), the real
multilingual-e5-small for every query.

* ingestion: the real pipeline (upload → parse → chunk → embed → index) on the quality
  corpus (bench/corpus.py), in chunks/s; embedding dominates.
* 100k chunks: texts are 2–4 sentences drawn from the corpus and the Python docs; their
  vectors are `--real` real e5 passage vectors plus small Gaussian perturbations (about
  0.93 cosine to their source), since embedding 100k texts would take most of an hour on
  2 cores. They go in through the same write path as ingestion (chunk rows + vec0 + FTS5
  in one transaction per batch): index-write throughput.
* queries: the benchmark's questions through RetrievalService.retrieve (query embedding,
  dense + BM25, fusion, hydration, trace written), p50/p95, without and with rerank;
  plus each part alone, the first dense query after a write (it loads the base's
  vectors), and the vec0 scan alone with its recall vs exact NumPy (`--vector-encoding
  bit`: binary quantisation + rescoring).

    .venv/bin/python bench/retrieval_scale.py                 # 100,000 chunks
    .venv/bin/python bench/retrieval_scale.py --chunks 20000  # quicker
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT), str(ROOT.parent)]

from corpus import build  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def sentences(documents: list[tuple[str, str]]) -> list[str]:
    from openmaas.knowledge.chunk import split_sentences

    out = [s.strip() for _, text in documents for s in split_sentences(text)]
    return [s for s in out if len(s) > 20]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=512, help="real e5 vectors to perturb")
    parser.add_argument("--batch", type=int, default=2000, help="chunks per write transaction")
    parser.add_argument("--vector-encoding", default="float32", choices=["float32", "bit"])
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from openmaas.app import create_app
    from openmaas.auth.principal import Principal
    from openmaas.config import ModelConfig, PriceConfig, Settings
    from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models
    from openmaas.knowledge.index import IndexedChunk, vector_bytes
    from openmaas.knowledge.retrieval import RetrievalQuery
    from openmaas.knowledge.settings import KnowledgeSettings
    from openmaas.knowledge.sqlite_index import SqliteVecIndex
    from openmaas.knowledge.terms import terms
    from openmaas.store.tables import KnowledgeBase, KnowledgeChunk
    from tests.conftest import add_tenant
    from tests.knowledge.conftest import KnowledgeHarness

    documents, questions = build()
    data = Path(tempfile.mkdtemp(prefix="openmaas-scale-"))
    settings = Settings(
        environment="test",
        data_dir=data,
        secret_key="bench",
        job_poll_seconds=0.05,
        database_url=f"sqlite:///{data / 'db.sqlite'}",
        models=[ModelConfig(name="fake-chat", engine="fake")],
        embeddings=EmbeddingsSettings(models=default_embedding_models()[:1]),
        knowledge=KnowledgeSettings(vector_encoding=args.vector_encoding),
    )
    settings.billing.prices["fake-chat"] = PriceConfig(input_per_1k="0")  # prices fail closed
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        tenant = add_tenant(services)
        principal = Principal(tenant.account_id, tenant.key_id)
        kh = KnowledgeHarness(client, services, tenant, tenant)

        # 1. the real ingestion pipeline
        small = kh.create_kb("ingest")
        began, chunks = time.perf_counter(), 0
        for name, text in documents:
            chunks += kh.ingest(small, name, text.encode(), timeout=900)["chunk_count"]
        seconds = time.perf_counter() - began
        print(
            f"ingestion (parse+chunk+embed+index, e5): {chunks} chunks in {seconds:.1f} s = "
            f"{chunks / seconds:.1f} chunks/s"
        )

        # 2. 100k chunks through the write path
        kb_id = kh.create_kb("scale")
        rng = random.Random(1)
        pool = sentences(documents)
        texts = [" ".join(rng.sample(pool, rng.randint(2, 4))) for _ in range(args.chunks)]
        model = services.embeddings.catalog.default()
        began = time.perf_counter()
        base = np.concatenate(
            [model.batcher.embed_blocking(texts[i : i + 32], "passage") for i in range(0, args.real, 32)]
        )
        print(f"embedded {len(base)} real passages in {time.perf_counter() - began:.1f} s")
        noise = np.random.default_rng(2)
        index = services.knowledge.index
        began = time.perf_counter()
        for start in range(0, args.chunks, args.batch):
            part = texts[start : start + args.batch]
            vectors = base[np.arange(start, start + len(part)) % len(base)]
            vectors = vectors + noise.normal(0, 0.02, vectors.shape).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            words = [terms(t) for t in part]
            with services.db.session() as session:
                rows = [
                    KnowledgeChunk(
                        account_id=tenant.account_id,
                        knowledge_id=kb_id,
                        document_id="bulk",
                        ordinal=start + i,
                        text=t,
                        terms=" ".join(words[i]),
                        embedding=vector_bytes(vectors[i]),
                    )
                    for i, t in enumerate(part)
                ]
                session.add_all(rows)
                session.flush()
                index.add(
                    session,
                    [IndexedChunk(r.id, kb_id, words[i], vectors[i]) for i, r in enumerate(rows)],
                    384,
                )
                session.execute(
                    sa.update(KnowledgeBase)
                    .where(KnowledgeBase.id == kb_id)
                    .values(index_version=KnowledgeBase.index_version + 1)
                )
        seconds = time.perf_counter() - began
        print(
            f"index writes (rows + {args.vector_encoding} vec0 + FTS5, jieba terms): "
            f"{args.chunks} chunks in {seconds:.1f} s = {args.chunks / seconds:.0f} chunks/s"
        )

        # 3. queries
        retrieval = services.knowledge.retrieval
        vector = model.batcher.embed_blocking([questions[0].question], "query")[0]
        began = time.perf_counter()
        index.dense(kb_id, vector, 30, 384)
        print(
            f"first dense query after the writes (loads {args.chunks} vectors into memory): "
            f"{(time.perf_counter() - began) * 1000:.0f} ms"
        )
        everything = [q.question for q in questions]
        english = [q.question for q in questions if q.lang == "en"]

        def timed(asks: list[str], **options) -> list[float]:
            out = []
            for ask in asks:
                began = time.perf_counter()
                client.portal.call(
                    retrieval.retrieve, principal, RetrievalQuery([kb_id], ask, top_k=5, **options)
                )
                out.append(time.perf_counter() - began)
            return out

        timed(everything, rerank=False)  # warm caches
        plain = timed(everything, rerank=False)
        print(
            f"\nhybrid query at {args.chunks} chunks (embed + dense + BM25 + fusion + hydrate + trace): "
            f"p50 {pct(plain, 0.5):.1f} ms, p95 {pct(plain, 0.95):.1f} ms  (n={len(plain)})"
        )
        dense_only = timed(everything, rerank=False, method="dense")
        keyword_only = timed(everything, rerank=False, method="keyword")
        print(f"dense only p50 {pct(dense_only, 0.5):.1f} ms; BM25 only p50 {pct(keyword_only, 0.5):.1f} ms")
        reranked = timed(english, rerank=True)
        unreranked = timed(english, rerank=False)
        candidates = settings.knowledge.rerank_candidates
        print(
            f"English questions: p50 {pct(unreranked, 0.5):.1f} ms without rerank, "
            f"{pct(reranked, 0.5):.1f} ms with the cross-encoder over {candidates} passages"
        )
        embed = []
        for ask in english:
            began = time.perf_counter()
            model.batcher.embed_blocking([ask], "query")
            embed.append(time.perf_counter() - began)
        print(f"query embedding alone p50 {pct(embed, 0.5):.1f} ms")

        # 4. the vec0 scan alone (what answers without the in-memory matrix) vs exact NumPy
        with services.db.session() as session:
            ids, blobs = zip(
                *session.execute(
                    sa.select(KnowledgeChunk.id, KnowledgeChunk.embedding).where(
                        KnowledgeChunk.knowledge_id == kb_id
                    )
                ).all(),
                strict=True,
            )
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), -1)
        ids_array = np.array(ids)
        vec0 = SqliteVecIndex(
            services.db.engine, KnowledgeSettings(vector_encoding=args.vector_encoding, vector_cache_mb=0)
        )
        overlap, scans = [], []
        for ask in [q.question for q in questions]:
            vector = model.batcher.embed_blocking([ask], "query")[0]
            exact = set(ids_array[np.argsort(-(matrix @ vector))[:30]].tolist())
            began = time.perf_counter()
            approx = {h.chunk_id for h in vec0.dense(kb_id, vector, 30, 384)}
            scans.append(time.perf_counter() - began)
            overlap.append(len(exact & approx) / 30)
        vec0.close()
        print(
            f"{args.vector_encoding} vec0 scan alone: p50 {pct(scans, 0.5):.1f} ms, "
            f"recall@30 vs exact NumPy {100 * statistics.mean(overlap):.1f}%"
        )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
