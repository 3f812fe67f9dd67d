"""The chat `retrieval` tool on the fake chat engine: what reaches the model, and traces."""

from __future__ import annotations

import pytest
from zhipuai import ZhipuAI

from openmaas.knowledge.index import Hit
from openmaas.knowledge.retrieval import min_max, rrf, score_fusion, three_sigma
from tests.knowledge.test_knowledge_api import FACTS, ZH_FACTS
from tests.sdk._support import wait_for

CHAT = "/chat/completions"


def chat(kh, question: str, tool: dict, tenant=None, **extra):
    body = {
        "model": "glm-4",
        "messages": [{"role": "user", "content": question}],
        "tools": [{"type": "retrieval", "retrieval": tool}],
    } | extra
    return kh.call("POST", CHAT, tenant, json=body)


def last_prompt(kh) -> str:
    return kh.fake_engine().prompts[-1].text


def test_default_template_puts_sources_and_question_in_the_prompt(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    response = chat(kh, "Who keeps the lighthouse?", {"knowledge_id": kb_id})
    assert response.status_code == 200, response.text
    prompt = last_prompt(kh)
    assert "Elsbeth Quorn" in prompt and "[1] 《varnholm.txt》" in prompt
    assert "Who keeps the lighthouse?" in prompt and "cite" in prompt
    request_id = response.json()["request_id"]
    trace = kh.call("GET", f"/knowledge/traces/{request_id}").json()
    assert trace["query"] == "Who keeps the lighthouse?" and trace["final"]
    assert {"dense", "keyword", "fused", "rerank", "timings_ms"} <= set(trace)
    assert trace["fused"][0]["score"] > 0


def test_chinese_question_gets_the_chinese_template(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "town.txt", ZH_FACTS.encode())
    chat(kh, "青石镇的特产是什么？", {"knowledge_id": kb_id})
    prompt = last_prompt(kh)
    assert "桂花糕" in prompt and "中找问题" in prompt and "不是来自文档" in prompt  # the platform's own


def test_custom_template_and_openai_surface(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    template = "KNOWLEDGE<<{{ knowledge }}>> QUESTION<<{{question}}>>"
    body = {
        "model": "glm-4",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "When does the ferry leave?"},
        ],
        "tools": [{"type": "retrieval", "retrieval": {"knowledge_id": kb_id, "prompt_template": template}}],
    }
    response = kh.client.post("/v1/chat/completions", json=body, headers=kh.tenant.headers)
    assert response.status_code == 200, response.text
    prompt = last_prompt(kh)
    assert "KNOWLEDGE<<[1]" in prompt and "QUESTION<<When does the ferry leave?>>" in prompt
    assert "be brief" in prompt


def test_retrieval_tool_errors(kh):
    missing = chat(kh, "hi", {})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "1213"
    unknown = chat(kh, "hi", {"knowledge_id": "123456"})
    assert unknown.status_code == 404
    kb_id = kh.create_kb()
    other = chat(kh, "hi", {"knowledge_id": kb_id}, tenant=kh.other)
    assert other.status_code == 404  # another account's knowledge base does not exist for them


def test_empty_knowledge_base_still_answers(kh):
    kb_id = kh.create_kb()
    response = chat(kh, "anything there?", {"knowledge_id": kb_id})
    assert response.status_code == 200
    assert "anything there?" in last_prompt(kh)


def test_fusions_reward_agreement():
    dense, keyword = [Hit(1, 0.9), Hit(2, 0.8), Hit(4, 0.1)], [Hit(2, 7.0), Hit(3, 5.0), Hit(5, 1.0)]
    assert [c for c, _ in rrf([dense, keyword], k=60)][:3] == [2, 1, 3]
    relative = score_fusion([(0.6, dense), (0.4, keyword)], min_max)
    assert [c for c, _ in relative][:3] == [2, 1, 3]
    assert dict(relative)[2] == pytest.approx(0.6 * 0.875 + 0.4 * 1.0)
    assert [c for c, _ in score_fusion([(0.5, dense), (0.5, keyword)], three_sigma)][:3] == [2, 1, 3]


def test_sdks_send_the_retrieval_tool(live_server):
    client = ZhipuAI(api_key=live_server.tenant.api_key, base_url=live_server.zhipu_base, max_retries=0)
    kb = client.knowledge.create(embedding_id=3, name="sdk kb")
    uploaded = client.knowledge.document.create(
        file=("facts.txt", FACTS.encode(), "text/plain"), purpose="retrieval", knowledge_id=kb.id
    )
    document_id = uploaded.successInfos[0].documentId
    wait_for(lambda: client.knowledge.document.retrieve(document_id).embedding_stat == 1)
    answer = client.chat.completions.create(
        model="glm-4",
        messages=[{"role": "user", "content": "Who keeps the lighthouse?"}],
        tools=[{"type": "retrieval", "retrieval": {"knowledge_id": kb.id}}],
    )
    assert answer.choices[0].message.content  # the fake engine echoes; the real model: slow test
    engine = live_server.services.catalog.resolve("glm-4").engine
    assert "Elsbeth Quorn" in engine.prompts[-1].text
    page = client.knowledge.document.list(kb.id, purpose="retrieval")
    assert [d.id for d in page.list] == [document_id]
    assert client.knowledge.used().used.length == len(FACTS.encode())
    assert client.knowledge.query().list[0].id == kb.id
    client.knowledge.document.delete(document_id)
    client.knowledge.delete(kb.id)
    assert client.knowledge.query().list == []
    client.close()


def test_async_chat_uses_the_retrieval_tool_too(kh):
    kb_id = kh.create_kb()
    kh.ingest(kb_id, "varnholm.txt", FACTS.encode())
    body = {
        "model": "glm-4",
        "messages": [{"role": "user", "content": "Who keeps the lighthouse?"}],
        "tools": [{"type": "retrieval", "retrieval": {"knowledge_id": kb_id}}],
    }
    task = kh.call("POST", "/async/chat/completions", json=body).json()
    wait_for(lambda: kh.call("GET", f"/async-result/{task['id']}").json()["task_status"] == "SUCCESS")
    assert "Elsbeth Quorn" in last_prompt(kh)
