"""One 0–1 relevance scale in retrieval traces, for every method and language, with the
threshold mark; the wire scores keep their own scales."""

from __future__ import annotations

import pytest

from openmaas.knowledge.relevance import BM25_HALF, relevance
from tests.knowledge.test_knowledge_api import FACTS, ZH_FACTS


def test_each_scale_maps_into_zero_to_one():
    assert relevance(0.0, "logit") == 0.5
    assert relevance(6.0, "logit") > 0.99 and relevance(-10.0, "logit") < 0.001
    best = 2 / 61
    assert relevance(best, "rrf", best) == 1.0 and relevance(1 / 61, "rrf", best) == 0.5
    assert relevance(BM25_HALF, "bm25") == 0.5 and 0 < relevance(40.0, "bm25") < 1
    assert relevance(1.2, "unit") == 1.0 and relevance(-0.1, "unit") == 0.0


@pytest.mark.parametrize("method", ["embedding", "keyword", "mixed"])
@pytest.mark.parametrize(
    ("text", "question"),
    [(FACTS, "Who keeps the lighthouse on Varnholm?"), (ZH_FACTS, "青石镇的特产是什么？")],
)
def test_traces_carry_relevance_on_one_scale(kh, method, text, question):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "facts.txt", text.encode())
    response = kh.call(
        "POST",
        "/knowledge/retrieve",
        json={"knowledge_ids": [kb_id], "query": question, "recall_method": method},
    )
    assert response.status_code == 200, response.text
    trace = kh.call("GET", f"/knowledge/traces/{response.json()['request_id']}").json()
    assert trace["final"] and trace["relevance_threshold"] == 0.5
    for passage in trace["final"]:
        assert 0.0 <= passage["relevance"] <= 1.0
        assert passage["below_threshold"] == (passage["relevance"] < 0.5)
