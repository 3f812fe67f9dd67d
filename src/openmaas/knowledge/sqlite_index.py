"""The embedded index: sqlite-vec and FTS5 in the platform's SQLite database.

- Vectors: vec0 tables partitioned by knowledge base. Default (`float32`):
  `knowledge_vec_<dim>`, exact cosine KNN. Opt-in (`bit`): `knowledge_vecbit_<dim>`,
  one bit per dimension (48 bytes at 384-d); a dense query takes
  `max(dense_min_candidates, oversample × k)` Hamming neighbours and rescores them with
  the float32 vectors kept in `knowledge_chunks`. The bit scan is ~6x faster at 100k
  chunks (10 vs 40–100 ms here), but e5's vectors are far from centred (mean cosine
  between passages 0.79), so sign bits rank poorly: recall@10 vs exact was 0.44 with 5%
  of the corpus as candidates. Hence float32 by default.
- Keywords: `knowledge_fts` (FTS5, contentless with deletes), one row per chunk: the
  jieba terms, and the knowledge base as a token of its own column, so a query is
  `kb:"k<id>" AND (t1 OR t2 ...)` ranked by FTS5's bm25(). (FTS5's IDF statistics are
  table-wide, i.e. shared by all knowledge bases; only scores are affected.)

Writes go through the caller's session (one transaction with the chunk rows); reads use
this index's own autocommit connections, so searches never queue behind the write lock.
"""

from __future__ import annotations

import queue
import threading
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

FTS_DDL = ("CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_fts USING fts5(terms, kb, content='', "
           "contentless_delete=1, tokenize='unicode61 remove_diacritics 0')")


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
        if "no such table" in str(exc):
            return []
        raise


def fts_query(knowledge_id: str, terms: list[str]) -> str | None:
    unique = list(dict.fromkeys(t.replace('"', "") for t in terms if t.replace('"', "")))
    if not unique:
        return None
    return f'kb:"k{knowledge_id}" AND (' + " OR ".join(f'"{t}"' for t in unique) + ")"


class SqliteVecIndex:
    name = "sqlite-vec"

    def __init__(self, engine: sa.Engine, oversample: int = 4, min_candidates: int = 100,
                 readers: int = 4, encoding: str = "float32") -> None:
        self._engine = engine
        self.encoding = encoding
        self._column = "float" if encoding == "float32" else "bit"
        self._cast = "?" if encoding == "float32" else "vec_bit(?)"
        self._path = engine.url.database
        self.oversample = oversample
        self.min_candidates = min_candidates
        self._readers: queue.LifoQueue = queue.LifoQueue()
        self._reader_slots = threading.BoundedSemaphore(readers)
        install_sqlite_vec(engine)

    # schema: virtual tables are created on first write, inside that write's transaction
    # (their shape depends on the dim; a second connection would wait on our own lock)
    def _create_tables(self, conn: sa.Connection, dim: int) -> None:
        metric = " distance_metric=cosine" if self.encoding == "float32" else ""
        conn.exec_driver_sql(FTS_DDL)
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {self._table(dim)} USING vec0(chunk_id integer "
            f"primary key, kb text partition key, embedding {self._column}[{int(dim)}]{metric})")

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
            [(c.id, " ".join(c.terms), f"k{c.knowledge_id}") for c in chunks])
        conn.exec_driver_sql(
            f"INSERT INTO {self._table(dim)}(chunk_id, kb, embedding) VALUES (?, ?, {self._cast})",
            [(c.id, c.knowledge_id, self._encode(c.vector)) for c in chunks])

    def remove(self, session: Session, chunk_ids: list[int], dim: int) -> None:
        if not chunk_ids:
            return
        conn = session.connection()
        self._create_tables(conn, dim)
        for group in batched(chunk_ids):
            marks = ",".join("?" * len(group))
            conn.exec_driver_sql(f"DELETE FROM knowledge_fts WHERE rowid IN ({marks})", tuple(group))
            conn.exec_driver_sql(f"DELETE FROM {self._table(dim)} WHERE chunk_id IN ({marks})",
                                 tuple(group))

    # reads ------------------------------------------------------------------------------
    def dense(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        if self.encoding == "float32":
            with self._reader() as db:
                rows = _missing_table_is_empty(lambda: db.execute(
                    f"SELECT chunk_id, distance FROM {self._table(dim)} WHERE embedding MATCH ? "
                    "AND k = ? AND kb = ?", (vector_bytes(vector), min(k, 4096), knowledge_id)).fetchall())
            return [Hit(int(chunk_id), 1.0 - float(distance)) for chunk_id, distance in rows]
        return self._dense_bits(knowledge_id, vector, k, dim)

    def _dense_bits(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        wanted = max(self.min_candidates, self.oversample * k)
        with self._reader() as db:
            rows = _missing_table_is_empty(lambda: db.execute(
                f"SELECT chunk_id FROM {self._table(dim)} WHERE embedding MATCH vec_bit(?) "
                "AND k = ? AND kb = ?", (quantise(vector), min(wanted, 4096), knowledge_id)).fetchall())
            ids = [r[0] for r in rows]
            stored = []
            for group in batched(ids):
                marks = ",".join("?" * len(group))
                stored += db.execute(f"SELECT id, embedding FROM knowledge_chunks WHERE id IN ({marks})",
                                     tuple(group)).fetchall()
        stored = [(i, e) for i, e in stored if e is not None]
        if not stored:
            return []
        matrix = np.stack([vector_from_bytes(e) for _, e in stored])
        return top_hits(np.array([i for i, _ in stored]), matrix @ vector.astype(np.float32), k)

    def keyword(self, knowledge_id: str, terms: list[str], k: int) -> list[Hit]:
        expression = fts_query(knowledge_id, terms)
        if expression is None:
            return []
        with self._reader() as db:
            rows = _missing_table_is_empty(lambda: db.execute(
                "SELECT rowid, bm25(knowledge_fts, 1.0, 0.0) AS s FROM knowledge_fts "
                "WHERE knowledge_fts MATCH ? ORDER BY s LIMIT ?", (expression, k)).fetchall())
        return [Hit(int(rowid), -float(score)) for rowid, score in rows]

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
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                return
