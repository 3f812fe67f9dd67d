"""The embedded index: sqlite-vec and FTS5 in the platform's SQLite database.

- Vectors: `knowledge_vec_<dim>` (vec0), binary-quantised (`bit[dim]`, one bit per
  dimension: 48 bytes at 384-d), partitioned by knowledge base. A dense query takes
  `max(dense_min_candidates, oversample × k)` Hamming neighbours and rescores them
  exactly with the float32 vectors kept in `knowledge_chunks`. (A full float32 vec0
  scan measured 65–100 ms at 100k chunks here; the bit scan about 10 ms.)
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

from openmaas.knowledge.index import Hit, IndexedChunk, batched, top_hits, vector_from_bytes

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


def vec_table(dim: int) -> str:
    return f"knowledge_vec_{int(dim)}"


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
                 readers: int = 4) -> None:
        self._engine = engine
        self._path = engine.url.database
        self.oversample = oversample
        self.min_candidates = min_candidates
        self._readers: queue.LifoQueue = queue.LifoQueue()
        self._reader_slots = threading.BoundedSemaphore(readers)
        install_sqlite_vec(engine)

    # schema: virtual tables are created on first write, inside that write's transaction
    # (their shape depends on the dim; a second connection would wait on our own lock)
    @staticmethod
    def _create_tables(conn: sa.Connection, dim: int) -> None:
        conn.exec_driver_sql(FTS_DDL)
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {vec_table(dim)} USING vec0("
            f"chunk_id integer primary key, kb text partition key, embedding bit[{int(dim)}])")

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
            f"INSERT INTO {vec_table(dim)}(chunk_id, kb, embedding) VALUES (?, ?, vec_bit(?))",
            [(c.id, c.knowledge_id, quantise(c.vector)) for c in chunks])

    def remove(self, session: Session, chunk_ids: list[int], dim: int) -> None:
        if not chunk_ids:
            return
        conn = session.connection()
        self._create_tables(conn, dim)
        for group in batched(chunk_ids):
            marks = ",".join("?" * len(group))
            conn.exec_driver_sql(f"DELETE FROM knowledge_fts WHERE rowid IN ({marks})", tuple(group))
            conn.exec_driver_sql(f"DELETE FROM {vec_table(dim)} WHERE chunk_id IN ({marks})",
                                 tuple(group))

    # reads ------------------------------------------------------------------------------
    def dense(self, knowledge_id: str, vector: np.ndarray, k: int, dim: int) -> list[Hit]:
        wanted = max(self.min_candidates, self.oversample * k)
        with self._reader() as db:
            rows = _missing_table_is_empty(lambda: db.execute(
                f"SELECT chunk_id FROM {vec_table(dim)} WHERE embedding MATCH vec_bit(?) "
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
