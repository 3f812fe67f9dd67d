"""A database-agnostic index (the PostgreSQL default): brute force over the chunk rows.

Each knowledge base is loaded into memory on first search — a float32 matrix for cosine
similarity (knowledge/vector_cache.py) and an inverted index for BM25 — and reloaded
when its `index_version` changes (every chunk write bumps it in the same transaction;
each search reads it, so several server processes stay correct). Exact, simple, and
fine up to a few hundred thousand chunks per base; past that, use Milvus (or pgvector,
not wired here). A base bigger than the vector cache is read for each dense query.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from openmaas.knowledge.index import Hit, IndexedChunk, top_hits
from openmaas.knowledge.vector_cache import VectorCache
from openmaas.store.db import Database
from openmaas.store.tables import KnowledgeBase, KnowledgeChunk


class Bm25:
    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.count = len(documents)
        self.lengths = np.array([len(d) for d in documents], dtype=np.float32)
        self.average = float(self.lengths.mean()) if self.count else 1.0
        self.k1, self.b = k1, b
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for index, document in enumerate(documents):
            for term, tf in Counter(document).items():
                rows, tfs = postings.setdefault(term, ([], []))
                rows.append(index)
                tfs.append(tf)
        self.postings = {
            t: (np.array(r, dtype=np.int64), np.array(f, dtype=np.float32)) for t, (r, f) in postings.items()
        }

    def scores(self, terms: list[str]) -> np.ndarray:
        out = np.zeros(self.count, dtype=np.float32)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.average, 1e-9))
        for term in set(terms):
            if term not in self.postings:
                continue
            rows, tf = self.postings[term]
            idf = math.log(1 + (self.count - len(rows) + 0.5) / (len(rows) + 0.5))
            out[rows] += idf * tf * (self.k1 + 1) / (tf + norm[rows])
        return out


@dataclass
class _Snapshot:
    version: int
    ids: np.ndarray
    bm25: Bm25


class PortableIndex:
    name = "portable"

    def __init__(self, db: Database, max_cached: int = 8, vector_cache_bytes: int = 1 << 30) -> None:
        self._db = db
        self._vectors = VectorCache(db.engine, vector_cache_bytes)
        self._cache: OrderedDict[str, _Snapshot] = OrderedDict()
        self._max = max_cached
        self._lock = threading.Lock()

    def add(self, session: Session, chunks: list[IndexedChunk], dim: int) -> None:
        return None  # the chunk rows (terms + embedding) are this index

    def remove(self, session: Session, chunk_ids: list[int], dim: int) -> None:
        return None

    def dense(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        held = self._vectors.get(knowledge_id, dim) or self._vectors.read(knowledge_id, dim)
        return held.search(vector, k)

    def keyword(self, knowledge_id: str, terms: list[str], k: int) -> list[Hit]:
        snapshot = self._snapshot(knowledge_id)
        if snapshot is None or not terms:
            return []
        scores = snapshot.bm25.scores(terms)
        matched = scores > 0
        return top_hits(snapshot.ids[matched], scores[matched], k)

    def _snapshot(self, knowledge_id: str) -> _Snapshot | None:
        with self._db.session(read_only=True) as session:
            version = session.scalar(
                sa.select(KnowledgeBase.index_version).where(KnowledgeBase.id == knowledge_id)
            )
            if version is None:
                return None
            with self._lock:
                cached = self._cache.get(knowledge_id)
                if cached is not None and cached.version == version:
                    self._cache.move_to_end(knowledge_id)
                    return cached
            rows = session.execute(
                sa.select(KnowledgeChunk.id, KnowledgeChunk.terms)
                .where(KnowledgeChunk.knowledge_id == knowledge_id)
                .order_by(KnowledgeChunk.id)
            ).all()
        snapshot = _build(version, rows)
        with self._lock:
            self._cache[knowledge_id] = snapshot
            self._cache.move_to_end(knowledge_id)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return snapshot

    def close(self) -> None:
        self._cache.clear()
        self._vectors.clear()


def _build(version: int, rows) -> _Snapshot:
    ids = np.array([r.id for r in rows], dtype=np.int64)
    return _Snapshot(version, ids, Bm25([r.terms.split() for r in rows]))
