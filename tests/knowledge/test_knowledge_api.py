"""The knowledge surface on SQLite and PostgreSQL: bases, documents, ingestion, deletion,
bad input and tenancy."""

from __future__ import annotations

import sqlalchemy as sa

from openmaas.store.tables import KnowledgeChunk, KnowledgeDocument
from tests.knowledge.documents import make_docx, make_pdf, make_zip_bomb_docx

FACTS = (
    "The lighthouse keeper of Varnholm island is named Elsbeth Quorn. "
    "She repaints the lamp room every April. The island ferry leaves at 07:40."
)
ZH_FACTS = "青石镇的特产是桂花糕。镇上的老槐树已有三百年历史。每年九月举办灯笼节。"


def index_rows(kh, table: str) -> int:
    if kh.services.db.engine.dialect.name != "sqlite":
        return 0
    with kh.services.db.engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()


def test_knowledge_base_lifecycle(kh):
    created = kh.call(
        "POST",
        "/knowledge",
        json={
            "embedding_id": 3,
            "name": "产品手册",
            "description": "all about it",
            "background": "blue",
            "icon": "book",
            "customer_identifier": None,
            "bucket_id": None,
        },
    ).json()
    kb_id = created["id"]
    assert created["name"] == "产品手册" and created["embedding_id"] == 3 and kb_id.isdigit()
    modified = kh.call(
        "PUT",
        f"/knowledge/{kb_id}",
        json={
            "id": kb_id,
            "embedding_id": 3,
            "name": "renamed",
            "description": None,
            "background": "red",
            "icon": None,
        },
    )
    assert modified.status_code == 200
    page = kh.call("GET", "/knowledge", params={"page": 1, "size": 10}).json()
    assert page["object"] == "list" and page["total"] == 1
    assert page["list"][0]["name"] == "renamed" and page["list"][0]["background"] == "red"
    assert page["list"][0]["description"] == "all about it"
    assert kh.call("DELETE", f"/knowledge/{kb_id}").status_code == 200
    assert kh.call("GET", "/knowledge").json()["list"] == []
    assert kh.call("DELETE", f"/knowledge/{kb_id}").status_code == 404


def test_embedding_3_id_selects_the_same_model(kh):
    """Zhipu's current docs create bases with embedding_id 11 (Embedding-3): the base keeps
    the id it was asked for, and moving between ids of one model keeps its documents."""
    kb_id = kh.create_kb(embedding_id=11)
    assert kh.call("GET", f"/knowledge/{kb_id}").json()["embedding_id"] == 11
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    moved = kh.call("PUT", f"/knowledge/{kb_id}", json={"id": kb_id, "embedding_id": 3, "name": "docs"})
    assert moved.status_code == 200
    assert kh.call("GET", f"/knowledge/{kb_id}").json()["embedding_id"] == 3
    assert "Elsbeth Quorn" in kh.retrieve(kb_id, "Who keeps the lighthouse on Varnholm?")[0]["text"]
    unknown = kh.call("POST", "/knowledge", json={"embedding_id": 12, "name": "pro"}).json()
    assert unknown["error"]["code"] == "1214" and "[3, 11]" in unknown["error"]["message"]


def test_knowledge_validation(kh):
    assert kh.call("POST", "/knowledge", json={"embedding_id": 3}).json()["error"]["code"] == "1213"
    assert kh.call("POST", "/knowledge", json={"embedding_id": 999, "name": "x"}).status_code == 400
    assert kh.call("POST", "/knowledge", json={"name": "x", "icon": "rocket"}).status_code == 400


def test_upload_ingest_retrieve_and_capacity(kh):
    kb_id = kh.create_kb()
    english = kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    chinese = kh.ingest(kb_id, "青石镇.md", ZH_FACTS.encode())
    assert english["embedding_stat"] == 1 and english["failInfo"] is None
    assert english["word_num"] > 10 and english["length"] == len(FACTS.encode())
    assert chinese["status"] == "indexed" and chinese["chunk_count"] >= 1
    hits = kh.retrieve(kb_id, "Who keeps the lighthouse on Varnholm?")
    assert "Elsbeth Quorn" in hits[0]["text"] and hits[0]["metadata"]["doc_name"] == "varnholm.txt"
    zh_hits = kh.retrieve(kb_id, "青石镇的特产是什么？", recall_method="keyword")
    assert "桂花糕" in zh_hits[0]["text"]
    listed = kh.call(
        "GET", "/files", params={"knowledge_id": kb_id, "purpose": "retrieval", "page": 1, "limit": 10}
    ).json()
    assert listed["object"] == "list" and {d["name"] for d in listed["list"]} == {"varnholm.txt", "青石镇.md"}
    capacity = kh.call("GET", "/knowledge/capacity").json()
    assert capacity["used"]["length"] == len(FACTS.encode()) + len(ZH_FACTS.encode())
    assert capacity["total"]["length"] >= capacity["used"]["length"]
    detail = kh.call("GET", f"/knowledge/{kb_id}").json()
    assert detail["document_size"] == 2


def test_pdf_docx_csv_html(kh):
    kb_id = kh.create_kb()
    docs = {
        "report.pdf": make_pdf(["Quarterly revenue reached 42 million credits."]),
        "notes.docx": make_docx(["The project codename is BLUE HERON."]),
        "table.csv": b"city,mayor\nOsterfeld,Ada Lind\nKarsby,Tomas Berg\n",
        "page.html": b"<html><body><p>The museum opens at nine.</p><script>x()</script></body></html>",
    }
    for name, data in docs.items():
        assert kh.ingest(kb_id, name, data)["embedding_stat"] == 1, name
    assert "BLUE HERON" in kh.retrieve(kb_id, "project codename")[0]["text"]
    assert "Ada Lind" in kh.retrieve(kb_id, "mayor of Osterfeld")[0]["text"]


def test_bad_documents_fail_alone(kh):
    kb_id = kh.create_kb()
    good = kh.ingest(kb_id, "good.txt", FACTS.encode())
    outcome = kh.upload(
        kb_id,
        [
            ("photo.png", b"\x89PNG"),
            ("bad.pdf", b"%PDF-1.4 garbage"),
            ("empty.txt", b""),
            ("bomb.docx", make_zip_bomb_docx(8)),
        ],
    )
    assert [f["filename"] for f in outcome["failedInfos"]] == ["photo.png"]
    assert "不支持" in outcome["failedInfos"][0]["failReason"]
    results = {s["filename"]: kh.wait_done(s["documentId"]) for s in outcome["successInfos"]}
    for name, data in results.items():
        assert data["embedding_stat"] == 2, name
        assert data["failInfo"]["embedding_code"] in (10004, 10005) and data["failInfo"]["embedding_msg"]
    assert results["empty.txt"]["failInfo"]["embedding_code"] == 10005
    assert kh.call("GET", f"/document/{good['id']}").json()["embedding_stat"] == 1
    assert "Elsbeth Quorn" in kh.retrieve(kb_id, "lighthouse keeper")[0]["text"]
    assert kh.client.get("/health").status_code == 200


def test_delete_document_leaves_no_chunks_or_vectors(kh):
    kb_id = kh.create_kb()
    keep = kh.ingest(kb_id, "keep.txt", ZH_FACTS.encode())
    gone = kh.ingest(kb_id, "gone.txt", FACTS.encode())
    before = index_rows(kh, "knowledge_fts")
    assert kh.call("DELETE", f"/document/{gone['id']}").status_code == 200
    assert kh.call("GET", f"/document/{gone['id']}").status_code == 404
    with kh.services.db.session() as session:
        left = session.scalars(sa.select(KnowledgeChunk.document_id)).all()
        assert set(left) == {keep["id"]}
    if kh.services.db.engine.dialect.name == "sqlite":
        assert index_rows(kh, "knowledge_fts") == before - gone["chunk_count"]
        assert index_rows(kh, "knowledge_vec_64") == keep["chunk_count"]
    texts = [h["text"] for h in kh.retrieve(kb_id, "lighthouse keeper Elsbeth", top_k=10)]
    assert not any("Elsbeth" in t for t in texts)


def test_delete_knowledge_base_removes_everything(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "a.txt", FACTS.encode())
    assert kh.call("DELETE", f"/knowledge/{kb_id}").status_code == 200
    with kh.services.db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(KnowledgeChunk)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(KnowledgeDocument)) == 0
    assert index_rows(kh, "knowledge_fts") == 0
    blobs = [p for p in (kh.services.settings.data_dir / "blobs").rglob("*") if p.is_file()]
    assert blobs == []


def test_edit_document_rechunks(kh):
    kb_id = kh.create_kb()
    text = ("Sentence about topic %d is here. " * 1 * 40) % tuple(range(40))
    first = kh.ingest(kb_id, "long.txt", text.encode())
    response = kh.call(
        "PUT",
        f"/document/{first['id']}",
        json={
            "id": first["id"],
            "knowledge_type": "5",
            "custom_separator": None,
            "sentence_size": 1000,
            "callback_url": None,
            "callback_header": None,
        },
    )
    assert response.status_code == 200
    again = kh.wait_done(first["id"])
    assert again["sentence_size"] == 1000 and again["chunk_count"] < first["chunk_count"]
    with kh.services.db.session() as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(KnowledgeChunk))
    assert count == again["chunk_count"]


def test_tenancy(kh):
    kb_id = kh.create_kb()
    document = kh.ingest(kb_id, "secret.txt", FACTS.encode())
    other = kh.other
    assert kh.call("GET", "/knowledge", other).json()["list"] == []
    assert kh.call("GET", f"/knowledge/{kb_id}", other).status_code == 404
    assert kh.call("PUT", f"/knowledge/{kb_id}", other, json={"name": "mine"}).status_code == 404
    assert kh.call("DELETE", f"/knowledge/{kb_id}", other).status_code == 404
    for method in ("GET", "DELETE"):
        assert kh.call(method, f"/document/{document['id']}", other).status_code == 404
    assert kh.call("PUT", f"/document/{document['id']}", other, json={"knowledge_type": 1}).status_code == 404
    assert kh.call("GET", "/files", other, params={"knowledge_id": kb_id}).status_code == 404
    upload = kh.call(
        "POST",
        "/files",
        other,
        data={"purpose": "retrieval", "knowledge_id": kb_id},
        files={"file": ("x.txt", b"intruder text")},
    )
    assert upload.status_code == 404
    retrieve = kh.call("POST", "/knowledge/retrieve", other, json={"knowledge_ids": [kb_id], "query": "x"})
    assert retrieve.status_code == 404
    assert kh.call("GET", "/knowledge/capacity", other).json()["used"]["length"] == 0
    own = kh.retrieve(kb_id, "lighthouse", request_id="trace-1")
    assert own
    assert kh.call("GET", "/knowledge/traces/trace-1").status_code == 200
    assert kh.call("GET", "/knowledge/traces/trace-1", other).status_code == 404
