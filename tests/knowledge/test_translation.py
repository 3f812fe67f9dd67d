"""Cross-lingual retrieval: a question is also searched in translation, only when the base
holds passages in the other language (the fake chat engine plays glm-4-flash)."""

from __future__ import annotations

import pytest

from openmaas.knowledge.translation import first_line, language_of
from tests.knowledge.test_knowledge_api import FACTS, ZH_FACTS


def trace_of(kh, request_id: str) -> dict:
    return kh.call("GET", f"/knowledge/traces/{request_id}").json()


def retrieve(kh, kb_id: str, query: str) -> dict:
    response = kh.call("POST", "/knowledge/retrieve", json={"knowledge_id": kb_id, "query": query})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("青石镇的特产是什么？", "zh"),
        ("Who keeps the lighthouse?", "en"),
        ("KX300 的保修期是多少个月？", "zh"),
        ("What does 清风 A2 weigh?", "en"),
        ("12345", "en"),
    ],
)
def test_language_of(text, lang):
    assert language_of(text) == lang


def test_first_line_strips_quotes_and_chatter():
    assert first_line('"Who keeps the lighthouse?"\n(translation)') == "Who keeps the lighthouse?"


def test_a_base_in_one_language_is_searched_without_a_model_call(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    engine = kh.fake_engine("glm-4-flash")
    before = engine.generations
    body = retrieve(kh, kb_id, "Who keeps the lighthouse?")
    assert engine.generations == before
    assert trace_of(kh, body["request_id"])["translation"] is None


def test_a_bilingual_base_is_also_searched_in_translation(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    kh.ingest(kb_id, "town.txt", ZH_FACTS.encode())
    engine = kh.fake_engine("glm-4-flash")  # knowledge.translation_model: the free model translates
    engine.enqueue("Who is the lighthouse keeper of Varnholm?")
    body = retrieve(kh, kb_id, "瓦恩霍尔姆岛的灯塔看守人是谁？")
    trace = trace_of(kh, body["request_id"])
    assert trace["translation"] == "Who is the lighthouse keeper of Varnholm?"
    assert "Elsbeth Quorn" in body["data"][0]["text"]
    assert "translate" in trace["timings_ms"]


def test_a_translation_in_the_same_language_is_ignored(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    kh.ingest(kb_id, "town.txt", ZH_FACTS.encode())
    kh.fake_engine().enqueue("青石镇的特产")  # the model did not translate
    body = retrieve(kh, kb_id, "青石镇的特产是什么？")
    assert trace_of(kh, body["request_id"])["translation"] is None
    assert "桂花糕" in body["data"][0]["text"]
