"""The unmodified `zhipuai` SDK's assistant API: conversations with an account's assistants."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import zhipuai
from zhipuai import ZhipuAI

from tests.sdk._support import wait_for


@pytest.fixture
def zhipu(agent_server, tenant) -> Iterator[ZhipuAI]:
    client = ZhipuAI(api_key=tenant.api_key, base_url=agent_server.zhipu_base, max_retries=0)
    yield client
    client.close()


def create_assistant(server, tenant, **fields) -> dict:
    body = {
        "name": "Helper",
        "model": "glm-4",
        "instructions": "You are the test helper.",
        "description": "answers tests",
        "starter_prompts": ["Hi"],
    } | fields
    response = httpx.post(f"{server.zhipu_base}/assistants", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]


def test_conversation_keeps_history_server_side(zhipu, engine, agent_server, tenant):
    assistant = create_assistant(agent_server, tenant)
    engine.enqueue("Nice to meet you, Ada.", "Your name is Ada.")
    first = zhipu.assistant.conversation(assistant_id=assistant["id"], messages=user("I am Ada."))
    assert first.status == "completed" and first.assistant_id == assistant["id"]
    assert first.choices[0].delta.content == "Nice to meet you, Ada."
    assert first.usage.completion_tokens > 0
    second = zhipu.assistant.conversation(
        assistant_id=assistant["id"], conversation_id=first.conversation_id, messages=user("What is my name?")
    )
    assert second.conversation_id == first.conversation_id
    assert second.choices[0].delta.content == "Your name is Ada."
    prompt = engine.prompts[-1].text
    assert "You are the test helper." in prompt
    order = [prompt.index(text) for text in ("I am Ada.", "Nice to meet you, Ada.", "What is my name?")]
    assert order == sorted(order)


def test_streamed_conversation(zhipu, engine, agent_server, tenant):
    assistant = create_assistant(agent_server, tenant)
    engine.enqueue("Streaming from the assistant.")
    chunks = list(
        zhipu.assistant.conversation(assistant_id=assistant["id"], messages=user("Go"), stream=True)
    )
    text = "".join(c.choices[0].delta.content for c in chunks if c.choices[0].delta.type == "content")
    assert text == "Streaming from the assistant."
    assert chunks[-1].status == "completed" and chunks[-1].usage.total_tokens > 0
    assert {c.conversation_id for c in chunks} == {chunks[0].conversation_id}


def test_listing_calls(zhipu, engine, agent_server, tenant):
    assistant = create_assistant(agent_server, tenant, name="Lister")
    engine.enqueue("one")
    done = zhipu.assistant.conversation(assistant_id=assistant["id"], messages=user("x"))
    support = zhipu.assistant.query_support(assistant_id_list=[assistant["id"]])
    assert [a.assistant_id for a in support.data] == [assistant["id"]]
    assert support.data[0].name == "Lister" and support.data[0].starter_prompts == ["Hi"]
    usage = zhipu.assistant.query_conversation_usage(assistant_id=assistant["id"])
    assert [c.id for c in usage.data.conversation_list] == [done.conversation_id]
    assert usage.data.conversation_list[0].usage.completion_tokens == done.usage.completion_tokens


def test_retrieval_over_the_assistants_knowledge_base(zhipu, engine, agent_server, tenant):
    base = httpx.post(
        f"{agent_server.zhipu_base}/knowledge",
        headers=tenant.headers,
        json={"embedding_id": 3, "name": "facts"},
    ).json()["id"]
    document = "The secret harbour of Quillon opens at dawn. " * 3 + "\n\n" + "Unrelated filler. " * 400
    upload = httpx.post(
        f"{agent_server.zhipu_base}/files",
        headers=tenant.headers,
        data={"purpose": "retrieval", "knowledge_id": base},
        files={"file": ("facts.txt", document.encode(), "text/plain")},
    )
    assert upload.status_code == 200 and upload.json()["failedInfos"] == [], upload.text
    document_id = upload.json()["successInfos"][0]["documentId"]
    wait_for(lambda: _indexed(agent_server, tenant, document_id), timeout=60)
    assistant = create_assistant(
        agent_server, tenant, tools=[{"type": "retrieval", "retrieval": {"knowledge_ids": [base]}}]
    )
    engine.enqueue("It opens at dawn [1].")
    chunks = list(
        zhipu.assistant.conversation(
            assistant_id=assistant["id"], stream=True, messages=user("When does the harbour of Quillon open?")
        )
    )
    retrieval = chunks[0].choices[0].delta
    assert retrieval.type == "tool_calls" and retrieval.tool_calls[0].type == "retrieval"
    assert any("Quillon" in o.text for o in retrieval.tool_calls[0].retrieval.outputs)
    assert "secret harbour of Quillon" in engine.prompts[-1].text


def _indexed(server, tenant, document_id: str) -> bool:
    document = httpx.get(f"{server.zhipu_base}/document/{document_id}", headers=tenant.headers).json()
    assert document["embedding_stat"] in (0, 1), document
    return document["embedding_stat"] == 1


def test_another_account_cannot_use_or_see_an_assistant(zhipu, engine, agent_server, tenant, other_tenant):
    assistant = create_assistant(agent_server, tenant)
    engine.enqueue("mine")
    done = zhipu.assistant.conversation(assistant_id=assistant["id"], messages=user("x"))
    intruder = ZhipuAI(api_key=other_tenant.api_key, base_url=agent_server.zhipu_base, max_retries=0)
    with pytest.raises(zhipuai.APIStatusError) as caught:
        intruder.assistant.conversation(assistant_id=assistant["id"], messages=user("x"))
    assert caught.value.status_code == 404
    assert intruder.assistant.query_support(assistant_id_list=[assistant["id"]]).data == []
    with pytest.raises(zhipuai.APIStatusError):
        intruder.assistant.query_conversation_usage(assistant_id=assistant["id"])
    own = create_assistant(agent_server, other_tenant)
    with pytest.raises(zhipuai.APIStatusError) as caught:  # someone else's conversation id
        intruder.assistant.conversation(
            assistant_id=own["id"], conversation_id=done.conversation_id, messages=user("x")
        )
    assert caught.value.status_code == 404
    got = httpx.get(f"{agent_server.zhipu_base}/assistants/{assistant['id']}", headers=other_tenant.headers)
    assert got.status_code == 404 and got.json()["error"]["code"] == "1222"


def test_bad_assistant_definitions_are_refused(agent_server, tenant):
    for tools, param in [
        ([{"type": "code_interpreter"}], "tools[0].type"),
        ([{"type": "retrieval", "retrieval": {}}], "tools[0].retrieval.knowledge_ids"),
        (
            [{"type": "mcp", "mcp": {"server_label": "x", "server_url": "http://10.0.0.1/mcp"}}],
            "tools[0].mcp.server_url",
        ),
    ]:
        response = httpx.post(
            f"{agent_server.zhipu_base}/assistants",
            headers=tenant.headers,
            json={"name": "bad", "model": "glm-4", "tools": tools},
        )
        assert response.status_code == 400 and response.json()["error"]["code"] in ("1213", "1214"), (
            response.text
        )
        assert param in response.json()["error"]["message"]
    listed = httpx.get(f"{agent_server.zhipu_base}/assistants", headers=tenant.headers).json()
    assert listed["data"] == []


def test_zai_sdk_conversation(agent_server, engine, tenant):
    """The current Zhipu SDK (`zai-sdk`, installed --no-deps) sends the same assistant wire."""
    zai = pytest.importorskip("zai")
    assistant = create_assistant(agent_server, tenant)
    client = zai.ZhipuAiClient(api_key=tenant.api_key, base_url=agent_server.zhipu_base, max_retries=0)
    engine.enqueue("Hello from zai.", "Streamed from zai.")
    answer = client.assistant.conversation(assistant_id=assistant["id"], messages=user("hi"))
    assert answer.choices[0].delta.content == "Hello from zai." and answer.status == "completed"
    chunks = list(
        client.assistant.conversation(
            assistant_id=assistant["id"],
            messages=user("again"),
            conversation_id=answer.conversation_id,
            stream=True,
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.type == "content"]
    assert "".join(texts) == "Streamed from zai."
    assert "Hello from zai." in engine.prompts[-1].text  # the server kept the history
