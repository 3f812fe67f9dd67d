"""The in-memory vector matrices: reloaded by index version, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa

from openmaas.knowledge.documents import bump_version
from openmaas.knowledge.index import vector_bytes
from openmaas.knowledge.vector_cache import NO_BASE, VectorCache
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import Account, KnowledgeBase, KnowledgeChunk

DIM = 8
ROW_BYTES = 4 * DIM + 8


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def db(database_url) -> Iterator[Database]:
    database = Database(database_url)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def write(db: Database, kb: str, chunk_ids: list[int], bump: bool = True) -> None:
    """Chunk rows as ingestion writes them, the version bumped in the same transaction."""
    with db.session() as session:
        if session.get(Account, "acct") is None:
            session.add(Account(id="acct", name="a"))
        if session.get(KnowledgeBase, kb) is None:
            session.add(KnowledgeBase(id=kb, account_id="acct", name=kb, embedding_model="m", dimensions=DIM))
        session.flush()
        session.add_all(
            [
                KnowledgeChunk(
                    id=i,
                    account_id="acct",
                    knowledge_id=kb,
                    document_id="d",
                    ordinal=i,
                    text=f"chunk {i}",
                    terms="",
                    embedding=vector_bytes(unit(i)),
                )
                for i in chunk_ids
            ]
        )
        if bump:
            bump_version(session, kb)


def nearest(cache: VectorCache, kb: str, seed: int) -> int:
    return cache.get(kb, DIM).search(unit(seed), 1)[0].chunk_id


def test_a_write_from_another_process_is_seen_by_the_next_query(db, database_url):
    cache = VectorCache(db.engine, 1 << 20)
    write(db, "kb1", [1, 2])
    held = cache.get("kb1", DIM)
    assert nearest(cache, "kb1", 2) == 2
    assert cache.get("kb1", DIM) is held  # same version: no reload
    other_server = Database(database_url)
    write(other_server, "kb1", [3])
    other_server.dispose()
    assert nearest(cache, "kb1", 3) == 3


def test_the_version_decides_when_to_reload(db):
    cache = VectorCache(db.engine, 1 << 20)
    write(db, "kb1", [1])
    held = cache.get("kb1", DIM)
    write(db, "kb1", [2], bump=False)  # a write that forgot the bump stays unseen
    assert cache.get("kb1", DIM) is held
    with db.session() as session:
        bump_version(session, "kb1")
    assert {h.chunk_id for h in cache.get("kb1", DIM).search(unit(2), 5)} == {1, 2}


def test_deleted_base_answers_empty(db):
    cache = VectorCache(db.engine, 1 << 20)
    write(db, "kb1", [1])
    cache.get("kb1", DIM)
    with db.session() as session:
        session.execute(sa.delete(KnowledgeChunk))
        session.execute(sa.delete(KnowledgeBase))
    assert cache.get("kb1", DIM) is NO_BASE and NO_BASE.search(unit(1), 3) == []


def test_a_base_too_big_is_not_held_but_can_be_read(db):
    cache = VectorCache(db.engine, 2 * ROW_BYTES)
    write(db, "kb1", [1, 2, 3])
    assert cache.get("kb1", DIM) is None
    assert cache.read("kb1", DIM).search(unit(3), 1)[0].chunk_id == 3


def test_least_recently_used_base_is_evicted(db):
    cache = VectorCache(db.engine, 3 * ROW_BYTES)
    write(db, "kb1", [1, 2])
    write(db, "kb2", [11, 12])
    first = cache.get("kb1", DIM)
    assert cache.get("kb1", DIM) is first
    cache.get("kb2", DIM)  # both do not fit: kb1 goes
    assert cache.get("kb1", DIM) is not first
