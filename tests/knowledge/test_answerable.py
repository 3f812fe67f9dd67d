"""The evidence gate (knowledge/answerable.py): when no retrieved passage is relevant enough,
the chat retrieval tool tells the model so instead of handing it weak passages (issue #20)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openmaas.app import create_app
from openmaas.knowledge.answerable import PassageEvidence, codes_missed, identifiers, nothing_relevant
from openmaas.knowledge.index import Hit
from openmaas.knowledge.retrieval import Passage, passage_evidence
from openmaas.knowledge.retrieval_tool import (
    NOTHING_FOUND_KNOWLEDGE_EN,
    NOTHING_FOUND_KNOWLEDGE_ZH,
    render_nothing_found,
)
from openmaas.knowledge.settings import KnowledgeSettings
from tests.conftest import FAKE_EMBEDDING_MODEL, add_tenant
from tests.knowledge.conftest import KnowledgeHarness
from tests.knowledge.test_knowledge_api import FACTS, ZH_FACTS

E5 = "multilingual-e5-small"
SETTINGS = KnowledgeSettings(no_answer_min_cosine={E5: 0.8}, no_answer_min_rerank_logit=-5.0)


def evidence(cosine: float | None, logit: float | None = None, model: str = E5) -> PassageEvidence:
    return PassageEvidence(1, model, cosine, logit)


def test_a_reranked_passage_is_judged_by_its_logit_others_by_cosine():
    assert evidence(0.95, logit=-6.0).relevant(SETTINGS) is False  # the cross-encoder decides
    assert evidence(0.70, logit=-4.0).relevant(SETTINGS) is True
    assert evidence(0.80).relevant(SETTINGS) is True and evidence(0.79).relevant(SETTINGS) is False
    no_logit = SETTINGS.model_copy(update={"no_answer_min_rerank_logit": None})
    assert evidence(0.79, logit=3.0).relevant(no_logit) is False  # cosine judges reranked ones too


def test_without_a_threshold_for_its_evidence_a_passage_counts_as_relevant():
    assert evidence(0.1, model="another-embedding").relevant(SETTINGS) is True
    assert evidence(None).relevant(SETTINGS) is True  # keyword-only retrieval: no cosine


def test_nothing_relevant_only_when_every_passage_fails_and_the_gate_is_on():
    weak, strong = evidence(0.75), evidence(0.85)
    assert nothing_relevant([weak, weak], SETTINGS) is True
    assert nothing_relevant([weak, strong], SETTINGS) is False
    assert nothing_relevant([], SETTINGS) is True  # an empty base holds nothing either
    off = SETTINGS.model_copy(update={"no_answer_gate": False})
    assert nothing_relevant([weak], off) is False


def test_a_passage_dense_search_missed_is_bounded_by_the_lowest_dense_candidate():
    passages = [Passage(c, "kb", "doc", "a.txt", 0, "text", 0.0) for c in (1, 2, 3)]
    dense = [Hit(1, 0.82), Hit(2, 0.78), Hit(1, 0.86)]  # chunk 1 again, by the translated question
    found = passage_evidence(passages, dense, {2: -1.5}, {"kb": E5})
    assert [(e.chunk_id, e.cosine, e.logit) for e in found] == [
        (1, 0.86, None),
        (2, 0.78, -1.5),
        (3, 0.78, None),
    ]
    assert all(e.embedding_model == E5 for e in found)
    assert [e.cosine for e in passage_evidence(passages, [], {}, {"kb": E5})] == [None, None, None]


def test_the_nothing_found_prompt_is_in_the_question_language_and_holds_no_passages():
    english = render_nothing_found(None, "Who keeps the lighthouse?")
    assert "Who keeps the lighthouse?" in english and "do not contain" in english
    assert "[1]" not in english and "own knowledge" in english
    chinese = render_nothing_found(None, "青石镇的特产是什么？")
    assert "青石镇的特产是什么？" in chinese and "文档中没有提及" in chinese
    custom = "K<<{{knowledge}}>> Q<<{{question}}>>"
    assert render_nothing_found(custom, "Who?") == f"K<<{NOTHING_FOUND_KNOWLEDGE_EN}>> Q<<Who?>>"
    assert render_nothing_found(custom, "谁？") == f"K<<{NOTHING_FOUND_KNOWLEDGE_ZH}>> Q<<谁？>>"


@pytest.fixture
def gated(make_settings, database_url) -> Iterator[KnowledgeHarness]:
    """An app whose fake embedding model has a cosine threshold (cosine judges every passage)."""
    knowledge = KnowledgeSettings(
        no_answer_min_cosine={FAKE_EMBEDDING_MODEL: 0.3}, no_answer_min_rerank_logit=None
    )
    app = create_app(make_settings(database_url=database_url, knowledge=knowledge))
    with TestClient(app, raise_server_exceptions=False) as client:
        services = app.state.services
        yield KnowledgeHarness(client, services, add_tenant(services), add_tenant(services, "intruder"))


def ask(kh: KnowledgeHarness, kb_id: str, question: str, **tool) -> str:
    body = {
        "model": "glm-4",
        "messages": [{"role": "user", "content": question}],
        "tools": [{"type": "retrieval", "retrieval": {"knowledge_id": kb_id} | tool}],
    }
    response = kh.call("POST", "/chat/completions", json=body)
    assert response.status_code == 200, response.text
    trace = kh.call("GET", f"/knowledge/traces/{response.json()['request_id']}").json()
    assert trace["answerable"]["min_cosine"] == {FAKE_EMBEDDING_MODEL: 0.3}
    return kh.fake_engine().prompts[-1].text


def test_a_question_the_base_cannot_answer_gets_the_nothing_found_prompt(gated):
    kb_id = gated.create_kb()
    gated.ingest(kb_id, "town.txt", ZH_FACTS.encode())
    gated.ingest(kb_id, "varnholm.txt", FACTS.encode())
    answered = ask(gated, kb_id, "青石镇的特产是什么？")
    assert "桂花糕" in answered and "中找问题" in answered  # relevant: the platform's prompt as before
    declined = ask(gated, kb_id, "Quantum chromodynamics lattice gauge simulations?")
    assert "Elsbeth" not in declined and "桂花糕" not in declined
    assert "do not contain this information" in declined
    custom = ask(
        gated, kb_id, "Quantum chromodynamics lattice gauge simulations?", prompt_template="K:{{knowledge}}"
    )
    assert NOTHING_FOUND_KNOWLEDGE_EN in custom


def test_the_retrieve_api_still_returns_the_passages_the_gate_rejects(gated):
    kb_id = gated.create_kb()
    gated.ingest(kb_id, "varnholm.txt", FACTS.encode())
    response = gated.call(
        "POST",
        "/knowledge/retrieve",
        json={"knowledge_ids": [kb_id], "query": "Quantum chromodynamics lattice?"},
    )
    assert response.status_code == 200, response.text
    assert "Elsbeth Quorn" in response.json()["data"][0]["text"]
    assert set(response.json()["data"][0]) == {"text", "score", "metadata"}
    trace = gated.call("GET", f"/knowledge/traces/{response.json()['request_id']}").json()
    assert trace["answerable"]["nothing_relevant"] is True
    assert all(p["relevant"] is False for p in trace["answerable"]["passages"])


def test_codes_the_question_names():
    assert identifiers("清风A3空气净化器的CADR是多少？") == ["A3"]
    assert identifiers("INC-4502 事件中搜索延迟的P95上升到了多少？") == ["INC-4502", "P95"]
    assert identifiers("Northwind revenue in Q4 2025 for 4 years, 10kg?") == ["Q4"]
    assert identifiers("How many days of annual leave?") == []


def test_a_look_alike_misses_the_code_the_question_names():
    manuals = ["《zh_净化器A1说明书.md》\n清风 A1 空气净化器", "滤网型号 FL-A2, CA30"]
    assert codes_missed("清风A3空气净化器的CADR是多少？", manuals) == ["A3"]  # not inside CA30 either
    assert codes_missed("清风A1的滤网？", manuals) == []
    assert codes_missed("What does the DH20 cover?", ["The DH-20 is covered for 3 years."]) == []
    assert codes_missed("INC-4502 的 P95？", ["INC4502: p99 rose"]) == []  # one code named is enough
    assert codes_missed("How many days of leave?", []) == []  # no code: nothing to miss


def test_the_code_check_does_not_judge_a_question_in_another_language_than_its_passages() -> None:
    chinese_report = ["诺斯温德自行车 2025 年第四季度营收为 1,200 万元。"]
    assert codes_missed("What was Northwind Bikes' revenue in Q4 2025?", chinese_report) == []
    english_report = ["Northwind Bikes revenue: Q1 2025 $3.1M, Q2 $3.4M, Q3 $3.9M."]
    assert codes_missed("What was Northwind Bikes' revenue in Q4 2025?", english_report) == ["Q4"]
    assert codes_missed("清风A3的CADR？", ["The Qingfeng A1 and A2 purifiers: CADR 300 and 350."]) == []


def test_missed_codes_gate_even_when_the_scores_pass():
    strong = [evidence(0.92)]
    assert nothing_relevant(strong, SETTINGS, ["A3"]) is True
    assert nothing_relevant(strong, SETTINGS) is False
    assert (
        nothing_relevant(strong, SETTINGS.model_copy(update={"no_answer_identifiers": False}), ["A3"])
        is False
    )


def test_responses_file_search_declines_through_the_gate_too(gated):
    """Responses `file_search` (and assistants' retrieval, through the same grounding) tell the
    model that nothing was found instead of handing it passages the gate rejected."""
    kb_id = gated.create_kb()
    gated.ingest(kb_id, "varnholm.txt", FACTS.encode())

    def search(question: str) -> str:
        body = {
            "model": "glm-4",
            "input": question,
            "tools": [{"type": "file_search", "vector_store_ids": [kb_id]}],
        }
        response = gated.client.post("/v1/responses", headers=gated.tenant.headers, json=body)
        assert response.status_code == 200, response.text
        return gated.fake_engine().prompts[-1].text

    assert "Elsbeth" in search("Who keeps the lighthouse of Varnholm?")
    declined = search("Quantum chromodynamics lattice gauge simulations?")
    assert "Elsbeth" not in declined and "do not contain this information" in declined
