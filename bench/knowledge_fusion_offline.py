# ruff: noqa  (an experiment script: compact on purpose)
"""Fusion variants offline on the knowledge eval set: recall@5 per direction, no chat model.

Ingests bench/data/knowledge/docs in process (fake chat engine, real multilingual-e5-small),
keeps each answerable question's dense and BM25 candidate lists (from the retrieval trace,
rerank off, no translation) in /tmp/quality/lists_<split>.json, then scores fusion variants
on them. How issue #20's fusion default (rrf) was chosen on dev; test reported, not tuned on.

    PYTHONPATH=src .venv/bin/python bench/knowledge_fusion_offline.py dev
    PYTHONPATH=src .venv/bin/python bench/knowledge_fusion_offline.py test
"""

import json, os, sys, tempfile, re, math
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from fastapi.testclient import TestClient
import sqlalchemy as sa
from openmaas.app import create_app
from openmaas.config import ModelConfig, Settings
from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models
from openmaas.store.tables import KnowledgeChunk
from tests.conftest import add_tenant
from tests.knowledge.conftest import KnowledgeHarness

split = sys.argv[1] if len(sys.argv) > 1 else "dev"
cache = Path(f"/tmp/quality/lists_{split}.json")
cache.parent.mkdir(parents=True, exist_ok=True)
if not cache.exists():
    data = Path(tempfile.mkdtemp(prefix="fx-"))
    settings = Settings(
        environment="test",
        data_dir=data,
        secret_key="x",
        job_poll_seconds=0.05,
        database_url=f"sqlite:///{data / 'db.sqlite'}",
        models=[ModelConfig(name="fake-chat", engine="fake")],
        embeddings=EmbeddingsSettings(models=default_embedding_models()[:1]),
    )
    app = create_app(settings)
    qs = [json.loads(l) for l in open(ROOT / "bench/data/knowledge/questions.jsonl")]
    qs = [q for q in qs if (split == "all" or q["split"] == split) and not q["absent"]]
    with TestClient(app, raise_server_exceptions=False) as client:
        t = add_tenant(app.state.services)
        kh = KnowledgeHarness(client, app.state.services, t, t)
        kb = kh.create_kb("x")
        for p in sorted((ROOT / "bench/data/knowledge/docs").iterdir()):
            kh.ingest(kb, p.name, p.read_bytes(), timeout=600)
        with app.state.services.db.session() as s:
            texts = {r.id: r.text for r in s.execute(sa.select(KnowledgeChunk.id, KnowledgeChunk.text))}
        out = []
        for q in qs:
            r = kh.call(
                "POST",
                "/knowledge/retrieve",
                json={
                    "query": q["question"],
                    "knowledge_id": kb,
                    "top_k": 5,
                    "recall_method": "mixed",
                    "rerank_status": 0,
                },
            ).json()
            tr = kh.call("GET", f"/knowledge/traces/{r['request_id']}").json()
            gold = [c for c, tx in texts.items() if q["evidence"] in tx]
            out.append(
                {
                    "id": q["id"],
                    "dir": q["direction"],
                    "dense": tr["dense"],
                    "keyword": tr["keyword"],
                    "gold": gold,
                }
            )
    cache.write_text(json.dumps(out))
rows = json.loads(cache.read_text())


def three_sigma(v):
    v = np.asarray(v, float)
    m, s = v.mean(), v.std()
    if s == 0:
        return np.ones_like(v)
    return np.clip((v - (m - 3 * s)) / (6 * s), 0, 1)


def dbsf(d, k, wd=0.5, wk=0.5):
    sc = {}
    for w, hits in ((wd, d), (wk, k)):
        if not hits:
            continue
        vals = three_sigma([h["score"] for h in hits])
        for h, v in zip(hits, vals):
            sc[h["chunk_id"]] = sc.get(h["chunk_id"], 0) + w * v
    return sorted(sc, key=lambda c: -sc[c])


def rrf(d, k, kk=60, wd=1, wk=1):
    sc = {}
    for w, hits in ((wd, d), (wk, k)):
        for r, h in enumerate(hits):
            sc[h["chunk_id"]] = sc.get(h["chunk_id"], 0) + w / (kk + r + 1)
    return sorted(sc, key=lambda c: -sc[c])


def agree(d, k, n=10):
    ds = {h["chunk_id"] for h in d[:30]}
    top = [h["chunk_id"] for h in k[:n]]
    return sum(c in ds for c in top) / max(len(top), 1)


def guarded(d, k, base=0.5, n=5):
    a = agree(d, k, n)
    return dbsf(d, k, 1 - base * a, base * a)


def gated(d, k, wk=0.5, z=None):
    # keyword only for chunks dense also found (in its candidates)
    ds = {h["chunk_id"] for h in d}
    kk = [h for h in k if h["chunk_id"] in ds]
    return dbsf(d, kk, 1 - wk, wk)


def margin_conf(d, k, thr=1.5):
    # trust keyword when its top score stands out: (top - mean)/std
    if len(k) < 3:
        return dbsf(d, k)
    v = np.array([h["score"] for h in k])
    z = (v[0] - v.mean()) / (v.std() or 1)
    return dbsf(d, k, 0.5, 0.5 if z >= thr else 0.15)


methods = {
    "dense": lambda d, k: [h["chunk_id"] for h in d],
    "bm25": lambda d, k: [h["chunk_id"] for h in k],
    "dbsf .5": dbsf,
    "dbsf .6": lambda d, k: dbsf(d, k, 0.6, 0.4),
    "dbsf .7": lambda d, k: dbsf(d, k, 0.7, 0.3),
    "rrf": rrf,
    "rrf d2": lambda d, k: rrf(d, k, 60, 2, 1),
    "rrf k10": lambda d, k: rrf(d, k, 10),
    "rrf k30": lambda d, k: rrf(d, k, 30),
    "rrf k100": lambda d, k: rrf(d, k, 100),
    "rrf d1.5": lambda d, k: rrf(d, k, 60, 1.5, 1),
    "guarded5": lambda d, k: guarded(d, k, 0.5, 5),
    "guarded10": lambda d, k: guarded(d, k, 0.5, 10),
    "gated .5": gated,
    "gated .4": lambda d, k: gated(d, k, 0.4),
    "margin": margin_conf,
}
dirs = sorted({r["dir"] for r in rows})
print(f"{'method':12}" + "".join(f"{d:>12}" for d in dirs + ["all"]))
for name, f in methods.items():
    hit = {}
    for r in rows:
        top = f(r["dense"], r["keyword"])[:5]
        hit.setdefault(r["dir"], []).append(any(c in r["gold"] for c in top))
    allh = [x for v in hit.values() for x in v]
    print(
        f"{name:12}"
        + "".join(f"{100 * sum(hit[d]) / len(hit[d]):12.1f}" for d in dirs)
        + f"{100 * sum(allh) / len(allh):12.1f}"
    )
