"""Dense search in Milvus (pymilvus; milvus-lite as the local/test peer), keywords elsewhere.

One collection per dimension (`openmaas_chunks_<dim>`): primary key = the chunk id,
`kb` = the knowledge base, COSINE metric. Milvus is outside the database transaction,
so the order is: upsert vectors, then the DB commits; a rollback leaves vectors whose
chunk ids exist nowhere, which retrieval drops when it hydrates (and a re-run of the
ingestion overwrites by id). Keyword search (BM25) is delegated to the database-side
index (FTS5 on SQLite, the portable index elsewhere).
"""

from __future__ import annotations

import threading

import numpy as np
from sqlalchemy.orm import Session

from openmaas.knowledge.index import ChunkIndex, Hit, IndexedChunk, batched


def collection_name(dim: int) -> str:
    return f"openmaas_chunks_{int(dim)}"


class MilvusIndex:
    name = "milvus"

    def __init__(self, uri: str, keyword_index: ChunkIndex, token: str | None = None) -> None:
        from pymilvus import MilvusClient

        self._client = MilvusClient(uri=uri, token=token or "")
        self._keywords = keyword_index
        self._ready: set[int] = set()
        self._lock = threading.Lock()

    def _ensure(self, dim: int) -> str:
        name = collection_name(dim)
        if dim in self._ready:
            return name
        with self._lock:
            if not self._client.has_collection(name):
                from pymilvus import DataType

                schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("kb", DataType.VARCHAR, max_length=32)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
                params = self._client.prepare_index_params()
                params.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="COSINE")
                self._client.create_collection(name, schema=schema, index_params=params)
            self._ready.add(dim)
        return name

    def add(self, session: Session, chunks: list[IndexedChunk], dim: int) -> None:
        if chunks:
            name = self._ensure(dim)
            for group in batched(chunks, 1000):
                self._client.upsert(
                    name,
                    [
                        {
                            "id": c.id,
                            "kb": c.knowledge_id,
                            "vector": np.asarray(c.vector, np.float32).tolist(),
                        }
                        for c in group
                    ],
                )
        self._keywords.add(session, chunks, dim)

    def remove(self, session: Session, chunk_ids: list[int], dim: int) -> None:
        if chunk_ids:
            name = self._ensure(dim)
            for group in batched(chunk_ids, 1000):
                self._client.delete(name, ids=list(group))
        self._keywords.remove(session, chunk_ids, dim)

    def dense(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        name = self._ensure(dim)
        kb = knowledge_id.replace('"', "")
        results = self._client.search(
            name,
            data=[np.asarray(vector, np.float32).tolist()],
            limit=k,
            filter=f'kb == "{kb}"',
            output_fields=["id"],
            search_params={"metric_type": "COSINE"},
        )
        return [Hit(int(hit["id"]), float(hit["distance"])) for hit in results[0]]

    def keyword(self, knowledge_id: str, terms: list[str], k: int) -> list[Hit]:
        return self._keywords.keyword(knowledge_id, terms, k)

    def close(self) -> None:
        self._keywords.close()
        self._client.close()
