"""The chunk index interface: dense (vector) and keyword (BM25) search over one KB.

Writes run inside the caller's database transaction (`session`), so with the embedded
SQLite index a document's chunk rows, vectors and FTS entries commit or roll back
together. Implementations:

- `SqliteVecIndex` (knowledge/sqlite_index.py): sqlite-vec + FTS5 inside the SQLite
  database; the default on SQLite.
- `PortableIndex` (knowledge/portable_index.py): vectors and terms in the chunk rows,
  brute-force NumPy cosine + BM25 in memory per KB; the default on PostgreSQL.
- `MilvusIndex` (knowledge/milvus_index.py): dense search in a Milvus server (pymilvus),
  keyword search delegated to the database's keyword index.

Chunk rows (`knowledge_chunks`) always hold the text, the BM25 terms and the float32
vector; indexes may keep their own copies or quantised forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class IndexedChunk:
    id: int
    knowledge_id: str
    terms: list[str]
    vector: np.ndarray  # float32, L2-normalised


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    score: float  # higher is better: cosine similarity (dense) or BM25 (keyword)


class ChunkIndex(Protocol):
    name: str

    def add(self, session: Session, chunks: list[IndexedChunk], dim: int) -> None: ...

    def remove(self, session: Session, chunk_ids: list[int], dim: int) -> None: ...

    def dense(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]: ...

    def keyword(self, knowledge_id: str, terms: list[str], k: int) -> list[Hit]: ...

    def close(self) -> None: ...


def vector_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4")


def top_hits(ids: np.ndarray, scores: np.ndarray, k: int) -> list[Hit]:
    if len(ids) == 0 or k <= 0:
        return []
    k = min(k, len(ids))
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [Hit(int(ids[i]), float(scores[i])) for i in best]


def batched(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start : start + size]
