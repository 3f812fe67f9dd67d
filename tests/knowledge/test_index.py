"""The three index implementations behind one interface: same answers, same deletions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import sqlalchemy as sa

from openmaas.knowledge.index import ChunkIndex, IndexedChunk, vector_bytes
from openmaas.knowledge.portable_index import PortableIndex
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.knowledge.sqlite_index import SqliteVecIndex, fts_query, rarest_terms
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import Account, KnowledgeBase, KnowledgeChunk

DIM = 16
DOCS = {
    1: "apple banana cherry",
    2: "banana split dessert",
    3: "cherry blossom festival",
    4: "quantum computing qubit",
    5: "apple orchard harvest",
}


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'index.db'}")
    yield database
    database.dispose()


def seed(db: Database, index: ChunkIndex, kb: str = "kb1") -> None:
    with db.session() as session:
        if session.get(Account, "acct") is None:
            session.add(Account(id="acct", name="a"))
        session.add(KnowledgeBase(id=kb, account_id="acct", name=kb, embedding_model="m", dimensions=DIM))
        session.flush()
        rows = [
            KnowledgeChunk(
                id=i + (0 if kb == "kb1" else 100),
                account_id="acct",
                knowledge_id=kb,
                document_id="d",
                ordinal=i,
                text=t,
                terms=t,
                embedding=vector_bytes(unit(i)),
            )
            for i, t in DOCS.items()
        ]
        session.add_all(rows)
        session.flush()
        index.add(session, [IndexedChunk(r.id, kb, r.terms.split(), unit(r.ordinal)) for r in rows], DIM)


def build(kind: str, db: Database, tmp_path) -> ChunkIndex:
    migrate.upgrade(db.engine)
    if kind == "sqlite-vec":
        return SqliteVecIndex(db.engine)
    if kind == "sqlite-vec-cached":
        return SqliteVecIndex(db.engine, KnowledgeSettings(vector_cache_mb=1))
    if kind == "sqlite-vec-bit":
        return SqliteVecIndex(
            db.engine,
            KnowledgeSettings(
                dense_oversample=2, dense_min_candidates=2, vector_encoding="bit", vector_cache_mb=0
            ),
        )
    if kind == "portable":
        return PortableIndex(db)
    from openmaas.knowledge.milvus_index import MilvusIndex

    return MilvusIndex(str(tmp_path / "milvus.db"), PortableIndex(db))


@pytest.mark.parametrize("kind", ["sqlite-vec", "sqlite-vec-cached", "sqlite-vec-bit", "portable", "milvus"])
def test_dense_keyword_and_removal(kind, db, tmp_path):
    index = build(kind, db, tmp_path)
    seed(db, index, "kb1")
    seed(db, index, "kb2")
    dense = index.dense("kb1", unit(3), 2, DIM)
    assert dense[0].chunk_id == 3 and dense[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(h.chunk_id < 100 for h in dense)  # the other knowledge base stays out
    keyword = index.keyword("kb1", ["banana"], 5)
    assert {h.chunk_id for h in keyword} == {1, 2} and all(h.score > 0 for h in keyword)
    assert index.keyword("kb1", ["nothing-like-this"], 5) == []
    with db.session() as session:
        index.remove(session, [3, 2], DIM)
        session.execute(sa.delete(KnowledgeChunk).where(KnowledgeChunk.id.in_([2, 3])))
        session.execute(
            sa.update(KnowledgeBase)
            .where(KnowledgeBase.id == "kb1")
            .values(index_version=KnowledgeBase.index_version + 1)
        )
    assert 3 not in {h.chunk_id for h in index.dense("kb1", unit(3), 5, DIM)}
    assert {h.chunk_id for h in index.keyword("kb1", ["banana"], 5)} == {1}
    assert {h.chunk_id for h in index.keyword("kb2", ["banana"], 5)} == {101, 102}
    index.close()


def test_sqlite_vec_rolls_back_with_the_transaction(db, tmp_path):
    index = build("sqlite-vec", db, tmp_path)
    seed(db, index, "kb1")
    with pytest.raises(RuntimeError), db.session() as session:
        index.remove(session, [1, 2, 3, 4, 5], DIM)
        raise RuntimeError("crash before commit")
    assert len(index.keyword("kb1", ["banana", "apple"], 10)) == 3
    assert len(index.dense("kb1", unit(1), 5, DIM)) == 5
    index.close()


def test_empty_index_answers_empty(db, tmp_path):
    index = build("sqlite-vec", db, tmp_path)
    assert index.dense("kb1", unit(1), 5, DIM) == [] and index.keyword("kb1", ["x"], 5) == []


def test_fts_query_quotes_terms():
    assert fts_query("7", ['a"b', "c", "c"]) == 'kb:"k7" AND ("ab" OR "c")'
    assert fts_query("7", []) is None


def test_rarest_terms_fill_the_postings_budget():
    frequency = {"common": 5, "rare": 1, "absent": 0, "middling": 3}
    assert rarest_terms(frequency, 4) == ["rare", "middling"]
    assert rarest_terms(frequency, 0) == ["rare"]  # the rarest always goes in
    assert rarest_terms({"absent": 0}, 10) == []


def test_keyword_query_is_bounded_by_postings(db, tmp_path):
    build("sqlite-vec", db, tmp_path)
    index = SqliteVecIndex(db.engine, KnowledgeSettings(keyword_max_postings=2))
    seed(db, index, "kb1")
    seed(db, index, "kb2")
    # banana: 4 rows (both bases), quantum: 2; within 2 postings only quantum is searched
    assert {h.chunk_id for h in index.keyword("kb1", ["banana", "quantum"], 5)} == {4}
    unbounded = SqliteVecIndex(db.engine)
    assert {h.chunk_id for h in unbounded.keyword("kb1", ["banana", "quantum"], 5)} == {1, 2, 4}
    index.close()
    unbounded.close()
