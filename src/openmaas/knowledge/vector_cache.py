"""Per-knowledge-base float32 vector matrices held in memory, exact cosine by one matmul.

A knowledge base's vectors (from the chunk rows) are loaded on its first dense query
and kept while its `index_version` is unchanged. Every chunk write bumps that version
in the write's own transaction, and each query reads it first (one primary-key lookup,
well under a millisecond), so a write committed by any process — another server on
PostgreSQL included — is seen by the next query everywhere. The version is read before
the rows: rows newer than the version they are filed under only cause one extra reload.

At 100,000 × 384 dimensions a base takes 150 MB and a scan ~5–12 ms on one core
(sqlite-vec's vec0 scan: 40–140 ms). Bases are evicted least recently used past
`max_bytes`; a base larger than that on its own is not held (None: the caller searches
its index instead).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from openmaas.knowledge.index import Hit, top_hits
from openmaas.store.db import READ_ONLY
from openmaas.store.tables import KnowledgeBase, KnowledgeChunk


@dataclass(frozen=True)
class BaseVectors:
    version: int
    ids: np.ndarray  # int64
    matrix: np.ndarray  # float32, one L2-normalised row per chunk

    @property
    def nbytes(self) -> int:
        return self.matrix.nbytes + self.ids.nbytes

    def search(self, vector: np.ndarray, k: int) -> list[Hit]:
        if not len(self.ids):
            return []
        return top_hits(self.ids, self.matrix @ np.asarray(vector, dtype=np.float32), k)


NO_BASE = BaseVectors(-1, np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.float32))


class VectorCache:
    def __init__(self, engine: sa.Engine, max_bytes: int) -> None:
        self._engine = engine
        self._max = max_bytes
        self._held: OrderedDict[str, BaseVectors] = OrderedDict()
        self._too_big: dict[str, int] = {}  # knowledge id → the version found too big
        self._loaders: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, knowledge_id: str, dim: int) -> BaseVectors | None:
        """The base's vectors as of now; NO_BASE for a deleted base; None where the base
        is too big to hold."""
        with self._connect() as conn:
            version = index_version(conn, knowledge_id)
            if version is None:
                self._forget(knowledge_id)
                return NO_BASE
            held = self._fresh(knowledge_id, version)
            if held is not None or self._too_big.get(knowledge_id) == version:
                return held
        with self._loader(knowledge_id):  # one load per base at a time; the rest wait for it
            return self._fresh(knowledge_id, version) or self._load(knowledge_id, version, dim)

    def _fresh(self, knowledge_id: str, version: int) -> BaseVectors | None:
        with self._lock:
            held = self._held.get(knowledge_id)
            if held is None or held.version != version:
                return None
            self._held.move_to_end(knowledge_id)
            return held

    def _load(self, knowledge_id: str, version: int, dim: int) -> BaseVectors | None:
        with self._connect() as conn:
            count = conn.scalar(
                sa.select(sa.func.count())
                .select_from(KnowledgeChunk)
                .where(KnowledgeChunk.knowledge_id == knowledge_id)
            )
            if (count or 0) * (4 * dim + 8) > self._max:
                self._too_big[knowledge_id] = version
                return None
            held = read_vectors(conn, knowledge_id, version, dim)
        self._keep(knowledge_id, held)
        return held

    def read(self, knowledge_id: str, dim: int) -> BaseVectors:
        """The base's vectors, read now and not held (for a base too big to keep)."""
        with self._connect() as conn:
            version = index_version(conn, knowledge_id)
            return NO_BASE if version is None else read_vectors(conn, knowledge_id, version, dim)

    def _keep(self, knowledge_id: str, held: BaseVectors) -> None:
        with self._lock:
            self._held[knowledge_id] = held
            self._held.move_to_end(knowledge_id)
            self._too_big.pop(knowledge_id, None)
            total = sum(h.nbytes for h in self._held.values())
            while total > self._max and len(self._held) > 1:
                _, evicted = self._held.popitem(last=False)
                total -= evicted.nbytes

    def _forget(self, knowledge_id: str) -> None:
        with self._lock:
            self._held.pop(knowledge_id, None)
            self._too_big.pop(knowledge_id, None)
            self._loaders.pop(knowledge_id, None)  # a deleted base: nothing left to load

    def _loader(self, knowledge_id: str) -> threading.Lock:
        with self._lock:
            return self._loaders.setdefault(knowledge_id, threading.Lock())

    def _connect(self) -> sa.Connection:
        # a plain read transaction: on SQLite it never waits for the write lock
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._too_big.clear()


def index_version(conn: sa.Connection, knowledge_id: str) -> int | None:
    return conn.scalar(sa.select(KnowledgeBase.index_version).where(KnowledgeBase.id == knowledge_id))


def read_vectors(conn: sa.Connection, knowledge_id: str, version: int, dim: int) -> BaseVectors:
    rows = conn.execute(
        sa.select(KnowledgeChunk.id, KnowledgeChunk.embedding)
        .where(KnowledgeChunk.knowledge_id == knowledge_id, KnowledgeChunk.embedding.is_not(None))
        .order_by(KnowledgeChunk.id)
    ).all()
    rows = [r for r in rows if len(r.embedding) == 4 * dim]
    return BaseVectors(
        version,
        np.fromiter((r.id for r in rows), np.int64, len(rows)),
        np.frombuffer(b"".join(r.embedding for r in rows), "<f4").reshape(len(rows), dim),
    )
