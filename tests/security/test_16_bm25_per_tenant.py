"""Security review finding 16: the SQLite keyword index took BM25's IDF (and the "rarest term"
choice) from every tenant's chunks, so tenant B could watch its own scores move when tenant A
indexed a term — "does anyone's knowledge base mention ProjectNightjar?" — and A could push a
term past the postings budget of B's queries.

Now the SQLite index scores with the knowledge base's own statistics. Fails on 99cbb66."""

from __future__ import annotations

import numpy as np

from openmaas.knowledge.index import IndexedChunk, vector_bytes
from openmaas.knowledge.settings import KnowledgeSettings
from openmaas.knowledge.sqlite_index import SqliteVecIndex
from openmaas.store import migrate
from openmaas.store.db import Database
from openmaas.store.tables import Account, KnowledgeBase, KnowledgeChunk

DIM = 8


def add_base(
    db: Database, index: SqliteVecIndex, account: str, kb: str, texts: list[str], first_id: int
) -> None:
    vector = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    with db.session() as session:
        if session.get(Account, account) is None:
            session.add(Account(id=account, name=account))
        if session.get(KnowledgeBase, kb) is None:
            session.add(
                KnowledgeBase(id=kb, account_id=account, name=kb, embedding_model="m", dimensions=DIM)
            )
        session.flush()
        rows = [
            KnowledgeChunk(
                id=first_id + n,
                account_id=account,
                knowledge_id=kb,
                document_id="d",
                ordinal=n,
                text=t,
                terms=t,
                embedding=vector_bytes(vector),
            )
            for n, t in enumerate(texts)
        ]
        session.add_all(rows)
        session.flush()
        index.add(session, [IndexedChunk(r.id, kb, r.terms.split(), vector) for r in rows], DIM)


def test_another_tenants_chunks_do_not_move_my_scores(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'bm25.db'}")
    migrate.upgrade(db.engine)
    index = SqliteVecIndex(db.engine, KnowledgeSettings(vector_cache_mb=0))
    try:
        add_base(
            db,
            index,
            "bob",
            "kb_b",
            ["the zqxjv launch plan", "the weather report", "lunch menu for friday"],
            1,
        )
        before = index.keyword("kb_b", ["zqxjv"], 5)
        assert [h.chunk_id for h in before] == [1]
        add_base(db, index, "alice", "kb_a", [f"zqxjv note {n}" for n in range(200)], 1000)
        after = index.keyword("kb_b", ["zqxjv"], 5)
        assert [h.chunk_id for h in after] == [1]
        assert after[0].score == before[0].score  # nothing about alice's corpus shows
        assert {h.chunk_id for h in index.keyword("kb_a", ["zqxjv"], 500)} == set(range(1000, 1200))
    finally:
        index.close()
        db.dispose()


def test_another_tenant_cannot_push_my_terms_past_the_postings_budget(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'budget.db'}")
    migrate.upgrade(db.engine)
    index = SqliteVecIndex(db.engine, KnowledgeSettings(vector_cache_mb=0, keyword_max_postings=10))
    try:
        add_base(db, index, "bob", "kb_b", ["alpha beta", "beta gamma", "gamma delta"], 1)
        add_base(db, index, "alice", "kb_a", [f"alpha flood {n}" for n in range(50)], 1000)
        hits = index.keyword("kb_b", ["alpha", "gamma"], 5)
        assert {h.chunk_id for h in hits} == {1, 2, 3}  # alpha still searched in bob's base
    finally:
        index.close()
        db.dispose()
