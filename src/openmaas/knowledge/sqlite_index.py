"""The embedded index: sqlite-vec and FTS5 in the platform's SQLite database.

- Vectors: vec0 tables partitioned by knowledge base. Default (`float32`):
  `knowledge_vec_<dim>`, exact cosine KNN. Opt-in (`bit`): `knowledge_vecbit_<dim>`,
  one bit per dimension (48 bytes at 384-d); a dense query takes
  `max(dense_min_candidates, oversample × k)` Hamming neighbours and rescores them with
  the float32 vectors kept in `knowledge_chunks`. The bit scan is ~6x faster at 100k
  chunks (10 vs 40–100 ms here), but e5's vectors are far from centred (mean cosine
  between passages 0.79), so sign bits rank poorly: recall@10 vs exact was 0.44 with 5%
  of the corpus as candidates. Hence float32 by default.
- Dense queries first go to the in-memory matrices of knowledge/vector_cache.py (exact,
  ~5–12 ms at 100k chunks, refreshed by the base's index version); vec0 answers for
  bases too big for the cache (`vector_cache_mb`, 0: always vec0).
- Keywords: `knowledge_fts` (FTS5, contentless with deletes), one row per chunk: the
  jieba terms, and the knowledge base as a token of its own column. FTS5 finds the rows:
  per query term, `kb:"k<id>" AND "t"` gives the base's own rows holding it (at most
  `keyword_max_postings` + 1). BM25 is then scored here with the base's own statistics
  (its chunk count, average length and per-term document frequencies): FTS5's bm25()
  takes IDF and lengths from the whole table, i.e. from every tenant's chunks, which let
  one tenant watch another's corpus through its own scores, and push a term past the
  postings budget of other tenants' queries. The query is bounded: terms go in rarest
  first (by the base's own frequencies) until they add up to `keyword_max_postings`; the
  common terms left out carry the least IDF.

Writes go through the caller's session (one transaction with the chunk rows); reads use
this index's own autocommit connections, so searches never queue behind the write lock.
"""

from __future__ import annotations

import math
import queue
import threading
from collections import Counter
from contextlib import contextmanager

import numpy as np
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from openmaas.knowledge.index import (
    Hit,
    IndexedChunk,
    batched,
    top_hits,
    vector_bytes,
    vector_from_bytes,
)
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.knowledge.vector_cache import VectorCache

FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts USING fts5(terms, kb, content='', "
    "contentless_delete=1, tokenize='unicode61 remove_diacritics 0')"
)


def load_sqlite_vec(dbapi_connection) -> None:
    import sqlite_vec

    dbapi_connection.enable_load_extension(True)
    try:
        sqlite_vec.load(dbapi_connection)
    finally:
        dbapi_connection.enable_load_extension(False)


def install_sqlite_vec(engine: sa.Engine) -> None:
    """Load sqlite-vec into every connection the engine opens from now on."""
    event.listen(engine, "connect", lambda conn, _record: load_sqlite_vec(conn))
    engine.dispose()  # connections pooled before this would lack the extension


def vec_table(dim: int, encoding: str = "float32") -> str:
    return f"knowledge_vec_{int(dim)}" if encoding == "float32" else f"knowledge_vecbit_{int(dim)}"


def quantise(vector: np.ndarray) -> bytes:
    return np.packbits(np.asarray(vector) > 0).tobytes()


def _missing_table_is_empty(run) -> list:
    """Nothing was ever indexed at this dimension yet: an empty result, not an error."""
    import pysqlite3.dbapi2 as sqlite

    try:
        return run()
    except sqlite.OperationalError as exc:
        if "no such table" in str(exc) or "no such fts5 table" in str(exc):
            return []
        raise


def unique_terms(terms: list[str]) -> list[str]:
    return list(dict.fromkeys(t.replace('"', "") for t in terms if t.replace('"', "")))


def fts_query(knowledge_id: str, terms: list[str]) -> str | None:
    unique = unique_terms(terms)
    if not unique:
        return None
    return f'kb:"k{knowledge_id}" AND (' + " OR ".join(f'"{t}"' for t in unique) + ")"


def rarest_terms(frequency: dict[str, int], max_postings: int, max_terms: int = 32) -> list[str]:
    """Terms rarest first while their document frequencies sum to at most `max_postings`
    (the rarest always goes in); terms no document has are left out."""
    chosen: list[str] = []
    postings = 0
    for term in sorted((t for t in frequency if frequency[t] > 0), key=frequency.__getitem__)[:max_terms]:
        if chosen and postings + frequency[term] > max_postings:
            break
        chosen.append(term)
        postings += frequency[term]
    return chosen


MAX_QUERY_TERMS = 32
BM25_K1, BM25_B = 1.2, 0.75


def base_postings(db, knowledge_id: str, terms: list[str], cap: int) -> dict[str, list[int]]:
    """Per term, the rows of this knowledge base holding it (at most `cap` + 1): only the
    base's own rows, so nothing here depends on other tenants' chunks."""
    postings = {}
    for term in terms[:MAX_QUERY_TERMS]:
        rows = db.execute(
            "SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ? LIMIT ?",
            (f'kb:"k{knowledge_id}" AND "{term}"', cap + 1),
        ).fetchall()
        if rows:
            postings[term] = [r[0] for r in rows]
    return postings


def bm25_scores(
    documents: dict[int, list[str]],
    terms: list[str],
    frequency: dict[str, int],
    count: int,
    average_length: float,
) -> dict[int, float]:
    """Okapi BM25 (as PortableIndex) with one base's statistics."""
    idf = {t: math.log(1 + (count - frequency[t] + 0.5) / (frequency[t] + 0.5)) for t in terms}
    scores = {}
    for row_id, document in documents.items():
        counts = Counter(document)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(document) / max(average_length, 1e-9))
        scores[row_id] = sum(
            idf[t] * counts[t] * (BM25_K1 + 1) / (counts[t] + norm) for t in terms if counts[t]
        )
    return scores


class SqliteVecIndex:
    name = "sqlite-vec"

    def __init__(
        self, engine: sa.Engine, settings: KnowledgeSettings | None = None, readers: int = 4
    ) -> None:
        settings = settings or KnowledgeSettings(vector_cache_mb=0)
        self._engine = engine
        cache_bytes = settings.vector_cache_mb * 1024 * 1024
        self._vectors = VectorCache(engine, cache_bytes) if cache_bytes else None
        self.encoding = encoding = settings.vector_encoding
        self._column = "float" if encoding == "float32" else "bit"
        self._cast = "?" if encoding == "float32" else "vec_bit(?)"
        self._path = engine.url.database
        self.oversample = settings.dense_oversample
        self.min_candidates = settings.dense_min_candidates
        self.max_postings = settings.keyword_max_postings
        self._readers: queue.LifoQueue = queue.LifoQueue()
        self._reader_slots = threading.BoundedSemaphore(readers)
        self._stats: dict[tuple[str, int | None], tuple[int, float]] = {}
        self._stats_lock = threading.Lock()
        install_sqlite_vec(engine)

    # schema: virtual tables are created on first write, inside that write's transaction
    # (their shape depends on the dim; a second connection would wait on our own lock)
    def _create_tables(self, conn: sa.Connection, dim: int) -> None:
        metric = " distance_metric=cosine" if self.encoding == "float32" else ""
        conn.exec_driver_sql(FTS_DDL)
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self._table(dim)} USING vec0(chunk_id integer "
            f"primary key, kb text partition key, embedding {self._column}[{int(dim)}]{metric})"
        )

    def _table(self, dim: int) -> str:
        return vec_table(dim, self.encoding)

    def _encode(self, vector: np.ndarray) -> bytes:
        return vector_bytes(vector) if self.encoding == "float32" else quantise(vector)

    # writes -----------------------------------------------------------------------------
    def add(self, session: Session, chunks: list[IndexedChunk], dim: int) -> None:
        if not chunks:
            return
        conn = session.connection()
        self._create_tables(conn, dim)
        conn.exec_driver_sql(
            "INSERT INTO knowledge_fts(rowid, terms, kb) VALUES (?, ?, ?)",
            [(c.id, " ".join(c.terms), f"k{c.knowledge_id}") for c in chunks],
        )
        conn.exec_driver_sql(
            f"INSERT INTO {self._table(dim)}(chunk_id, kb, embedding) VALUES (?, ?, {self._cast})",
            [(c.id, c.knowledge_id, self._encode(c.vector)) for c in chunks],
        )

    def remove(self, session: Session, chunk_ids: list[int], dim: int) -> None:
        if not chunk_ids:
            return
        conn = session.connection()
        self._create_tables(conn, dim)
        for group in batched(chunk_ids):
            marks = ",".join("?" * len(group))
            conn.exec_driver_sql(f"DELETE FROM knowledge_fts WHERE rowid IN ({marks})", tuple(group))
            conn.exec_driver_sql(f"DELETE FROM {self._table(dim)} WHERE chunk_id IN ({marks})", tuple(group))

    # reads ------------------------------------------------------------------------------
    def dense(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        held = self._vectors.get(knowledge_id, dim) if self._vectors is not None else None
        if held is not None:
            return held.search(vector, k)
        if self.encoding == "float32":
            with self._reader() as db:
                rows = _missing_table_is_empty(
                    lambda: db.execute(
                        f"SELECT chunk_id, distance FROM {self._table(dim)} WHERE embedding MATCH ? "
                        "AND k = ? AND kb = ?",
                        (vector_bytes(vector), min(k, 4096), knowledge_id),
                    ).fetchall()
                )
            return [Hit(int(chunk_id), 1.0 - float(distance)) for chunk_id, distance in rows]
        return self._dense_bits(knowledge_id, vector, k, dim)

    def _dense_bits(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        wanted = max(self.min_candidates, self.oversample * k)
        with self._reader() as db:
            rows = _missing_table_is_empty(
                lambda: db.execute(
                    f"SELECT chunk_id FROM {self._table(dim)} WHERE embedding MATCH vec_bit(?) "
                    "AND k = ? AND kb = ?",
                    (quantise(vector), min(wanted, 4096), knowledge_id),
                ).fetchall()
            )
            ids = [r[0] for r in rows]
            stored = []
            for group in batched(ids):
                marks = ",".join("?" * len(group))
                stored += db.execute(
                    f"SELECT id, embedding FROM knowledge_chunks WHERE id IN ({marks})", tuple(group)
                ).fetchall()
        stored = [(i, e) for i, e in stored if e is not None]
        if not stored:
            return []
        matrix = np.stack([vector_from_bytes(e) for _, e in stored])
        return top_hits(np.array([i for i, _ in stored]), matrix @ vector.astype(np.float32), k)

    def keyword(self, knowledge_id: str, terms: list[str], k: int) -> list[Hit]:
        unique = unique_terms(terms)
        if not unique:
            return []
        with self._reader() as db:
            rows = _missing_table_is_empty(lambda: self._bm25(db, knowledge_id, unique, k))
        return [Hit(int(rowid), -float(score)) for rowid, score in rows]

    def _bm25(self, db, knowledge_id: str, unique: list[str], k: int) -> list:
        """(rowid, -score) of the best `k` rows, scored with the base's own statistics."""
        postings = base_postings(db, knowledge_id, unique, self.max_postings)
        frequency = {t: len(rows) for t, rows in postings.items()}
        chosen = rarest_terms(frequency, self.max_postings)
        candidates = sorted({row for t in chosen for row in postings[t]})
        if not candidates:
            return []
        count, average_length = self._base_statistics(db, knowledge_id)
        documents: dict[int, list[str]] = {}
        for group in batched(candidates):
            marks = ",".join("?" * len(group))
            documents.update(
                (row_id, terms.split())
                for row_id, terms in db.execute(
                    f"SELECT id, terms FROM knowledge_chunks WHERE id IN ({marks})", tuple(group)
                )
            )
        scores = bm25_scores(documents, chosen, frequency, max(count, len(documents)), average_length)
        best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [(row_id, -score) for row_id, score in best]

    def _base_statistics(self, db, knowledge_id: str) -> tuple[int, float]:
        """The base's chunk count and average length in terms, cached per index version."""
        version = db.execute(
            "SELECT index_version FROM knowledge_bases WHERE id = ?", (knowledge_id,)
        ).fetchone()
        key = (knowledge_id, version[0] if version else None)
        with self._stats_lock:
            cached = self._stats.get(key)
        if cached is not None and key[1] is not None:
            return cached
        count, total = db.execute(
            "SELECT count(*), coalesce(sum(length(terms) - length(replace(terms, ' ', '')) + 1), 0) "
            "FROM knowledge_chunks WHERE knowledge_id = ?",
            (knowledge_id,),
        ).fetchone()
        found = (int(count), float(total) / count if count else 1.0)
        with self._stats_lock:
            if len(self._stats) > 1024:
                self._stats.clear()
            self._stats[key] = found
        return found

    @contextmanager
    def _reader(self):
        with self._reader_slots:
            try:
                db = self._readers.get_nowait()
            except queue.Empty:
                db = self._connect()
            try:
                yield db
            finally:
                self._readers.put(db)

    def _connect(self):
        import pysqlite3.dbapi2 as sqlite

        db = sqlite.connect(self._path, check_same_thread=False, timeout=30, isolation_level=None)
        load_sqlite_vec(db)
        db.execute("PRAGMA query_only=1")
        db.execute("PRAGMA mmap_size=268435456")
        return db

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.clear()
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                return
