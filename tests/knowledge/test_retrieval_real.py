"""Retrieval on the real packaged models: multilingual e5 + the English cross-encoder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.embeddings.settings import EmbeddingsSettings, default_embedding_models
from openmaas.knowledge.rerank import CrossEncoderReranker
from tests.conftest import add_tenant, with_fake_prices
from tests.knowledge.conftest import KnowledgeHarness

CORPUS = {
    "astronomy.txt": "Jupiter is the largest planet in the solar system. Saturn is known for its rings.",
    "cooking.txt": "To make risotto, toast arborio rice and add warm stock one ladle at a time.",
    "history.txt": "The Treaty of Westphalia was signed in 1648 and ended the Thirty Years' War.",
    "城市.txt": "成都是四川省的省会，以大熊猫和火锅闻名。杭州的西湖是著名的旅游景点。",
    "varnholm-ferry-timetable.txt": "Departures at 07:40 on weekdays and at 09:15 on Sundays.",
}


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Iterator[KnowledgeHarness]:
    from openmaas.config import Settings
    from tests.conftest import fake_models

    data = tmp_path_factory.mktemp("real-retrieval")
    settings = with_fake_prices(
        Settings(
            environment="test",
            data_dir=data,
            database_url=f"sqlite:///{data}/db.sqlite",
            models=fake_models(),
            job_poll_seconds=0.05,
            secret_key="test-secret",
            embeddings=EmbeddingsSettings(models=default_embedding_models()[:1]),
        )
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        tenant = add_tenant(app.state.services)
        harness = KnowledgeHarness(client, app.state.services, tenant, tenant)
        harness.kb_id = harness.create_kb()  # type: ignore[attr-defined]
        for name, text in CORPUS.items():
            harness.ingest(harness.kb_id, name, text.encode())  # type: ignore[attr-defined]
        yield harness


def test_paraphrased_question_finds_its_passage(real):
    hits = real.retrieve(
        real.kb_id, "Which peace agreement ended a long European war?", recall_method="embedding"
    )
    assert hits[0]["metadata"]["doc_name"] == "history.txt"


def test_cross_lingual_question(real):
    hits = real.retrieve(real.kb_id, "Which Chinese city is famous for pandas and hot pot?")
    assert hits[0]["metadata"]["doc_name"] == "城市.txt"


def test_rerank_applies_to_english_only(real):
    real.retrieve(real.kb_id, "What is the biggest planet?", request_id="en-q")
    real.retrieve(real.kb_id, "西湖在哪个城市？", request_id="zh-q")
    english = real.call("GET", "/knowledge/traces/en-q").json()
    chinese = real.call("GET", "/knowledge/traces/zh-q").json()
    assert english["rerank"]["applied"] and english["final"][0]["document_name"] == "astronomy.txt"
    assert chinese["rerank"] == {"applied": False}
    assert "rerank" in english["timings_ms"] and english["dense"] and english["keyword"]


def test_cross_encoder_scores_relevance():
    reranker = CrossEncoderReranker()
    scores = reranker.score(
        "How many people live in Berlin?",
        [
            "Berlin has a population of 3,520,031 registered inhabitants.",
            "New York City is famous for the Metropolitan Museum of Art.",
        ],
    )
    assert scores[0] > 0 > scores[1]
    assert not reranker.applies_to("北京有多少人口？", ["北京"])


def test_a_chunk_is_found_by_its_document_title_but_returned_without_it(real):
    # The passage never says "ferry" or "Varnholm": only its file name does.
    for method in ("keyword", "embedding", "mixed"):
        hits = real.retrieve(real.kb_id, "When does the Varnholm ferry leave?", recall_method=method)
        assert hits[0]["metadata"]["doc_name"] == "varnholm-ferry-timetable.txt", method
        assert hits[0]["text"] == CORPUS["varnholm-ferry-timetable.txt"]
